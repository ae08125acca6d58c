//! VAE and GANs: tiny training runs whose losses behave as expected (WGAN-GP's penalty
//! among them), resume, evaluation.

use std::path::Path;

use crate::support::{digitlab, small_dataset, stderr};

fn log(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn train(args: &[&str], data: &Path, run: &Path) {
    let mut all = args.to_vec();
    all.extend([
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--log-every",
        "1",
    ]);
    if !args.contains(&"--seed") {
        all.extend(["--seed", "5"]);
    }
    let out = digitlab(&all);
    assert!(out.status.success(), "{all:?} failed: {}", stderr(&out));
}

fn column(log: &[serde_json::Value], key: &str) -> Vec<f64> {
    log.iter().filter_map(|l| l[key].as_f64()).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The negative ELBO falls from its start (~540 nats: every pixel at probability 1/2) and the
/// evaluation reports held-out terms that add up.
#[test]
fn vae_elbo_falls_and_its_terms_add_up() {
    let data = small_dataset(256);
    let run = tempfile::tempdir().unwrap();
    train(
        &[
            "train",
            "vae",
            "--latent",
            "4",
            "--width",
            "8",
            "--hidden",
            "32",
            "--epochs",
            "6",
            "--batch-size",
            "32",
            "--lr-final",
            "1e-3",
        ],
        data.path(),
        run.path(),
    );
    let log = log(run.path());
    let loss = column(&log, "loss");
    assert_eq!(loss.len(), 48, "6 epochs of 8 batches");
    assert!(
        mean(&loss[..3]) > 400.0,
        "starts near 784 ln 2 / 2: {loss:?}"
    );
    assert!(
        mean(&loss[45..]) < 0.6 * mean(&loss[..3]),
        "the -ELBO should fall: {loss:?}"
    );
    for l in &log {
        let (r, k) = (
            l["reconstruction"].as_f64().unwrap(),
            l["kl"].as_f64().unwrap(),
        );
        assert!(k >= 0.0 && (r + k - l["loss"].as_f64().unwrap()).abs() < 1e-3);
    }
    let held_out = column(&log, "held_out_neg_elbo");
    assert_eq!(held_out.len(), 6, "measured after every epoch");

    let card = run.path().join("vae.json");
    let out = digitlab(&[
        "eval",
        "--model",
        card.to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
        "--samples",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (total, rec, kl) = (
        r["held_out_neg_elbo"].as_f64().unwrap(),
        r["held_out_reconstruction"].as_f64().unwrap(),
        r["held_out_kl"].as_f64().unwrap(),
    );
    assert!((rec + kl - total).abs() < 1e-6 && kl > 0.0);
    // The trainer's last held-out measure used the same noise and the same digits.
    assert!(
        (total - held_out[5]).abs() < 1e-3,
        "{total} vs {}",
        held_out[5]
    );
    assert_eq!(r["histogram"].as_array().unwrap().len(), 10);
    let sum: u64 = r["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(sum, 20);
}

fn tiny_gan(loss: &str, data: &Path, run: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        "gan",
        "--loss",
        loss,
        "--latent",
        "8",
        "--width",
        "8",
        "--batch-size",
        "32",
        "--checkpoint-every",
        "100",
    ];
    args.extend(extra);
    train(&args, data, run);
}

/// DCGAN: the discriminator starts at the chance loss 2 ln 2 and learns to separate.
/// WGAN-SN: the critic's estimate of W turns positive (real digits score above fakes) and stays
/// bounded, as the spectral norm promises. WGAN-clip: the same sign.
#[test]
fn gan_losses_behave() {
    let data = small_dataset(256);
    let dcgan = tempfile::tempdir().unwrap();
    tiny_gan("dcgan", data.path(), dcgan.path(), &["--epochs", "3"]);
    let log_d = log(dcgan.path());
    assert_eq!(log_d.len(), 24, "3 epochs of 8 generator steps");
    let d_loss = column(&log_d, "critic_loss");
    assert!(
        (d_loss[0] - 2.0 * 2f64.ln()).abs() < 0.3,
        "starts near chance: {d_loss:?}"
    );
    assert!(mean(&d_loss[20..]) < d_loss[0], "{d_loss:?}");
    assert!(
        column(&log_d, "generator_loss")
            .iter()
            .all(|g| g.is_finite())
    );

    let sn = tempfile::tempdir().unwrap();
    tiny_gan("wgan-sn", data.path(), sn.path(), &["--epochs", "10"]);
    let log_sn = log(sn.path());
    assert_eq!(
        log_sn.len(),
        16,
        "10 epochs of 8 critic batches, 5 per generator step"
    );
    let w = column(&log_sn, "w_estimate");
    assert!(
        mean(&w[10..]) > 0.0,
        "the critic ranks real above fake: {w:?}"
    );
    assert!(w.iter().all(|w| w.abs() < 100.0), "bounded: {w:?}");
    for l in &log_sn {
        assert!(
            (l["critic_loss"].as_f64().unwrap() + l["w_estimate"].as_f64().unwrap()).abs() < 1e-6
        );
    }

    let clip = tempfile::tempdir().unwrap();
    tiny_gan("wgan-clip", data.path(), clip.path(), &["--epochs", "10"]);
    let w = column(&log(clip.path()), "w_estimate");
    assert!(mean(&w[10..]) > 0.0, "{w:?}");

    // A class-conditional GAN is judged by the accuracy of the requested digits too.
    let conditional = tempfile::tempdir().unwrap();
    tiny_gan(
        "dcgan",
        data.path(),
        conditional.path(),
        &["--epochs", "1", "--conditional"],
    );
    let out = digitlab(&[
        "eval",
        "--model",
        conditional.path().join("dcgan.json").to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
        "--samples",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["accuracy"].as_f64().is_some() && r["per_class"].as_array().unwrap().len() == 10);

    // The shipped kinds load and sample through the CLI.
    samples_four(&sn.path().join("wgan-sn.json"));
}

/// `digitlab sample --count 4` of a card succeeds and writes its picture.
fn samples_four(card: &Path) {
    let png = card.with_extension("png");
    let out = digitlab(&[
        "sample",
        "--model",
        card.to_str().unwrap(),
        "--count",
        "4",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(png.is_file());
}

/// The generator of a card, applied to fixed noise (in inference mode: batch norm's running
/// statistics count too).
fn generator_output(card: &Path) -> Vec<f32> {
    use burn::prelude::*;
    let device = Device::flex();
    let c = digitlab_weights::Card::from_json(&std::fs::read_to_string(card).unwrap()).unwrap();
    let bytes = std::fs::read(card.parent().unwrap().join(&c.weights)).unwrap();
    let (g, _) = c.load_generator(&bytes, &device).unwrap();
    let z = digitlab_diffusion::NoiseSource::new(3, 6).latent(g.latent(), &device);
    g.forward(z, None).into_data().try_to_vec().unwrap()
}

/// A GAN run stopped and resumed ends with the uninterrupted run's generator (both networks,
/// both optimizers and the data order are restored). Not byte for byte: the records carry
/// fresh parameter ids, and batch norm's running statistics differ in the last bits.
#[test]
fn gan_resume_matches_an_uninterrupted_run() {
    let data = small_dataset(128);
    let straight = tempfile::tempdir().unwrap();
    tiny_gan(
        "wgan-sn",
        data.path(),
        straight.path(),
        &["--epochs", "10", "--n-critic", "2"],
    );
    let split = tempfile::tempdir().unwrap();
    tiny_gan(
        "wgan-sn",
        data.path(),
        split.path(),
        &["--epochs", "10", "--n-critic", "2", "--stop-after", "7"],
    );
    assert!(!split.path().join("wgan-sn.json").exists());
    tiny_gan(
        "wgan-sn",
        data.path(),
        split.path(),
        &["--epochs", "10", "--n-critic", "2", "--resume"],
    );
    let a = generator_output(&straight.path().join("wgan-sn.json"));
    let b = generator_output(&split.path().join("wgan-sn.json"));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "the resumed generator differs by {worst}");
    // And a run with another seed is far from it (the comparison can fail).
    let other = tempfile::tempdir().unwrap();
    tiny_gan(
        "wgan-sn",
        data.path(),
        other.path(),
        &["--epochs", "10", "--n-critic", "2", "--seed", "6"],
    );
    let c = generator_output(&other.path().join("wgan-sn.json"));
    assert!(
        a.iter()
            .zip(&c)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
            > 1e-2
    );

    // Resuming a GAN run as a VAE is refused by kind.
    let out = digitlab(&[
        "train",
        "vae",
        "--data",
        data.path().to_str().unwrap(),
        "--run",
        split.path().to_str().unwrap(),
        "--resume",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("checkpoint of a `gan` model"),
        "{}",
        stderr(&out)
    );
}

/// WGAN-GP trains: the penalty, logged before its weight, is part of the critic's loss
/// (`critic_loss = -W^ + 10 penalty` at every logged step), the critic ranks real digits above
/// fakes, and the run ships a `wgan-gp` card that samples.
#[test]
fn wgan_gp_trains_with_its_penalty() {
    let data = small_dataset(256);
    let run = tempfile::tempdir().unwrap();
    tiny_gan("wgan-gp", data.path(), run.path(), &["--epochs", "10"]);
    let log = log(run.path());
    assert_eq!(log.len(), 16);
    let w = column(&log, "w_estimate");
    assert!(
        mean(&w[10..]) > 0.0,
        "the critic ranks real above fake: {w:?}"
    );
    // The critic starts with input gradients far below unit norm (penalty ~0.81 here, a norm
    // near 0.1); the penalty pulls the norm toward 1 while W^ grows (0.69 by step 16).
    let p = column(&log, "gradient_penalty");
    assert!(
        mean(&p[13..]) < mean(&p[..3]) - 0.05,
        "the input gradient's norm moves toward 1: {p:?}"
    );
    for l in &log {
        let (c, w, p) = (
            l["critic_loss"].as_f64().unwrap(),
            l["w_estimate"].as_f64().unwrap(),
            l["gradient_penalty"].as_f64().unwrap(),
        );
        assert!(p.is_finite() && p >= 0.0, "{l}");
        assert!((c - (10.0 * p - w)).abs() <= 1e-4 * c.abs().max(1.0), "{l}");
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path().join("wgan-gp.json")).unwrap())
            .unwrap();
    assert_eq!(card["model"]["loss"], "wgan-gp", "{card}");
    samples_four(&run.path().join("wgan-gp.json"));
}

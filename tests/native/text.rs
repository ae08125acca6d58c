//! Text prompts and latent diffusion: a tiny autoencoder and tiny text models trained end to
//! end, sampled with prompts and negative prompts, evaluated, resumed, and refused where the
//! input is wrong.

use std::path::Path;

use crate::support::{digitlab, small_dataset, stderr};

fn run_ok(args: &[&str]) -> std::process::Output {
    let out = digitlab(args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    out
}

fn train_autoencoder(data: &Path, run: &Path, seed: &str) {
    run_ok(&[
        "train",
        "autoencoder",
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--width",
        "8",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        seed,
    ]);
}

fn tiny_text(space: &str, data: &Path, run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "text-ddpm",
        "--space",
        space,
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--n-feat",
        "8",
        "--d-text",
        "16",
        "--text-layers",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--log-every",
        "1",
    ];
    args.extend_from_slice(extra);
    digitlab(&args)
}

fn card(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn latent_text_model_trains_on_its_autoencoder_and_samples_prompts() {
    let data = small_dataset(256);
    let ae = tempfile::tempdir().unwrap();
    train_autoencoder(data.path(), ae.path(), "3");
    let ae_card = card(&ae.path().join("autoencoder.json"));
    assert_eq!(ae_card["model"]["kind"], "autoencoder");
    assert!(ae_card["model"]["latent_scale"].as_f64().unwrap() > 0.0);
    let rec = &ae_card["metrics"]["held_out_reconstruction"];
    assert!(rec["mean_abs_error"].as_f64().unwrap() < 0.5, "{rec}");

    let run = tempfile::tempdir().unwrap();
    let ae_path = ae.path().join("autoencoder.json");
    let out = tiny_text(
        "latent",
        data.path(),
        run.path(),
        &["--autoencoder", ae_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text_card = card(&run.path().join("text-ddpm.json"));
    let model = &text_card["model"];
    assert_eq!(model["space"]["kind"], "latent");
    assert_eq!(model["unet"]["in_channels"], 4);
    assert_eq!(model["unet"]["image_size"], 7);
    assert_eq!(model["schedule"]["clip_sample"], serde_json::Value::Null);
    assert_eq!(model["tokenizer"]["model"]["type"], "WordPiece");
    assert!(
        run.path().join("autoencoder.json").exists(),
        "the autoencoder travels with the card"
    );

    let model_path = run.path().join("text-ddpm.json");
    let png = run.path().join("seven.png");
    let sample = |prompt: &str, negative: Option<&str>| {
        let mut args = vec![
            "sample",
            "--model",
            model_path.to_str().unwrap(),
            "--prompt",
            prompt,
            "--guidance",
            "3",
            "--count",
            "2",
            "--steps",
            "3",
            "--out",
            png.to_str().unwrap(),
        ];
        if let Some(n) = negative {
            args.extend(["--negative-prompt", n]);
        }
        digitlab(&args)
    };
    let out = sample("a thick, right-slanted seven", Some("thin"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[CLS] a thick , right - slanted seven"),
        "{}",
        stderr(&out)
    );
    assert!(png.exists());
    let long = sample(&"thick ".repeat(20), None);
    assert!(!long.status.success());
    assert!(
        stderr(&long).contains("at most 12 fit"),
        "{}",
        stderr(&long)
    );

    // Another autoencoder in its place is refused, not decoded into noise.
    let other = tempfile::tempdir().unwrap();
    train_autoencoder(data.path(), other.path(), "4");
    std::fs::copy(
        other.path().join("autoencoder.bpk"),
        run.path().join("autoencoder.bpk"),
    )
    .unwrap();
    std::fs::copy(
        other.path().join("autoencoder.json"),
        run.path().join("autoencoder.json"),
    )
    .unwrap();
    let swapped = sample("a seven", None);
    assert!(!swapped.status.success());
    assert!(
        stderr(&swapped).contains("trained on the autoencoder with sha256"),
        "{}",
        stderr(&swapped)
    );
}

#[test]
fn pixel_text_model_resumes_evaluates_and_refuses_other_cards() {
    let data = small_dataset(256);
    let run = tempfile::tempdir().unwrap();
    let first = tiny_text("pixel", data.path(), run.path(), &["--stop-after", "3"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!run.path().join("text-ddpm.json").exists());
    let tokenizer = std::fs::read_to_string(run.path().join("tokenizer.json")).unwrap();
    let resumed = tiny_text("pixel", data.path(), run.path(), &["--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let text_card = card(&run.path().join("text-ddpm.json"));
    assert_eq!(text_card["training"]["steps"], 8);
    assert_eq!(
        text_card["model"]["tokenizer"],
        serde_json::from_str::<serde_json::Value>(&tokenizer).unwrap(),
        "a resumed run keeps its tokenizer"
    );
    assert_eq!(text_card["model"]["space"]["kind"], "pixel");

    let model_path = run.path().join("text-ddpm.json");
    let out = run_ok(&[
        "eval",
        "--model",
        model_path.to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
        "--samples",
        "80",
        "--steps",
        "2",
        "--guidance",
        "0,3",
        "--json",
    ]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sweep = result["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 2);
    for r in sweep {
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        let attributes = r["attributes"].as_array().unwrap();
        let words: Vec<&str> = attributes
            .iter()
            .map(|a| a["attribute"].as_str().unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "thin",
                "thick",
                "upright",
                "right-slanted",
                "left-slanted",
                "small",
                "large"
            ]
        );
        for a in attributes {
            for k in ["asked", "base_rate"] {
                assert!((0.0..=1.0).contains(&a[k].as_f64().unwrap()), "{a}");
            }
        }
    }

    // A prompt for a model without text, and a text model where another kind is needed.
    let png = run.path().join("x.png");
    let wrong = digitlab(&[
        "sample",
        "--model",
        "public/weights/ddpm-cfg.json",
        "--prompt",
        "a seven",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("need a text model"),
        "{}",
        stderr(&wrong)
    );
    let latent_without_autoencoder = digitlab(&[
        "train",
        "text-ddpm",
        "--space",
        "latent",
        "--autoencoder",
        model_path.to_str().unwrap(),
        "--run",
        run.path().join("x").to_str().unwrap(),
    ]);
    assert!(!latent_without_autoencoder.status.success());
    assert!(
        stderr(&latent_without_autoencoder).contains("not an autoencoder"),
        "{}",
        stderr(&latent_without_autoencoder)
    );
}

/// The states of a few prompts through the text encoder of the text model at `card`.
fn encoder_states(card: &Path, prompts: &[&str]) -> Vec<f32> {
    use burn::prelude::*;
    let device = Device::flex();
    let c = digitlab_weights::Card::from_json(&std::fs::read_to_string(card).unwrap()).unwrap();
    let bytes = std::fs::read(card.parent().unwrap().join(&c.weights)).unwrap();
    let (unet, _, tokenizer) = c.load_text_ddpm(&bytes, &device).unwrap();
    let tokens: Vec<_> = prompts
        .iter()
        .map(|p| tokenizer.encode(p).unwrap())
        .collect();
    let rows: Vec<_> = tokens.iter().collect();
    let (ids, pad) = digitlab_diffusion::prompt_tensors(&unet, &rows, &device).unwrap();
    unet.encode_text(ids, pad)
        .states
        .into_data()
        .try_to_vec()
        .unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_pixel_model_can_borrow_another_models_text_encoder_frozen() {
    let data = small_dataset(256);
    let source = tempfile::tempdir().unwrap();
    let out = tiny_text("pixel", data.path(), source.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let source_card = source.path().join("text-ddpm.json");
    let from = source_card.to_str().unwrap();

    // Interrupted and resumed, so the encoder must stay frozen across the reload too.
    let run = tempfile::tempdir().unwrap();
    let borrowing = |run: &Path, extra: &[&str]| {
        let args = [&["--text-encoder-from", from, "--seed", "5"][..], extra].concat();
        tiny_text("pixel", data.path(), run, &args)
    };
    let first = borrowing(run.path(), &["--stop-after", "3"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let resumed = borrowing(run.path(), &["--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let borrowed_card = run.path().join("text-ddpm.json");
    let (a, b) = (card(&source_card), card(&borrowed_card));
    assert_eq!(a["model"]["tokenizer"], b["model"]["tokenizer"]);
    assert!(
        b["training"]["learning_rate"]
            .as_str()
            .unwrap()
            .contains(a["sha256"].as_str().unwrap()),
        "the card names the encoder's source: {}",
        b["training"]
    );

    // Same encoder: the EMA of a constant can move by rounding only, while 8 Adam steps at
    // lr 1e-3 would move the states by about 1e-3.
    let prompts = ["a thick seven", "", "a small 2"];
    let (sa, sb) = (
        encoder_states(&source_card, &prompts),
        encoder_states(&borrowed_card, &prompts),
    );
    assert!(
        max_difference(&sa, &sb) < 1e-5,
        "{}",
        max_difference(&sa, &sb)
    );

    // A source that is not a text model, and one whose weights changed since the run started.
    let wrong = tiny_text(
        "pixel",
        data.path(),
        &run.path().join("x"),
        &["--text-encoder-from", "public/weights/ddpm-cfg.json"],
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("not a text model"),
        "{}",
        stderr(&wrong)
    );
    let later = tempfile::tempdir().unwrap();
    let stopped = borrowing(later.path(), &["--stop-after", "2"]);
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    run_ok(&["weights", "half", from]);
    let changed = borrowing(later.path(), &["--resume"]);
    assert!(!changed.status.success());
    assert!(
        stderr(&changed).contains("text_encoder_from.sha256"),
        "{}",
        stderr(&changed)
    );
}

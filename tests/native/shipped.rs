//! The shipped weights themselves: they load, the shipped NCSN's digits are recognised, the
//! shipped DDPM's digits at w = 2 are the ones asked for, according to the shipped classifier
//! (4 digits of every class, DDPM sampler, 50 steps), and the shipped latent text models draw
//! the digit and the attributes its prompts ask for.

use image::GenericImageView;

use crate::support::{digitlab, imported, root, stderr};

#[test]
fn shipped_cards_match_their_weights() {
    for card in [
        "ddpm-cfg",
        "ddpm-student",
        "classifier",
        "ncsn",
        "vae",
        "vae-2d",
        "dcgan",
        "wgan-sn",
        "wgan-gp",
        "autoencoder",
        "text-pixel",
        "text-latent",
        "text-latent-film",
    ] {
        let text =
            std::fs::read_to_string(root().join(format!("public/weights/{card}.json"))).unwrap();
        let card = digitlab_weights::Card::from_json(&text).unwrap();
        let bytes = std::fs::read(root().join("public/weights").join(&card.weights)).unwrap();
        assert_eq!(digitlab_weights::sha256_hex(&bytes), card.sha256);
        assert!(bytes.len() < 8 << 20, "a few MB at most");
    }
}

#[test]
fn shipped_ddpm_draws_the_requested_digits() {
    let dir = tempfile::tempdir().unwrap();
    let mut correct = 0;
    let mut total = 0;
    for class in 0..10usize {
        let png = dir.path().join(format!("{class}.png"));
        let out = digitlab(&[
            "sample",
            "--model",
            "public/weights/ddpm-cfg.json",
            "--class",
            &class.to_string(),
            "--guidance",
            "2",
            "--sampler",
            "ddpm",
            "--steps",
            "50",
            "--count",
            "4",
            "--seed",
            "3",
            "--out",
            png.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let img = image::open(&png).unwrap();
        assert!(img.dimensions().0 > 28);
        let digits = digitlab_cli_support::split(&img.to_luma8(), 4);
        let predicted =
            digitlab_cli_support::classify(&root().join("public/weights/classifier.json"), &digits);
        correct += predicted.iter().filter(|&&p| p == class).count();
        total += digits.len();
    }
    assert!(
        correct as f64 >= 0.9 * total as f64,
        "{correct}/{total} digits recognised as requested"
    );
}

/// DPM-Solver++ (2M) draws the requested digits in 15 steps: 100 digits at w = 2 (10 of each
/// class), judged by `digitlab eval` (99.5 % of 200 digits in the README's table; a sampler that
/// took wrong steps draws noise and scores near 10 %).
#[test]
fn shipped_ddpm_draws_the_requested_digits_with_dpm_solver_in_15_steps() {
    let r = eval_shipped_with(
        "ddpm-cfg",
        &[
            "--samples",
            "100",
            "--guidance",
            "2",
            "--sampler",
            "dpm++",
            "--steps",
            "15",
        ],
    );
    assert_eq!(r["sampler"], "dpm++", "{r}");
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "accuracy {acc}: {r}");
}

/// The shipped 4-step student: 100 digits at w = 2 in its own 4 DDIM steps (one network call
/// each), judged by `digitlab eval` (98.5 % of 200 digits in the README; the teacher's own 4
/// DDIM steps give 100 %, a student whose velocity were read as noise draws blobs near 10 %),
/// and its card names the shipped DDPM it was distilled from.
#[test]
fn shipped_student_draws_the_requested_digits_in_4_steps() {
    let r = eval_shipped_with("ddpm-student", &["--samples", "100", "--guidance", "2"]);
    assert_eq!(
        r["steps"], 4,
        "the student's own step count by default: {r}"
    );
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "accuracy {acc}: {r}");
    let card = |name: &str| {
        digitlab_weights::Card::from_json(
            &std::fs::read_to_string(root().join(format!("public/weights/{name}.json"))).unwrap(),
        )
        .unwrap()
    };
    let digitlab_weights::ModelSpec::DdpmCfg {
        distilled: Some(d), ..
    } = card("ddpm-student").model
    else {
        panic!("the shipped student's card is not a distilled student's");
    };
    assert_eq!(d.steps, Some(4));
    assert_eq!(d.origin_sha256, card("ddpm-cfg").sha256);
}

/// Reading digits back from a PNG grid and classifying them, through the library crates.
mod digitlab_cli_support {
    use burn::prelude::*;
    use digitlab_models::pixels::bytes_to_unit;

    const GUTTER: u32 = 2;

    pub fn split(img: &image::GrayImage, count: usize) -> Vec<Vec<u8>> {
        let columns = ((img.width() - GUTTER) / (28 + GUTTER)) as usize;
        (0..count)
            .map(|i| {
                let (gx, gy) = ((i % columns) as u32, (i / columns) as u32);
                (0..28u32)
                    .flat_map(|y| (0..28u32).map(move |x| (x, y)))
                    .map(|(x, y)| img.get_pixel(GUTTER + gx * 30 + x, GUTTER + gy * 30 + y).0[0])
                    .collect()
            })
            .collect()
    }

    pub fn classify(card: &std::path::Path, digits: &[Vec<u8>]) -> Vec<usize> {
        let device = Device::flex();
        let c = digitlab_weights::Card::from_json(&std::fs::read_to_string(card).unwrap()).unwrap();
        let bytes = std::fs::read(card.parent().unwrap().join(&c.weights)).unwrap();
        let model = c.load_classifier(&bytes, &device).unwrap();
        let vals: Vec<f32> = digits.iter().flat_map(|d| bytes_to_unit(d)).collect();
        let x = Tensor::<4>::from_data(TensorData::new(vals, [digits.len(), 1, 28, 28]), &device);
        digitlab_eval::judge(&model, x, 64).predicted
    }
}

/// The shipped score network: annealed Langevin with 40 levels of 3 updates (the anchor's setting
/// in the README), 2 digits of every class, judged by the shipped classifier. The network carried
/// on for 8 epochs of 59,000 digits draws 20 of 20 here at confidence 0.982; the one it replaced
/// (10 epochs of 9,000) drew 17 (a 5 and both 8s wrong) at 0.933, which both bounds refuse.
#[test]
fn shipped_ncsn_draws_digits_the_classifier_is_sure_of() {
    let out = digitlab(&[
        "eval",
        "--model",
        root().join("public/weights/ncsn.json").to_str().unwrap(),
        "--classifier",
        root()
            .join("public/weights/classifier.json")
            .to_str()
            .unwrap(),
        "--data",
        imported().to_str().unwrap(),
        "--samples",
        "20",
        "--batch",
        "20",
        "--guidance",
        "1",
        "--levels",
        "40",
        "--steps-per-level",
        "3",
        "--seed",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["sweep"][0];
    let (accuracy, confidence) = (
        r["accuracy"].as_f64().unwrap(),
        r["confidence"].as_f64().unwrap(),
    );
    assert!(accuracy >= 0.95, "{accuracy}: {r}");
    assert!(confidence >= 0.96, "{confidence}: {r}");
}

/// `digitlab eval --json` of a shipped VAE or GAN: 200 digits, seed 7.
fn eval_shipped(card: &str) -> serde_json::Value {
    eval_shipped_with(card, &["--samples", "200"])
}

/// `digitlab eval --json --seed 7` of a shipped model, with `extra` options (an autoencoder,
/// which generates nothing, takes neither a classifier nor a seed).
fn eval_shipped_with(card: &str, extra: &[&str]) -> serde_json::Value {
    let model = root().join(format!("public/weights/{card}.json"));
    let classifier = root().join("public/weights/classifier.json");
    let mut args = vec![
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        imported().to_str().unwrap(),
        "--json",
    ];
    if card != "autoencoder" {
        args.extend(["--classifier", classifier.to_str().unwrap(), "--seed", "7"]);
    }
    args.extend_from_slice(extra);
    let out = digitlab(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The shipped VAEs: the held-out negative ELBO of the latent-16 model is at most issue 20's
/// 100 nats (98.5 with the held-out digits and noise fixed: the same number on every run) and
/// the 2-D model's is worse but finite; their samples cover the digits.
#[test]
fn shipped_vaes_reach_their_elbo_and_cover_the_digits() {
    let r = eval_shipped("vae");
    let elbo = r["held_out_neg_elbo"].as_f64().unwrap();
    assert!(
        (80.0..=100.0).contains(&elbo),
        "latent 16: -ELBO {elbo}: {r}"
    );
    assert!(r["modes_covered"].as_u64().unwrap() >= 9, "{r}");
    assert!(r["confidence"].as_f64().unwrap() >= 0.8, "{r}");
    let r2 = eval_shipped("vae-2d");
    let elbo_2d = r2["held_out_neg_elbo"].as_f64().unwrap();
    assert!(
        elbo_2d > elbo && elbo_2d < 180.0,
        "latent 2: -ELBO {elbo_2d}: {r2}"
    );
    assert!(r2["modes_covered"].as_u64().unwrap() >= 8, "{r2}");
}

/// The shipped GANs' digits are recognised with confidence, cover (nearly) every digit and
/// keep their Fréchet distance. Measured on 1,000 digits at seed 7 (a GAN digit costs one
/// forward pass, so this is seconds; at 200 digits the distance wanders by tens between models
/// of the same quality): the 40-epoch DCGAN 116.3, the 16-epoch one it replaced 148.7, which
/// the bound of 135 refuses, as it does the width-32 one before (198.7 at seed 1); the 70-epoch
/// WGAN-GP 100.1, the 30-epoch one it replaced 155.9, which the bound of 125 refuses (the
/// width-32 one: 218.7 at seed 1); WGAN-SN 308.9; mean confidences 0.90, 0.89 and 0.81.
#[test]
fn shipped_gans_draw_digits_the_classifier_recognises() {
    // (card, least mean confidence, largest Fréchet distance)
    for (card, confidence, frechet) in [
        ("dcgan", 0.85, 135.0),
        ("wgan-gp", 0.85, 125.0),
        ("wgan-sn", 0.78, 340.0),
    ] {
        let r = eval_shipped_with(card, &["--samples", "1000"]);
        assert!(
            r["confidence"].as_f64().unwrap() >= confidence,
            "{card}: {r}"
        );
        assert!(r["modes_covered"].as_u64().unwrap() >= 9, "{card}: {r}");
        assert!(r["frechet"].as_f64().unwrap() <= frechet, "{card}: {r}");
    }
}

/// The shipped autoencoder reconstructs the 1,000 held-out digits through its 4x7x7 latent.
#[test]
fn shipped_autoencoder_reconstructs_held_out_digits() {
    let r = eval_shipped_with("autoencoder", &[]);
    let rec = &r["held_out_reconstruction"];
    assert_eq!(r["held_out_digits"], 1000);
    assert!(rec["mean_abs_error"].as_f64().unwrap() < 0.02, "{r}");
    assert!(rec["rmse"].as_f64().unwrap() < 0.06, "{r}");
}

/// The shipped text models draw what the prompt asks for: 80 digits at w = 3 (each of the 8
/// requests of `digitlab eval` for every digit), most of them the requested digit (at least
/// 75 % by cross-attention, 60 % by FiLM), every requested attribute found in most of the
/// digits that asked for it and more often than where it was not asked; and the prompt lowers
/// the held-out denoising loss. One exception, measured and in the README: the pixel model
/// draws upright digits about as often unasked (0.7 here) as asked (0.6), so for it "upright"
/// must only be found in most of the digits that asked for it.
#[test]
fn shipped_text_models_draw_the_requested_digits_and_attributes() {
    for (card, least) in [
        ("text-latent", 0.75),
        ("text-latent-film", 0.6),
        ("text-pixel", 0.75),
    ] {
        let r = eval_shipped_with(
            card,
            &[
                "--samples",
                "80",
                "--guidance",
                "3",
                "--sampler",
                "ddim",
                "--steps",
                "50",
            ],
        );
        assert!(r["accuracy"].as_f64().unwrap() >= least, "{card}: {r}");
        let attributes = r["attributes"].as_array().unwrap();
        assert_eq!(attributes.len(), 7, "{card}: {r}");
        for a in attributes {
            let (asked, base) = (
                a["asked"].as_f64().unwrap(),
                a["base_rate"].as_f64().unwrap(),
            );
            let exempt = card == "text-pixel" && a["attribute"] == "upright";
            assert!(asked >= 0.6 && (asked > base || exempt), "{card}: {a}");
        }
        let loss = &r["held_out_loss"];
        assert!(
            loss["with_caption"].as_f64().unwrap() < loss["empty_prompt"].as_f64().unwrap(),
            "{card}: {r}"
        );
    }
}

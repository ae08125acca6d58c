//! The score network on MNIST: a tiny `digitlab train ncsn`, then `sample ncsn` and `eval`
//! with several numbers of levels.

use crate::support::{digitlab, losses, root, small_dataset, stderr};

#[test]
fn a_tiny_ncsn_trains_samples_and_is_evaluated_at_several_levels() {
    let data = small_dataset(64);
    let run = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let r = run.path().to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "ncsn",
            "--data",
            d,
            "--run",
            r,
            "--n-feat",
            "8",
            "--epochs",
            "6",
            "--batch-size",
            "16",
            "--log-every",
            "1",
            "--seed",
            "3",
        ];
        args.extend(extra);
        digitlab(&args)
    };
    let out = train(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let l = losses(run.path());
    assert_eq!(l.len(), 24);
    let (first, last) = (
        l[..4].iter().sum::<f64>() / 4.0,
        l[20..].iter().sum::<f64>() / 4.0,
    );
    assert!(
        last < 0.8 * first,
        "loss should fall: {first:.3} -> {last:.3}"
    );
    let card_path = run.path().join("ncsn.json");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    assert_eq!(card["model"]["kind"], "ncsn");
    assert_eq!(card["model"]["noise"]["sigma_max"], 20.0);

    // Sampling: one PNG, a frame per level.
    let png = run.path().join("s.png");
    let frames = run.path().join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let c = card_path.to_str().unwrap();
    let out = digitlab(&[
        "sample",
        "ncsn",
        "--model",
        c,
        "--levels",
        "3",
        "--steps-per-level",
        "2",
        "--count",
        "4",
        "--class",
        "7",
        "--out",
        png.to_str().unwrap(),
        "--frames",
        frames.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("3 levels, 7 network calls"),
        "{}",
        stderr(&out)
    );
    assert!(png.is_file());
    assert_eq!(
        std::fs::read_dir(&frames).unwrap().count(),
        4,
        "3 levels and the denoising step"
    );

    // Evaluation at the same number of calls for two numbers of levels, stored in the card.
    let classifier = root().join("public/weights/classifier.json");
    let out = digitlab(&[
        "eval",
        "--model",
        c,
        "--classifier",
        classifier.to_str().unwrap(),
        "--data",
        d,
        "--samples",
        "10",
        "--batch",
        "10",
        "--guidance",
        "0",
        "--levels",
        "2,5",
        "--calls",
        "10",
        "--json",
        "--update-card",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sweep = v["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 2);
    assert_eq!(
        (
            sweep[0]["levels"].as_u64(),
            sweep[0]["network_calls"].as_u64()
        ),
        (Some(2), Some(11))
    );
    assert_eq!(
        (
            sweep[1]["steps_per_level"].as_u64(),
            sweep[1]["network_calls"].as_u64()
        ),
        (Some(2), Some(11))
    );
    for r in sweep {
        let acc = r["accuracy"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&acc) && r["frechet"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        assert_eq!(
            r["histogram"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_u64().unwrap())
                .sum::<u64>(),
            10
        );
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    let stored = &card["metrics"]["evaluations"][0];
    assert!(
        stored["command"]
            .as_str()
            .unwrap()
            .contains("--levels 2,5 --calls 10"),
        "{stored}"
    );

    // Refusals: a DDPM resume of this run, contradictory options, one --levels for sampling.
    let out = digitlab(&["train", "ddpm", "--data", d, "--run", r, "--resume"]);
    assert!(
        stderr(&out).contains("checkpoint of a `ncsn` model"),
        "{}",
        stderr(&out)
    );
    let out = digitlab(&[
        "sample",
        "--model",
        c,
        "--levels",
        "3",
        "--calls",
        "9",
        "--steps-per-level",
        "3",
    ]);
    assert!(stderr(&out).contains("not both"), "{}", stderr(&out));
    let out = digitlab(&["sample", "--model", c, "--levels", "3,40"]);
    assert!(
        stderr(&out).contains("one --levels value"),
        "{}",
        stderr(&out)
    );
    let out = digitlab(&["sample", "--model", c, "--levels", "3", "--sigma-max", "50"]);
    assert!(
        stderr(&out).contains("must lie in the trained range 0.02 to 20"),
        "{}",
        stderr(&out)
    );
    let out = digitlab(&["sample", "--model", c, "--levels", "3", "--step-size", "0"]);
    assert!(
        stderr(&out).contains("--step-size must be above 0"),
        "{}",
        stderr(&out)
    );
}

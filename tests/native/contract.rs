//! One resume contract for every trainer, as a table: a run interrupted and resumed reaches the
//! uninterrupted run's weights exactly; resuming a finished run changes nothing; a fresh run
//! refuses a folder that holds a run (naming `--resume` and `--force`); a resume with other
//! options is refused, naming the option that differs; and a damaged newest checkpoint is
//! reported and the run carries on from the one before, to the same weights. A finished run
//! resumed with a larger `--epochs` goes on to the weights of a run planned that long.

use std::path::Path;

use crate::support::{digitlab, small_dataset, stderr};

/// A tiny run of one trainer: `digitlab train <args>` makes 8 steps of 16 digits (64 training
/// digits, 2 epochs), writing `<stem>.json`; `other` is an option that changes its config, and
/// `field` the config field a refusal must name.
struct Case {
    args: &'static [&'static str],
    /// How long: `--epochs 2` but for the distillation's stages.
    length: &'static [&'static str],
    stem: &'static str,
    other: [&'static str; 2],
    field: &'static str,
}

const EPOCHS: &[&str] = &["--epochs", "2"];

const CASES: &[Case] = &[
    Case {
        length: EPOCHS,
        args: &["ddpm", "--n-feat", "8"],
        stem: "ddpm-cfg",
        other: ["--lr", "0.002"],
        field: "lr: checkpoint 0.001, requested 0.002",
    },
    Case {
        length: EPOCHS,
        args: &["ncsn", "--n-feat", "8"],
        stem: "ncsn",
        other: ["--sigma-max", "10"],
        field: "sigma_max",
    },
    Case {
        length: EPOCHS,
        args: &["vae", "--latent", "2", "--width", "4", "--hidden", "8"],
        stem: "vae",
        other: ["--lr-final", "0.001"],
        field: "lr_final",
    },
    Case {
        length: EPOCHS,
        args: &["gan", "--loss", "dcgan", "--latent", "8", "--width", "4"],
        stem: "dcgan",
        other: ["--ema-decay", "0.99"],
        field: "ema_decay",
    },
    Case {
        length: EPOCHS,
        args: &["autoencoder", "--width", "4"],
        stem: "autoencoder",
        other: ["--kl-weight", "0.1"],
        field: "kl_weight",
    },
    Case {
        length: EPOCHS,
        args: &["classifier", "--width", "4"],
        stem: "classifier",
        other: ["--max-shift", "1"],
        field: "max_shift",
    },
    // The text model borrows the shipped latent model's tokenizer and encoder: a tokenizer
    // trained afresh differs from run to run (the `tokenizers` trainer breaks ties in hash
    // order), so two separate runs could not be compared; a resumed run reads its own back
    // (tests/native/text.rs).
    Case {
        length: EPOCHS,
        args: &[
            "text-ddpm",
            "--n-feat",
            "8",
            "--text-encoder-from",
            "public/weights/text-latent.json",
        ],
        stem: "text-ddpm",
        other: ["--p-uncond", "0.2"],
        field: "p_uncond",
    },
    // A student of the shipped DDPM: a guidance stage of 4 steps and a round to 2 steps of 4
    // (the interruption after 3 steps resumes across the stage boundary).
    Case {
        length: &["--guidance-epochs", "1", "--round-epochs", "1"],
        args: &[
            "distill",
            "--teacher",
            "public/weights/ddpm-cfg.json",
            "--rounds",
            "1",
            "--steps",
            "2",
        ],
        stem: "ddpm-student",
        other: ["--lr", "0.002"],
        field: "lr: checkpoint 0.0002, requested 0.002",
    },
];

fn train(case: &Case, data: &Path, run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train"];
    args.extend(case.args);
    args.extend([
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--batch-size",
        "16",
        "--checkpoint-every",
        "2",
        "--log-every",
        "1",
        "--seed",
        "3",
    ]);
    args.extend(case.length);
    args.extend(extra);
    digitlab(&args)
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {}", stderr(&out));
    stderr(&out)
}

fn refused(out: std::process::Output, what: &str, fragments: &[&str]) {
    let err = stderr(&out);
    assert!(!out.status.success(), "{what} was accepted: {err}");
    for f in fragments {
        assert!(err.contains(f), "{what}: `{f}` missing from: {err}");
    }
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of a weights file, tensor by tensor (not its parameter ids, which differ between
/// two runs that computed the same weights).
fn values(path: &Path) -> Vec<digitlab_weights::RecordTensor> {
    digitlab_weights::record_tensors(&bytes(path)).unwrap()
}

/// Asserts that two weights files hold bit-identical values.
fn same_weights(a: &[digitlab_weights::RecordTensor], b: &Path, what: &str) {
    let b = values(b);
    assert_eq!(a.len(), b.len(), "{what}: another set of tensors");
    for (x, y) in a.iter().zip(&b) {
        assert!(x == y, "{what}: tensor {} differs", x.0);
    }
}

#[test]
fn every_trainer_keeps_the_resume_contract() {
    let data = small_dataset(64);
    let d = data.path();
    for case in CASES {
        let name = case.args[0];
        // 1. uninterrupted
        let straight = tempfile::tempdir().unwrap();
        ok(train(case, d, straight.path(), &[]), name);
        let weights = straight.path().join(format!("{}.bpk", case.stem));
        let reference = values(&weights);

        // 2. interrupted after 3 steps, then resumed: the same weights, byte for byte
        let split = tempfile::tempdir().unwrap();
        ok(train(case, d, split.path(), &["--stop-after", "3"]), name);
        assert!(!split.path().join(format!("{}.json", case.stem)).exists());
        let said = ok(train(case, d, split.path(), &["--resume"]), name);
        assert!(said.contains("resuming"), "{name}: {said}");
        same_weights(
            &reference,
            &split.path().join(format!("{}.bpk", case.stem)),
            &format!("{name}: resumed against uninterrupted"),
        );

        // 3. resuming a finished run says so and changes nothing
        let card = split.path().join(format!("{}.json", case.stem));
        let (card_before, log_before) = (bytes(&card), bytes(&split.path().join("metrics.jsonl")));
        let said = ok(train(case, d, split.path(), &["--resume"]), name);
        assert!(said.contains("finished already"), "{name}: {said}");
        assert_eq!(bytes(&card), card_before, "{name}: the card changed");
        assert_eq!(bytes(&split.path().join("metrics.jsonl")), log_before);

        // 3b. killed after the last checkpoint but before the card: a resume writes the card,
        //     with the run's last loss (kept in the checkpoint), and the same weights
        let weights_file = split.path().join(format!("{}.bpk", case.stem));
        std::fs::remove_file(&card).unwrap();
        std::fs::remove_file(&weights_file).unwrap();
        ok(train(case, d, split.path(), &["--resume"]), name);
        let loss = |b: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["training"]["final_loss"]
                .clone()
        };
        assert!(
            loss(&bytes(&card)).is_f64(),
            "{name}: {}",
            loss(&bytes(&card))
        );
        assert_eq!(
            loss(&bytes(&card)),
            loss(&card_before),
            "{name}: another final loss"
        );
        same_weights(
            &reference,
            &weights_file,
            &format!("{name}: card rewritten"),
        );
        let card_before = bytes(&card);

        // 4. a fresh run into a folder holding a run is refused; --force starts over
        refused(
            train(case, d, split.path(), &[]),
            name,
            &["already holds a run", "--resume", "--force"],
        );
        assert_eq!(bytes(&card), card_before);

        // 5. a resume with another option is refused, naming it
        let part = tempfile::tempdir().unwrap();
        ok(train(case, d, part.path(), &["--stop-after", "5"]), name);
        refused(
            train(
                case,
                d,
                part.path(),
                &["--resume", case.other[0], case.other[1]],
            ),
            name,
            &["another config", case.field],
        );

        // 6. a damaged newest checkpoint (step 5: cut short, or NaN weights) falls back to the one
        //    before (step 4)
        let newest = part.path().join("checkpoints/step-0000005");
        // The largest record: the trained network's weights.
        let damaged = std::fs::read_dir(&newest)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bpk"))
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .unwrap();
        // Cut short for half the trainers, NaN in its last values for the others (all-ones bytes
        // are NaN in f32 and f16).
        let mut full = bytes(&damaged);
        if CASES.iter().position(|c| c.args == case.args).unwrap() % 2 == 0 {
            full.truncate(full.len() / 2);
        } else {
            let n = full.len();
            full[n - 256..].fill(0xFF);
        }
        std::fs::write(&damaged, &full).unwrap();
        let said = ok(train(case, d, part.path(), &["--resume"]), name);
        assert!(
            said.contains("cannot be used") && said.contains("step-0000004"),
            "{name}: {said}"
        );
        same_weights(
            &reference,
            &part.path().join(format!("{}.bpk", case.stem)),
            &format!("{name}: resumed from the older checkpoint"),
        );

        // 7. --force starts over in a used folder and reaches the same weights
        ok(train(case, d, split.path(), &["--force"]), name);
        same_weights(
            &reference,
            &split.path().join(format!("{}.bpk", case.stem)),
            &format!("{name}: started over with --force"),
        );
    }
}

/// A finished run resumed with more epochs goes on from its last step to the weights a run
/// planned that long from the start reaches (the GAN's learning rate is constant, so the two
/// runs take the same steps); fewer epochs, or more before the run has finished, are refused.
#[test]
fn a_finished_run_goes_on_for_more_epochs() {
    let data = small_dataset(64);
    let d = data.path();
    let case = CASES.iter().find(|c| c.args[0] == "gan").unwrap();
    let longer = Case {
        length: &["--epochs", "3"],
        ..*case
    };
    let shorter = Case {
        length: &["--epochs", "1"],
        ..*case
    };
    let straight = tempfile::tempdir().unwrap();
    ok(train(&longer, d, straight.path(), &[]), "3 epochs");
    let reference = values(&straight.path().join(format!("{}.bpk", case.stem)));

    let run = tempfile::tempdir().unwrap();
    ok(train(case, d, run.path(), &[]), "2 epochs");
    let log = |p: &Path| std::fs::read_to_string(p.join("metrics.jsonl")).unwrap();
    let lines_before = log(run.path()).lines().count();
    refused(
        train(&shorter, d, run.path(), &["--resume"]),
        "fewer epochs",
        &["another config", "epochs: checkpoint 2, requested 1"],
    );
    let said = ok(train(&longer, d, run.path(), &["--resume"]), "extended");
    assert!(
        said.contains("extending") && said.contains("from 2 to 3 epochs"),
        "{said}"
    );
    same_weights(
        &reference,
        &run.path().join(format!("{}.bpk", case.stem)),
        "extended against planned",
    );
    // The log goes on: 4 more steps of 16 digits, one line each.
    assert_eq!(log(run.path()).lines().count(), lines_before + 4);
    let card: serde_json::Value =
        serde_json::from_slice(&bytes(&run.path().join(format!("{}.json", case.stem)))).unwrap();
    assert_eq!(card["training"]["steps"], 12, "{card}");

    // Unfinished: more epochs are refused until the planned ones are done.
    let part = tempfile::tempdir().unwrap();
    ok(train(case, d, part.path(), &["--stop-after", "5"]), "part");
    refused(
        train(&longer, d, part.path(), &["--resume"]),
        "extending an unfinished run",
        &["has not finished its 2 epochs", "--epochs 2"],
    );
}

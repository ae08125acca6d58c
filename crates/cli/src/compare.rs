//! # `digitlab compare`
//!
//! Every shipped generator measured on one footing: the same classifier, the same held-out
//! reference, the same number of digits and seed, the same backend. Each row is a run of
//! `digitlab eval --json` by this same binary (so the numbers are exactly what that command
//! prints), and the table is written, atomically, to `public/weights/comparison.json`, which the
//! README and the page show.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::args::CompareArgs;
use crate::backend::machine;

/// One row: a name for people, the card, and the sampler settings of its evaluation.
struct Row {
    name: &'static str,
    card: &'static str,
    settings: &'static [&'static str],
    conditional: bool,
}

const ROWS: &[Row] = &[
    Row {
        name: "DDPM + CFG (w = 2, DDIM 50 steps)",
        card: "ddpm-cfg.json",
        settings: &["--guidance", "2", "--sampler", "ddim", "--steps", "50"],
        conditional: true,
    },
    Row {
        name: "NCSN (annealed Langevin, 40 levels x 3, w = 1)",
        card: "ncsn.json",
        settings: &[
            "--guidance",
            "1",
            "--levels",
            "40",
            "--steps-per-level",
            "3",
        ],
        conditional: true,
    },
    Row {
        name: "VAE (latent 16)",
        card: "vae.json",
        settings: &[],
        conditional: false,
    },
    Row {
        name: "VAE (latent 2)",
        card: "vae-2d.json",
        settings: &[],
        conditional: false,
    },
    Row {
        name: "DCGAN",
        card: "dcgan.json",
        settings: &[],
        conditional: false,
    },
    Row {
        name: "WGAN-GP (gradient penalty)",
        card: "wgan-gp.json",
        settings: &[],
        conditional: false,
    },
    Row {
        name: "WGAN-SN (spectrally normalised critic)",
        card: "wgan-sn.json",
        settings: &[],
        conditional: false,
    },
];

pub fn run(args: CompareArgs) -> Result<()> {
    let exe = std::env::current_exe().context("finding the digitlab binary")?;
    let backend = args.backend.flag();
    let mut rows = Vec::new();
    for row in ROWS {
        let card = args.weights.join(row.card);
        if !card.is_file() {
            eprintln!("skipping {}: {} is missing", row.name, card.display());
            continue;
        }
        let mut eval_args: Vec<String> = vec![
            "eval".into(),
            "--model".into(),
            card.display().to_string(),
            "--classifier".into(),
            args.weights.join("classifier.json").display().to_string(),
            "--data".into(),
            args.data.display().to_string(),
            "--samples".into(),
            args.samples.to_string(),
            "--seed".into(),
            args.seed.to_string(),
            "--backend".into(),
            backend.into(),
        ];
        eval_args.extend(row.settings.iter().map(|s| s.to_string()));
        eprintln!("{}: digitlab {}", row.name, eval_args.join(" "));
        let out = Command::new(&exe)
            .args(&eval_args)
            .arg("--json")
            .output()
            .with_context(|| format!("running digitlab eval for {}", row.name))?;
        if !out.status.success() {
            bail!(
                "digitlab eval failed for {}: {}",
                row.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut result: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("the JSON of digitlab eval for {}", row.name))?;
        // A score network's evaluation is a sweep over level counts; here it has one entry.
        if let Some(sweep) = result.get("sweep").and_then(|s| s.as_array()) {
            result = sweep.first().cloned().unwrap_or_default();
        }
        let summary = summarise(&result);
        eprintln!("  {summary}");
        rows.push(serde_json::json!({
            "name": row.name,
            "card": row.card,
            "conditional": row.conditional,
            "command": format!("digitlab {}", eval_args.join(" ")),
            "result": result,
        }));
    }
    let table = serde_json::json!({
        "command": format!(
            "digitlab compare --samples {} --seed {} --backend {backend}",
            args.samples, args.seed
        ),
        "samples": args.samples,
        "seed": args.seed,
        "backend": args.backend.name(),
        "machine": machine(),
        "mode_share": digitlab_eval::MODE_SHARE,
        "rows": rows,
    });
    write(&args.out, &table)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn summarise(r: &serde_json::Value) -> String {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "Fréchet {:.1} (floor {:.1}) | confidence {:.3} | {:.2} ms/digit",
        f("frechet"),
        f("frechet_floor"),
        f("confidence"),
        f("ms_per_digit")
    )
}

fn write(path: &Path, value: &serde_json::Value) -> Result<()> {
    crate::files::write_atomic(path, serde_json::to_string_pretty(value)?.as_bytes())
}

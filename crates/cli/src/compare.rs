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
use crate::files;

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
    check_only(&args.only)?;
    // With --only, the table being updated: every row it keeps was measured on this footing.
    let old = if args.only.is_empty() {
        None
    } else {
        let old = read_table(&args.out)?;
        check_footing(&old, &args)?;
        Some(old)
    };
    let mut rows = Vec::new();
    for row in ROWS {
        let card = args.weights.join(row.card);
        if !card.is_file() {
            eprintln!("skipping {}: {} is missing", row.name, card.display());
            continue;
        }
        if let Some(old) = &old
            && !args.only.iter().any(|c| c == row.card)
            && let Some(kept) = old_row(old, row.card)
        {
            rows.push(kept.clone());
            continue;
        }
        rows.push(measure(row, &card, &args, &exe)?);
    }
    let command = format!(
        "digitlab compare --samples {} --seed {} --backend {backend}",
        args.samples, args.seed
    );
    let table = match &old {
        None => serde_json::json!({
            "command": command,
            "samples": args.samples,
            "seed": args.seed,
            "backend": args.backend.name(),
            "machine": machine(),
            "mode_share": digitlab_eval::MODE_SHARE,
            "rows": rows,
        }),
        Some(old) => updated_table(
            old,
            rows,
            serde_json::json!({
                "command": format!("{command} --only {}", args.only.join(" ")),
                "cards": args.only,
                "machine": machine(),
            }),
        ),
    };
    write(&args.out, &table)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// One row, by running `digitlab eval --json` for its card (at `card`, in `--weights`).
fn measure(row: &Row, card: &Path, args: &CompareArgs, exe: &Path) -> Result<serde_json::Value> {
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
        args.backend.flag().into(),
    ];
    eval_args.extend(row.settings.iter().map(|s| s.to_string()));
    eprintln!("{}: digitlab {}", row.name, eval_args.join(" "));
    let out = Command::new(exe)
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
    eprintln!("  {}", summarise(&result));
    Ok(serde_json::json!({
        "name": row.name,
        "card": row.card,
        "conditional": row.conditional,
        "command": format!("digitlab {}", eval_args.join(" ")),
        "result": result,
    }))
}

/// `--only` names cards of the table, nothing else.
fn check_only(only: &[String]) -> Result<()> {
    for card in only {
        if !ROWS.iter().any(|r| r.card == card) {
            let known: Vec<&str> = ROWS.iter().map(|r| r.card).collect();
            bail!(
                "--only {card}: not a card of the table (one of {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

fn read_table(path: &Path) -> Result<serde_json::Value> {
    let bytes = files::read(path).with_context(|| {
        format!(
            "--only updates the table at {}, which cannot be read: run digitlab compare without --only first",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a table", path.display()))
}

/// The rows kept by `--only` must have been measured as the new ones are, or the table would
/// compare models on different footings.
fn check_footing(old: &serde_json::Value, args: &CompareArgs) -> Result<()> {
    let mut differ = Vec::new();
    if old["samples"].as_u64() != Some(args.samples as u64) {
        differ.push(format!(
            "samples {} (asked {})",
            old["samples"], args.samples
        ));
    }
    if old["seed"].as_u64() != Some(args.seed) {
        differ.push(format!("seed {} (asked {})", old["seed"], args.seed));
    }
    if old["backend"].as_str() != Some(args.backend.name()) {
        differ.push(format!(
            "backend {} (asked {})",
            old["backend"],
            args.backend.name()
        ));
    }
    if !differ.is_empty() {
        bail!(
            "the table at {} was measured with {}: --only keeps its other rows, so it must be asked the same (or run digitlab compare without --only)",
            args.out.display(),
            differ.join(", ")
        );
    }
    Ok(())
}

fn old_row<'a>(old: &'a serde_json::Value, card: &str) -> Option<&'a serde_json::Value> {
    old["rows"]
        .as_array()?
        .iter()
        .find(|r| r["card"].as_str() == Some(card))
}

/// The old table with the new rows and one more entry in `updated` (which rows were
/// re-measured, by which command, on which machine): its own `command` and `machine` stay those
/// of the run that measured the rows kept.
fn updated_table(
    old: &serde_json::Value,
    rows: Vec<serde_json::Value>,
    entry: serde_json::Value,
) -> serde_json::Value {
    let mut table = old.clone();
    table["rows"] = serde_json::Value::Array(rows);
    let mut updated = old["updated"].as_array().cloned().unwrap_or_default();
    updated.push(entry);
    table["updated"] = serde_json::Value::Array(updated);
    table
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
    files::write_atomic(path, serde_json::to_string_pretty(value)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use serde_json::json;

    fn args(samples: usize, seed: u64) -> CompareArgs {
        CompareArgs {
            samples,
            seed,
            backend: Backend::Flex,
            weights: "public/weights".into(),
            data: "data/mnist".into(),
            out: "comparison.json".into(),
            only: vec!["dcgan.json".into()],
        }
    }

    fn table() -> serde_json::Value {
        json!({
            "command": "digitlab compare --samples 500 --seed 1 --backend flex",
            "samples": 500, "seed": 1, "backend": "flex (CPU)", "machine": "old machine",
            "rows": [{"card": "vae.json", "result": {"frechet": 240.0}},
                     {"card": "dcgan.json", "result": {"frechet": 182.0}}],
        })
    }

    #[test]
    fn only_names_cards_of_the_table() {
        assert!(check_only(&["dcgan.json".into(), "wgan-gp.json".into()]).is_ok());
        let e = check_only(&["dcgan.bpk".into()]).unwrap_err().to_string();
        assert!(e.contains("dcgan.bpk") && e.contains("wgan-sn.json"), "{e}");
    }

    #[test]
    fn only_refuses_a_table_measured_on_another_footing() {
        assert!(check_footing(&table(), &args(500, 1)).is_ok());
        let e = check_footing(&table(), &args(1000, 2))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("samples 500 (asked 1000)") && e.contains("seed 1 (asked 2)"),
            "{e}"
        );
        let mut other = table();
        other["backend"] = json!("wgpu (GPU)");
        assert!(check_footing(&other, &args(500, 1)).is_err());
    }

    #[test]
    fn an_update_keeps_the_table_and_records_what_it_measured_again() {
        let old = table();
        let new_dcgan = json!({"card": "dcgan.json", "result": {"frechet": 120.0}});
        let rows = vec![old_row(&old, "vae.json").unwrap().clone(), new_dcgan];
        let once = updated_table(&old, rows.clone(), json!({"cards": ["dcgan.json"]}));
        assert_eq!(once["command"], old["command"]);
        assert_eq!(once["machine"], "old machine");
        assert_eq!(once["rows"][0], old["rows"][0]);
        assert_eq!(once["rows"][1]["result"]["frechet"], 120.0);
        let twice = updated_table(&once, rows, json!({"cards": ["vae.json"]}));
        assert_eq!(twice["updated"].as_array().unwrap().len(), 2);
    }
}

//! # Model families: sampling and evaluating each kind of card
//!
//! One module per family, each with its `sample` and `eval`: [`ddpm`] (the class-conditional
//! DDPM, and [`edit`]: its `edit` and `inpaint`), [`ncsn`] (the score network), [`generators`] (VAEs and GANs), [`text`] (text-
//! conditioned models), [`judges`] (the classifier's and the autoencoder's held-out
//! measures). `main.rs` picks one by the card's [`Kind`]; what they share (the judging loop,
//! stored evaluations) is in `crate::evaluate`.
//!
//! [`check_options`] refuses an option that the card's kind does not use (`--levels` for a
//! DDPM, `--class` for a VAE), naming the kind, where it used to be ignored.

pub mod ddpm;
pub mod edit;
pub mod generators;
pub mod judges;
pub mod ncsn;
pub mod text;

use std::path::Path;

use anyhow::{Result, bail};
use digitlab_weights::Kind;

use crate::args::Given;
use crate::cards::CardFile;

/// The most digits `sample` draws into one picture.
pub const MAX_COUNT: usize = digitlab_diffusion::pipeline::MAX_SAMPLES;

/// `sample`'s options that only some kinds use.
const SAMPLE_SPECIFIC: &[&str] = &[
    "class",
    "guidance",
    "sampler",
    "eta",
    "steps",
    "frames",
    "prompt",
    "negative_prompt",
    "levels",
    "steps_per_level",
    "calls",
    "step_size",
    "sigma_max",
    "sigma_min",
    "plain",
    "no_denoise",
];

/// `eval`'s options that only some kinds use.
const EVAL_SPECIFIC: &[&str] = &[
    "guidance",
    "sampler",
    "eta",
    "steps",
    "classifier",
    "samples",
    "batch",
    "update_card",
    "seed",
    "levels",
    "steps_per_level",
    "calls",
    "step_size",
    "sigma_max",
    "sigma_min",
    "plain",
    "no_denoise",
];

const LANGEVIN: &[&str] = &[
    "levels",
    "steps_per_level",
    "calls",
    "step_size",
    "sigma_max",
    "sigma_min",
    "plain",
    "no_denoise",
];
const DENOISING: &[&str] = &["guidance", "sampler", "eta", "steps"];
const JUDGED: &[&str] = &["classifier", "samples", "batch", "update_card", "seed"];

/// The kind-specific options `command` ("sample" or "eval") uses for `kind`.
fn uses(kind: Kind, command: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    match (command, kind) {
        ("sample", Kind::DdpmCfg) => v.extend(["class", "frames"].iter().chain(DENOISING)),
        ("sample", Kind::Ncsn) => v.extend(["class", "guidance", "frames"].iter().chain(LANGEVIN)),
        ("sample", Kind::TextDdpm) => {
            v.extend(["prompt", "negative_prompt"].iter().chain(DENOISING))
        }
        ("eval", Kind::DdpmCfg | Kind::TextDdpm) => v.extend(DENOISING.iter().chain(JUDGED)),
        ("eval", Kind::Ncsn) => v.extend(["guidance"].iter().chain(LANGEVIN).chain(JUDGED)),
        ("eval", Kind::Vae | Kind::Gan) => v.extend(JUDGED),
        _ => {}
    }
    v
}

/// Refuses the options given to `command` that a `kind` card does not use.
pub fn check_options(kind: Kind, command: &str, given: &Given) -> Result<()> {
    let specific = if command == "sample" {
        SAMPLE_SPECIFIC
    } else {
        EVAL_SPECIFIC
    };
    let used = uses(kind, command);
    let unused: Vec<&str> = specific
        .iter()
        .copied()
        .filter(|o| !used.contains(o))
        .collect();
    let wrong = given.flags_among(&unused);
    if !wrong.is_empty() {
        let takes = given_flags(&used);
        let mut hints = Vec::new();
        if wrong.iter().any(|w| w.contains("prompt")) {
            hints.push("prompts need a text model (a `text-ddpm` card)");
        }
        if wrong
            .iter()
            .any(|w| LANGEVIN.iter().any(|l| w[2..] == l.replace('_', "-")))
        {
            hints.push("Langevin options need a score network (an `ncsn` card)");
        }
        bail!(
            "{} {} not apply to a `{kind}` card ({command} of a `{kind}` takes {}){}",
            wrong.join(", "),
            if wrong.len() == 1 { "does" } else { "do" },
            if takes.is_empty() {
                "none of the model-specific options".to_string()
            } else {
                takes.join(", ")
            },
            hints.iter().map(|h| format!("; {h}")).collect::<String>()
        );
    }
    Ok(())
}

fn given_flags(ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect()
}

/// Refuses a `sample` picture path that would overwrite one of the card's files, or that is
/// not a PNG.
pub fn check_out(out: &Path, card: &CardFile) -> Result<()> {
    if out
        .extension()
        .is_none_or(|e| !e.eq_ignore_ascii_case("png"))
    {
        bail!(
            "--out {} must name a .png file (the picture is a PNG)",
            out.display()
        );
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(out, &card.path) || same(out, &card.weights_path) {
        bail!(
            "--out {} is the model's own file: choose another picture path",
            out.display()
        );
    }
    Ok(())
}

/// Refuses a picture of no digits or of more than [`MAX_COUNT`].
pub fn check_count(count: usize) -> Result<()> {
    if !(1..=MAX_COUNT).contains(&count) {
        bail!("--count must be 1 to {MAX_COUNT}, got {count}");
    }
    Ok(())
}

/// Parses `--class`: a digit or "none".
pub fn parse_class(s: &str) -> Result<Option<usize>> {
    match s {
        "none" | "uncond" | "unconditional" => Ok(None),
        _ => s
            .parse::<usize>()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("--class must be a digit 0-9 or `none`, got `{s}`")),
    }
}

/// The columns of a square-ish grid of `count` digits.
pub fn columns(count: usize) -> usize {
    (count as f64).sqrt().ceil() as usize
}

/// Classes 0, 1, ..., 9, 0, ... for `samples` digits: what every evaluation asks for.
pub fn classes_in_turn(samples: usize, n_classes: usize) -> Vec<usize> {
    (0..samples).map(|i| i % n_classes.max(1)).collect()
}

/// Guidance values as written on a command line (`0,0.5,2`).
pub fn joined<T: ToString>(values: &[T]) -> String {
    values
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

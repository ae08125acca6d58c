//! # `digitlab sample ncsn` and `digitlab eval` of a score network
//!
//! Annealed Langevin dynamics with a trained `ncsn` card (`digitlab_diffusion::ncsn`). The
//! levels are geometric between `--sigma-max` (default 2) and the card's `sigma_min`, inside
//! the range the network was trained on; each level runs
//! `--steps-per-level` updates, or `--calls / L` of them, so that 3, 40 and 80 levels can be
//! compared at the same number of network calls or at the same updates per level.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use clap::Args;
use digitlab_diffusion::langevin::{LangevinKind, LangevinSchedule, geometric_sigmas};
use digitlab_diffusion::{LangevinRequest, LangevinRun, NoiseRange};

use crate::backend::Backend;
use crate::cards::CardFile;
use crate::commands::{Reference, store_evaluation};
use crate::grid;

#[derive(Args, Clone, Debug)]
pub struct LangevinArgs {
    /// NCSN: numbers of noise levels L, comma-separated for `eval` (e.g. 3,40,80).
    #[arg(long, value_delimiter = ',', default_value = "10")]
    pub levels: Vec<usize>,
    /// NCSN: Langevin updates per level T (default 10, unless --calls is given).
    #[arg(long)]
    pub steps_per_level: Option<usize>,
    /// NCSN: total Langevin updates; T = calls / L for every L (equal cost across L).
    #[arg(long)]
    pub calls: Option<usize>,
    /// NCSN: step size eps at the smallest level (alpha_i = eps sigma_i^2 / sigma_L^2). The
    /// NCSN paper's 2e-5 (for pixels in [0, 1]; 8e-5 in [-1, 1]) assumes 100 updates per level;
    /// with 10 the shipped network's digits were best at 2e-3 (see the README's NCSN section).
    #[arg(long, default_value_t = 2e-3)]
    pub step_size: f64,
    /// NCSN: the largest noise level of the run, within the card's trained range (the default
    /// 2 starts below the trained 20: from 20, a few updates per level cannot pull the chain
    /// back into the range the network knows, and the digits come out as noise).
    #[arg(long, default_value_t = 2.0)]
    pub sigma_max: f64,
    /// NCSN: the smallest noise level (default: the card's sigma_min).
    #[arg(long)]
    pub sigma_min: Option<f64>,
    /// NCSN: plain Langevin at sigma_min (same number of updates) instead of annealing.
    #[arg(long)]
    pub plain: bool,
    /// NCSN: leave out the final denoising step (Tweedie's formula).
    #[arg(long)]
    pub no_denoise: bool,
}

impl LangevinArgs {
    /// The schedule for `levels` levels over `range`.
    pub fn schedule(&self, levels: usize, range: &NoiseRange) -> Result<LangevinSchedule> {
        if levels == 0 {
            bail!("--levels must be at least 1");
        }
        let per_level = match (self.steps_per_level, self.calls) {
            (Some(_), Some(_)) => bail!("give --steps-per-level or --calls, not both"),
            (Some(t), None) => t,
            (None, Some(c)) => {
                if c < levels {
                    bail!("--calls {c} is fewer than one update per level for L = {levels}");
                }
                c / levels
            }
            (None, None) => 10,
        };
        let kind = if self.plain {
            LangevinKind::Plain
        } else {
            LangevinKind::Annealed
        };
        let sigma_min = self.sigma_min.unwrap_or(range.sigma_min);
        let inside =
            |s: f64| s >= range.sigma_min * (1.0 - 1e-9) && s <= range.sigma_max * (1.0 + 1e-9);
        if !(inside(self.sigma_max) && inside(sigma_min)) {
            bail!(
                "--sigma-max {} and --sigma-min {sigma_min} must lie in the trained range {} to {}",
                self.sigma_max,
                range.sigma_min,
                range.sigma_max
            );
        }
        let sigmas =
            geometric_sigmas(self.sigma_max, sigma_min, levels).map_err(anyhow::Error::msg)?;
        LangevinSchedule::new(kind, sigmas, per_level, self.step_size).map_err(anyhow::Error::msg)
    }

    /// The options as they are written on a command line (for the card's record).
    fn flags(&self) -> String {
        let mut f = match (self.steps_per_level, self.calls) {
            (Some(t), _) => format!("--steps-per-level {t}"),
            (None, Some(c)) => format!("--calls {c}"),
            (None, None) => "--steps-per-level 10".into(),
        };
        f.push_str(&format!(
            " --step-size {} --sigma-max {}",
            self.step_size, self.sigma_max
        ));
        if let Some(s) = self.sigma_min {
            f.push_str(&format!(" --sigma-min {s}"));
        }
        if self.plain {
            f.push_str(" --plain");
        }
        if self.no_denoise {
            f.push_str(" --no-denoise");
        }
        f
    }
}

/// What `digitlab sample` asked for.
pub struct Picture<'a> {
    pub class: Option<usize>,
    pub guidance: f64,
    pub count: usize,
    pub seed: u64,
    pub out: &'a Path,
    pub frames: Option<&'a Path>,
}

pub fn sample(card: &CardFile, args: &LangevinArgs, pic: Picture, device: &Device) -> Result<()> {
    let (model, range) = card.load_ncsn(device)?;
    let [levels] = args.levels[..] else {
        bail!("sampling takes one --levels value, got {:?}", args.levels);
    };
    let request = LangevinRequest {
        labels: vec![pic.class; pic.count],
        guidance: pic.guidance,
        schedule: args.schedule(levels, &range)?,
        denoise: !args.no_denoise,
        seed: pic.seed,
    };
    let mut run = LangevinRun::new(&model, range, &request, device)?;
    let columns = (pic.count as f64).sqrt().ceil() as usize;
    let total = run.total_steps();
    let started = Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let per_level = request.schedule.steps_per_level;
    while let Some(at) = run.step(&model) {
        let k = run.completed_steps();
        // One frame per level (and the last), not per update: 80 levels x T updates is a lot.
        if let Some(dir) = pic.frames
            && (at.step + 1 == per_level || k == total)
        {
            grid::save_png(
                &grid::grid(run.sample(), columns),
                &dir.join(format!("level-{:03}-{k:05}.png", at.level + 1)),
            )?;
        }
        if terminal {
            eprint!(
                "\rlevel {}/{} sigma {:.4} | call {k}/{total}",
                at.level + 1,
                request.schedule.sigmas.len(),
                at.sigma
            );
        }
    }
    if terminal {
        eprintln!();
    }
    grid::save_png(&grid::grid(run.sample(), columns), pic.out)?;
    eprintln!(
        "wrote {} ({} digits, {levels} levels, {total} network calls, {:.2} s)",
        pic.out.display(),
        pic.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The options of `digitlab eval` that an NCSN uses.
pub struct EvalSettings<'a> {
    pub samples: usize,
    pub guidance: f64,
    pub batch: usize,
    pub seed: u64,
    pub backend: Backend,
    pub json: bool,
    pub update_card: bool,
    pub classifier: &'a Path,
}

/// Quality and cost for each number of levels: the same JSON contract as the DDPM's
/// evaluation (accuracy of the requested class, confidence, class histogram, Fréchet
/// distance), plus the network calls and the time per digit.
pub fn eval(
    mut card: CardFile,
    args: &LangevinArgs,
    s: EvalSettings,
    reference: &Reference,
    device: &Device,
) -> Result<()> {
    let (model, range) = card.load_ncsn(device)?;
    let n_classes = model.null_class();
    let mut results = Vec::new();
    for &levels in &args.levels {
        let schedule = args.schedule(levels, &range)?;
        let started = Instant::now();
        let expected: Vec<usize> = (0..s.samples).map(|i| i % n_classes).collect();
        let mut images = Vec::new();
        let mut calls = 0;
        for (b, chunk) in expected.chunks(s.batch.max(1)).enumerate() {
            let request = LangevinRequest {
                labels: chunk.iter().map(|&c| Some(c)).collect(),
                guidance: s.guidance,
                schedule: schedule.clone(),
                denoise: !args.no_denoise,
                seed: s.seed.wrapping_add(b as u64 * 7919),
            };
            let mut run = LangevinRun::new(&model, range, &request, device)?;
            calls = run.total_steps();
            images.push(run.run(&model).clamp(-1.0, 1.0));
            if !s.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprint!(
                    "\rL = {levels}: {} / {} digits",
                    (b * s.batch + chunk.len()).min(s.samples),
                    s.samples
                );
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let j = digitlab_eval::judge(&reference.classifier, Tensor::cat(images, 0), 250);
        let stats = digitlab_eval::FeatureStats::new(&j.features, j.feature_dim);
        let frechet = digitlab_eval::frechet_distance(&stats, &reference.stats);
        let result = serde_json::json!({
            "levels": levels,
            "steps_per_level": schedule.steps_per_level,
            "network_calls": calls,
            "sigma_max": schedule.sigmas[0],
            "sigma_min": schedule.sigmas[schedule.sigmas.len() - 1],
            "trained_sigmas": [range.sigma_min, range.sigma_max],
            "step_size": args.step_size,
            "annealed": !args.plain,
            "denoise": !args.no_denoise,
            "guidance": s.guidance,
            "samples": s.samples,
            "seed": s.seed,
            "accuracy": j.accuracy(&expected),
            "per_class": j.per_class_accuracy(&expected, n_classes),
            "confidence": j.mean_confidence(),
            "histogram": j.histogram(n_classes),
            "modes_covered": j.modes_covered(n_classes, digitlab_eval::MODE_SHARE),
            "frechet": frechet,
            "frechet_floor": reference.frechet_floor,
            "frechet_reference": format!("{} held-out digits", reference.test_len),
            "seconds": seconds,
            "ms_per_digit": seconds * 1000.0 / s.samples as f64,
            "backend": s.backend.name(),
        });
        if !s.json {
            eprintln!(
                "\rL = {levels} x T = {}: {calls} calls | accuracy {:.2} % | confidence {:.3} | Fréchet {:.2} (floor {:.2}) | {:.1} ms/digit",
                schedule.steps_per_level,
                j.accuracy(&expected) * 100.0,
                j.mean_confidence(),
                frechet,
                reference.frechet_floor,
                seconds * 1000.0 / s.samples as f64
            );
        }
        results.push(result);
    }
    if s.json {
        println!("{}", serde_json::json!({ "sweep": results }));
    }
    if s.update_card {
        let command = format!(
            "digitlab eval --model {} --classifier {} --backend {} --samples {} --guidance {} --seed {} --levels {} {}",
            card.path.display(),
            s.classifier.display(),
            match s.backend {
                Backend::Flex => "flex",
                Backend::Wgpu => "wgpu",
            },
            s.samples,
            s.guidance,
            s.seed,
            args.levels
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(","),
            args.flags()
        );
        store_evaluation(&mut card, command, results)?;
    }
    Ok(())
}

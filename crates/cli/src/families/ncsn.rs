//! # The score network: `digitlab sample` and `digitlab eval` of an `ncsn` card
//!
//! Annealed Langevin dynamics with a trained `ncsn` card (`digitlab_diffusion::ncsn`). The
//! levels are geometric between `--sigma-max` (default 2) and the card's `sigma_min`, inside
//! the range the network was trained on; each level runs
//! `--steps-per-level` updates, or `--calls / L` of them, so that 3, 40 and 80 levels can be
//! compared at the same number of network calls or at the same updates per level.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_diffusion::langevin::{LangevinKind, LangevinSchedule, geometric_sigmas};
use digitlab_diffusion::{LangevinRequest, LangevinRun, NoiseRange};

use super::{check_count, classes_in_turn, columns, parse_class};
use crate::args::{EvalArgs, LangevinArgs, SampleArgs};
use crate::cards::CardFile;
use crate::evaluate::{EvalKey, Reference, extend, print_json, store_evaluation};
use crate::grid;

/// The largest `--step-size` accepted.
const MAX_STEP_SIZE: f64 = 1.0;

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
        if !(self.step_size > 0.0 && self.step_size <= MAX_STEP_SIZE) {
            bail!(
                "--step-size must be above 0 and at most {MAX_STEP_SIZE} (at the smallest level a step of 1 already moves a pixel by as much noise as the whole range), got {}",
                self.step_size
            );
        }
        let sigmas =
            geometric_sigmas(self.sigma_max, sigma_min, levels).map_err(anyhow::Error::msg)?;
        LangevinSchedule::new(kind, sigmas, per_level, self.step_size).map_err(anyhow::Error::msg)
    }

    /// The options as they are written on a command line (for the card's record).
    pub fn flags(&self) -> String {
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

pub fn sample(card: &CardFile, args: &SampleArgs, device: &Device) -> Result<()> {
    check_count(args.count)?;
    let (model, range) = card.load_ncsn(device)?;
    let l = &args.langevin;
    let [levels] = l.levels[..] else {
        bail!("sampling takes one --levels value, got {:?}", l.levels);
    };
    let request = LangevinRequest {
        labels: vec![parse_class(&args.class)?; args.count],
        guidance: args.guidance,
        schedule: l.schedule(levels, &range)?,
        denoise: !l.no_denoise,
        seed: args.sampling.seed,
    };
    let mut run = LangevinRun::new(&model, range, &request, device)?;
    let columns = columns(args.count);
    let total = run.total_steps();
    let started = Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let per_level = request.schedule.steps_per_level;
    while let Some(at) = run.step(&model) {
        let k = run.completed_steps();
        // One frame per level (and the last), not per update: 80 levels x T updates is a lot.
        if let Some(dir) = &args.frames
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
    grid::save_png(&grid::grid(run.sample(), columns), &args.out)?;
    eprintln!(
        "wrote {} ({} digits, {levels} levels, {total} network calls, {:.2} s)",
        args.out.display(),
        args.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Quality and cost for each number of levels: the keys of every evaluation (accuracy of the
/// requested class, confidence, class histogram, Fréchet distance), plus the levels, the network
/// calls and the step size.
pub fn eval(mut card: CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let (model, range) = card.load_ncsn(device)?;
    let guidance = match args.guidance[..] {
        [w] => w,
        _ => bail!(
            "a score network is evaluated at one --guidance value at a time, got {:?}",
            args.guidance
        ),
    };
    let l = &args.langevin;
    let reference = Reference::new(&args.data, &args.classifier, args.samples, device)?;
    let n_classes = model.null_class();
    let expected = classes_in_turn(args.samples, n_classes);
    let seed = args.sampling.seed;
    let mut results = Vec::new();
    for &levels in &l.levels {
        let schedule = l.schedule(levels, &range)?;
        let mut calls = 0;
        let label = (!args.json).then(|| format!("L = {levels}"));
        let judged = reference.judge_batches(
            args.samples,
            args.batch,
            label.as_deref(),
            |b, first, n| {
                let request = LangevinRequest {
                    labels: expected[first..first + n]
                        .iter()
                        .map(|&c| Some(c))
                        .collect(),
                    guidance,
                    schedule: schedule.clone(),
                    denoise: !l.no_denoise,
                    seed: seed.wrapping_add(b as u64 * 7919),
                };
                let mut run = LangevinRun::new(&model, range, &request, device)?;
                calls = run.total_steps();
                Ok(run.run(&model).clamp(-1.0, 1.0))
            },
        )?;
        let mut result = judged.fields(
            &reference,
            Some(&expected),
            n_classes,
            args.sampling.backend,
        );
        extend(
            &mut result,
            serde_json::json!({
                "levels": levels,
                "steps_per_level": schedule.steps_per_level,
                "network_calls": calls,
                "sigma_max": schedule.sigmas[0],
                "sigma_min": schedule.sigmas[schedule.sigmas.len() - 1],
                "trained_sigmas": [range.sigma_min, range.sigma_max],
                "step_size": l.step_size,
                "annealed": !l.plain,
                "denoise": !l.no_denoise,
                "guidance": guidance,
                "seed": seed,
            }),
        );
        if !args.json {
            eprintln!(
                "\rL = {levels} x T = {}: {calls} calls | {}",
                schedule.steps_per_level,
                judged.summary(&reference, Some(&expected))
            );
        }
        results.push(result);
    }
    if args.json {
        print_json(&results, true);
    }
    if args.update_card {
        let key = EvalKey::new(
            args.sampling.backend,
            format!(
                "--classifier {} --samples {} --guidance {guidance} --seed {seed} --levels {} {}",
                args.classifier.display(),
                args.samples,
                super::joined(&l.levels),
                l.flags()
            ),
        );
        store_evaluation(&mut card, key, results)?;
    }
    Ok(())
}

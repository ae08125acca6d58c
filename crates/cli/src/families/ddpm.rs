//! # The class-conditional DDPM: `digitlab sample` and `digitlab eval` of a `ddpm-cfg` card
//!
//! Sampling runs `digitlab_diffusion::DenoiseRun` step by step (DDPM or DDIM, guidance in one
//! batched pass), writing the grid and, with `--frames`, every intermediate `x_t` and predicted
//! `x_0`. The evaluation asks for the classes in turn at each guidance scale.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, SampleRequest, SamplerKind};
use digitlab_models::ContextUnet;
use digitlab_weights::{Distillation, ModelSpec};

use super::{check_count, classes_in_turn, columns, joined, parse_class};
use crate::args::{EvalArgs, Given, SampleArgs, SamplingArgs};
use crate::cards::CardFile;
use crate::evaluate::{EvalKey, Reference, extend, print_json, store_evaluation};
use crate::grid;

/// A distilled student samples with DDIM (eta 0) at the step count it was distilled for: that
/// count is its default `--steps`, and other settings are allowed but named in a note (the
/// student was trained to land on its teacher's path at those steps only).
pub fn student_defaults(card: &CardFile, sampling: &mut SamplingArgs, given: &Given) {
    let ModelSpec::DdpmCfg {
        distilled: Some(Distillation { steps: Some(n), .. }),
        ..
    } = &card.card.model
    else {
        return;
    };
    if !given.contains("steps") {
        sampling.steps = *n;
    }
    if sampling.steps != *n || sampling.kind() != (SamplerKind::Ddim { eta: 0.0 }) {
        eprintln!(
            "note: {} was distilled for DDIM with eta 0 at {n} steps; other settings sample it off the path it learned",
            card.path.display()
        );
    }
}

pub fn sample(card: &CardFile, args: &SampleArgs, device: &Device) -> Result<()> {
    check_count(args.count)?;
    let (model, schedule) = card.load_ddpm(device)?;
    let request = SampleRequest::uniform(
        parse_class(&args.class)?,
        args.count,
        args.guidance,
        args.sampling.kind(),
        args.sampling.steps,
        args.sampling.seed,
    );
    let mut run = DenoiseRun::new(&model, schedule, &request, device)?;
    let columns = columns(args.count);
    let total = run.trajectory().total_steps();
    let started = Instant::now();
    let out = run_with_frames(&mut run, &model, args.frames.as_deref(), columns)?;
    grid::save_png(&grid::grid(&out, columns), &args.out)?;
    eprintln!(
        "wrote {} ({} digits, {total} steps, {:.2} s)",
        args.out.display(),
        args.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `run` to the end with a step counter on a terminal, writing every intermediate `x_t`
/// and predicted `x_0` into `frames` (`xt-NNNN.png`, `x0-NNNN.png`) when given: `sample`'s and
/// `edit`'s loop. Returns the final digits.
pub fn run_with_frames(
    run: &mut DenoiseRun,
    model: &ContextUnet,
    frames: Option<&Path>,
    columns: usize,
) -> Result<Tensor<4>> {
    let total = run.trajectory().total_steps();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut frame_error = None;
    let out = run.run(model, |k, step| {
        if let Some(dir) = frames
            && frame_error.is_none()
        {
            let r = grid::save_png(
                &grid::grid(&step.prev_sample, columns),
                &dir.join(format!("xt-{k:04}.png")),
            )
            .and_then(|_| {
                grid::save_png(
                    &grid::grid(&step.pred_original_sample, columns),
                    &dir.join(format!("x0-{k:04}.png")),
                )
            });
            if let Err(e) = r {
                frame_error = Some(e);
            }
        }
        if terminal {
            eprint!("\rstep {k}/{total}");
        }
    });
    if terminal && total > 0 {
        eprintln!();
    }
    match frame_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

pub fn eval(mut card: CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let (model, schedule) = card.load_ddpm(device)?;
    let reference = Reference::new(&args.data, &args.classifier, args.samples, device)?;
    let s = &args.sampling;
    let n_classes = model.null_class();
    let expected = classes_in_turn(args.samples, n_classes);
    let mut results = Vec::new();
    for &w in &args.guidance {
        let label = (!args.json).then(|| format!("w = {w}"));
        let judged = reference.judge_batches(
            args.samples,
            args.batch,
            label.as_deref(),
            |b, first, n| {
                let request = SampleRequest {
                    labels: expected[first..first + n]
                        .iter()
                        .map(|&c| Some(c))
                        .collect(),
                    guidance: w,
                    sampler: s.kind(),
                    steps: s.steps,
                    seed: s.seed.wrapping_add(b as u64 * 7919),
                };
                let mut run = DenoiseRun::new(&model, schedule.clone(), &request, device)?;
                Ok(run.run(&model, |_, _| {}))
            },
        )?;
        let mut result = judged.fields(&reference, Some(&expected), n_classes, s.backend);
        extend(
            &mut result,
            serde_json::json!({
                "guidance": w,
                "diffusers_guidance_scale": 1.0 + w,
                "sampler": s.kind().name(),
                "eta": s.eta_value(),
                "steps": s.steps,
                "seed": s.seed,
            }),
        );
        if !args.json {
            eprintln!("\rw = {w}: {}", judged.summary(&reference, Some(&expected)));
        }
        results.push(result);
    }
    if args.json {
        print_json(&results, false);
    }
    if args.update_card {
        let key = EvalKey::new(
            s.backend,
            format!(
                "--samples {} --guidance {} --sampler {} --steps {} --seed {}",
                args.samples,
                joined(&args.guidance),
                s.kind().name(),
                s.steps,
                s.seed
            ),
        );
        store_evaluation(&mut card, key, results)?;
    }
    Ok(())
}

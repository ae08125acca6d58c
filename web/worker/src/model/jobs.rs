//! The model worker's runs besides DDPM sampling: annealed Langevin dynamics (NCSN), the VAE's
//! and the GANs' decoding and encoding, the forward process, and prompt-to-digits runs. Each
//! checks between steps whether it may go on, like [`super::sample`].

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use digitlab_captions::{caption, measure};
use digitlab_diffusion::langevin::{LangevinKind, LangevinSchedule, geometric_sigmas};
use digitlab_diffusion::{
    ForwardProcess, LangevinRequest, LangevinRun, NoiseSource, SamplerKind, TextDenoiseRun,
    TextRequest,
};
use digitlab_models::pixels::unit_to_bytes;
use digitlab_ui::inputs::LangevinParams;
use gloo_worker::HandlerId;

use super::{Scope, State, backend_failed, finish, read};
use crate::lab::{Lab, LatentModel};
use crate::protocol::{LatentOp, Maps, Reply, TextJob};
use crate::ticks::{next_tick, now_ms};
use digitlab_ui::grid::normalise;

fn lab(state: &Rc<RefCell<State>>) -> Result<Lab, String> {
    state
        .borrow()
        .lab
        .clone()
        .ok_or_else(|| "the models are not loaded yet".into())
}

fn goes_on(state: &Rc<RefCell<State>>, job: u64) -> bool {
    state.borrow().running == job
}

/// Annealed Langevin sampling with the score network, a frame per network call.
pub async fn langevin(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    r: &LangevinParams,
) -> Result<Reply, String> {
    let lab = lab(state)?;
    let score = lab
        .ncsn
        .as_ref()
        .ok_or("no score network is loaded (see Weights below)")?;
    let range = score.range;
    if !(range.sigma_min..=range.sigma_max).contains(&r.sigma_max) {
        return Err(format!(
            "sigma_max must lie in the trained range {} to {}, got {}",
            range.sigma_min, range.sigma_max, r.sigma_max
        ));
    }
    let sigmas = geometric_sigmas(r.sigma_max, range.sigma_min, r.levels)?;
    let schedule = LangevinSchedule::new(LangevinKind::Annealed, sigmas, r.per_level, r.step_size)?;
    let request = LangevinRequest {
        labels: vec![r.class; r.count],
        guidance: r.guidance,
        schedule,
        denoise: true,
        seed: r.seed,
    };
    let mut run = LangevinRun::new(&score.model, score.range, &request, &lab.device)
        .map_err(|e| e.to_string())?;
    let total = run.total_steps();
    let side = score.model.image_shape()[1];
    let started = now_ms();
    loop {
        if !goes_on(state, job) {
            return Ok(Reply::Stopped { job });
        }
        let Some(at) = run.step(&score.model) else {
            break;
        };
        let values = read(run.sample().clone().clamp(-1.0, 1.0))
            .await
            .map_err(|e| backend_failed(scope, id, state, e))?;
        let step = run.completed_steps();
        let ms = (now_ms() - started) / step as f64;
        let note = format!(
            "level {}/{} · σ = {:.4} · call {step}/{total}{}",
            at.level + 1,
            r.levels,
            at.sigma,
            if at.alpha == 0.0 {
                " (denoising step)"
            } else {
                ""
            }
        );
        scope.respond(id, Reply::frame(job, (step, total), values, side, ms, note));
        next_tick().await;
    }
    let x0 = run.sample().clone().clamp(-1.0, 1.0);
    finish(scope, id, state, job, &lab, x0).await
}

fn images(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = values.len() / 784;
    Tensor::from_data(TensorData::new(values, [n, 1, 28, 28]), device)
}

fn latents(values: Vec<f32>, latent: usize, device: &Device) -> Tensor<2> {
    let n = values.len() / latent.max(1);
    Tensor::from_data(TensorData::new(values, [n, latent]), device)
}

/// A VAE's or a GAN generator's work (one forward pass, one read).
pub async fn latent(
    state: &Rc<RefCell<State>>,
    job: u64,
    name: &str,
    op: LatentOp,
) -> Result<Reply, String> {
    let lab = lab(state)?;
    let m: &LatentModel = lab
        .latent(name)
        .ok_or_else(|| format!("the {name} model is not loaded"))?;
    let device = &lab.device;
    let vae = || m.vae().ok_or_else(|| format!("{name} is not a VAE"));
    let noise = |seed, count| NoiseSource::new(seed, count).latent(m.latent(), device);
    let (x, judge) = match op {
        LatentOp::Prior { seed, count } => (m.decode(noise(seed, count)), true),
        LatentOp::Noise { seed, count } => {
            let values = read(noise(seed, count)).await?;
            return Ok(Reply::Values {
                job,
                values,
                labels: None,
            });
        }
        LatentOp::Decode { z } => (m.decode(latents(z, m.latent(), device)), false),
        LatentOp::Encode { images: x } => {
            let values = read(vae()?.encode(images(x, device)).mu).await?;
            return Ok(Reply::Values {
                job,
                values,
                labels: None,
            });
        }
        LatentOp::Reconstruct { images: x } => {
            let vae = vae()?;
            (vae.decode(vae.encode(images(x, device)).mu), false)
        }
        LatentOp::Time { count, runs } => {
            let z = noise(0, count);
            let mut times = Vec::new();
            for i in 0..=runs.max(1) {
                let start = now_ms();
                read(m.decode(z.clone())).await?;
                if i > 0 {
                    times.push(now_ms() - start); // the first call compiles kernels
                }
                next_tick().await;
            }
            times.sort_by(f64::total_cmp);
            return Ok(Reply::Timed {
                job,
                ms: times[times.len() / 2],
            });
        }
    };
    let values = read(x.clone()).await?;
    let labels = match (&lab.judge, judge) {
        (Some(j), true) => Some(j.classify(x).await),
        _ => None,
    };
    Ok(Reply::Values {
        job,
        values,
        labels,
    })
}

/// `q(x_t | x_0)` in closed form and by `step` one-step updates (seeds 7 and 8, as the CLI's
/// `digitlab forward`), a frame every 50 updates.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    x0: &[f32],
    side: usize,
    step: usize,
    cosine: bool,
    draws: usize,
) -> Result<Reply, String> {
    let device = lab(state)?.device;
    // The view's own schedules (its plots show them).
    let s = crate::protocol::forward_schedule(if cosine { "cosine" } else { "linear" });
    if !(1..=s.train_steps()).contains(&step) {
        return Err(format!("t must be in 1..={}, got {step}", s.train_steps()));
    }
    let x0 = Tensor::<1>::from_floats(x0, &device)
        .reshape([1, 1, side, side])
        .repeat_dim(0, draws);
    let mut noise = NoiseSource::new(7, draws);
    let closed = s.q_sample(
        x0.clone(),
        noise.tensor([1, side, side], &device),
        &vec![step - 1; draws],
    );
    let mut x = x0;
    let mut noise = NoiseSource::new(8, draws);
    for k in 0..step {
        x = s.q_step(x, noise.tensor([1, side, side], &device), k);
        if k % 50 == 49 {
            // A frame now and then: 1,000 small steps on the CPU backend take a moment.
            read(x.clone()).await?;
            let note = format!("iterating: {}/{step}", k + 1);
            scope.respond(
                id,
                Reply::frame(job, (k + 1, step), Vec::new(), side, 0.0, note),
            );
            next_tick().await;
            if !goes_on(state, job) {
                return Ok(Reply::Stopped { job });
            }
        }
    }
    Ok(Reply::Forward {
        job,
        closed: read(closed).await?,
        iterated: read(x).await?,
    })
}

/// A prompt-to-digits run, as `digitlab sample --prompt` runs it: a pixel model's frames show
/// `x_t`; a latent model's the decoding of its current guess of the clean latent, with the
/// channels of its first digit in `extra`. Ends with the digits, the last step's attention
/// maps and each digit classified and measured in the captions' words.
pub async fn text(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    p: &TextJob,
) -> Result<Reply, String> {
    let lab = lab(state)?;
    let model = lab
        .text(&p.model)
        .ok_or_else(|| format!("the {} model is not loaded", p.model))?;
    let request = TextRequest {
        prompts: vec![model.tokenizer.encode(&p.prompt)?; p.count],
        negative: model.tokenizer.encode(&p.negative)?,
        guidance: p.guidance,
        sampler: SamplerKind::Ddim { eta: 0.0 },
        steps: p.steps,
        seed: p.seed,
    };
    let device = &lab.device;
    let mut run = TextDenoiseRun::new(&model.unet, model.schedule.clone(), &request, device)
        .map_err(|e| e.to_string())?;
    let total = run.trajectory().total_steps();
    let started = now_ms();
    let mut last_attention = None;
    let latent = model.decoder.is_some();
    loop {
        if !goes_on(state, job) {
            return Ok(Reply::Stopped { job });
        }
        let Some(step) = run.step(&model.unet) else {
            break;
        };
        let shown = if latent {
            model.to_pixels(step.output.pred_original_sample.clone())
        } else {
            step.output.prev_sample.clone()
        };
        let values = read(shown)
            .await
            .map_err(|e| backend_failed(scope, id, state, e))?;
        let (extra, extra_count) = if latent {
            let [channels, side, _] = model.unet.image_shape();
            let first = read(step.output.prev_sample.clone().narrow(0, 0, 1))
                .await
                .map_err(|e| backend_failed(scope, id, state, e))?;
            (normalise(&first, side * side), channels)
        } else {
            (Vec::new(), 0)
        };
        last_attention = step.attention;
        let k = run.trajectory().completed_steps();
        scope.respond(
            id,
            Reply::Frame {
                job,
                step: k,
                total,
                values,
                side: 28,
                ms_per_step: (now_ms() - started) / k as f64,
                note: String::new(),
                extra,
                extra_count,
            },
        );
        next_tick().await;
    }
    let maps: Option<Maps> = match last_attention {
        Some(a) => {
            let [n, len, side, _] = a.dims();
            Some((read(a).await?, n, len, side))
        }
        None => None,
    };
    let pixels = model.to_pixels(run.trajectory().sample().clone());
    let values = read(pixels.clone()).await?;
    let labels = match &lab.judge {
        Some(judge) => judge.classify(pixels).await.ok(),
        None => None,
    };
    let bytes = unit_to_bytes(&values);
    let words = |d: &digitlab_captions::Described| {
        // The caption with every attribute mentioned (form 7), minus the article.
        caption(d, 7)
            .split_once(' ')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    };
    let verdicts = (0..p.count)
        .map(|i| {
            let attributes = measure(&bytes[i * 784..(i + 1) * 784], 28);
            match labels.as_ref().and_then(|l| l.get(i)) {
                Some(&(digit, confidence)) => format!(
                    "#{}: the classifier reads {digit} ({:.0} %); measured as {}",
                    i + 1,
                    confidence * 100.0,
                    words(&model.bins.describe(digit as u8, &attributes))
                ),
                None => format!("#{}: (no classifier loaded)", i + 1),
            }
        })
        .collect();
    Ok(Reply::TextDone {
        job,
        values,
        maps,
        verdicts,
        summary: format!(
            "Each digit is measured as the training captions were (ink per row for thickness, image moments for slant, bounding box for size; per-digit tertiles from {}), so the words above are what the digit is, not what was asked.",
            model.card.data.name
        ),
    })
}

//! # `digitlab train ddpm` and `digitlab train ncsn`
//!
//! Trains the ContextUnet to predict the noise added to a digit, dropping the class to null
//! with probability `p_uncond` so the same network also learns the unconditional score that
//! classifier-free guidance needs. The two models differ only in how the digit is corrupted
//! ([`Corruption`]):
//!
//! - DDPM: `t` uniform in `0..T`, `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`, the "simple"
//!   loss `|| eps - eps_theta(x_t, t, c) ||^2` (Algorithm 1).
//! - NCSN: `sigma` log-uniform in `[sigma_min, sigma_max]`, `x~ = x_0 + sigma z`, the network
//!   fed `x~ / sqrt(1 + sigma^2)` and `log sigma`; `|| z - eps_theta ||^2` is denoising score
//!   matching with `lambda(sigma) = sigma^2` (see `digitlab_diffusion::ncsn`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_diffusion::{NoiseRange, NoiseSchedule, ScheduleConfig};
use digitlab_models::{ContextUnet, ContextUnetConfig};
use digitlab_weights::{Card, ModelSpec, TrainingInfo, load_record, record_bytes};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, check_same_config};
use super::data::Batches;
use super::progress::Progress;
use super::{ema, step_rng};
use crate::backend::Backend;
use crate::cards::write_weights;

/// How training corrupts a digit before the network predicts the noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "process", rename_all = "kebab-case")]
pub enum Corruption {
    Ddpm { schedule: ScheduleConfig },
    Ncsn { range: NoiseRange },
}

impl Corruption {
    /// The kind of the weights (card and checkpoints).
    pub fn kind(&self) -> &'static str {
        match self {
            Corruption::Ddpm { .. } => "ddpm-cfg",
            Corruption::Ncsn { .. } => "ncsn",
        }
    }

    fn model_spec(&self, unet: &ContextUnetConfig) -> ModelSpec {
        match *self {
            Corruption::Ddpm { schedule } => ModelSpec::DdpmCfg {
                unet: unet.clone(),
                schedule,
            },
            Corruption::Ncsn { range } => ModelSpec::Ncsn {
                unet: unet.clone(),
                noise: range,
            },
        }
    }
}

/// Everything that determines the trained weights (saved in checkpoints and cards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DdpmTrainConfig {
    pub unet: ContextUnetConfig,
    pub corruption: Corruption,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's learning rate, decayed linearly to `lr_final` over the run (the measured recipe:
    /// 1e-3; at 1e-4 the same budget gives digits a classifier recognises a third of the time).
    pub lr: f64,
    pub lr_final: f64,
    pub ema_decay: f64,
    /// Probability of replacing the class by null (classifier-free guidance training).
    pub p_uncond: f64,
    pub seed: u64,
    /// Start from these weights (a card of the same kind and architecture) instead of a
    /// random init: to continue a finished run with a new learning-rate schedule.
    #[serde(default)]
    pub init_from: Option<String>,
}

pub struct RunOptions {
    pub run: PathBuf,
    pub backend: Backend,
    pub resume: bool,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// Stop after this many steps in this session (a checkpoint is written): to split a long
    /// run over sessions, and for the resume test.
    pub stop_after: Option<usize>,
}

/// One training step's random draws, a function of (seed, step) only.
struct StepDraws {
    /// DDPM: the time step `t`; NCSN: `u` in `[0, 1)`, with `sigma = sigma_min^(1-u) sigma_max^u`.
    level: Vec<f64>,
    labels: Vec<i64>,
    noise: Vec<f32>,
}

fn draws(config: &DdpmTrainConfig, step: usize, labels: &[u8], pixels: usize) -> StepDraws {
    let mut rng = step_rng(config.seed, step);
    let n = labels.len();
    let level = (0..n)
        .map(|_| match config.corruption {
            Corruption::Ddpm { schedule } => rng.random_range(0..schedule.train_steps) as f64,
            Corruption::Ncsn { .. } => rng.random::<f64>(),
        })
        .collect();
    let null = config.unet.n_classes as i64;
    let labels = labels
        .iter()
        .map(|&l| {
            if rng.random::<f64>() < config.p_uncond {
                null
            } else {
                l as i64
            }
        })
        .collect();
    let noise = (0..n * pixels)
        .map(|_| -> f32 { StandardNormal.sample(&mut rng) })
        .collect();
    StepDraws {
        level,
        labels,
        noise,
    }
}

pub fn train(config: DdpmTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    config.unet.validate().map_err(anyhow::Error::msg)?;
    let kind = config.corruption.kind();
    let schedule = match config.corruption {
        Corruption::Ddpm { schedule } => Some(NoiseSchedule::new(schedule)?),
        Corruption::Ncsn { range } => {
            range.check()?;
            None
        }
    };
    if !(0.0..1.0).contains(&config.p_uncond) || !(0.0..1.0).contains(&config.ema_decay) {
        bail!("p_uncond and ema_decay must be in [0, 1)");
    }
    let data_dir = PathBuf::from(&config.data);
    let train = super::data::training_split(&data_dir, config.unet.image_size)?;
    let held_out = Dataset::load(&data_dir, Split::Test)
        .map(|d| d.len())
        .unwrap_or(0);
    if train.n_classes() > config.unet.n_classes {
        bail!(
            "the data has {} classes, the model {}",
            train.n_classes(),
            config.unet.n_classes
        );
    }
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch();
    if total == 0 {
        bail!(
            "nothing to train: {} epochs of {} images",
            config.epochs,
            train.len()
        );
    }

    let device = opts.backend.device()?.autodiff();
    let checkpoints = Checkpoints::new(&opts.run);
    let (mut model, mut ema_model, mut optim, start, seconds_before) = if opts.resume {
        let (state, dir) = checkpoints.latest::<DdpmTrainConfig>(kind)?;
        check_same_config(&state.config, &config)?;
        let read = |f: &str| {
            std::fs::read(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))
        };
        let model = load_record(config.unet.init(&device), &read("model.bpk")?)?;
        let ema_model = load_record(config.unet.init(&device.clone().inner()), &read("ema.bpk")?)?;
        let optim = Optimizer::new(config.lr, config.lr_final, total, Some(&dir))?;
        eprintln!(
            "resuming {} from step {} of {total}",
            opts.run.display(),
            state.step
        );
        (model, ema_model, optim, state.step, state.seconds)
    } else {
        device.seed(config.seed);
        let model: ContextUnet = match &config.init_from {
            None => config.unet.init(&device),
            Some(path) => {
                let card = crate::cards::CardFile::read(std::path::Path::new(path))?;
                if card.card.model != config.corruption.model_spec(&config.unet) {
                    bail!(
                        "--init-from {path}: a `{}` model with another config; it must be a `{kind}` card with the same --n-feat and noise options",
                        card.card.model.kind()
                    );
                }
                match config.corruption {
                    Corruption::Ddpm { .. } => card.load_ddpm(&device)?.0,
                    Corruption::Ncsn { .. } => card.load_ncsn(&device)?.0,
                }
            }
        };
        let ema_model = model.valid();
        (
            model,
            ema_model,
            Optimizer::new(config.lr, config.lr_final, total, None)?,
            0,
            0.0,
        )
    };

    let side = batches.side();
    let pixels = side * side;
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let mut last_loss = f64::NAN;
    let save_checkpoint = |step: usize,
                           model: &ContextUnet,
                           ema_model: &ContextUnet,
                           optim: &Optimizer,
                           seconds: f64|
     -> Result<()> {
        checkpoints.save_step(
            kind,
            step,
            seconds,
            &config,
            vec![
                ("model.bpk".into(), record_bytes(model.clone())),
                ("ema.bpk".into(), record_bytes(ema_model.clone())),
            ],
            optim,
        )?;
        Ok(())
    };

    for step in start..end {
        // 1. batch and this step's random draws
        let batch = batches.batch(step);
        let n = batch.len();
        let d = draws(&config, step, &batch.labels, pixels);
        let x0 = batch.images(side, &device);
        let noise = Tensor::<4>::from_data(TensorData::new(d.noise, [n, 1, side, side]), &device);
        // 2. the corruption: q(x_t | x_0), or x~ = x_0 + sigma z
        let (x_t, time): (Tensor<4>, Vec<f32>) = match (&schedule, config.corruption) {
            (Some(schedule), _) => {
                let t: Vec<usize> = d.level.iter().map(|&t| t as usize).collect();
                (
                    schedule.q_sample(x0, noise.clone(), &t),
                    t.iter().map(|&t| schedule.time_input(t)).collect(),
                )
            }
            (None, Corruption::Ncsn { range }) => {
                let (lo, hi) = (range.sigma_min.ln(), range.sigma_max.ln());
                let sigmas: Vec<f64> = d.level.iter().map(|u| (lo + u * (hi - lo)).exp()).collect();
                let column = |f: &dyn Fn(f64) -> f64| {
                    let v: Vec<f32> = sigmas.iter().map(|&s| f(s) as f32).collect();
                    Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, 1]), &device)
                        .expand([n, 1, side, side])
                };
                let noisy = x0 + noise.clone() * column(&|s| s);
                (
                    noisy * column(&NoiseRange::input_scale),
                    sigmas.iter().map(|&s| range.time_input(s)).collect(),
                )
            }
            (None, Corruption::Ddpm { .. }) => unreachable!("a DDPM has a schedule"),
        };
        let time = Tensor::<1>::from_floats(time.as_slice(), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(d.labels, [n]), &device);
        // 3. noise prediction and the simple loss
        let eps = model.forward(x_t, time, labels);
        let loss = (eps - noise).square().mean();
        let loss_value: f64 = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            bail!(
                "the loss became {loss_value} at step {step}: lower the learning rate (the last checkpoint is intact)"
            );
        }
        // 4. optimizer step, then the EMA
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (trained, lr) = optim.step(model, grads);
        model = trained;
        ema_model = ema::update(
            ema_model,
            &model.valid(),
            ema::warmup_decay(config.ema_decay, step),
        );
        last_loss = loss_value;

        let done = step + 1;
        progress.step(
            done,
            loss_value,
            n,
            lr,
            serde_json::json!({ "epoch": done as f64 / batches.per_epoch() as f64 }),
        )?;
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            save_checkpoint(
                done,
                &model,
                &ema_model,
                &optim,
                seconds_before + started.elapsed().as_secs_f64(),
            )?;
        }
    }
    progress.finish();
    let seconds = seconds_before + started.elapsed().as_secs_f64();
    if super::stopped_early(end, total) {
        return Ok(opts.run.clone());
    }

    let card = Card::new(
        config.corruption.model_spec(&config.unet),
        super::data_info(&data_dir, train.len(), held_out),
        TrainingInfo {
            continued_from: match &config.init_from {
                Some(path) => Some(Box::new(
                    crate::cards::CardFile::read(std::path::Path::new(path))?
                        .card
                        .training,
                )),
                None => None,
            },
            ..super::training_info(
                total,
                config.epochs as f64,
                config.batch_size,
                format!("Adam {} -> {} (linear)", config.lr, config.lr_final),
                Some(config.ema_decay),
                config.seed,
                seconds,
                opts.backend,
                last_loss,
            )
        },
        serde_json::Value::Null,
    );
    let path = write_weights(&opts.run, kind, &record_bytes(ema_model), card)?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

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
//!   fed `x~ / sqrt(1 + sigma^2)` and `log sigma` (`NoiseRange::corrupt`); `|| z - eps_theta ||^2`
//!   is denoising score matching with `lambda(sigma) = sigma^2` (see `digitlab_diffusion::ncsn`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_diffusion::{BetaSchedule, ForwardProcess, NoiseRange, NoiseSchedule, ScheduleConfig};
use digitlab_models::{ContextUnet, ContextUnetConfig};
use digitlab_weights::{Card, Kind, ModelSpec, TrainingInfo, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{Averaged, Plan, Shipped, StepReport, Trainer, dropped_labels, gaussian, step_rng};
use crate::args::{DdpmArgs, NcsnArgs, ScheduleKind, UnetTrain};
use crate::cards::CardFile;

/// How training corrupts a digit before the network predicts the noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "process", rename_all = "kebab-case")]
pub enum Corruption {
    Ddpm { schedule: ScheduleConfig },
    Ncsn { range: NoiseRange },
}

impl Corruption {
    /// The kind of the weights (card and checkpoints).
    pub fn kind(&self) -> Kind {
        match self {
            Corruption::Ddpm { .. } => Kind::DdpmCfg,
            Corruption::Ncsn { .. } => Kind::Ncsn,
        }
    }

    fn model_spec(&self, unet: &ContextUnetConfig) -> ModelSpec {
        match *self {
            Corruption::Ddpm { schedule } => ModelSpec::DdpmCfg {
                unet: unet.clone(),
                schedule,
                distilled: None,
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

/// `digitlab train ddpm`'s options as a config: the linear schedule is DDPM's (1e-4 to 0.02),
/// the cosine one Nichol & Dhariwal's (s = 0.008).
pub fn ddpm_config(a: &DdpmArgs) -> Result<DdpmTrainConfig> {
    let betas = match a.schedule {
        ScheduleKind::Linear => BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        ScheduleKind::Cosine => BetaSchedule::Cosine { s: 0.008 },
    };
    let corruption = Corruption::Ddpm {
        schedule: ScheduleConfig {
            train_steps: a.timesteps,
            betas,
            ..Default::default()
        },
    };
    Ok(unet_config(
        &a.unet,
        &a.common.data,
        a.common.seed,
        corruption,
    ))
}

pub fn ncsn_config(a: &NcsnArgs) -> Result<DdpmTrainConfig> {
    let corruption = Corruption::Ncsn {
        range: NoiseRange {
            sigma_min: a.sigma_min,
            sigma_max: a.sigma_max,
        },
    };
    Ok(unet_config(
        &a.unet,
        &a.common.data,
        a.common.seed,
        corruption,
    ))
}

fn unet_config(u: &UnetTrain, data: &Path, seed: u64, corruption: Corruption) -> DdpmTrainConfig {
    DdpmTrainConfig {
        unet: ContextUnetConfig::new()
            .with_n_feat(u.n_feat)
            .with_learned_null(u.learned_null),
        corruption,
        data: data.display().to_string(),
        epochs: u.optim.epochs,
        batch_size: u.optim.batch_size,
        lr: u.optim.lr,
        lr_final: u.optim.lr_final,
        ema_decay: u.optim.ema_decay,
        p_uncond: u.optim.p_uncond,
        seed,
        init_from: u.init_from.as_ref().map(|p| p.display().to_string()),
    }
}

pub struct DdpmTrainer {
    config: DdpmTrainConfig,
    /// `Some` for a DDPM, `None` for an NCSN.
    schedule: Option<NoiseSchedule>,
    plan: Plan,
    train_images: usize,
    held_out_images: usize,
}

impl DdpmTrainer {
    pub fn new(config: DdpmTrainConfig, _device: &Device) -> Result<Self> {
        config.unet.validate().map_err(anyhow::Error::msg)?;
        let schedule = match config.corruption {
            Corruption::Ddpm { schedule } => Some(NoiseSchedule::new(schedule)?),
            Corruption::Ncsn { range } => {
                range.check()?;
                None
            }
        };
        if !(0.0..1.0).contains(&config.p_uncond) || !(0.0..1.0).contains(&config.ema_decay) {
            bail!("--p-uncond and --ema-decay must be in [0, 1)");
        }
        let data_dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&data_dir, config.unet.image_size)?;
        super::data::check_labels(&train, config.unet.n_classes)?;
        let held_out = super::held_out_split(&data_dir)?;
        let plan = Plan {
            kind: config.corruption.kind(),
            seed: config.seed,
            epochs: config.epochs,
            batches: Batches::new(&train, config.batch_size, config.seed)?,
        };
        Ok(Self {
            train_images: train.len(),
            held_out_images: held_out.len(),
            plan,
            schedule,
            config,
        })
    }
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
    let labels = dropped_labels(&mut rng, labels, config.p_uncond, null);
    let noise = gaussian(&mut rng, n * pixels);
    StepDraws {
        level,
        labels,
        noise,
    }
}

impl Trainer for DdpmTrainer {
    type Config = DdpmTrainConfig;
    type State = Averaged<ContextUnet>;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &DdpmTrainConfig {
        &self.config
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Averaged<ContextUnet>> {
        let unet = &self.config.unet;
        let model: ContextUnet = match (&self.config.init_from, from) {
            (Some(path), None) => {
                let card = CardFile::read(Path::new(path))?;
                let spec = self.config.corruption.model_spec(unet);
                if card.card.model != spec {
                    bail!(
                        "--init-from {path}: a `{}` model with another config; it must be a `{}` card with the same --n-feat and noise options",
                        card.card.kind(),
                        spec.kind()
                    );
                }
                match self.config.corruption {
                    Corruption::Ddpm { .. } => card.load_ddpm(device)?.0,
                    Corruption::Ncsn { .. } => card.load_ncsn(device)?.0,
                }
            }
            _ => unet.init(device),
        };
        let average = || unet.init(&device.clone().inner());
        Averaged::start(
            model,
            average,
            from,
            self.rate(self.config.lr, self.config.lr_final),
        )
    }

    fn step(
        &mut self,
        s: Averaged<ContextUnet>,
        step: usize,
        device: &Device,
    ) -> Result<(Averaged<ContextUnet>, StepReport)> {
        // 1. batch and this step's random draws
        let batch = self.plan.batches.batch(step);
        let n = batch.len();
        let side = self.plan.batches.side();
        let d = draws(&self.config, step, &batch.labels, side * side);
        let x0 = batch.images(side, device);
        let noise = Tensor::<4>::from_data(TensorData::new(d.noise, [n, 1, side, side]), device);
        // 2. the corruption: q(x_t | x_0), or x~ = x_0 + sigma z
        let (x_t, time) = match (&self.schedule, self.config.corruption) {
            (Some(schedule), _) => {
                let t: Vec<usize> = d.level.iter().map(|&t| t as usize).collect();
                (
                    schedule.q_sample(x0, noise.clone(), &t),
                    t.iter().map(|&t| schedule.time_input(t)).collect(),
                )
            }
            (None, Corruption::Ncsn { range }) => {
                let sigmas: Vec<f64> = d.level.iter().map(|&u| range.sigma_at(u)).collect();
                range.corrupt(x0, noise.clone(), &sigmas)
            }
            (None, Corruption::Ddpm { .. }) => bail!("a DDPM trainer without its schedule"),
        };
        let time = Tensor::<1>::from_floats(time.as_slice(), device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(d.labels, [n]), device);
        // 3. noise prediction and the simple loss
        let eps = s.model.forward(x_t, time, labels);
        let loss = (eps - noise).square().mean();
        let value = loss.clone().into_scalar::<f32>() as f64;
        // 4. optimizer step, then the EMA
        let (s, lr) = s.descend(loss, value, self.config.ema_decay, step);
        Ok((s, StepReport::loss(value, n, lr)))
    }

    fn checkpoint(&self, s: &Averaged<ContextUnet>) -> Result<Vec<(String, Vec<u8>)>> {
        s.files()
    }

    fn finish(&mut self, s: Averaged<ContextUnet>, training: TrainingInfo) -> Result<Shipped> {
        let c = &self.config;
        let continued_from = match &c.init_from {
            Some(path) => Some(Box::new(CardFile::read(Path::new(path))?.card.training)),
            None => None,
        };
        let card = Card::new(
            c.corruption.model_spec(&c.unet),
            super::data_info(Path::new(&c.data), self.train_images, self.held_out_images),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!("Adam {} -> {} (linear)", c.lr, c.lr_final),
                ema_decay: Some(c.ema_decay),
                continued_from,
                ..training
            },
            serde_json::Value::Null,
        );
        Ok(Shipped {
            stem: c.corruption.kind().name().into(),
            weights: record_bytes(s.ema),
            card,
            summary: None,
        })
    }
}

//! # `digitlab train autoencoder`
//!
//! The first stage of latent diffusion: the KL autoencoder (`digitlab_models::autoencoder`)
//! minimises `reconstruction + kl_weight * KL` with Adam. After every epoch the held-out
//! reconstruction error is measured from the posterior mean (what latent diffusion decodes).
//! At the end, the standard deviation of the training set's latents gives `latent_scale`
//! (Stable Diffusion's `scaling_factor`), stored in the card: the diffusion model then sees a
//! latent of unit variance, as its `N(0, I)` start assumes.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::prelude::*;
use digitlab_models::{Autoencoder, AutoencoderConfig};
use digitlab_weights::{Card, Kind, ModelSpec, TrainingInfo, record_bytes};
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{Measure, Plan, Shipped, Single, StepReport, Trainer, normal_noise, step_rng};
use crate::args::AutoencoderArgs;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderTrainConfig {
    pub autoencoder: AutoencoderConfig,
    pub kl_weight: f64,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_final: f64,
    pub seed: u64,
}

/// Reconstruction of held-out digits from the posterior mean.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reconstruction {
    /// Mean absolute pixel error, pixels in `[0, 1]`.
    pub mean_abs_error: f64,
    /// Root mean squared pixel error, pixels in `[0, 1]`.
    pub rmse: f64,
    /// Bernoulli negative log-likelihood, nats per digit.
    pub nll: f64,
}

/// Pixels in `[-1, 1]` (the trainers' range) to the autoencoder's `[0, 1]`.
pub fn to_unit(images: Tensor<4>) -> Tensor<4> {
    (images + 1.0) / 2.0
}

/// Reconstruction error of `images` (`[n, 1, side, side]` in `[-1, 1]`) through the mean
/// latent; used by the trainer after each epoch, by `digitlab eval` and by the tests.
pub fn reconstruction(model: &Autoencoder, images: Tensor<4>) -> Reconstruction {
    let n = images.dims()[0];
    let (mut abs, mut sq, mut nll) = (0.0, 0.0, 0.0);
    for start in (0..n).step_by(250) {
        let len = 250.min(n - start);
        let x = to_unit(images.clone().narrow(0, start, len));
        let logits = model.decode_logits(model.encode_mean(x.clone()));
        let err = burn::tensor::activation::sigmoid(logits.clone()) - x.clone();
        abs += err.clone().abs().sum().into_scalar::<f32>() as f64;
        sq += err.square().sum().into_scalar::<f32>() as f64;
        nll += digitlab_models::vae::bernoulli_nll(logits, x)
            .sum()
            .into_scalar::<f32>() as f64;
    }
    let pixels = (n * images.dims()[2] * images.dims()[3]) as f64;
    Reconstruction {
        mean_abs_error: abs / pixels,
        rmse: (sq / pixels).sqrt(),
        nll: nll / n as f64,
    }
}

/// `1 / std` of the posterior means of `images` (all latent entries pooled).
pub fn latent_scale(model: &Autoencoder, images: Tensor<4>) -> f64 {
    let n = images.dims()[0];
    let (mut sum, mut sq, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for start in (0..n).step_by(500) {
        let len = 500.min(n - start);
        let z = model.encode_mean(to_unit(images.clone().narrow(0, start, len)));
        count += z.shape().num_elements() as f64;
        sum += z.clone().sum().into_scalar::<f32>() as f64;
        sq += z.square().sum().into_scalar::<f32>() as f64;
    }
    let mean = sum / count;
    1.0 / (sq / count - mean * mean).sqrt()
}

pub fn config(a: &AutoencoderArgs) -> AutoencoderTrainConfig {
    AutoencoderTrainConfig {
        autoencoder: AutoencoderConfig::new()
            .with_latent_channels(a.latent_channels)
            .with_width(a.width),
        kl_weight: a.kl_weight,
        data: a.common.data.display().to_string(),
        epochs: a.optim.epochs,
        batch_size: a.optim.batch_size,
        lr: a.optim.lr,
        lr_final: a.optim.lr_final,
        seed: a.common.seed,
    }
}

pub struct AutoencoderTrainer {
    config: AutoencoderTrainConfig,
    plan: Plan,
    held_out: Tensor<4>,
    train_images: usize,
    inner: Device,
}

impl AutoencoderTrainer {
    pub fn new(config: AutoencoderTrainConfig, device: &Device) -> Result<Self> {
        config.autoencoder.validate().map_err(anyhow::Error::msg)?;
        if !(config.kl_weight >= 0.0 && config.kl_weight.is_finite()) {
            bail!(
                "--kl-weight must be a non-negative number, got {}",
                config.kl_weight
            );
        }
        let dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&dir, config.autoencoder.image_size)?;
        let test = super::held_out_split(&dir)?;
        let inner = device.clone().inner();
        let held_out = Batches::new(&test, config.batch_size, config.seed)?.all_images(&inner);
        Ok(Self {
            plan: Plan {
                kind: Kind::Autoencoder,
                seed: config.seed,
                epochs: config.epochs,
                batches: Batches::new(&train, config.batch_size, config.seed)?,
            },
            train_images: train.len(),
            held_out,
            inner,
            config,
        })
    }
}

impl Trainer for AutoencoderTrainer {
    type Config = AutoencoderTrainConfig;
    type State = Single<Autoencoder>;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &AutoencoderTrainConfig {
        &self.config
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Single<Autoencoder>> {
        let rate = self.rate(self.config.lr, self.config.lr_final);
        Single::start(self.config.autoencoder.init(device), from, rate)
    }

    fn step(
        &mut self,
        s: Single<Autoencoder>,
        step: usize,
        device: &Device,
    ) -> Result<(Single<Autoencoder>, StepReport)> {
        let c = &self.config;
        let batch = self.plan.batches.batch(step);
        let n = batch.len();
        let [lc, ls, _] = c.autoencoder.latent_shape();
        let e = normal_noise(n, lc * ls * ls, &mut step_rng(c.seed, step), device);
        let terms = s
            .model
            .loss(to_unit(batch.images(self.plan.batches.side(), device)), e);
        let (rec, kl) = (
            terms.reconstruction.clone().mean().into_scalar::<f32>() as f64,
            terms.kl.clone().mean().into_scalar::<f32>() as f64,
        );
        let loss = (terms.reconstruction + terms.kl * c.kl_weight).mean();
        let (s, lr) = s.descend(loss, rec + kl);
        Ok((
            s,
            StepReport {
                loss: rec + c.kl_weight * kl,
                images: n,
                lr,
                terms: vec![("reconstruction", rec), ("kl", kl)],
            },
        ))
    }

    fn measure(&mut self, s: &Single<Autoencoder>) -> Result<Option<Measure>> {
        let r = reconstruction(&s.model.valid(), self.held_out.clone());
        Ok(Some(Measure {
            line: format!(
                "held-out reconstruction {:.1} nats, mean |error| {:.4}, rmse {:.4}",
                r.nll, r.mean_abs_error, r.rmse
            ),
            fields: serde_json::json!({ "held_out": r }),
        }))
    }

    fn checkpoint(&self, s: &Single<Autoencoder>) -> Result<Vec<(String, Vec<u8>)>> {
        s.files()
    }

    fn finish(&mut self, s: Single<Autoencoder>, training: TrainingInfo) -> Result<Shipped> {
        let c = &self.config;
        let model = s.model.valid();
        let held = reconstruction(&model, self.held_out.clone());
        let scale = latent_scale(&model, self.plan.batches.all_images(&self.inner));
        let [lc, ls, _] = c.autoencoder.latent_shape();
        let side = self.plan.batches.side();
        let card = Card::new(
            ModelSpec::Autoencoder {
                autoencoder: c.autoencoder.clone(),
                latent_scale: scale,
            },
            super::data_info(
                Path::new(&c.data),
                self.train_images,
                self.held_out.dims()[0],
            ),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!(
                    "Adam {} -> {} (linear), KL weight {}",
                    c.lr, c.lr_final, c.kl_weight
                ),
                ..training
            },
            serde_json::json!({
                "command": "digitlab train autoencoder (measured at the end of training)",
                "held_out_reconstruction": held,
                "latent_shape": [lc, ls, ls],
                "compression": format!("{} pixels -> {} latent values", side * side, lc * ls * ls),
            }),
        );
        Ok(Shipped {
            stem: Kind::Autoencoder.name().into(),
            weights: record_bytes(model),
            card,
            summary: Some(format!(
                "held-out reconstruction: mean |error| {:.4}, rmse {:.4}, {:.1} nats; latent scale {scale:.4}",
                held.mean_abs_error, held.rmse, held.nll
            )),
        })
    }
}

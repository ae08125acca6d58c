//! # `digitlab train vae`
//!
//! Minimises the negative ELBO (`digitlab_models::vae`) with Adam and the run's linear
//! learning-rate decay. The reparameterisation noise of each step is drawn from the step's
//! generator, so `--resume` repeats the uninterrupted run. After every epoch the held-out
//! negative ELBO is measured with fixed noise and logged beside the training loss.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use digitlab_models::{Vae, VaeConfig};
use digitlab_weights::{Card, Kind, ModelSpec, TrainingInfo, record_bytes};
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{Measure, Plan, Shipped, Single, StepReport, Trainer, normal_noise, step_rng};
use crate::args::VaeArgs;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeTrainConfig {
    pub vae: VaeConfig,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_final: f64,
    pub seed: u64,
}

pub fn config(a: &VaeArgs) -> VaeTrainConfig {
    VaeTrainConfig {
        vae: VaeConfig::new()
            .with_latent(a.latent)
            .with_width(a.width)
            .with_hidden(a.hidden)
            .with_squeeze(a.squeeze),
        data: a.common.data.display().to_string(),
        epochs: a.optim.epochs,
        batch_size: a.optim.batch_size,
        lr: a.optim.lr,
        lr_final: a.optim.lr_final,
        seed: a.common.seed,
    }
}

/// Mean reconstruction and KL terms of `-ELBO` (nats per digit) over `images`
/// (`[n, 1, side, side]` in `[-1, 1]`), one reparameterised sample per digit from a fixed
/// stream: the trainer's per-epoch measure and `digitlab eval` agree exactly.
pub fn held_out_elbo(vae: &Vae, images: Tensor<4>) -> (f64, f64) {
    let n = images.dims()[0];
    let device = images.device();
    let mut rng = step_rng(0, usize::MAX - 1_000_000);
    let (mut rec, mut kl) = (0.0, 0.0);
    for start in (0..n).step_by(250) {
        let len = 250.min(n - start);
        let e = normal_noise(len, vae.latent(), &mut rng, &device);
        let terms = vae.neg_elbo(images.clone().narrow(0, start, len), e);
        rec += terms.reconstruction.sum().into_scalar::<f32>() as f64;
        kl += terms.kl.sum().into_scalar::<f32>() as f64;
    }
    (rec / n as f64, kl / n as f64)
}

pub struct VaeTrainer {
    config: VaeTrainConfig,
    plan: Plan,
    held_out: Tensor<4>,
    train_images: usize,
}

impl VaeTrainer {
    pub fn new(config: VaeTrainConfig, device: &Device) -> Result<Self> {
        config.vae.validate().map_err(anyhow::Error::msg)?;
        let dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&dir, config.vae.image_size)?;
        let test = super::held_out_split(&dir)?;
        let held_out = Batches::new(&test, config.batch_size, config.seed)?
            .all_images(&device.clone().inner());
        Ok(Self {
            plan: Plan {
                kind: Kind::Vae,
                seed: config.seed,
                epochs: config.epochs,
                batches: Batches::new(&train, config.batch_size, config.seed)?,
            },
            train_images: train.len(),
            held_out,
            config,
        })
    }

    /// Reconstruction and KL of the held-out digits, nats per digit.
    fn held_out(&self, model: &Vae) -> (f64, f64) {
        held_out_elbo(&model.valid(), self.held_out.clone())
    }
}

impl Trainer for VaeTrainer {
    type Config = VaeTrainConfig;
    type State = Single<Vae>;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &VaeTrainConfig {
        &self.config
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Single<Vae>> {
        let rate = self.rate(self.config.lr, self.config.lr_final);
        Single::start(self.config.vae.init(device), from, rate)
    }

    fn step(
        &mut self,
        s: Single<Vae>,
        step: usize,
        device: &Device,
    ) -> Result<(Single<Vae>, StepReport)> {
        let batch = self.plan.batches.batch(step);
        let n = batch.len();
        let e = normal_noise(
            n,
            self.config.vae.latent,
            &mut step_rng(self.config.seed, step),
            device,
        );
        let terms = s
            .model
            .neg_elbo(batch.images(self.plan.batches.side(), device), e);
        let (rec, kl) = (
            terms.reconstruction.clone().mean().into_scalar::<f32>() as f64,
            terms.kl.clone().mean().into_scalar::<f32>() as f64,
        );
        let (s, lr) = s.descend(terms.total().mean(), rec + kl);
        Ok((
            s,
            StepReport {
                loss: rec + kl,
                images: n,
                lr,
                terms: vec![("reconstruction", rec), ("kl", kl)],
            },
        ))
    }

    fn measure(&mut self, s: &Single<Vae>) -> Result<Option<Measure>> {
        let (r, k) = self.held_out(&s.model);
        Ok(Some(Measure {
            line: format!(
                "held-out -ELBO {:.1} nats = reconstruction {r:.1} + KL {k:.1}",
                r + k
            ),
            fields: serde_json::json!({
                "held_out_neg_elbo": r + k,
                "held_out_reconstruction": r,
                "held_out_kl": k,
            }),
        }))
    }

    fn checkpoint(&self, s: &Single<Vae>) -> Result<Vec<(String, Vec<u8>)>> {
        s.files()
    }

    fn finish(&mut self, s: Single<Vae>, training: TrainingInfo) -> Result<Shipped> {
        let (rec, kl) = self.held_out(&s.model);
        let c = &self.config;
        let card = Card::new(
            ModelSpec::Vae { vae: c.vae.clone() },
            super::data_info(
                Path::new(&c.data),
                self.train_images,
                self.held_out.dims()[0],
            ),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!("Adam {} -> {} (linear)", c.lr, c.lr_final),
                ..training
            },
            serde_json::Value::Null,
        );
        Ok(Shipped {
            stem: Kind::Vae.name().into(),
            weights: record_bytes(s.model.valid()),
            card,
            summary: Some(format!(
                "held-out -ELBO {:.1} nats (reconstruction {rec:.1} + KL {kl:.1})",
                rec + kl
            )),
        })
    }
}

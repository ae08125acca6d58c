//! # `digitlab train classifier`
//!
//! The evaluation classifier: cross-entropy with Adam on the training split, random shifts of
//! up to 2 pixels as augmentation (drawn per step from the seeded generator), and the held-out
//! accuracy reported after every epoch. The final weights are shipped (not the best epoch's:
//! choosing on the held-out set would make its accuracy optimistic).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::prelude::*;
use digitlab_eval::judge;
use digitlab_models::{Classifier, ClassifierConfig};
use digitlab_weights::{Card, Kind, ModelSpec, TrainingInfo, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{Measure, Plan, Shipped, Single, StepReport, Trainer, step_rng};
use crate::args::ClassifierArgs;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    pub classifier: ClassifierConfig,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_final: f64,
    /// Largest random shift, in pixels, in each direction.
    pub max_shift: usize,
    pub seed: u64,
}

/// Shifts each `side x side` image by a random offset in `[-max, max]^2`, filling with -1
/// (background).
fn shift_images(images: &mut [f32], side: usize, max: usize, rng: &mut impl rand::Rng) {
    if max == 0 {
        return;
    }
    let m = max as i64;
    for img in images.chunks_mut(side * side) {
        let (dx, dy) = (rng.random_range(-m..=m), rng.random_range(-m..=m));
        let src = img.to_vec();
        for y in 0..side as i64 {
            for x in 0..side as i64 {
                let (sx, sy) = (x - dx, y - dy);
                img[(y * side as i64 + x) as usize] =
                    if (0..side as i64).contains(&sx) && (0..side as i64).contains(&sy) {
                        src[(sy * side as i64 + sx) as usize]
                    } else {
                        -1.0
                    };
            }
        }
    }
}

pub fn config(a: &ClassifierArgs) -> ClassifierTrainConfig {
    ClassifierTrainConfig {
        classifier: ClassifierConfig::new().with_width(a.width),
        data: a.common.data.display().to_string(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        lr_final: a.lr_final,
        max_shift: a.max_shift,
        seed: a.common.seed,
    }
}

pub struct ClassifierTrainer {
    config: ClassifierTrainConfig,
    plan: Plan,
    held_out: Batches,
    train_images: usize,
    loss: CrossEntropyLoss,
    /// The device without autodiff, for the held-out accuracy.
    inner: Device,
}

impl ClassifierTrainer {
    pub fn new(config: ClassifierTrainConfig, device: &Device) -> Result<Self> {
        config.classifier.validate().map_err(anyhow::Error::msg)?;
        let dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&dir, 28)?;
        super::data::check_labels(&train, config.classifier.n_classes)?;
        let test = super::held_out_split(&dir)?;
        super::data::check_labels(&test, config.classifier.n_classes)?;
        if config.max_shift > 27 {
            bail!(
                "--max-shift must be below the image size (28), got {}",
                config.max_shift
            );
        }
        Ok(Self {
            plan: Plan {
                kind: Kind::Classifier,
                seed: config.seed,
                epochs: config.epochs,
                batches: Batches::new(&train, config.batch_size, config.seed)?,
            },
            held_out: Batches::new(&test, config.batch_size, config.seed)?,
            train_images: train.len(),
            loss: CrossEntropyLossConfig::new().init(device),
            inner: device.clone().inner(),
            config,
        })
    }

    fn held_out_accuracy(&self, model: &Classifier) -> f64 {
        let j = judge(&model.valid(), self.held_out.all_images(&self.inner), 250);
        let expected: Vec<usize> = self.held_out.labels().iter().map(|&l| l as usize).collect();
        j.accuracy(&expected)
    }
}

impl Trainer for ClassifierTrainer {
    type Config = ClassifierTrainConfig;
    type State = Single<Classifier>;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &ClassifierTrainConfig {
        &self.config
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Single<Classifier>> {
        let rate = self.rate(self.config.lr, self.config.lr_final);
        Single::start(self.config.classifier.init(device), from, rate)
    }

    fn step(
        &mut self,
        s: Single<Classifier>,
        step: usize,
        device: &Device,
    ) -> Result<(Single<Classifier>, StepReport)> {
        let mut batch = self.plan.batches.batch(step);
        let side = self.plan.batches.side();
        let mut rng = step_rng(self.config.seed, step);
        shift_images(&mut batch.images, side, self.config.max_shift, &mut rng);
        let n = batch.len();
        let logits = s.model.forward(batch.images(side, device));
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new(
                batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                [n],
            ),
            device,
        );
        let loss = self.loss.forward(logits, targets);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let (s, lr) = s.descend(loss, value);
        Ok((s, StepReport::loss(value, n, lr)))
    }

    fn measure(&mut self, s: &Single<Classifier>) -> Result<Option<Measure>> {
        let acc = self.held_out_accuracy(&s.model);
        Ok(Some(Measure {
            line: format!("held-out accuracy {:.2} %", acc * 100.0),
            fields: serde_json::json!({ "held_out_accuracy": acc }),
        }))
    }

    fn checkpoint(&self, s: &Single<Classifier>) -> Result<Vec<(String, Vec<u8>)>> {
        s.files()
    }

    fn finish(&mut self, s: Single<Classifier>, training: TrainingInfo) -> Result<Shipped> {
        let accuracy = self.held_out_accuracy(&s.model);
        let c = &self.config;
        let held_out = self.held_out.len();
        let card = Card::new(
            ModelSpec::Classifier {
                classifier: c.classifier.clone(),
            },
            super::data_info(Path::new(&c.data), self.train_images, held_out),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!("Adam {} -> {} (linear)", c.lr, c.lr_final),
                ..training
            },
            serde_json::json!({
                "held_out_accuracy": accuracy,
                "held_out_images": held_out,
                "measured_by": "digitlab train classifier (final weights on the t10k split)",
            }),
        );
        Ok(Shipped {
            stem: Kind::Classifier.name().into(),
            weights: record_bytes(s.model.valid()),
            card,
            summary: Some(format!("held-out accuracy {:.2} %", accuracy * 100.0)),
        })
    }
}

//! # What trainers share besides the loop
//!
//! [`Plan`]: the kind trained, the seed, the epochs and the batches, from which the skeleton
//! reads the run's length. [`Single`]: one module and one Adam (VAE, autoencoder, classifier);
//! [`Averaged`]: one module, its moving average and one Adam (DDPM, NCSN, text model). Each
//! builds fresh or from a checkpoint folder, lists its checkpoint files, and takes one optimizer
//! step on a loss, the same way for every trainer that holds it. (The GAN's two networks and two
//! Adams are its own.)

use std::path::Path;

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_weights::{Kind, record_bytes};

use super::checkpoint::Optimizer;
use super::data::Batches;
use super::{ema, load_module};

/// `module` with every parameter drawn now. Burn initialises parameters lazily, on first use;
/// drawing them right after the device was seeded keeps a run's initial weights a function of
/// its seed alone, not of which step first touches them (the skeleton reseeds the device before
/// every step).
pub fn materialized<M: Module>(module: M) -> M {
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Draw);
    module
}

/// How long a run is and how it is seeded.
pub struct Plan {
    pub kind: Kind,
    pub seed: u64,
    pub epochs: usize,
    pub batches: Batches,
}

/// Adam's learning rate, decayed linearly from `lr` to `lr_final` over `total` steps.
#[derive(Clone, Copy)]
pub struct Rate {
    pub lr: f64,
    pub lr_final: f64,
    pub total: usize,
}

impl Rate {
    fn optimizer(self, resume_from: Option<&Path>) -> Result<Optimizer> {
        Optimizer::new(self.lr, self.lr_final, self.total, resume_from)
    }
}

/// One module and its Adam.
pub struct Single<M> {
    pub model: M,
    optim: Optimizer,
}

impl<M: Module> Single<M> {
    /// Fresh (`from` is `None`: `model` as built), or `model.bpk` and the optimizer's files of
    /// the checkpoint folder `from`, loaded into `model`.
    pub fn start(model: M, from: Option<&Path>, rate: Rate) -> Result<Self> {
        Ok(Self {
            model: match from {
                Some(dir) => load_module(model, dir, "model.bpk")?,
                None => materialized(model),
            },
            optim: rate.optimizer(from)?,
        })
    }

    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = vec![("model.bpk".into(), record_bytes(self.model.clone()))];
        files.extend(self.optim.files()?);
        Ok(files)
    }

    /// One optimizer step on `loss`, whose value is `value`; none when the value is not finite
    /// (the skeleton then stops the run). Returns the learning rate used (0 when none).
    pub fn descend(mut self, loss: Tensor<1>, value: f64) -> (Self, f64) {
        if !value.is_finite() {
            return (self, 0.0);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let (model, lr) = self.optim.step(self.model, grads);
        self.model = model;
        (self, lr)
    }
}

/// One module, the exponential moving average of its weights (what is shipped), and its Adam.
pub struct Averaged<M> {
    pub model: M,
    pub ema: M,
    optim: Optimizer,
}

impl<M: Module> Averaged<M> {
    /// Fresh (`from` is `None`: `model` as built, its average a copy), or `model.bpk`,
    /// `ema.bpk` and the optimizer's files of the checkpoint folder `from`: `model` is built on
    /// the autodiff device, `average()` builds the average on the plain one.
    pub fn start(
        model: M,
        average: impl FnOnce() -> M,
        from: Option<&Path>,
        rate: Rate,
    ) -> Result<Self> {
        let (model, ema) = match from {
            Some(dir) => (
                load_module(model, dir, "model.bpk")?,
                load_module(average(), dir, "ema.bpk")?,
            ),
            None => {
                let model = materialized(model);
                (model.clone(), model.valid())
            }
        };
        Ok(Self {
            model,
            ema,
            optim: rate.optimizer(from)?,
        })
    }

    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = vec![
            ("model.bpk".into(), record_bytes(self.model.clone())),
            ("ema.bpk".into(), record_bytes(self.ema.clone())),
        ];
        files.extend(self.optim.files()?);
        Ok(files)
    }

    /// [`Single::descend`], then the average takes in the new weights with the warmed-up
    /// `decay` of step `step`.
    pub fn descend(mut self, loss: Tensor<1>, value: f64, decay: f64, step: usize) -> (Self, f64) {
        if !value.is_finite() {
            return (self, 0.0);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let (model, lr) = self.optim.step(self.model, grads);
        self.model = model;
        self.ema = ema::update(
            self.ema,
            &self.model.valid(),
            ema::warmup_decay(decay, step),
        );
        (self, lr)
    }
}

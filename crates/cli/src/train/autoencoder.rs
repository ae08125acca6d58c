//! # `digitlab train autoencoder`
//!
//! The first stage of latent diffusion: the KL autoencoder (`digitlab_models::autoencoder`)
//! minimises `reconstruction + kl_weight * KL` with Adam. After every epoch the held-out
//! reconstruction error is measured from the posterior mean (what latent diffusion decodes).
//! At the end, the standard deviation of the training set's latents gives `latent_scale`
//! (Stable Diffusion's `scaling_factor`), stored in the card: the diffusion model then sees a
//! latent of unit variance, as its `N(0, I)` start assumes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_models::{Autoencoder, AutoencoderConfig};
use digitlab_weights::{Card, ModelSpec, load_record, record_bytes};
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, check_same_config};
use super::data::Batches;
use super::ddpm::RunOptions;
use super::progress::Progress;
use super::step_rng;
use super::vae::normal_noise;
use crate::cards::write_weights;

pub const KIND: &str = "autoencoder";

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

pub fn train(config: AutoencoderTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    config.autoencoder.validate().map_err(anyhow::Error::msg)?;
    if !(config.kl_weight >= 0.0 && config.kl_weight.is_finite()) {
        bail!(
            "--kl-weight must be a non-negative number, got {}",
            config.kl_weight
        );
    }
    let data_dir = PathBuf::from(&config.data);
    let train = super::data::training_split(&data_dir, config.autoencoder.image_size)?;
    let test = Dataset::load(&data_dir, Split::Test).context(
        "the autoencoder reports its held-out reconstruction, so it needs the t10k split too",
    )?;
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let held_out = Batches::new(&test, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch();
    if total == 0 {
        bail!("nothing to train");
    }
    let device = opts.backend.device()?.autodiff();
    let checkpoints = Checkpoints::new(&opts.run);
    let (mut model, mut optim, start, seconds_before) = if opts.resume {
        let (state, dir) = checkpoints.latest::<AutoencoderTrainConfig>(KIND)?;
        check_same_config(&state.config, &config)?;
        let bytes = std::fs::read(dir.join("model.bpk"))
            .with_context(|| format!("reading {}", dir.join("model.bpk").display()))?;
        eprintln!(
            "resuming {} from step {} of {total}",
            opts.run.display(),
            state.step
        );
        (
            load_record(config.autoencoder.init(&device), &bytes)?,
            Optimizer::new(config.lr, config.lr_final, total, Some(&dir))?,
            state.step,
            state.seconds,
        )
    } else {
        device.seed(config.seed);
        (
            config.autoencoder.init(&device),
            Optimizer::new(config.lr, config.lr_final, total, None)?,
            0,
            0.0,
        )
    };
    let inner = device.clone().inner();
    let held_out_images = held_out.all_images(&inner);
    let [c, s, _] = config.autoencoder.latent_shape();
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let side = batches.side();
    let mut last_loss = f64::NAN;
    for step in start..end {
        let batch = batches.batch(step);
        let n = batch.len();
        let e = normal_noise(n, c * s * s, &mut step_rng(config.seed, step), &device);
        let terms = model.loss(to_unit(batch.images(side, &device)), e);
        let (rec, kl) = (
            terms.reconstruction.clone().mean().into_scalar::<f32>() as f64,
            terms.kl.clone().mean().into_scalar::<f32>() as f64,
        );
        if !(rec + kl).is_finite() {
            bail!(
                "the loss became {} at step {step}: lower the learning rate (the last checkpoint is intact)",
                rec + kl
            );
        }
        let loss = (terms.reconstruction + terms.kl * config.kl_weight).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (trained, lr) = optim.step(model, grads);
        model = trained;
        last_loss = rec + config.kl_weight * kl;
        let done = step + 1;
        let mut extra = serde_json::json!({
            "epoch": done as f64 / batches.per_epoch() as f64,
            "reconstruction": rec,
            "kl": kl,
        });
        if done % batches.per_epoch() == 0 || done == total {
            let r = reconstruction(&model.valid(), held_out_images.clone());
            extra["held_out"] = serde_json::to_value(r)?;
            progress.println(format!(
                "epoch {:.0}: held-out reconstruction {:.1} nats, mean |error| {:.4}, rmse {:.4}",
                done as f64 / batches.per_epoch() as f64,
                r.nll,
                r.mean_abs_error,
                r.rmse
            ));
        }
        progress.step(done, last_loss, n, lr, extra)?;
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            checkpoints.save_step(
                KIND,
                done,
                seconds_before + started.elapsed().as_secs_f64(),
                &config,
                vec![("model.bpk".into(), record_bytes(model.clone()))],
                &optim,
            )?;
        }
    }
    progress.finish();
    if super::stopped_early(end, total) {
        return Ok(opts.run.clone());
    }
    let model = model.valid();
    let held = reconstruction(&model, held_out_images);
    let scale = latent_scale(&model, batches.all_images(&inner));
    let card = Card::new(
        ModelSpec::Autoencoder {
            autoencoder: config.autoencoder.clone(),
            latent_scale: scale,
        },
        super::data_info(&data_dir, train.len(), test.len()),
        super::training_info(
            total,
            config.epochs as f64,
            config.batch_size,
            format!(
                "Adam {} -> {} (linear), KL weight {}",
                config.lr, config.lr_final, config.kl_weight
            ),
            None,
            config.seed,
            seconds_before + started.elapsed().as_secs_f64(),
            opts.backend,
            last_loss,
        ),
        serde_json::json!({
            "command": "digitlab train autoencoder (measured at the end of training)",
            "held_out_reconstruction": held,
            "latent_shape": [c, s, s],
            "compression": format!("{} pixels -> {} latent values", side * side, c * s * s),
        }),
    );
    let path = write_weights(&opts.run, KIND, &record_bytes(model), card)?;
    eprintln!(
        "held-out reconstruction: mean |error| {:.4}, rmse {:.4}, {:.1} nats; latent scale {scale:.4}; wrote {}",
        held.mean_abs_error,
        held.rmse,
        held.nll,
        path.display()
    );
    Ok(path)
}

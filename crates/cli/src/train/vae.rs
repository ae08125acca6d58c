//! # `digitlab train vae`
//!
//! Minimises the negative ELBO (`digitlab_models::vae`) with Adam and the run's linear
//! learning-rate decay. The reparameterisation noise of each step is drawn from the step's
//! generator, so `--resume` repeats the uninterrupted run. After every epoch the held-out
//! negative ELBO is measured with fixed noise and logged beside the training loss.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_models::{Vae, VaeConfig};
use digitlab_weights::{Card, ModelSpec, load_record, record_bytes};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, check_same_config};
use super::data::Batches;
use super::ddpm::RunOptions;
use super::progress::Progress;
use super::step_rng;
use crate::cards::write_weights;

pub const KIND: &str = "vae";

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

/// Standard normal noise `[n, latent]` from `rng`.
pub fn normal_noise(
    n: usize,
    latent: usize,
    rng: &mut impl rand::Rng,
    device: &Device,
) -> Tensor<2> {
    let v: Vec<f32> = (0..n * latent)
        .map(|_| -> f32 { StandardNormal.sample(rng) })
        .collect();
    Tensor::from_data(TensorData::new(v, [n, latent]), device)
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

pub fn train(config: VaeTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    config.vae.validate().map_err(anyhow::Error::msg)?;
    let data_dir = PathBuf::from(&config.data);
    let train = super::data::training_split(&data_dir, config.vae.image_size)?;
    let test = Dataset::load(&data_dir, Split::Test)
        .context("the VAE reports the held-out ELBO, so it needs the t10k split too")?;
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let held_out = Batches::new(&test, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch();
    if total == 0 {
        bail!("nothing to train");
    }
    let device = opts.backend.device()?.autodiff();
    let checkpoints = Checkpoints::new(&opts.run);
    let (mut model, mut optim, start, seconds_before) = if opts.resume {
        let (state, dir) = checkpoints.latest::<VaeTrainConfig>(KIND)?;
        check_same_config(&state.config, &config)?;
        let bytes = std::fs::read(dir.join("model.bpk"))
            .with_context(|| format!("reading {}", dir.join("model.bpk").display()))?;
        let model = load_record(config.vae.init(&device), &bytes)?;
        eprintln!(
            "resuming {} from step {} of {total}",
            opts.run.display(),
            state.step
        );
        (
            model,
            Optimizer::new(config.lr, config.lr_final, total, Some(&dir))?,
            state.step,
            state.seconds,
        )
    } else {
        device.seed(config.seed);
        let model: Vae = config.vae.init(&device);
        (
            model,
            Optimizer::new(config.lr, config.lr_final, total, None)?,
            0,
            0.0,
        )
    };
    let inner = device.clone().inner();
    let held_out_images = held_out.all_images(&inner);
    let measure = |model: &Vae| held_out_elbo(&model.valid(), held_out_images.clone());
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let side = batches.side();
    let (mut last_loss, mut window) = (f64::NAN, [0.0f64; 3]);
    for step in start..end {
        let batch = batches.batch(step);
        let n = batch.len();
        let mut rng = step_rng(config.seed, step);
        let e = normal_noise(n, config.vae.latent, &mut rng, &device);
        let terms = model.neg_elbo(batch.images(side, &device), e);
        let (rec, kl) = (
            terms.reconstruction.clone().mean().into_scalar::<f32>() as f64,
            terms.kl.clone().mean().into_scalar::<f32>() as f64,
        );
        let loss = terms.total().mean();
        if !(rec + kl).is_finite() {
            bail!(
                "the loss became {} at step {step}: lower the learning rate (the last checkpoint is intact)",
                rec + kl
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (trained, lr) = optim.step(model, grads);
        model = trained;
        last_loss = rec + kl;
        window = [window[0] + rec, window[1] + kl, window[2] + 1.0];
        let done = step + 1;
        let mut extra = serde_json::json!({
            "epoch": done as f64 / batches.per_epoch() as f64,
            "reconstruction": window[0] / window[2],
            "kl": window[1] / window[2],
        });
        if done % batches.per_epoch() == 0 || done == total {
            let (r, k) = measure(&model);
            extra["held_out_neg_elbo"] = (r + k).into();
            extra["held_out_reconstruction"] = r.into();
            extra["held_out_kl"] = k.into();
            progress.println(format!(
                "epoch {:.0}: held-out -ELBO {:.1} nats = reconstruction {r:.1} + KL {k:.1}",
                done as f64 / batches.per_epoch() as f64,
                r + k
            ));
        }
        progress.step(done, rec + kl, n, lr, extra)?;
        if done % opts.log_every.max(1) == 0 {
            window = [0.0; 3];
        }
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
    let (rec, kl) = measure(&model);
    let card = Card::new(
        ModelSpec::Vae {
            vae: config.vae.clone(),
        },
        super::data_info(&data_dir, train.len(), test.len()),
        super::training_info(
            total,
            config.epochs as f64,
            config.batch_size,
            format!("Adam {} -> {} (linear)", config.lr, config.lr_final),
            None,
            config.seed,
            seconds_before + started.elapsed().as_secs_f64(),
            opts.backend,
            last_loss,
        ),
        serde_json::Value::Null,
    );
    let path = write_weights(&opts.run, KIND, &record_bytes(model.valid()), card)?;
    eprintln!(
        "held-out -ELBO {:.1} nats (reconstruction {rec:.1} + KL {kl:.1}); wrote {}",
        rec + kl,
        path.display()
    );
    Ok(path)
}

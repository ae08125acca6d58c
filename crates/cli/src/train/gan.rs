//! # `digitlab train gan`
//!
//! Alternates `n_critic` critic (discriminator) steps with one generator step, each with its
//! own Adam:
//!
//! - `dcgan`: the discriminator minimises the logistic loss
//!   `softplus(-D(x)) + softplus(D(G(z)))`; the generator the non-saturating
//!   `softplus(-D(G(z)))` (Goodfellow et al.'s `-log D(G(z))`).
//! - `wgan-sn`: the critic maximises `W^ = mean f(x) - mean f(G(z))` under spectral
//!   normalisation; the generator minimises `-mean f(G(z))`. `W^` is logged as the critic's
//!   estimate of the Wasserstein-1 distance (up to the Lipschitz bound), which should fall as the
//!   samples improve.
//! - `wgan-clip`: the same loss, the critic's weights clipped to `[-c, c]` after every step
//!   (the original WGAN).
//!
//! The shipped generator is an exponential moving average of the trained one (`ema_decay`,
//! as for the DDPM; for GANs the average is markedly better than the last iterate, which
//! oscillates with the game).
//!
//! `wgan-gp` is refused with the reason (see `digitlab_models::gan`). A generator step is one
//! "step" of the run: checkpoints, `--stop-after` and the logs count generator steps; an epoch is
//! one pass of the critic over the training digits.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use digitlab_data::{Dataset, Split};
use digitlab_models::{Critic, CriticConfig, Generator, GeneratorConfig};
use digitlab_weights::{Card, GanLoss, ModelSpec, load_record, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, State, check_same_config};
use super::data::Batches;
use super::ddpm::RunOptions;
use super::progress::Progress;
use super::vae::normal_noise;
use super::{ema, step_rng};
use crate::cards::write_weights;

pub const KIND: &str = "gan";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanTrainConfig {
    pub generator: GeneratorConfig,
    pub critic: CriticConfig,
    pub loss: GanLoss,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr_generator: f64,
    pub lr_critic: f64,
    /// Adam's betas, for both networks.
    pub beta_1: f64,
    pub beta_2: f64,
    /// Critic steps per generator step.
    pub n_critic: usize,
    /// `wgan-clip`: the critic's weights stay in `[-clip, clip]`.
    pub clip: f64,
    /// Decay of the generator's moving average (the shipped weights).
    pub ema_decay: f64,
    pub seed: u64,
}

impl GanTrainConfig {
    pub fn check(&self) -> Result<()> {
        self.generator.validate().map_err(anyhow::Error::msg)?;
        if self.generator.n_classes != self.critic.n_classes {
            bail!("the generator and the critic must both be conditional, or neither");
        }
        if self.critic.spectral_norm != (self.loss == GanLoss::WganSn) {
            bail!("spectral normalisation goes with the wgan-sn loss");
        }
        if self.n_critic == 0 || self.batch_size == 0 {
            bail!("--n-critic and --batch-size must be positive");
        }
        if !(self.clip > 0.0) {
            bail!("--clip must be positive");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            bail!("--ema-decay must be in [0, 1)");
        }
        Ok(())
    }
}

/// The losses of one critic update: `(critic loss, W^)` where `W^ = mean f(x) - mean f(G(z))`
/// for a WGAN (for DCGAN the same difference of logits, logged for comparison).
fn critic_loss(loss: GanLoss, real: Tensor<1>, fake: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
    let gap = real.clone().mean() - fake.clone().mean();
    let l = match loss {
        GanLoss::Dcgan => softplus(real.neg(), 1.0).mean() + softplus(fake, 1.0).mean(),
        GanLoss::WganSn | GanLoss::WganClip => gap.clone().neg(),
    };
    (l, gap)
}

fn generator_loss(loss: GanLoss, fake: Tensor<1>) -> Tensor<1> {
    match loss {
        GanLoss::Dcgan => softplus(fake.neg(), 1.0).mean(),
        GanLoss::WganSn | GanLoss::WganClip => fake.mean().neg(),
    }
}

/// Clamps every float parameter to `[-c, c]` (the original WGAN's Lipschitz constraint).
/// Burn has no clipping of a module's weights; a `ModuleMapper` over its parameters is the way
/// to transform them all.
struct Clip(f64);

impl ModuleMapper for Clip {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let c = self.0;
        // Detached and tracked afresh: the clamp must not join the next step's graph.
        param.map(|t| t.clamp(-c, c).detach().require_grad())
    }
}

fn labels_tensor(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}

pub fn train(config: GanTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    config.check()?;
    let data_dir = PathBuf::from(&config.data);
    let train = super::data::training_split(&data_dir, config.generator.image_size)?;
    let held_out = Dataset::load(&data_dir, Split::Test)
        .map(|d| d.len())
        .unwrap_or(0);
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch() / config.n_critic;
    if total == 0 {
        bail!("nothing to train");
    }
    let device = opts.backend.device()?.autodiff();
    let checkpoints = Checkpoints::new(&opts.run);
    let adam = AdamConfig::new()
        .with_beta_1(config.beta_1 as f32)
        .with_beta_2(config.beta_2 as f32);
    let (
        mut generator,
        mut ema_generator,
        mut critic,
        mut g_optim,
        mut c_optim,
        start,
        seconds_before,
    ) = if opts.resume {
        let (state, dir) = checkpoints.latest::<GanTrainConfig>(KIND)?;
        check_same_config(&state.config, &config)?;
        let read = |f: &str| {
            std::fs::read(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))
        };
        let generator: Generator =
            load_record(config.generator.init(&device), &read("generator.bpk")?)?;
        let critic: Critic = load_record(config.critic.init(&device), &read("critic.bpk")?)?;
        let ema_generator: Generator = load_record(
            config.generator.init(&device.clone().inner()),
            &read("ema.bpk")?,
        )?;
        eprintln!(
            "resuming {} from step {} of {total}",
            opts.run.display(),
            state.step
        );
        (
            generator,
            ema_generator,
            critic,
            Optimizer::adam(
                adam.clone(),
                "g-",
                config.lr_generator,
                config.lr_generator,
                total,
                Some(&dir),
            )?,
            Optimizer::adam(
                adam,
                "c-",
                config.lr_critic,
                config.lr_critic,
                total,
                Some(&dir),
            )?,
            state.step,
            state.seconds,
        )
    } else {
        device.seed(config.seed);
        let generator: Generator = config.generator.init(&device);
        let critic = config.critic.init(&device);
        (
            generator.clone(),
            generator.valid(),
            critic,
            Optimizer::adam(
                adam.clone(),
                "g-",
                config.lr_generator,
                config.lr_generator,
                total,
                None,
            )?,
            Optimizer::adam(adam, "c-", config.lr_critic, config.lr_critic, total, None)?,
            0,
            0.0,
        )
    };
    let latent = config.generator.latent;
    let classes = config.generator.n_classes;
    let side = batches.side();
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    // Window sums: critic loss, W^, generator loss, steps.
    let mut window = [0.0f64; 4];
    let mut last_loss = f64::NAN;
    for step in start..end {
        let mut rng = step_rng(config.seed, step);
        let fake_labels = |n: usize, rng: &mut rand::rngs::StdRng| -> Option<Vec<i64>> {
            classes.map(|k| (0..n).map(|_| rng.random_range(0..k as i64)).collect())
        };
        // 1. critic steps on fresh real batches and detached fakes
        let (mut c_loss_sum, mut gap_sum) = (0.0, 0.0);
        for k in 0..config.n_critic {
            let batch = batches.batch(step * config.n_critic + k);
            let n = batch.len();
            let real_labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
            let z = normal_noise(n, latent, &mut rng, &device);
            let f_labels = fake_labels(n, &mut rng);
            let fake = generator
                .forward(z, f_labels.as_deref().map(|l| labels_tensor(l, &device)))
                .detach();
            let real_score = critic.forward(
                batch.images(side, &device),
                classes.map(|_| labels_tensor(&real_labels, &device)),
            );
            let fake_score =
                critic.forward(fake, f_labels.as_deref().map(|l| labels_tensor(l, &device)));
            let (loss, gap) = critic_loss(config.loss, real_score, fake_score);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                bail!(
                    "the critic's loss became {value} at step {step} (the last checkpoint is intact)"
                );
            }
            c_loss_sum += value;
            gap_sum += gap.into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &critic);
            critic = c_optim.step(critic, grads).0;
            if config.loss == GanLoss::WganClip {
                critic = critic.map(&mut Clip(config.clip));
            }
        }
        // 2. one generator step through the updated critic
        let n = config.batch_size;
        let z = normal_noise(n, latent, &mut rng, &device);
        let f_labels = fake_labels(n, &mut rng);
        let labels = f_labels.as_deref().map(|l| labels_tensor(l, &device));
        let fake = generator.forward(z, labels.clone());
        let g_loss = generator_loss(config.loss, critic.forward(fake, labels));
        let g_value = g_loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(g_loss.backward(), &generator);
        let (trained, lr) = g_optim.step(generator, grads);
        generator = trained;
        ema_generator = ema::update(
            ema_generator,
            &generator.valid(),
            ema::warmup_decay(config.ema_decay, step),
        );

        let k = config.n_critic as f64;
        window = [
            window[0] + c_loss_sum / k,
            window[1] + gap_sum / k,
            window[2] + g_value,
            window[3] + 1.0,
        ];
        last_loss = g_value;
        let done = step + 1;
        progress.step(
            done,
            window[0] / window[3],
            n * (1 + config.n_critic),
            lr,
            serde_json::json!({
                "epoch": (done * config.n_critic) as f64 / batches.per_epoch() as f64,
                "critic_loss": window[0] / window[3],
                "w_estimate": window[1] / window[3],
                "generator_loss": window[2] / window[3],
            }),
        )?;
        if done % opts.log_every.max(1) == 0 {
            window = [0.0; 4];
        }
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            let state = State {
                kind: KIND.into(),
                step: done,
                seconds: seconds_before + started.elapsed().as_secs_f64(),
                config: config.clone(),
            };
            generator.sync_running_stats();
            let [g_optim_file, g_lr_file] = g_optim.files()?;
            let [c_optim_file, c_lr_file] = c_optim.files()?;
            checkpoints.save(
                &state,
                &[
                    ("generator.bpk".into(), record_bytes(generator.clone())),
                    ("critic.bpk".into(), record_bytes(critic.clone())),
                    ("ema.bpk".into(), record_bytes(ema_generator.clone())),
                    g_optim_file,
                    g_lr_file,
                    c_optim_file,
                    c_lr_file,
                ],
            )?;
        }
    }
    progress.finish();
    if super::stopped_early(end, total) {
        return Ok(opts.run.clone());
    }
    let card = Card::new(
        ModelSpec::Gan {
            generator: config.generator.clone(),
            loss: config.loss,
        },
        super::data_info(&data_dir, train.len(), held_out),
        super::training_info(
            total,
            config.epochs as f64,
            config.batch_size,
            format!(
                "Adam (betas {}, {}): generator {}, critic {}; {} critic steps per generator step",
                config.beta_1,
                config.beta_2,
                config.lr_generator,
                config.lr_critic,
                config.n_critic
            ),
            Some(config.ema_decay),
            config.seed,
            seconds_before + started.elapsed().as_secs_f64(),
            opts.backend,
            last_loss,
        ),
        serde_json::Value::Null,
    );
    let path = write_weights(
        &opts.run,
        config.loss.name(),
        &record_bytes(ema_generator),
        card,
    )?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

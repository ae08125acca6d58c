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
//! - `wgan-gp`: the same loss plus WGAN-GP's gradient penalty (Gulrajani et al. 2017)
//!   `lambda mean (|| grad_x f(x^) || - 1)^2` at `x^ = e x + (1 - e) G(z)`, `e ~ U[0, 1]` per
//!   digit, with the critic's input gradient written out as forward ops
//!   (`Critic::gradient_penalty`: Burn 0.22 has no second-order gradients).
//! - `wgan-clip`: the same loss, the critic's weights clipped to `[-c, c]` after every step
//!   (the original WGAN).
//!
//! The shipped generator is an exponential moving average of the trained one (`ema_decay`,
//! as for the DDPM; for GANs the average is markedly better than the last iterate, which
//! oscillates with the game).
//!
//! A generator step is one "step" of the run: checkpoints, `--stop-after` and the logs count
//! generator steps; an epoch is one pass of the critic over the training digits.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use digitlab_models::{Critic, CriticConfig, Generator, GeneratorConfig};
use digitlab_weights::{Card, GanLoss, Kind, ModelSpec, TrainingInfo, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::checkpoint::Optimizer;
use super::data::Batches;
use super::state::materialized;
use super::{Plan, Shipped, StepReport, Trainer, ema, load_module, normal_noise, step_rng};
use crate::args::{GanArgs, GanLossArg};

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
    /// `wgan-gp`: the penalty's weight lambda (10 in the paper). Absent from the configs of
    /// runs started before WGAN-GP existed, which read as the default.
    #[serde(default = "default_gp_weight")]
    pub gp_weight: f64,
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
        if self.clip.is_nan() || self.clip <= 0.0 {
            bail!("--clip must be positive");
        }
        if !self.gp_weight.is_finite() || self.gp_weight <= 0.0 {
            bail!("--gp-weight must be a positive number");
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
        GanLoss::WganSn | GanLoss::WganClip | GanLoss::WganGp => gap.clone().neg(),
    };
    (l, gap)
}

fn generator_loss(loss: GanLoss, fake: Tensor<1>) -> Tensor<1> {
    match loss {
        GanLoss::Dcgan => softplus(fake.neg(), 1.0).mean(),
        GanLoss::WganSn | GanLoss::WganClip | GanLoss::WganGp => fake.mean().neg(),
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

/// `digitlab train gan`'s options as a config, with each loss's own defaults where an option
/// is not given: DCGAN's (Radford et al.) lr 2e-4, betas 0.5/0.999, one critic step; WGAN-SN
/// lr 1e-4, betas 0.5/0.9, five critic steps (WGAN-GP's); WGAN-clip lr 5e-5 (the WGAN paper's
/// RMSProp rate), betas 0.5/0.9, five critic steps.
pub fn config(a: &GanArgs) -> Result<GanTrainConfig> {
    let loss = match a.loss {
        GanLossArg::Dcgan => GanLoss::Dcgan,
        GanLossArg::WganSn => GanLoss::WganSn,
        GanLossArg::WganClip => GanLoss::WganClip,
        GanLossArg::WganGp => GanLoss::WganGp,
    };
    let (lr, b1, b2, k) = match loss {
        GanLoss::Dcgan => (2e-4, 0.5, 0.999, 1),
        GanLoss::WganSn => (1e-4, 0.5, 0.9, 5),
        GanLoss::WganClip => (5e-5, 0.5, 0.9, 5),
        // Gulrajani et al.'s Algorithm 1: lr 1e-4, betas 0 / 0.9, five critic steps.
        GanLoss::WganGp => (1e-4, 0.0, 0.9, 5),
    };
    let n_classes = a.conditional.then_some(10);
    Ok(GanTrainConfig {
        generator: GeneratorConfig::new()
            .with_latent(a.latent)
            .with_width(a.width)
            .with_n_classes(n_classes),
        critic: CriticConfig::new()
            .with_width(a.width)
            .with_n_classes(n_classes)
            .with_spectral_norm(loss == GanLoss::WganSn),
        loss,
        data: a.common.data.display().to_string(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr_generator: a.lr_generator.unwrap_or(lr),
        lr_critic: a.lr_critic.unwrap_or(lr),
        beta_1: a.beta_1.unwrap_or(b1),
        beta_2: a.beta_2.unwrap_or(b2),
        n_critic: a.n_critic.unwrap_or(k),
        clip: a.clip,
        gp_weight: a.gp_weight,
        ema_decay: a.ema_decay,
        seed: a.common.seed,
    })
}

/// The generator, its moving average, the critic and their two Adams.
pub struct GanState {
    generator: Generator,
    ema: Generator,
    critic: Critic,
    g_optim: Optimizer,
    c_optim: Optimizer,
}

pub struct GanTrainer {
    config: GanTrainConfig,
    plan: Plan,
    train_images: usize,
    held_out_images: usize,
}

impl GanTrainer {
    pub fn new(config: GanTrainConfig) -> Result<Self> {
        config.check()?;
        let dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&dir, config.generator.image_size)?;
        if let Some(k) = config.generator.n_classes {
            super::data::check_labels(&train, k)?;
        }
        let held_out = super::held_out_split(&dir)?;
        Ok(Self {
            plan: Plan {
                kind: Kind::Gan,
                seed: config.seed,
                epochs: config.epochs,
                batches: Batches::new(&train, config.batch_size, config.seed)?,
            },
            train_images: train.len(),
            held_out_images: held_out.len(),
            config,
        })
    }

    fn adam(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(self.config.beta_1 as f32)
            .with_beta_2(self.config.beta_2 as f32)
    }

    fn optimizers(&self, dir: Option<&Path>) -> Result<(Optimizer, Optimizer)> {
        let (c, total) = (&self.config, self.total_steps());
        Ok((
            Optimizer::adam(
                self.adam(),
                "g-",
                c.lr_generator,
                c.lr_generator,
                total,
                dir,
            )?,
            Optimizer::adam(self.adam(), "c-", c.lr_critic, c.lr_critic, total, dir)?,
        ))
    }
}

impl Trainer for GanTrainer {
    type Config = GanTrainConfig;
    type State = GanState;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &GanTrainConfig {
        &self.config
    }

    /// A generator step is one step of the run; an epoch is one pass of the critic.
    fn total_steps(&self) -> usize {
        self.config.epochs * self.plan.batches.per_epoch() / self.config.n_critic
    }

    fn steps_per_epoch(&self) -> usize {
        (self.plan.batches.per_epoch() / self.config.n_critic).max(1)
    }

    fn epoch(&self, done: usize) -> f64 {
        (done * self.config.n_critic) as f64 / self.plan.batches.per_epoch() as f64
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<GanState> {
        let c = &self.config;
        let (g_optim, c_optim) = self.optimizers(from)?;
        let (generator, critic): (Generator, Critic) =
            (c.generator.init(device), c.critic.init(device));
        Ok(match from {
            None => {
                let (generator, critic) = (materialized(generator), materialized(critic));
                GanState {
                    ema: generator.valid(),
                    generator,
                    critic,
                    g_optim,
                    c_optim,
                }
            }
            Some(dir) => GanState {
                generator: load_module(generator, dir, "generator.bpk")?,
                critic: load_module(critic, dir, "critic.bpk")?,
                ema: load_module(c.generator.init(&device.clone().inner()), dir, "ema.bpk")?,
                g_optim,
                c_optim,
            },
        })
    }

    fn step(
        &mut self,
        mut s: GanState,
        step: usize,
        device: &Device,
    ) -> Result<(GanState, StepReport)> {
        let c = &self.config;
        let (latent, classes, side) = (
            c.generator.latent,
            c.generator.n_classes,
            self.plan.batches.side(),
        );
        let mut rng = step_rng(c.seed, step);
        let fake_labels = |n: usize, rng: &mut rand::rngs::StdRng| -> Option<Vec<i64>> {
            classes.map(|k| (0..n).map(|_| rng.random_range(0..k as i64)).collect())
        };
        // 1. critic steps on fresh real batches and detached fakes
        let (mut c_loss_sum, mut gap_sum, mut penalty_sum) = (0.0, 0.0, 0.0);
        for k in 0..c.n_critic {
            let batch = self.plan.batches.batch(step * c.n_critic + k);
            let n = batch.len();
            let real_labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
            let z = normal_noise(n, latent, &mut rng, device);
            let f_labels = fake_labels(n, &mut rng);
            let fake = s
                .generator
                .forward(z, f_labels.as_deref().map(|l| labels_tensor(l, device)))
                .detach();
            let real = batch.images(side, device);
            let real_classes = classes.map(|_| labels_tensor(&real_labels, device));
            let real_score = s.critic.forward(real.clone(), real_classes.clone());
            let fake_score = s.critic.forward(
                fake.clone(),
                f_labels.as_deref().map(|l| labels_tensor(l, device)),
            );
            let (mut loss, gap) = critic_loss(c.loss, real_score, fake_score);
            if c.loss == GanLoss::WganGp {
                // x^ on the line between a real digit and a fake one, e ~ U[0, 1] per digit,
                // judged as the real digit's class.
                let e: Vec<f32> = (0..n).map(|_| rng.random_range(0.0..1.0f32)).collect();
                let e = Tensor::<1>::from_floats(e.as_slice(), device).reshape([n, 1, 1, 1]);
                let between = real * e.clone() + fake * (e.neg() + 1.0);
                let penalty = s.critic.gradient_penalty(between, real_classes);
                penalty_sum += penalty.clone().into_scalar::<f32>() as f64;
                loss = loss + penalty * c.gp_weight;
            }
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                // The skeleton stops the run on this loss before anything is saved.
                return Ok((s, report(value, n, 0.0, [value, f64::NAN, f64::NAN], None)));
            }
            c_loss_sum += value;
            gap_sum += gap.into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &s.critic);
            s.critic = s.c_optim.step(s.critic, grads).0;
            if c.loss == GanLoss::WganClip {
                s.critic = s.critic.map(&mut Clip(c.clip));
            }
        }
        // 2. one generator step through the updated critic
        let n = c.batch_size;
        let z = normal_noise(n, latent, &mut rng, device);
        let f_labels = fake_labels(n, &mut rng);
        let labels = f_labels.as_deref().map(|l| labels_tensor(l, device));
        let fake = s.generator.forward(z, labels.clone());
        let g_loss = generator_loss(c.loss, s.critic.forward(fake, labels));
        let g_value = g_loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(g_loss.backward(), &s.generator);
        let (trained, lr) = s.g_optim.step(s.generator, grads);
        s.generator = trained;
        s.ema = ema::update(
            s.ema,
            &s.generator.valid(),
            ema::warmup_decay(c.ema_decay, step),
        );
        let k = c.n_critic as f64;
        Ok((
            s,
            report(
                g_value,
                n * (1 + c.n_critic),
                lr,
                [c_loss_sum / k, gap_sum / k, g_value],
                (c.loss == GanLoss::WganGp).then_some(penalty_sum / k),
            ),
        ))
    }

    fn checkpoint(&self, s: &GanState) -> Result<Vec<(String, Vec<u8>)>> {
        s.generator.sync_running_stats();
        let mut files = vec![
            ("generator.bpk".into(), record_bytes(s.generator.clone())),
            ("critic.bpk".into(), record_bytes(s.critic.clone())),
            ("ema.bpk".into(), record_bytes(s.ema.clone())),
        ];
        files.extend(s.g_optim.files()?);
        files.extend(s.c_optim.files()?);
        Ok(files)
    }

    fn finish(&mut self, s: GanState, training: TrainingInfo) -> Result<Shipped> {
        let c = &self.config;
        let card = Card::new(
            ModelSpec::Gan {
                generator: c.generator.clone(),
                loss: c.loss,
            },
            super::data_info(Path::new(&c.data), self.train_images, self.held_out_images),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!(
                    "Adam (betas {}, {}): generator {}, critic {}; {} critic steps per generator step",
                    c.beta_1, c.beta_2, c.lr_generator, c.lr_critic, c.n_critic
                ),
                ema_decay: Some(c.ema_decay),
                ..training
            },
            serde_json::Value::Null,
        );
        Ok(Shipped {
            stem: c.loss.name().into(),
            weights: record_bytes(s.ema),
            card,
            summary: None,
        })
    }
}

/// A generator step's report: the run's loss is the generator's (the card's `final_loss`, as
/// before); the critic's loss, `W^`, the generator's loss and (WGAN-GP) the gradient penalty
/// before its weight are logged as terms.
fn report(
    loss: f64,
    images: usize,
    lr: f64,
    [critic, gap, generator]: [f64; 3],
    penalty: Option<f64>,
) -> StepReport {
    let mut terms = vec![
        ("critic_loss", critic),
        ("w_estimate", gap),
        ("generator_loss", generator),
    ];
    terms.extend(penalty.map(|p| ("gradient_penalty", p)));
    StepReport {
        loss,
        images,
        lr,
        terms,
    }
}

fn default_gp_weight() -> f64 {
    10.0
}

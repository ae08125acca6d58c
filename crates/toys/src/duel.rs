//! # A generator against a discriminator or a critic, in one dimension
//!
//! The questions' Q2 set-up, trained: `p_data = N(theta0, eps^2)` and a generator
//! `g(z) = theta + eps z`, `z ~ N(0, 1)`, so `p_g = N(theta, eps^2)` and the only thing to learn
//! is `theta`. Each iteration takes `critic_steps` steps of the discriminator (or critic), then one
//! step of `theta`.
//!
//! Generator objectives, with `a(x)` the discriminator's logit and `D = sigmoid(a)`:
//!
//! | objective        | generator minimises                       | d/dx of the loss at a sample |
//! |------------------|-------------------------------------------|------------------------------|
//! | `minimax`        | `E[log(1 - D(g(z)))]` (saturating)         | `-D a'`                      |
//! | `non-saturating` | `-E[log D(g(z))]`                          | `-(1 - D) a'`                |
//! | `q2`             | `E[log(1 - D)] - E[log D]` = `-E[a]`       | `-a'`                        |
//! | `wgan-clip`      | `-E[f(g(z))]`, critic weights clipped      | `-f'`                        |
//! | `wgan-gp`        | `-E[f(g(z))]`, penalty `(|f'| - 1)^2`      | `-f'`                        |
//! | `wgan-lp`        | `-E[f(g(z))]`, penalty `max(0, |f'| - 1)^2`| `-f'`                        |
//!
//! At the optimal discriminator `a* = log(p_data / p_g)`, so the `q2` loss equals
//! `KL(p_g || p_data)`; for the minimax loss the whole game value at `D*` is
//! `2 JS - 2 log 2`, and the generator's term has the same gradient in `theta`: the two
//! divergences the Divergences view plots. The discriminator is trained by binary cross-entropy, the critic to
//! maximise `E[f(real)] - E[f(fake)]` (the dual form of W1).
//!
//! The penalties are taken at random points between real and generated samples, with
//! `f'` from [`Critic::forward_with_slope`](crate::critic::Critic::forward_with_slope). In one
//! dimension WGAN-GP's two-sided penalty has a trap that higher dimensions do not: the critic's
//! slope cannot turn round, only pass through 0, where the penalty is `lambda`. A critic that
//! starts (or, after `theta` overshoots, ends up) with its slope the wrong way round stays so,
//! and `theta` runs away from `theta0` (`digitlab duel --objective wgan-gp` shows it). The
//! one-sided penalty of WGAN-LP (Petzka et al., 2018) only penalises slopes above 1 and has no
//! such barrier; both are offered, under their own names.
//!
//! `theta` moves by plain gradient descent on purpose: Adam divides the step by the running
//! size of the gradient, so a gradient of `1e-9` would still move `theta` by about one learning
//! rate and hide exactly what this toy is about. The discriminator and critic use Adam
//! (`beta1 = 0.5, beta2 = 0.9`, as in the WGAN-GP paper).

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::critic::{Critic, gradient_penalty};

pub use digitlab_spec::duel::{DuelConfig, Objective, Report};

/// The generator: one parameter.
#[derive(Module, Debug)]
struct Generator {
    theta: Param<Tensor<1>>,
}

pub struct Duel {
    cfg: DuelConfig,
    generator: Generator,
    critic: Critic,
    opt_generator: ModuleOptimizer,
    opt_critic: ModuleOptimizer,
    rng: StdRng,
    device: Device,
    iteration: usize,
}

impl Duel {
    pub fn new(cfg: DuelConfig) -> Result<Self, String> {
        cfg.check()?;
        let device = crate::device();
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let critic = Critic::new(cfg.hidden, &mut rng, &device);
        let critic = match cfg.objective {
            Objective::WganClip => critic.clipped(cfg.clip),
            _ => critic,
        };
        let generator = Generator {
            theta: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![cfg.theta_start as f32], [1]),
                &device,
            )),
        };
        Ok(Self {
            generator,
            critic,
            opt_generator: SgdConfig::new().init(),
            opt_critic: AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init(),
            rng,
            device,
            iteration: 0,
            cfg,
        })
    }

    pub fn config(&self) -> &DuelConfig {
        &self.cfg
    }

    pub fn iteration(&self) -> usize {
        self.iteration
    }

    pub fn theta(&self) -> f64 {
        self.generator
            .theta
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0] as f64
    }

    fn normal(&mut self, n: usize, mean: f64, sd: f64) -> Tensor<2> {
        let v: Vec<f32> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                (mean + sd * z) as f32
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [n, 1]), &self.device)
    }

    fn critic_step(&mut self) -> f64 {
        let (n, eps, theta) = (self.cfg.batch, self.cfg.eps, self.theta());
        let real = self.normal(n, self.cfg.theta0, eps);
        let fake = self.normal(n, theta, eps);
        let (loss, value) = if self.cfg.objective.is_wgan() {
            let gap =
                self.critic.forward(real.clone()).mean() - self.critic.forward(fake.clone()).mean();
            let mut loss = gap.clone().neg();
            if let Some(one_sided) = match self.cfg.objective {
                Objective::WganGp => Some(false),
                Objective::WganLp => Some(true),
                _ => None,
            } {
                let u: Vec<f32> = (0..n).map(|_| self.rng.random::<f32>()).collect();
                let u = Tensor::<2>::from_data(TensorData::new(u, [n, 1]), &self.device);
                let between = real * u.clone() + fake * (u.neg() + 1.0);
                loss =
                    loss + gradient_penalty(&self.critic, between, self.cfg.gp_lambda, one_sided);
            }
            (loss, gap)
        } else {
            let bce = log_sigmoid(self.critic.forward(real)).mean().neg()
                - log_sigmoid(self.critic.forward(fake).neg()).mean();
            (bce.clone(), bce)
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.critic);
        let critic = std::mem::replace(
            &mut self.critic,
            Critic::new(1, &mut StdRng::seed_from_u64(0), &self.device),
        );
        let mut critic = self.opt_critic.step(self.cfg.lr_critic, critic, grads);
        if self.cfg.objective == Objective::WganClip {
            critic = critic.clipped(self.cfg.clip);
        }
        self.critic = critic;
        value.into_scalar::<f32>() as f64
    }

    /// `critic_steps` critic steps, then one step of `theta`.
    pub fn step(&mut self) -> Report {
        let mut critic_value = 0.0;
        for _ in 0..self.cfg.critic_steps {
            critic_value = self.critic_step();
        }
        let n = self.cfg.batch;
        let z = self.normal(n, 0.0, self.cfg.eps);
        let fake = z + self.generator.theta.val().reshape([1, 1]).expand([n, 1]);
        let out = self.critic.forward(fake);
        let loss = match self.cfg.objective {
            Objective::Minimax => log_sigmoid(out.neg()).mean(),
            Objective::NonSaturating => log_sigmoid(out).mean().neg(),
            Objective::Q2 | Objective::WganClip | Objective::WganGp | Objective::WganLp => {
                out.mean().neg()
            }
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        let grad_theta = grads
            .get::<1>(self.generator.theta.id)
            .map_or(0.0, |g| g.into_scalar::<f32>() as f64);
        let generator = std::mem::replace(
            &mut self.generator,
            Generator {
                theta: Param::from_tensor(Tensor::zeros([1], &self.device)),
            },
        );
        self.generator = self
            .opt_generator
            .step(self.cfg.lr_generator, generator, grads);
        self.iteration += 1;
        Report {
            iteration: self.iteration,
            theta: self.theta(),
            grad_theta,
            critic_value,
        }
    }

    /// The discriminator's probability `D(x)` (GAN) or the critic's value `f(x)` (WGAN) at
    /// each `x`, for plotting.
    pub fn critic_curve(&self, xs: &[f64]) -> Vec<f64> {
        let x: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [xs.len(), 1]), &self.device);
        let out = self.critic.forward(x);
        let out = if self.cfg.objective.is_wgan() {
            out
        } else {
            sigmoid(out)
        };
        out.into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(objective: Objective, iterations: usize) -> Vec<Report> {
        let mut duel = Duel::new(DuelConfig::new(objective)).unwrap();
        (0..iterations).map(|_| duel.step()).collect()
    }

    #[test]
    fn the_saturating_gan_stalls_far_from_theta0_with_a_vanishing_gradient() {
        let r = run(Objective::Minimax, 150);
        let last = r.last().unwrap();
        assert!(last.theta > 2.5, "{last:?}");
        assert!(last.grad_theta.abs() < 1e-6, "{last:?}");
        // It did start out with a usable gradient: the stall is the discriminator's doing.
        assert!(r.iter().any(|p| p.grad_theta.abs() > 1e-3), "{:?}", &r[..5]);
    }

    #[test]
    fn wgans_with_clipping_or_a_lipschitz_penalty_reach_theta0() {
        for objective in [Objective::WganClip, Objective::WganLp] {
            let last = *run(objective, 300).last().unwrap();
            assert!(last.theta.abs() < 0.1, "{}: {last:?}", objective.name());
        }
    }

    #[test]
    fn equal_configs_give_equal_runs_and_the_seed_matters() {
        let a = run(Objective::WganLp, 10);
        assert_eq!(a, run(Objective::WganLp, 10));
        let mut cfg = DuelConfig::new(Objective::WganLp);
        cfg.seed = 1;
        let mut duel = Duel::new(cfg).unwrap();
        let b: Vec<Report> = (0..10).map(|_| duel.step()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn the_critic_curve_is_a_probability_for_gans() {
        let mut duel = Duel::new(DuelConfig::new(Objective::Minimax)).unwrap();
        for _ in 0..20 {
            duel.step();
        }
        let xs: Vec<f64> = (0..13).map(|i| -3.0 + 0.5 * i as f64).collect();
        let d = duel.critic_curve(&xs);
        assert!(d.iter().all(|p| (0.0..=1.0).contains(p)), "{d:?}");
        assert!(
            d[6] > 0.9 && d[12] < 0.1,
            "D at 0 and at 3: {} {}",
            d[6],
            d[12]
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        for broken in [
            DuelConfig {
                eps: 0.0,
                ..DuelConfig::new(Objective::Q2)
            },
            DuelConfig {
                eps: f64::NAN,
                ..DuelConfig::new(Objective::Q2)
            },
            DuelConfig {
                critic_steps: 0,
                ..DuelConfig::new(Objective::Q2)
            },
            DuelConfig {
                lr_generator: -1.0,
                ..DuelConfig::new(Objective::Q2)
            },
            DuelConfig {
                batch: 100_000,
                ..DuelConfig::new(Objective::Q2)
            },
        ] {
            assert!(Duel::new(broken).is_err());
        }
        assert!(Objective::parse("wgan-gp").is_ok());
        assert!(Objective::parse("wgan").unwrap_err().contains("wgan-clip"));
    }
}

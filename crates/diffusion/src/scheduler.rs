//! # The scheduler contract
//!
//! Shaped like diffusers' `SchedulerMixin`: a scheduler knows the noise schedule and how to
//! take one reverse step; it holds no weights and calls no model. The pipeline
//! ([`crate::pipeline`]) is the explicit loop that calls the model, then the scheduler.
//!
//! Randomness is an argument: a stochastic step receives its Gaussian `noise` from the caller,
//! so schedulers are pure functions and the same seed gives the same digits on every backend.

use burn::prelude::*;

use crate::schedule::{ForwardProcess, NoiseSchedule};
use crate::{DdimScheduler, DdpmScheduler, DiffusionError, DpmSolverScheduler};

/// What one reverse step returns: the next, less noisy sample, and the model's current guess of
/// the clean digit (what the page shows with the "predicted x_0" toggle).
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// `x_{t_prev}`, shape `[batch, c, h, w]`.
    pub prev_sample: Tensor<4>,
    /// `x_0` predicted from `x_t` and the noise estimate (clipped to `[-1, 1]` for pixels).
    pub pred_original_sample: Tensor<4>,
}

pub trait Scheduler {
    /// The schedule whose reverse process this scheduler runs.
    fn schedule(&self) -> &NoiseSchedule;

    /// Chooses `n` time steps (`1 <= n <= T`), from `T - 1` down to `0`.
    fn set_timesteps(&mut self, n: usize) -> Result<(), DiffusionError>;

    /// The time steps of the run, in the order they are visited (decreasing).
    fn timesteps(&self) -> &[usize];

    /// Whether [`Scheduler::step`] at `step_index` adds fresh noise (and so needs `noise`).
    fn needs_noise(&self, step_index: usize) -> bool;

    /// One reverse step from `x_t`, `t = timesteps()[step_index]`, given the predicted noise.
    ///
    /// `noise` is required when [`Scheduler::needs_noise`] says so and ignored otherwise.
    /// `&mut self` for a multistep scheduler, which remembers its previous prediction (as
    /// diffusers' `model_outputs`); [`Scheduler::set_timesteps`] starts it afresh.
    fn step(
        &mut self,
        model_output: Tensor<4>,
        step_index: usize,
        sample: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> StepOutput;

    /// The forward process `q(x_t | x_0)` in closed form, one `t` per row.
    fn add_noise(&self, original: Tensor<4>, noise: Tensor<4>, timesteps: &[usize]) -> Tensor<4> {
        self.schedule().q_sample(original, noise, timesteps)
    }

    /// Variance of the DDPM posterior `q(x_t' | x_t, x_0)` between the step at `step_index` and
    /// the next visited one: DDPM's `beta~` (eq. 7) and DDIM's `sigma^2` at `eta = 1` (eq. 16).
    fn posterior_variance(&self, step_index: usize) -> f64 {
        let alpha_prod_t = self.schedule().alphas_cumprod[self.timesteps()[step_index]];
        let alpha_prod_t_prev = self.alpha_prod_prev(step_index);
        (1.0 - alpha_prod_t_prev) / (1.0 - alpha_prod_t) * (1.0 - alpha_prod_t / alpha_prod_t_prev)
    }

    /// `alpha_bar` at the step after `step_index`; 1 past the last step (diffusers'
    /// `set_alpha_to_one`), so the final step lands on a clean `x_0`.
    fn alpha_prod_prev(&self, step_index: usize) -> f64 {
        self.timesteps()
            .get(step_index + 1)
            .map_or(1.0, |&t| self.schedule().alphas_cumprod[t])
    }
}

/// `x_0` predicted from `x_t` and the predicted noise (DDPM eq. 15),
/// `x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)`, clipped to `[-c, c]` when
/// the schedule says `clip_sample: Some(c)` (pixels: the data range `[-1, 1]`).
pub fn predict_original_sample(
    sample: Tensor<4>,
    model_output: Tensor<4>,
    alpha_prod_t: f64,
    clip_sample: Option<f64>,
) -> Tensor<4> {
    let x0 = (sample - model_output * (1.0 - alpha_prod_t).sqrt()) / alpha_prod_t.sqrt();
    match clip_sample {
        Some(c) => x0.clamp(-c, c),
        None => x0,
    }
}

pub use digitlab_spec::sample::SamplerKind;

/// Builds the scheduler for `kind` over `schedule` with `steps` time steps.
pub fn make_scheduler(
    kind: SamplerKind,
    schedule: NoiseSchedule,
    steps: usize,
) -> Result<Box<dyn Scheduler>, DiffusionError> {
    let mut scheduler: Box<dyn Scheduler> = match kind {
        SamplerKind::Ddpm => Box::new(DdpmScheduler::new(schedule)),
        SamplerKind::Ddim { eta } => Box::new(DdimScheduler::new(schedule, eta)?),
        SamplerKind::DpmSolverPp => Box::new(DpmSolverScheduler::new(schedule)),
    };
    scheduler.set_timesteps(steps)?;
    Ok(scheduler)
}

/// `n` time steps evenly spaced from `T - 1` down to `0` (diffusers' "linspace" spacing),
/// rounded; distinct for any `n <= T`.
pub fn linspace_timesteps(train_steps: usize, n: usize) -> Result<Vec<usize>, DiffusionError> {
    if n == 0 || n > train_steps {
        return Err(DiffusionError::BadStepCount {
            got: n,
            max: train_steps,
        });
    }
    if n == 1 {
        return Ok(vec![train_steps - 1]);
    }
    let last = (train_steps - 1) as f64;
    Ok((0..n)
        .map(|i| (last - last * i as f64 / (n - 1) as f64).round() as usize)
        .collect())
}

#[cfg(test)]
pub(crate) mod contract {
    //! One contract that every scheduler must honour (as diffusers' shared scheduler tests).
    use super::*;
    use crate::schedule::ScheduleConfig;

    fn all_schedulers(steps: usize) -> Vec<Box<dyn Scheduler>> {
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        [
            SamplerKind::Ddpm,
            SamplerKind::Ddim { eta: 0.0 },
            SamplerKind::Ddim { eta: 1.0 },
            SamplerKind::DpmSolverPp,
        ]
        .into_iter()
        .map(|k| make_scheduler(k, schedule.clone(), steps).unwrap())
        .collect()
    }

    #[test]
    fn timesteps_decrease_from_t_minus_one_to_zero() {
        for steps in [1, 2, 7, 50, 1000] {
            for s in all_schedulers(steps) {
                let ts = s.timesteps();
                assert_eq!(ts.len(), steps);
                assert_eq!(ts[0], 999);
                if steps > 1 {
                    assert_eq!(*ts.last().unwrap(), 0);
                }
                assert!(ts.windows(2).all(|w| w[0] > w[1]));
            }
        }
    }

    #[test]
    fn refuses_step_counts_out_of_range() {
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        for kind in [
            SamplerKind::Ddpm,
            SamplerKind::Ddim { eta: 0.0 },
            SamplerKind::DpmSolverPp,
        ] {
            assert!(make_scheduler(kind, schedule.clone(), 0).is_err());
            assert!(make_scheduler(kind, schedule.clone(), 1001).is_err());
        }
    }

    /// With the exact noise as the model's output, every scheduler must return the clean image:
    /// `pred_original_sample` at the first step recovers `x_0`, and the loop ends on `x_0`.
    #[test]
    fn an_oracle_model_recovers_x0() {
        let device = Device::flex();
        let x0 = Tensor::<4>::from_floats([[[[0.5, -0.25], [0.75, -1.0]]]], &device);
        for mut s in all_schedulers(20) {
            let eps = Tensor::<4>::from_floats([[[[0.3, -1.2], [0.9, 0.1]]]], &device);
            let mut x = s.add_noise(x0.clone(), eps.clone(), &[s.timesteps()[0]]);
            for i in 0..s.timesteps().len() {
                let t = s.timesteps()[i];
                // The oracle: the noise that is really in x_t, given x_0.
                let a = s.schedule().alphas_cumprod[t];
                let oracle = (x.clone() - x0.clone() * a.sqrt()) / (1.0 - a).sqrt();
                let noise = s
                    .needs_noise(i)
                    .then(|| Tensor::zeros([1, 1, 2, 2], &device));
                let out = s.step(oracle, i, x, noise);
                let err: f32 = (out.pred_original_sample - x0.clone())
                    .abs()
                    .max()
                    .into_scalar();
                assert!(err < 1e-3, "step {i}: x0 error {err}");
                x = out.prev_sample;
            }
            let err: f32 = (x - x0.clone()).abs().max().into_scalar();
            assert!(err < 1e-3, "final error {err}");
        }
    }
}

//! # DPM-Solver++ (2M)
//!
//! Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
//! Models", Algorithm 2: the diffusion ODE solved in the data prediction `x_0` (which guidance
//! and clipping keep in range) as a function of the log signal-to-noise ratio
//! `lambda_t = log(alpha_t / sigma_t)`, second order by reusing the previous step's prediction
//! (multistep: one network call per step, as DDIM). diffusers' `DPMSolverMultistepScheduler`
//! with `algorithm_type = "dpmsolver++"`, `solver_order = 2`, `solver_type = "midpoint"` and
//! `lower_order_final = True` is the reference; timesteps are spaced as DDIM's.
//!
//! Notation as in the paper and diffusers: `alpha_t = sqrt(alpha_bar_t)`,
//! `sigma_t = sqrt(1 - alpha_bar_t)`, `h = lambda_t - lambda_s` for a step from `s` to `t`;
//! `D0` the current `x_0` prediction, `D1` its change since the previous step divided by
//! `r0 = h_prev / h`.
//!
//! - First order (the first step, and the last one, which lands on `sigma = 0`):
//!   `x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) D0`, DDIM's deterministic step.
//! - Second order: `x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) (D0 + D1 / 2)`.
//!
//! The one scheduler here with memory: the previous step's `x_0` prediction, kept between calls
//! to [`Scheduler::step`] and cleared by [`Scheduler::set_timesteps`]. It is deterministic.

use burn::prelude::*;

use crate::DiffusionError;
use crate::schedule::NoiseSchedule;
use crate::scheduler::{Scheduler, StepOutput, linspace_timesteps, predict_original_sample};

#[derive(Debug, Clone)]
pub struct DpmSolverScheduler {
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
    /// The previous step's index and `x_0` prediction (the multistep memory).
    previous: Option<(usize, Tensor<4>)>,
}

impl DpmSolverScheduler {
    pub fn new(schedule: NoiseSchedule) -> Self {
        let timesteps = (0..schedule.train_steps()).rev().collect();
        Self {
            schedule,
            timesteps,
            previous: None,
        }
    }

    /// `(alpha, sigma, lambda)` at `alpha_bar`; `lambda` is infinite at `alpha_bar = 1`.
    fn coefficients(alpha_bar: f64) -> (f64, f64, f64) {
        let (alpha, sigma) = (alpha_bar.sqrt(), (1.0 - alpha_bar).sqrt());
        (alpha, sigma, alpha.ln() - sigma.ln())
    }

    /// `lambda` at the step `step_index` visits.
    fn lambda_at(&self, step_index: usize) -> f64 {
        Self::coefficients(self.schedule.alphas_cumprod[self.timesteps[step_index]]).2
    }
}

impl Scheduler for DpmSolverScheduler {
    fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    fn set_timesteps(&mut self, n: usize) -> Result<(), DiffusionError> {
        self.timesteps = linspace_timesteps(self.schedule.train_steps(), n)?;
        self.previous = None;
        Ok(())
    }

    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn needs_noise(&self, _step_index: usize) -> bool {
        false
    }

    fn step(
        &mut self,
        model_output: Tensor<4>,
        step_index: usize,
        sample: Tensor<4>,
        _noise: Option<Tensor<4>>,
    ) -> StepOutput {
        // 1. the data prediction D0 = x_0(x_s), clipped as the schedule says
        let alpha_bar_s = self.schedule.alphas_cumprod[self.timesteps[step_index]];
        let d0 = predict_original_sample(
            sample.clone(),
            model_output,
            alpha_bar_s,
            self.schedule.config.clip_sample,
        );
        // 2. where the step goes: the next visited time, or sigma = 0 past the last one
        let alpha_bar_t = self.alpha_prod_prev(step_index);
        let prev_sample = if alpha_bar_t >= 1.0 {
            // lambda_t = infinity: e^{-h} = 0 and sigma_t = 0, so x_t = alpha_t D0 = D0.
            d0.clone()
        } else {
            let (_, sigma_s, lambda_s) = Self::coefficients(alpha_bar_s);
            let (alpha_t, sigma_t, lambda_t) = Self::coefficients(alpha_bar_t);
            let h = lambda_t - lambda_s;
            let phi = (-h).exp_m1(); // e^{-h} - 1, accurate for small h
            // 3. second order where the previous prediction is this run's last step
            let d = match &self.previous {
                Some((i, d_prev)) if *i + 1 == step_index => {
                    let r0 = (lambda_s - self.lambda_at(*i)) / h;
                    let d1 = (d0.clone() - d_prev.clone()) / r0;
                    d0.clone() + d1 * 0.5
                }
                _ => d0.clone(),
            };
            sample * (sigma_t / sigma_s) - d * (alpha_t * phi)
        };
        self.previous = Some((step_index, d0.clone()));
        StepOutput {
            prev_sample,
            pred_original_sample: d0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;

    fn solver(steps: usize) -> DpmSolverScheduler {
        let mut s = DpmSolverScheduler::new(NoiseSchedule::new(ScheduleConfig::default()).unwrap());
        s.set_timesteps(steps).unwrap();
        s
    }

    /// The sum of a 10-step loop with the linear stand-in model of the reference script.
    #[test]
    fn golden_loop_sum() {
        let device = Device::flex();
        let mut s = solver(10);
        let mut x = Tensor::<4>::ones([1, 1, 2, 2], &device) * 0.5;
        for i in 0..10 {
            let eps = x.clone() * 0.98 - 0.01;
            x = s.step(eps, i, x, None).prev_sample;
        }
        let sum: f32 = x.sum().into_scalar();
        assert!((sum - GOLDEN_DPM_SUM).abs() < 1e-4, "sum {sum}");
    }
    /// From `tests/reference/schedulers.py` (whose unclipped loop agrees with diffusers'
    /// `DPMSolverMultistepScheduler` on the same timesteps to 1e-5 relative: diffusers keeps
    /// its `alphas_cumprod` in f32).
    const GOLDEN_DPM_SUM: f32 = 1.545_256_6;

    /// The first step, with no previous prediction, is DDIM's deterministic step; and a new
    /// run (`set_timesteps`) forgets the last one's memory.
    #[test]
    fn the_first_step_is_ddim_and_set_timesteps_forgets() {
        let device = Device::flex();
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        let mut ddim = crate::DdimScheduler::new(schedule, 0.0).unwrap();
        ddim.set_timesteps(10).unwrap();
        let mut s = solver(10);
        let x = Tensor::<4>::from_floats([[[[0.3, -0.7], [1.2, 0.1]]]], &device);
        let eps = Tensor::<4>::from_floats([[[[0.5, 0.2], [-0.4, 0.9]]]], &device);
        let a = s.step(eps.clone(), 0, x.clone(), None).prev_sample;
        let b = ddim.step(eps.clone(), 0, x.clone(), None).prev_sample;
        let diff: f32 = (a.clone() - b).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
        // A later step uses the memory, so it differs from a first step at that index (late
        // enough that the predicted x_0 is not clipped the same at both steps).
        let mut s = solver(10);
        let mut x = Tensor::<4>::ones([1, 1, 2, 2], &device) * 0.5;
        for i in 0..6 {
            x = s.step(x.clone() * 0.98 - 0.01, i, x, None).prev_sample;
        }
        let with_memory = s
            .step(x.clone() * 0.98 - 0.01, 6, x.clone(), None)
            .prev_sample;
        s.set_timesteps(10).unwrap();
        let forgotten = s.step(x.clone() * 0.98 - 0.01, 6, x, None).prev_sample;
        let diff: f32 = (with_memory - forgotten).abs().max().into_scalar();
        assert!(diff > 1e-4, "{diff}");
    }
}

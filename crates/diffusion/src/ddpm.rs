//! # DDPM ancestral sampler
//!
//! Ho et al. 2020, "Denoising Diffusion Probabilistic Models", eq. 6-7 and Algorithm 2, with
//! the skipped-step form of diffusers' `DDPMScheduler` so that fewer than `T` steps also work.
//!
//! Notation (diffusers): `alpha_prod_t = alpha_bar_t`, `beta_prod_t = 1 - alpha_bar_t`; between
//! two visited steps `t > t'`, `current_alpha_t = alpha_bar_t / alpha_bar_t'`.

use burn::prelude::*;

use crate::DiffusionError;
use crate::schedule::NoiseSchedule;
use crate::scheduler::{Scheduler, StepOutput, linspace_timesteps, predict_original_sample};

#[derive(Debug, Clone)]
pub struct DdpmScheduler {
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
}

impl DdpmScheduler {
    /// A scheduler over all `T` steps; call [`Scheduler::set_timesteps`] for fewer.
    pub fn new(schedule: NoiseSchedule) -> Self {
        let timesteps = (0..schedule.train_steps()).rev().collect();
        Self {
            schedule,
            timesteps,
        }
    }

    /// The posterior variance `beta~_t` ("fixed small") of the step at `step_index`, floored so
    /// its square root stays finite at the last step.
    pub fn variance(&self, step_index: usize) -> f64 {
        self.posterior_variance(step_index).max(1e-20)
    }
}

impl Scheduler for DdpmScheduler {
    fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    fn set_timesteps(&mut self, n: usize) -> Result<(), DiffusionError> {
        self.timesteps = linspace_timesteps(self.schedule.train_steps(), n)?;
        Ok(())
    }

    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    fn needs_noise(&self, step_index: usize) -> bool {
        step_index + 1 < self.timesteps.len()
    }

    fn step(
        &mut self,
        model_output: Tensor<4>,
        step_index: usize,
        sample: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> StepOutput {
        let t = self.timesteps[step_index];
        // 1. alphas and betas of this (possibly skipping) step
        let alpha_prod_t = self.schedule.alphas_cumprod[t];
        let alpha_prod_t_prev = self.alpha_prod_prev(step_index);
        let beta_prod_t = 1.0 - alpha_prod_t;
        let beta_prod_t_prev = 1.0 - alpha_prod_t_prev;
        let current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
        let current_beta_t = 1.0 - current_alpha_t;

        // 2. predicted x_0 from the predicted noise (eq. 15), clipped to the data range
        let pred_original_sample = predict_original_sample(
            sample.clone(),
            model_output,
            alpha_prod_t,
            self.schedule.config.clip_sample,
        );

        // 3. mean of the posterior q(x_{t-1} | x_t, x_0) (eq. 7)
        let pred_original_sample_coeff = alpha_prod_t_prev.sqrt() * current_beta_t / beta_prod_t;
        let current_sample_coeff = current_alpha_t.sqrt() * beta_prod_t_prev / beta_prod_t;
        let mut prev_sample = pred_original_sample.clone() * pred_original_sample_coeff
            + sample * current_sample_coeff;

        // 4. add noise with the posterior variance, except at the last step
        if self.needs_noise(step_index) {
            let noise = noise.expect("DDPM needs noise at every step but the last");
            prev_sample = prev_sample + noise * self.variance(step_index).sqrt();
        }
        StepOutput {
            prev_sample,
            pred_original_sample,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;

    fn full() -> DdpmScheduler {
        DdpmScheduler::new(NoiseSchedule::new(ScheduleConfig::default()).unwrap())
    }

    /// Golden values of the posterior variance for T = 1000 linear betas: at full resolution,
    /// `beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t`.
    #[test]
    fn golden_variances() {
        let s = full();
        // step index 0 is t = 999; the last index is t = 0, whose variance is clamped to 1e-20.
        assert!(
            (s.variance(0) - 0.019_999_983_5).abs() < 1e-9,
            "{}",
            s.variance(0)
        );
        assert!(
            (s.variance(500) - 0.010_031_355_4).abs() < 1e-9,
            "{}",
            s.variance(500)
        );
        assert_eq!(s.variance(999), 1e-20);
    }

    /// The sum of a 10-step, noise-free loop with a linear stand-in model: a golden number that pins
    /// the step's coefficients (any change to the update rule moves it).
    #[test]
    fn golden_loop_sum() {
        let device = Device::flex();
        let mut s = full();
        s.set_timesteps(10).unwrap();
        let mut x = Tensor::<4>::ones([1, 1, 2, 2], &device) * 0.5;
        for i in 0..10 {
            let eps = x.clone() * 0.98 - 0.01; // the reference's stand-in model
            let noise = s
                .needs_noise(i)
                .then(|| Tensor::zeros([1, 1, 2, 2], &device));
            x = s.step(eps, i, x, noise).prev_sample;
        }
        let sum: f32 = x.sum().into_scalar();
        assert!((sum - GOLDEN_DDPM_SUM).abs() < 1e-4, "sum {sum}");
    }
    /// From `tests/reference/schedulers.py` (an independent float64 implementation).
    const GOLDEN_DDPM_SUM: f32 = 0.080_947_57;
}

//! # DDIM sampler
//!
//! Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12: a non-Markovian
//! reverse process with the same marginals as DDPM, which can skip steps. `eta` scales its
//! noise: 0 is deterministic (the same `x_T` always gives the same digit), 1 matches DDPM's
//! variance.
//!
//! Notation as in diffusers' `DDIMScheduler`: `alpha_prod_t = alpha_bar_t`, `std_dev_t = sigma_t`.
//! One deliberate choice: after clipping `x_0` to `[-1, 1]`, the noise direction is recomputed
//! from the clipped `x_0` (diffusers' `use_clipped_model_output = True`), which keeps strongly
//! guided samples on the data range.

use burn::prelude::*;

use crate::DiffusionError;
use crate::schedule::NoiseSchedule;
use crate::scheduler::{Scheduler, StepOutput, linspace_timesteps, predict_original_sample};

#[derive(Debug, Clone)]
pub struct DdimScheduler {
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
    eta: f64,
}

impl DdimScheduler {
    pub fn new(schedule: NoiseSchedule, eta: f64) -> Result<Self, DiffusionError> {
        if !(0.0..=1.0).contains(&eta) {
            return Err(DiffusionError::BadEta(eta));
        }
        let timesteps = (0..schedule.train_steps()).rev().collect();
        Ok(Self {
            schedule,
            timesteps,
            eta,
        })
    }

    /// `sigma_t^2` of eq. 16 before `eta`: the DDPM posterior variance between two visited steps.
    pub fn variance(&self, step_index: usize) -> f64 {
        self.posterior_variance(step_index)
    }
}

impl Scheduler for DdimScheduler {
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
        self.eta > 0.0 && step_index + 1 < self.timesteps.len()
    }

    fn step(
        &mut self,
        model_output: Tensor<4>,
        step_index: usize,
        sample: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> StepOutput {
        // 1. alphas of this step and the next visited one
        let alpha_prod_t = self.schedule.alphas_cumprod[self.timesteps[step_index]];
        let alpha_prod_t_prev = self.alpha_prod_prev(step_index);
        let beta_prod_t = 1.0 - alpha_prod_t;

        // 2. predicted x_0 ("predicted x_0" of eq. 12), clipped, and the noise it implies
        let pred_original_sample = predict_original_sample(
            sample.clone(),
            model_output,
            alpha_prod_t,
            self.schedule.config.clip_sample,
        );
        let pred_epsilon =
            (sample - pred_original_sample.clone() * alpha_prod_t.sqrt()) / beta_prod_t.sqrt();

        // 3. sigma_t = eta * sqrt(variance) (eq. 16)
        let std_dev_t = self.eta * self.variance(step_index).sqrt();

        // 4. "direction pointing to x_t" of eq. 12
        let direction_coeff = (1.0 - alpha_prod_t_prev - std_dev_t * std_dev_t)
            .max(0.0)
            .sqrt();
        let mut prev_sample = pred_original_sample.clone() * alpha_prod_t_prev.sqrt()
            + pred_epsilon * direction_coeff;

        // 5. "random noise" of eq. 12
        if self.needs_noise(step_index) {
            let noise = noise.expect("DDIM with eta > 0 needs noise at every step but the last");
            prev_sample = prev_sample + noise * std_dev_t;
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

    fn ddim(eta: f64, steps: usize) -> DdimScheduler {
        let mut s = DdimScheduler::new(NoiseSchedule::new(ScheduleConfig::default()).unwrap(), eta)
            .unwrap();
        s.set_timesteps(steps).unwrap();
        s
    }

    #[test]
    fn refuses_eta_out_of_range() {
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        assert_eq!(
            DdimScheduler::new(schedule.clone(), 1.5).unwrap_err(),
            DiffusionError::BadEta(1.5)
        );
        assert!(DdimScheduler::new(schedule, -0.1).is_err());
    }

    /// Golden variance between visited steps for 50 steps (t = 999 -> 979).
    #[test]
    fn golden_variance() {
        let v = ddim(0.0, 50).variance(0);
        assert!((v - GOLDEN_DDIM_VARIANCE_0).abs() < 1e-6, "{v}");
    }
    /// From `tests/reference/schedulers.py`.
    const GOLDEN_DDIM_VARIANCE_0: f64 = 0.329_802_515_6;

    /// The sum of a 10-step deterministic loop with a linear stand-in model.
    #[test]
    fn golden_loop_sum() {
        let device = Device::flex();
        let mut s = ddim(0.0, 10);
        let mut x = Tensor::<4>::ones([1, 1, 2, 2], &device) * 0.5;
        for i in 0..10 {
            let eps = x.clone() * 0.98 - 0.01; // the reference's stand-in model
            x = s.step(eps, i, x, None).prev_sample;
        }
        let sum: f32 = x.sum().into_scalar();
        assert!((sum - GOLDEN_DDIM_SUM).abs() < 1e-4, "sum {sum}");
    }
    /// From `tests/reference/schedulers.py`.
    const GOLDEN_DDIM_SUM: f32 = 1.138_597_8;
}

//! # A noise-conditional score network from the ContextUnet (NCSN on MNIST)
//!
//! The same UNet as the DDPM, conditioned on the noise level instead of a time step: its time
//! input is `log sigma` mapped to `[0, 1]` over the trained range ([`NoiseRange::time_input`]).
//! It predicts the noise `z` in `x~ = x + sigma z`, so the score is
//!
//! ```text
//! s(x~, sigma) = -eps(x~, sigma) / sigma,
//! ```
//!
//! and the noise-prediction loss `|| eps(x~, sigma) - z ||^2` is exactly denoising score
//! matching with the weighting `lambda(sigma) = sigma^2`: `sigma^2 || s + z / sigma ||^2`.
//! `sigma` is drawn log-uniformly from the whole range during training, so one network serves
//! any set of levels inside it (3, 40 or 80) at sampling time.
//!
//! The network sees `x~ / sqrt(1 + sigma^2)` (EDM's input scaling `c_in`, with the data's
//! spread taken as 1): at `sigma = 20` the raw input would be 20 times larger than anything at
//! `sigma = 0.02`, and one set of weights would have to cover both.
//!
//! [`LangevinRun`] samples with annealed Langevin dynamics ([`crate::langevin`]), one update
//! at a time like [`crate::DenoiseRun`], starting from `x ~ N(0, sigma_1^2 I)`, with optional
//! classifier-free guidance (the guided noise of [`crate::guided_noise`]) and an optional
//! final denoising step by Tweedie's formula.

use burn::prelude::*;
use digitlab_models::ContextUnet;
use serde::{Deserialize, Serialize};

use crate::DiffusionError;
use crate::langevin::{LangevinSchedule, LangevinStep, langevin_update, tweedie};
use crate::noise::NoiseSource;
use crate::pipeline::{checked_labels, guided_noise};

/// The noise levels a score network was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseRange {
    pub sigma_min: f64,
    pub sigma_max: f64,
}

impl Default for NoiseRange {
    /// From about the distance between two digits (pixels in `[-1, 1]`) down to below one grey
    /// level's worth of noise.
    fn default() -> Self {
        Self {
            sigma_min: 0.02,
            sigma_max: 20.0,
        }
    }
}

impl NoiseRange {
    pub fn check(&self) -> Result<(), DiffusionError> {
        if self.sigma_min.is_finite()
            && self.sigma_max.is_finite()
            && 0.0 < self.sigma_min
            && self.sigma_min < self.sigma_max
        {
            Ok(())
        } else {
            Err(DiffusionError::BadNoiseRange(
                self.sigma_min,
                self.sigma_max,
            ))
        }
    }

    /// `log sigma` mapped to `[0, 1]` (1 at `sigma_max`), the UNet's time input.
    pub fn time_input(&self, sigma: f64) -> f32 {
        let (lo, hi) = (self.sigma_min.ln(), self.sigma_max.ln());
        ((sigma.ln() - lo) / (hi - lo)) as f32
    }

    /// The factor applied to `x~` before the network (see the module docs).
    pub fn input_scale(sigma: f64) -> f64 {
        1.0 / (1.0 + sigma * sigma).sqrt()
    }

    /// The level of a uniform draw `u` in `[0, 1)`: `sigma_min^(1-u) sigma_max^u`, log-uniform
    /// over the range (training draws every level this way).
    pub fn sigma_at(&self, u: f64) -> f64 {
        let (lo, hi) = (self.sigma_min.ln(), self.sigma_max.ln());
        (lo + u * (hi - lo)).exp()
    }

    /// Training's corruption of clean digits `x0` by `noise` (`z`, same shape) at one level per
    /// digit: the network's input `(x0 + sigma z) / sqrt(1 + sigma^2)` and its time input. The
    /// target of the noise prediction is `z` itself (see the module docs).
    ///
    /// # Shapes
    /// `x0`, `noise`: `[n, c, h, w]`; `sigmas`: `n` levels.
    pub fn corrupt(
        &self,
        x0: Tensor<4>,
        noise: Tensor<4>,
        sigmas: &[f64],
    ) -> (Tensor<4>, Vec<f32>) {
        let [n, c, h, w] = x0.dims();
        let device = x0.device();
        let column = |f: &dyn Fn(f64) -> f64| {
            let v: Vec<f32> = sigmas.iter().map(|&s| f(s) as f32).collect();
            Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, 1]), &device).expand([n, c, h, w])
        };
        let noisy = x0 + noise * column(&|s| s);
        (
            noisy * column(&NoiseRange::input_scale),
            sigmas.iter().map(|&s| self.time_input(s)).collect(),
        )
    }
}

/// The network's noise prediction at one `sigma` for the whole batch, guided by `w`.
pub fn ncsn_noise(
    model: &ContextUnet,
    range: &NoiseRange,
    x: Tensor<4>,
    sigma: f64,
    labels: Tensor<1, Int>,
    guidance: f64,
) -> Tensor<4> {
    let n = x.dims()[0];
    let time = Tensor::<1>::from_floats(vec![range.time_input(sigma); n].as_slice(), &x.device());
    guided_noise(
        model,
        x * NoiseRange::input_scale(sigma),
        time,
        labels,
        guidance,
    )
}

/// What to sample with annealed Langevin dynamics.
#[derive(Debug, Clone, PartialEq)]
pub struct LangevinRequest {
    /// One entry per sample: `Some(class)` or `None` for unconditional.
    pub labels: Vec<Option<usize>>,
    pub guidance: f64,
    pub schedule: LangevinSchedule,
    /// Finish with one Tweedie step `x + sigma_L^2 s(x, sigma_L)` (one more network call).
    pub denoise: bool,
    pub seed: u64,
}

/// The state of one annealed Langevin run.
pub struct LangevinRun {
    range: NoiseRange,
    schedule: LangevinSchedule,
    denoise: bool,
    sample: Tensor<4>,
    labels: Tensor<1, Int>,
    guidance: f64,
    noise: NoiseSource,
    image: [usize; 3],
    done: usize,
}

impl LangevinRun {
    pub fn new(
        model: &ContextUnet,
        range: NoiseRange,
        request: &LangevinRequest,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        range.check()?;
        let (labels, guidance) = checked_labels(model, &request.labels, request.guidance)?;
        let count = labels.len();
        let image = model.image_shape();
        let mut noise = NoiseSource::new(request.seed, count);
        let start = request.schedule.sigmas[0];
        let sample = noise.tensor(image, device) * start;
        Ok(Self {
            range,
            schedule: request.schedule.clone(),
            denoise: request.denoise,
            sample,
            labels: Tensor::from_data(TensorData::new(labels, [count]), device),
            guidance,
            noise,
            image,
            done: 0,
        })
    }

    /// Network calls of the whole run (Langevin updates, plus the denoising step).
    pub fn total_steps(&self) -> usize {
        self.schedule.len() + usize::from(self.denoise)
    }

    pub fn completed_steps(&self) -> usize {
        self.done
    }

    pub fn is_done(&self) -> bool {
        self.done >= self.total_steps()
    }

    pub fn sample(&self) -> &Tensor<4> {
        &self.sample
    }

    pub fn schedule(&self) -> &LangevinSchedule {
        &self.schedule
    }

    /// One network call: a Langevin update, or at the end the Tweedie step. Returns where it
    /// was (`None` once done); the Tweedie step reports the last level with `alpha = 0`.
    pub fn step(&mut self, model: &ContextUnet) -> Option<LangevinStep> {
        if self.is_done() {
            return None;
        }
        let device = self.sample.device();
        let at = if self.done < self.schedule.len() {
            self.schedule.step(self.done)
        } else {
            LangevinStep {
                alpha: 0.0,
                ..self.schedule.step(self.schedule.len() - 1)
            }
        };
        let eps = ncsn_noise(
            model,
            &self.range,
            self.sample.clone(),
            at.sigma,
            self.labels.clone(),
            self.guidance,
        );
        let score = eps / -at.sigma;
        self.sample = if at.alpha > 0.0 {
            let z = self.noise.tensor(self.image, &device);
            langevin_update(self.sample.clone(), score, z, at.alpha)
        } else {
            tweedie(self.sample.clone(), score, at.sigma)
        };
        self.done += 1;
        Some(at)
    }

    /// Runs to the end.
    pub fn run(&mut self, model: &ContextUnet) -> Tensor<4> {
        while self.step(model).is_some() {}
        self.sample.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::langevin::{LangevinKind, geometric_sigmas};
    use digitlab_models::ContextUnetConfig;

    #[test]
    fn time_input_spans_the_range_in_log_sigma() {
        let r = NoiseRange::default();
        assert!((r.time_input(r.sigma_max) - 1.0).abs() < 1e-6);
        assert!(r.time_input(r.sigma_min).abs() < 1e-6);
        assert!((r.time_input((r.sigma_min * r.sigma_max).sqrt()) - 0.5).abs() < 1e-6);
        assert!(
            NoiseRange {
                sigma_min: 1.0,
                sigma_max: 1.0
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn training_corruption_is_the_scaled_noisy_digit_at_log_uniform_levels() {
        let r = NoiseRange::default();
        assert!((r.sigma_at(0.0) - r.sigma_min).abs() < 1e-12);
        assert!((r.sigma_at(0.5) - (r.sigma_min * r.sigma_max).sqrt()).abs() < 1e-9);
        let device = Device::flex();
        let x0 = Tensor::<4>::from_floats([[[[0.5f32, -1.0]]], [[[0.25, 1.0]]]], &device);
        let z = Tensor::<4>::from_floats([[[[1.0f32, 2.0]]], [[[-1.0, 0.0]]]], &device);
        let (input, time) = r.corrupt(x0, z, &[0.02, 20.0]);
        let got: Vec<f32> = input.into_data().try_to_vec().unwrap();
        let want = [
            (0.5 + 0.02) / (1.0f64 + 0.0004).sqrt(),
            (-1.0 + 0.04) / (1.0f64 + 0.0004).sqrt(),
            (0.25 - 20.0) / 401.0f64.sqrt(),
            1.0 / 401.0f64.sqrt(),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-5, "{got:?} against {want:?}");
        }
        assert!(time[0].abs() < 1e-6 && (time[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_run_makes_one_call_per_update_plus_the_denoising_step_and_is_reproducible() {
        let device = Device::flex();
        device.seed(2);
        let model = ContextUnetConfig::new().with_n_feat(8).init(&device);
        let range = NoiseRange::default();
        let schedule = LangevinSchedule::new(
            LangevinKind::Annealed,
            geometric_sigmas(range.sigma_max, range.sigma_min, 3).unwrap(),
            2,
            8e-5,
        )
        .unwrap();
        let request = LangevinRequest {
            labels: vec![Some(1), None],
            guidance: 1.0,
            schedule,
            denoise: true,
            seed: 5,
        };
        let mut run = LangevinRun::new(&model, range, &request, &device).unwrap();
        assert_eq!(run.total_steps(), 7);
        let mut sigmas = vec![];
        while let Some(at) = run.step(&model) {
            sigmas.push(at.sigma);
        }
        assert_eq!(sigmas.len(), 7);
        assert!((sigmas[0] - 20.0).abs() < 1e-9 && (sigmas[6] - 0.02).abs() < 1e-9);
        let again = LangevinRun::new(&model, range, &request, &device)
            .unwrap()
            .run(&model);
        let diff: f32 = (again - run.sample().clone()).abs().max().into_scalar();
        assert_eq!(diff, 0.0);
        let bad = LangevinRequest {
            labels: vec![Some(10)],
            ..request.clone()
        };
        assert!(LangevinRun::new(&model, range, &bad, &device).is_err());
    }
}

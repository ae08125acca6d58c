//! # Annealed Langevin dynamics (NCSN)
//!
//! Sampling with only a score `s(x, sigma) ~ grad_x log p_sigma(x)` (Song & Ermon, 2019):
//!
//! ```text
//! x <- x + (alpha / 2) s(x, sigma) + sqrt(alpha) z,   z ~ N(0, I)
//! ```
//!
//! At one noise level this is Langevin dynamics: for a small step and many steps `x` is
//! distributed as `p_sigma`. *Annealed*, the sampler runs `T` steps at each of `L` levels
//! `sigma_1 > ... > sigma_L` (geometric), with step `alpha_i = eps * sigma_i^2 / sigma_L^2`, so
//! that the signal-to-noise ratio of each update is the same at every level: the large levels
//! move mass between modes through regions the data never visits, the small ones sharpen.
//! "Plain" Langevin runs the same number of steps at `sigma_L` only, with `alpha = eps`.
//!
//! The schedule holds no model and no randomness: callers draw `z` (from `NoiseSource`, or any
//! generator) and pass the score, as the diffusion schedulers do.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// `count` noise levels from `sigma_max` down to `sigma_min`, evenly spaced in log.
pub fn geometric_sigmas(sigma_max: f64, sigma_min: f64, count: usize) -> Result<Vec<f64>, String> {
    if !(sigma_min.is_finite()
        && sigma_max.is_finite()
        && 0.0 < sigma_min
        && sigma_min <= sigma_max)
    {
        return Err(format!(
            "noise levels need 0 < sigma_min <= sigma_max, got {sigma_min} and {sigma_max}"
        ));
    }
    if !(1..=10_000).contains(&count) {
        return Err(format!(
            "the number of noise levels must be 1 to 10000, got {count}"
        ));
    }
    if count == 1 {
        return Ok(vec![sigma_min]);
    }
    let (a, b) = (sigma_max.ln(), sigma_min.ln());
    Ok((0..count)
        .map(|i| (a + (b - a) * i as f64 / (count - 1) as f64).exp())
        .collect())
}

/// Plain or annealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LangevinKind {
    /// Every step at the smallest level.
    Plain,
    /// `steps_per_level` steps at each level, large to small.
    Annealed,
}

/// The whole schedule of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangevinSchedule {
    pub kind: LangevinKind,
    pub sigmas: Vec<f64>,
    pub steps_per_level: usize,
    /// `eps`: the step size at the smallest level.
    pub step_size: f64,
}

/// One update: where it is and what it uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LangevinStep {
    /// 0-based level: a counter of blocks of `steps_per_level` updates (for plain Langevin
    /// the noise level stays `sigma_L` throughout).
    pub level: usize,
    /// 0-based step within the level.
    pub step: usize,
    pub sigma: f64,
    pub alpha: f64,
}

impl LangevinSchedule {
    pub fn new(
        kind: LangevinKind,
        sigmas: Vec<f64>,
        steps_per_level: usize,
        step_size: f64,
    ) -> Result<Self, String> {
        if sigmas.is_empty() || sigmas.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("noise levels must be finite numbers > 0".into());
        }
        if sigmas.windows(2).any(|w| w[1] >= w[0]) {
            return Err("noise levels must decrease from the first to the last".into());
        }
        if !(1..=100_000).contains(&steps_per_level) {
            return Err(format!(
                "steps per level must be 1 to 100000, got {steps_per_level}"
            ));
        }
        if !(step_size.is_finite() && step_size > 0.0) {
            return Err(format!(
                "the step size must be a number > 0, got {step_size}"
            ));
        }
        Ok(Self {
            kind,
            sigmas,
            steps_per_level,
            step_size,
        })
    }

    /// Updates in all (the same for plain and annealed: the two compare at equal cost).
    pub fn len(&self) -> usize {
        self.sigmas.len() * self.steps_per_level
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th update (`k < len()`). Plain Langevin reports its steps in blocks of
    /// `steps_per_level` too, so both kinds have the same counters, but always at `sigma_L`.
    pub fn step(&self, k: usize) -> LangevinStep {
        let level = (k / self.steps_per_level).min(self.sigmas.len() - 1);
        let last = *self.sigmas.last().unwrap();
        let sigma = match self.kind {
            LangevinKind::Annealed => self.sigmas[level],
            LangevinKind::Plain => last,
        };
        LangevinStep {
            level,
            step: k % self.steps_per_level,
            sigma,
            alpha: self.step_size * sigma * sigma / (last * last),
        }
    }
}

/// `x + (alpha / 2) score + sqrt(alpha) z`.
pub fn langevin_update<const D: usize>(
    x: Tensor<D>,
    score: Tensor<D>,
    noise: Tensor<D>,
    alpha: f64,
) -> Tensor<D> {
    x + score * (alpha / 2.0) + noise * alpha.sqrt()
}

/// Tweedie's formula: `E[x_0 | x] = x + sigma^2 s(x, sigma)`, the optional last denoising step.
pub fn tweedie<const D: usize>(x: Tensor<D>, score: Tensor<D>, sigma: f64) -> Tensor<D> {
    x + score * (sigma * sigma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoiseSource;

    #[test]
    fn geometric_levels_run_from_max_to_min_with_a_constant_ratio() {
        let s = geometric_sigmas(1.0, 0.01, 3).unwrap();
        assert!(
            (s[0] - 1.0).abs() < 1e-12 && (s[1] - 0.1).abs() < 1e-12 && (s[2] - 0.01).abs() < 1e-12
        );
        assert!(geometric_sigmas(0.01, 1.0, 3).is_err());
        assert!(geometric_sigmas(1.0, 0.0, 3).is_err());
        assert!(geometric_sigmas(1.0, 0.1, 0).is_err());
    }

    #[test]
    fn steps_scale_with_sigma_squared_and_plain_stays_at_the_smallest_level() {
        let sigmas = geometric_sigmas(10.0, 0.1, 3).unwrap();
        let a = LangevinSchedule::new(LangevinKind::Annealed, sigmas.clone(), 2, 1e-4).unwrap();
        let p = LangevinSchedule::new(LangevinKind::Plain, sigmas, 2, 1e-4).unwrap();
        assert_eq!(a.len(), 6);
        let first = a.step(0);
        assert_eq!((first.level, first.step), (0, 0));
        assert!((first.alpha - 1e-4 * 1e4).abs() < 1e-9);
        let last = a.step(5);
        assert_eq!((last.level, last.step), (2, 1));
        assert!((last.alpha - 1e-4).abs() < 1e-12);
        assert!(LangevinSchedule::new(LangevinKind::Annealed, vec![0.1, 1.0], 2, 1e-4).is_err());
        assert!((0..6).all(
            |k| (p.step(k).sigma - 0.1).abs() < 1e-12 && (p.step(k).alpha - 1e-4).abs() < 1e-12
        ));
    }

    /// Langevin with the exact score of N(mu, s^2) reaches that mean and variance.
    #[test]
    fn langevin_on_a_gaussian_reaches_its_mean_and_variance() {
        let device = Device::flex();
        let (mu, s, n) = (1.5f64, 0.5f64, 4000);
        let mut noise = NoiseSource::new(11, n);
        let mut x = Tensor::<2>::zeros([n, 1], &device) - 3.0; // start far away
        let alpha = 0.01 * s * s;
        for _ in 0..2000 {
            let score = (x.clone() - mu).neg() / (s * s);
            let z = Tensor::from_data(TensorData::new(noise.draw(1), [n, 1]), &device);
            x = langevin_update(x, score, z, alpha);
        }
        let v: Vec<f32> = x.into_data().try_to_vec().unwrap();
        let mean = v.iter().map(|&a| a as f64).sum::<f64>() / n as f64;
        let var = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // Standard errors: s / sqrt(n) = 0.008 for the mean, about s^2 sqrt(2 / n) = 0.006 for
        // the variance; the step adds a bias of order alpha (0.0025 here).
        assert!((mean - mu).abs() < 0.04, "mean {mean}");
        assert!((var - s * s).abs() < 0.03, "variance {var} vs {}", s * s);
    }
}

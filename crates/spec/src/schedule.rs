//! # Noise schedules and the forward process
//!
//! DDPM (Ho et al. 2020) corrupts a digit `x_0` in `T` small Gaussian steps
//!
//! ```text
//! x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps,        eps ~ N(0, I)        (eq. 2)
//! ```
//!
//! and, since a sum of Gaussians is Gaussian (the reparameterisation trick), in one jump:
//!
//! ```text
//! x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,  alpha_bar_t = prod_{s<=t} (1 - beta_s)  (eq. 4)
//! ```
//!
//! Indexing follows diffusers: `t` runs over `0..T` and `alphas_cumprod[t]` already includes
//! step `t`. Constants are computed once in `f64` and named after the math (as in lucidrains'
//! `denoising_diffusion_pytorch`).

use serde::{Deserialize, Serialize};

use crate::SpecError;

/// How `beta_t` grows with `t`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BetaSchedule {
    /// `beta_t` linear from `beta_start` to `beta_end` (DDPM: 1e-4 to 0.02).
    Linear { beta_start: f64, beta_end: f64 },
    /// Nichol & Dhariwal 2021: `alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) pi/2)`, betas clipped
    /// at 0.999. Destroys information more evenly than the linear schedule at small sizes.
    Cosine { s: f64 },
}

impl Default for BetaSchedule {
    fn default() -> Self {
        BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        }
    }
}

/// The most diffusion steps a schedule has (DDPM used 1,000; 100,000 keeps every table a
/// few MB).
pub const MAX_TRAIN_STEPS: usize = 100_000;

/// The schedule as saved in a weights card.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Number of diffusion steps. 1000, as in DDPM: with the linear betas it brings
    /// `alpha_bar_T` to 4e-5, so `x_T` is noise and sampling may start from `N(0, I)`.
    pub train_steps: usize,
    pub betas: BetaSchedule,
    /// Clip each predicted `x_0` to `[-c, c]` (diffusers' `clip_sample` and
    /// `clip_sample_range`): `Some(1.0)` for pixels in `[-1, 1]`, `None` for an autoencoder's
    /// latent, which has no fixed range. Absent in older cards, which all hold pixel models.
    #[serde(default = "pixel_range")]
    pub clip_sample: Option<f64>,
}

fn pixel_range() -> Option<f64> {
    Some(1.0)
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            train_steps: 1000,
            betas: BetaSchedule::default(),
            clip_sample: pixel_range(),
        }
    }
}

/// Precomputed constants of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    pub config: ScheduleConfig,
    pub betas: Vec<f64>,
    pub alphas: Vec<f64>,
    pub alphas_cumprod: Vec<f64>,
    pub sqrt_alphas_cumprod: Vec<f64>,
    pub sqrt_one_minus_alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule of `config`, refused when T is outside `2..=MAX_TRAIN_STEPS` (a card's T
    /// sizes its tables before anything else: 4e9 steps would be 30 GB of them) or the betas
    /// are out of range.
    pub fn new(config: ScheduleConfig) -> Result<Self, SpecError> {
        let n = config.train_steps;
        if !(2..=MAX_TRAIN_STEPS).contains(&n) {
            return Err(SpecError::TooFewTrainSteps(n));
        }
        let betas: Vec<f64> = match config.betas {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => {
                if !(beta_start > 0.0 && beta_start <= beta_end && beta_end < 1.0) {
                    return Err(SpecError::BadBetas(beta_start, beta_end));
                }
                (0..n)
                    .map(|i| beta_start + (beta_end - beta_start) * i as f64 / (n - 1) as f64)
                    .collect()
            }
            BetaSchedule::Cosine { s } => {
                let f = |t: f64| {
                    (((t / n as f64) + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..n)
                    .map(|i| (1.0 - f(i as f64 + 1.0) / f(i as f64)).clamp(0.0, 0.999))
                    .collect()
            }
        };
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let alphas_cumprod: Vec<f64> = alphas
            .iter()
            .scan(1.0, |acc, a| {
                *acc *= a;
                Some(*acc)
            })
            .collect();
        Ok(Self {
            config,
            sqrt_alphas_cumprod: alphas_cumprod.iter().map(|a| a.sqrt()).collect(),
            sqrt_one_minus_alphas_cumprod: alphas_cumprod
                .iter()
                .map(|a| (1.0 - a).sqrt())
                .collect(),
            betas,
            alphas,
            alphas_cumprod,
        })
    }

    pub fn train_steps(&self) -> usize {
        self.config.train_steps
    }

    /// Signal-to-noise ratio `alpha_bar_t / (1 - alpha_bar_t)` of `x_t`.
    pub fn snr(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        a / (1.0 - a)
    }

    /// The network's time input for step `t`: `t / T`, in `[0, 1)`.
    pub fn time_input(&self, t: usize) -> f32 {
        t as f32 / self.train_steps() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_matches_ddpm() {
        let s = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        assert_eq!(s.betas.len(), 1000);
        assert!((s.betas[0] - 1e-4).abs() < 1e-12);
        assert!((s.betas[999] - 0.02).abs() < 1e-12);
        // alpha_bar_T = prod (1 - beta): about 4.0e-5 for DDPM's schedule.
        assert!(
            (s.alphas_cumprod[999] - 4.04e-5).abs() < 0.1e-5,
            "{}",
            s.alphas_cumprod[999]
        );
        assert!(s.alphas_cumprod.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn cosine_schedule_is_monotone_and_ends_near_zero() {
        let s = NoiseSchedule::new(ScheduleConfig {
            train_steps: 1000,
            betas: BetaSchedule::Cosine { s: 0.008 },
            ..Default::default()
        })
        .unwrap();
        assert!(s.alphas_cumprod[0] > 0.999);
        assert!(s.alphas_cumprod[999] < 1e-4);
        assert!(s.betas.iter().all(|b| *b > 0.0 && *b <= 0.999));
        assert!(s.snr(10) > s.snr(500));
    }

    #[test]
    fn refuses_bad_configs() {
        let bad = |betas| {
            NoiseSchedule::new(ScheduleConfig {
                train_steps: 10,
                betas,
                ..Default::default()
            })
            .unwrap_err()
        };
        assert_eq!(
            bad(BetaSchedule::Linear {
                beta_start: 0.0,
                beta_end: 0.1
            }),
            SpecError::BadBetas(0.0, 0.1)
        );
        assert_eq!(
            bad(BetaSchedule::Linear {
                beta_start: 0.2,
                beta_end: 0.1
            }),
            SpecError::BadBetas(0.2, 0.1)
        );
        assert_eq!(
            NoiseSchedule::new(ScheduleConfig {
                train_steps: 1,
                ..Default::default()
            })
            .unwrap_err(),
            SpecError::TooFewTrainSteps(1)
        );
    }
}

//! # A 2-D Gaussian mixture and its exact score
//!
//! The NCSN paper's toy data (Song & Ermon 2019, Figure 2): the score
//! `grad_x log p_sigma(x)` of the mixture blurred by each noise level is known in closed form,
//! so `digitlab_toys::score2d` can compare a learned score network with the truth, and the
//! page's Score view draws the true field without Burn.

use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// An isotropic Gaussian mixture in 2-D.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub means: Vec<[f64; 2]>,
    /// The components' standard deviation.
    pub sd: f64,
}

impl Mixture {
    /// The NCSN paper's mixture.
    pub fn ncsn() -> Self {
        Self {
            weights: vec![0.2, 0.8],
            means: vec![[-5.0, -5.0], [5.0, 5.0]],
            sd: 1.0,
        }
    }

    pub fn sample(&self, n: usize, rng: &mut StdRng) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut k = 0;
            let mut acc = self.weights[0];
            while u > acc && k + 1 < self.weights.len() {
                k += 1;
                acc += self.weights[k];
            }
            for d in 0..2 {
                let z: f64 = StandardNormal.sample(rng);
                out.push((self.means[k][d] + self.sd * z) as f32);
            }
        }
        out
    }

    /// `grad_x log p_sigma(x)` of the mixture blurred by `N(0, sigma^2 I)` (each component's
    /// variance becomes `sd^2 + sigma^2`), computed with log-sum-exp weights.
    pub fn score(&self, x: [f64; 2], sigma: f64) -> [f64; 2] {
        let v = self.sd * self.sd + sigma * sigma;
        let logits: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.means)
            .map(|(w, m)| w.ln() - ((x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2)) / (2.0 * v))
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = e.iter().sum();
        let mut s = [0.0; 2];
        for (r, m) in e.iter().zip(&self.means) {
            for d in 0..2 {
                s[d] += r / total * (m[d] - x[d]) / v;
            }
        }
        s
    }

    /// The component whose mean is nearest to `x`.
    pub fn mode_of(&self, x: [f64; 2]) -> usize {
        let d = |m: &[f64; 2]| (x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2);
        (0..self.means.len())
            .min_by(|&a, &b| d(&self.means[a]).total_cmp(&d(&self.means[b])))
            .unwrap_or(0)
    }
}

//! # Score matching and Langevin dynamics on a 2-D mixture (Q1)
//!
//! The NCSN paper's toy: `p = 0.2 N((-5, -5), I) + 0.8 N((5, 5), I)`, two modes with unequal
//! weights and a region of almost no data between them. A small noise-conditional score
//! network `s(x, sigma)` is trained by denoising score matching,
//!
//! ```text
//! L = E_sigma E_x E_z || sigma s(x + sigma z, sigma) + z ||^2
//! ```
//!
//! (the weighting `lambda(sigma) = sigma^2` of the paper, folded into the norm), with
//! `log sigma` uniform between `sigma_min` and `sigma_max`. The network outputs `net(x, log
//! sigma) / sigma`, so its raw output has the same size at every level (NCSNv2's trick).
//!
//! [`Particles`] then run Langevin dynamics (`digitlab_diffusion::langevin`) with the learned
//! score or the exact one ([`Mixture::score`]): plain Langevin at a small sigma keeps each
//! particle in the basin it started in, so the fraction per mode follows the starting area, not
//! the weights 0.2 / 0.8; annealing from a large sigma lets particles cross before the modes
//! separate, and the weights come back.

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::silu;
use digitlab_diffusion::NoiseSource;
use digitlab_diffusion::langevin::{LangevinSchedule, LangevinStep, langevin_update};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

pub use digitlab_spec::mixture::Mixture;

/// `log p_sigma(x)` as a differentiable tensor (`[n, 2] -> [n]`), for checking
/// [`Mixture::score`] against Burn's autodiff (a free function: `Mixture` is plain data in
/// `digitlab-spec`, which has no tensors).
pub fn log_density(mixture: &Mixture, x: Tensor<2>, sigma: f64) -> Tensor<1> {
    let v = mixture.sd * mixture.sd + sigma * sigma;
    let device = x.device();
    let n = x.dims()[0];
    let terms: Vec<Tensor<2>> = mixture
        .weights
        .iter()
        .zip(&mixture.means)
        .map(|(w, m)| {
            let mean = Tensor::<2>::from_data(
                TensorData::new(vec![m[0] as f32, m[1] as f32], [1, 2]),
                &device,
            )
            .expand([n, 2]);
            let d2 = (x.clone() - mean).square().sum_dim(1);
            d2 / (-2.0 * v) + (w.ln() - (2.0 * std::f64::consts::PI * v).ln())
        })
        .collect();
    let all = Tensor::cat(terms, 1); // [n, K]
    let top = all.clone().max_dim(1).detach();
    ((all - top.clone()).exp().sum_dim(1).log() + top).squeeze_dim(1)
}

/// `s(x, sigma) = net(x, log sigma) / sigma`: a SiLU MLP on `(x, y, log sigma)`.
#[derive(Module, Debug)]
pub struct ScoreNet {
    layers: Vec<Linear>,
}

impl ScoreNet {
    pub fn new(hidden: usize, device: &Device) -> Self {
        Self {
            layers: vec![
                LinearConfig::new(3, hidden).init(device),
                LinearConfig::new(hidden, hidden).init(device),
                LinearConfig::new(hidden, 2).init(device),
            ],
        }
    }

    /// `x: [n, 2]`, `sigma: [n, 1]` -> `[n, 2]`.
    pub fn forward(&self, x: Tensor<2>, sigma: Tensor<2>) -> Tensor<2> {
        let mut h = Tensor::cat(vec![x, sigma.clone().log()], 1);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = silu(h);
            }
        }
        h / sigma
    }
}

/// Denoising score matching of a [`ScoreNet`] on a [`Mixture`].
pub struct ScoreTrainer {
    pub mixture: Mixture,
    pub net: ScoreNet,
    optim: ModuleOptimizer,
    rng: StdRng,
    device: Device,
    pub sigma_min: f64,
    pub sigma_max: f64,
    pub batch: usize,
    pub lr: f64,
    pub steps: usize,
}

impl ScoreTrainer {
    pub fn new(
        mixture: Mixture,
        sigma_min: f64,
        sigma_max: f64,
        seed: u64,
    ) -> Result<Self, String> {
        if !(sigma_min.is_finite()
            && sigma_max.is_finite()
            && 0.0 < sigma_min
            && sigma_min < sigma_max)
        {
            return Err(format!(
                "training needs 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}"
            ));
        }
        let device = crate::device();
        // The backend's generator initialises the layers: seed it for a repeatable run.
        device.seed(seed);
        Ok(Self {
            mixture,
            net: ScoreNet::new(128, &device),
            optim: AdamConfig::new().init(),
            rng: StdRng::seed_from_u64(seed),
            device,
            sigma_min,
            sigma_max,
            batch: 256,
            lr: 2e-3,
            steps: 0,
        })
    }

    /// One Adam step; returns the loss.
    pub fn step(&mut self) -> f64 {
        let n = self.batch;
        let x = self.mixture.sample(n, &mut self.rng);
        let (lo, hi) = (self.sigma_min.ln(), self.sigma_max.ln());
        let sig: Vec<f32> = (0..n)
            .map(|_| (lo + (hi - lo) * self.rng.random::<f64>()).exp() as f32)
            .collect();
        let z: Vec<f32> = (0..2 * n)
            .map(|_| {
                let v: f64 = StandardNormal.sample(&mut self.rng);
                v as f32
            })
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [n, 2]), &self.device);
        let sigma = Tensor::<2>::from_data(TensorData::new(sig, [n, 1]), &self.device);
        let z = Tensor::<2>::from_data(TensorData::new(z, [n, 2]), &self.device);
        let noisy = x + z.clone() * sigma.clone().expand([n, 2]);
        let s = self.net.forward(noisy, sigma.clone());
        let loss = (s * sigma.expand([n, 2]) + z).square().sum_dim(1).mean();
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        let net = std::mem::replace(&mut self.net, ScoreNet { layers: vec![] });
        self.net = self.optim.step(self.lr, net, grads);
        self.steps += 1;
        value
    }

    /// The learned score at the points `xs` (flat `[x0, y0, x1, y1, ...]`) and one sigma.
    pub fn score(&self, xs: &[f32], sigma: f64) -> Vec<f32> {
        score_of(&self.net, xs, sigma, &self.device)
    }

    /// Mean squared error of the learned score against the exact one, times `sigma^2` (the
    /// training weighting), at `n` points drawn from `p_sigma`.
    pub fn score_error(&self, sigma: f64, n: usize, seed: u64) -> f64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut xs = self.mixture.sample(n, &mut rng);
        for v in xs.iter_mut() {
            let z: f64 = StandardNormal.sample(&mut rng);
            *v += (sigma * z) as f32;
        }
        let learned = self.score(&xs, sigma);
        let mut total = 0.0;
        for i in 0..n {
            let exact = self
                .mixture
                .score([xs[2 * i] as f64, xs[2 * i + 1] as f64], sigma);
            for d in 0..2 {
                total += (learned[2 * i + d] as f64 - exact[d]).powi(2) * sigma * sigma;
            }
        }
        total / n as f64
    }
}

fn score_of(net: &ScoreNet, xs: &[f32], sigma: f64, device: &Device) -> Vec<f32> {
    let n = xs.len() / 2;
    let x = Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [n, 2]), device);
    let s = Tensor::<2>::full([n, 1], sigma, device);
    net.forward(x, s)
        .detach()
        .into_data()
        .try_to_vec()
        .unwrap_or_default()
}

/// Which score drives the particles.
pub enum ScoreSource<'a> {
    Exact(&'a Mixture),
    Learned(&'a ScoreTrainer),
}

impl ScoreSource<'_> {
    pub fn at(&self, xs: &[f32], sigma: f64) -> Vec<f32> {
        match self {
            ScoreSource::Exact(m) => xs
                .chunks(2)
                .flat_map(|p| {
                    let s = m.score([p[0] as f64, p[1] as f64], sigma);
                    [s[0] as f32, s[1] as f32]
                })
                .collect(),
            ScoreSource::Learned(t) => t.score(xs, sigma),
        }
    }
}

/// Particles under Langevin dynamics, one update at a time.
pub struct Particles {
    /// Flat `[x0, y0, x1, y1, ...]`.
    pub xs: Vec<f32>,
    pub schedule: LangevinSchedule,
    /// Updates done.
    pub done: usize,
    noise: NoiseSource,
    device: Device,
}

impl Particles {
    /// `n` particles uniform in the square `[-half, half]^2` (as in the NCSN paper's toy).
    pub fn new(n: usize, half: f64, schedule: LangevinSchedule, seed: u64) -> Result<Self, String> {
        if !(1..=20_000).contains(&n) {
            return Err(format!("particles must be 1 to 20000, got {n}"));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let xs = (0..2 * n)
            .map(|_| rng.random_range(-half..half) as f32)
            .collect();
        Ok(Self {
            xs,
            schedule,
            done: 0,
            noise: NoiseSource::new(seed.wrapping_add(1), 1),
            device: Device::flex(),
        })
    }

    pub fn finished(&self) -> bool {
        self.done >= self.schedule.len()
    }

    /// One update; `None` when the schedule is finished.
    pub fn step(&mut self, score: &ScoreSource) -> Option<LangevinStep> {
        if self.finished() {
            return None;
        }
        let at = self.schedule.step(self.done);
        let n = self.xs.len() / 2;
        let s = score.at(&self.xs, at.sigma);
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, 2]), &self.device);
        let x = langevin_update(
            t(std::mem::take(&mut self.xs)),
            t(s),
            t(self.noise.draw(2 * n)),
            at.alpha,
        );
        self.xs = x.into_data().try_to_vec().unwrap_or_default();
        self.done += 1;
        Some(at)
    }

    /// The fraction of particles nearest to each mode.
    pub fn mode_fractions(&self, mixture: &Mixture) -> Vec<f64> {
        let mut counts = vec![0usize; mixture.means.len()];
        for p in self.xs.chunks(2) {
            counts[mixture.mode_of([p[0] as f64, p[1] as f64])] += 1;
        }
        let n = (self.xs.len() / 2).max(1) as f64;
        counts.into_iter().map(|c| c as f64 / n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digitlab_diffusion::langevin::{LangevinKind, geometric_sigmas};

    #[test]
    fn the_exact_score_is_the_autodiff_gradient_of_the_log_density() {
        let m = Mixture::ncsn();
        let device = crate::device();
        let pts = vec![-5.0f32, -4.0, 0.0, 0.0, 3.0, 6.5, -1.0, 2.0, 9.0, -9.0];
        for sigma in [0.01, 1.0, 10.0] {
            let x = Tensor::<2>::from_data(TensorData::new(pts.clone(), [5, 2]), &device)
                .require_grad();
            let grads = log_density(&m, x.clone(), sigma).sum().backward();
            let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
            for i in 0..5 {
                let s = m.score([pts[2 * i] as f64, pts[2 * i + 1] as f64], sigma);
                for d in 0..2 {
                    let tol = 1e-4 * (1.0 + s[d].abs());
                    assert!(
                        (g[2 * i + d] as f64 - s[d]).abs() < tol,
                        "sigma {sigma} point {i}: autodiff {} vs {}",
                        g[2 * i + d],
                        s[d]
                    );
                }
            }
        }
    }

    fn run(kind: LangevinKind, score: &ScoreSource, levels: usize) -> Vec<f64> {
        let m = Mixture::ncsn();
        let sigmas = geometric_sigmas(20.0, 1.0, levels).unwrap();
        let schedule = LangevinSchedule::new(kind, sigmas, 100, 0.1).unwrap();
        let mut p = Particles::new(1000, 8.0, schedule, 3).unwrap();
        while p.step(score).is_some() {}
        p.mode_fractions(&m)
    }

    #[test]
    fn with_the_exact_score_annealing_recovers_the_weights_and_plain_langevin_does_not() {
        let m = Mixture::ncsn();
        let exact = ScoreSource::Exact(&m);
        let annealed = run(LangevinKind::Annealed, &exact, 10);
        let plain = run(LangevinKind::Plain, &exact, 10);
        assert!((annealed[0] - 0.2).abs() < 0.05, "annealed: {annealed:?}");
        assert!((plain[0] - 0.2).abs() > 0.15, "plain: {plain:?}");
    }

    #[test]
    fn a_trained_score_network_does_the_same() {
        let m = Mixture::ncsn();
        let mut t = ScoreTrainer::new(m.clone(), 1.0, 20.0, 0).unwrap();
        let before = t.score_error(1.0, 500, 9);
        let mut losses = vec![];
        for _ in 0..1500 {
            losses.push(t.step());
        }
        let after = t.score_error(1.0, 500, 9);
        eprintln!(
            "loss {:.3} -> {:.3}; weighted score error at sigma 1: {before:.3} -> {after:.3}",
            losses[0],
            losses.last().unwrap()
        );
        let learned = ScoreSource::Learned(&t);
        let annealed = run(LangevinKind::Annealed, &learned, 10);
        let plain = run(LangevinKind::Plain, &learned, 10);
        eprintln!("learned: annealed {annealed:?}, plain {plain:?}");
        assert!(after < before / 5.0, "{before} -> {after}");
        assert!((annealed[0] - 0.2).abs() < 0.07, "annealed: {annealed:?}");
        assert!((plain[0] - 0.2).abs() > 0.15, "plain: {plain:?}");
    }
}

//! # Exponential moving average of the weights
//!
//! `theta_ema <- d theta_ema + (1 - d) theta` after every optimizer step; sampling uses the
//! average, which is smoother than the last iterate (DDPM's appendix B uses d = 0.9999 over
//! 800k steps; a run of a few thousand steps needs a shorter memory, hence the warm-up
//! `d_k = min(d, (1 + k) / (10 + k))`).
//!
//! Written here because Burn 0.22 has no EMA of module weights: a [`ModuleVisitor`] collects
//! the current weights in visiting order, a [`ModuleMapper`] blends them into the average in the
//! same order (both traverse the fields as declared). Order, not parameter id: a module loaded
//! from a record keeps the ids of the module it was loaded into for its batch norms' running
//! statistics, so after `--resume` the ids of the trained model and of its average no longer
//! match there, and the average's statistics would silently stop following.

use std::collections::VecDeque;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Effective decay at step `step` (0-based) for a target `decay`.
pub fn warmup_decay(decay: f64, step: usize) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}

struct Collect(VecDeque<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push_back(param.val().flatten::<1>(0, D - 1));
    }
}

struct Blend {
    current: VecDeque<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self
            .current
            .pop_front()
            .expect("the average has the trained module's architecture");
        let decay = self.decay;
        param.map(|avg| {
            let dims = avg.dims();
            assert_eq!(
                current.dims()[0],
                dims.iter().product::<usize>(),
                "the average has the trained module's architecture"
            );
            avg * decay + current.reshape(dims) * (1.0 - decay)
        })
    }
}

/// Blends `current` (the trained module, without autodiff) into `average` with `decay`. Both
/// must be the same architecture (the average is made from the trained module or from its
/// config).
pub fn update<M: Module>(average: M, current: &M, decay: f64) -> M {
    let mut collect = Collect(VecDeque::new());
    current.visit(&mut collect);
    average.map(&mut Blend {
        current: collect.0,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn blends_by_parameter() {
        let device = Device::flex();
        let a: Linear = LinearConfig::new(2, 2).init(&device);
        let b = a.clone().map(&mut Shift);
        let avg = update(a.clone(), &b, 0.75);
        let diff: f32 = (avg.weight.val() - a.weight.val()).mean().into_scalar();
        assert!((diff - 0.25).abs() < 1e-6, "{diff}");
        assert_eq!(warmup_decay(0.999, 0), 0.1);
        assert_eq!(warmup_decay(0.5, 1000), 0.5);
    }

    /// Adds 1 to every weight, keeping ids.
    struct Shift;
    impl ModuleMapper for Shift {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t + 1.0)
        }
    }
}

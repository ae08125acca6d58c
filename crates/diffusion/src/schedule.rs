//! # The forward process on tensors
//!
//! The schedule's constants ([`NoiseSchedule`]: `betas`, `alphas_cumprod`, ...) are plain `f64`
//! math in `digitlab-spec`, so the page's interface plots them without Burn; this module adds
//! what needs tensors, the forward process itself:
//!
//! ```text
//! x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps                          (eq. 2)
//! x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps                     (eq. 4)
//! ```

use burn::prelude::*;

pub use digitlab_spec::schedule::{BetaSchedule, MAX_TRAIN_STEPS, NoiseSchedule, ScheduleConfig};

/// The forward process `q` of a [`NoiseSchedule`] on batches of images.
pub trait ForwardProcess {
    /// `x_t` from `x_0` in one jump (eq. 4), with one `t` per row of the batch.
    ///
    /// # Shapes
    /// - `x0`, `noise`: `[batch, c, h, w]`; `t.len() == batch`
    fn q_sample(&self, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4>;

    /// One forward step `x_{t-1} -> x_t` (eq. 2), for the whole batch at the same `t`.
    fn q_step(&self, x_prev: Tensor<4>, noise: Tensor<4>, t: usize) -> Tensor<4>;
}

impl ForwardProcess for NoiseSchedule {
    fn q_sample(&self, x0: Tensor<4>, noise: Tensor<4>, t: &[usize]) -> Tensor<4> {
        let device = x0.device();
        let batch = t.len();
        let column = |v: &[f64]| {
            let data: Vec<f32> = t.iter().map(|&i| v[i] as f32).collect();
            Tensor::<1>::from_floats(data.as_slice(), &device).reshape([batch, 1, 1, 1])
        };
        x0 * column(&self.sqrt_alphas_cumprod) + noise * column(&self.sqrt_one_minus_alphas_cumprod)
    }

    fn q_step(&self, x_prev: Tensor<4>, noise: Tensor<4>, t: usize) -> Tensor<4> {
        let beta = self.betas[t];
        x_prev * (1.0 - beta).sqrt() + noise * beta.sqrt()
    }
}

//! # Toy problems trained live
//!
//! Models small enough to train in a few seconds in the browser, with the same code natively
//! (where the unit tests run them). They run on Burn's `flex` CPU backend everywhere: one- or
//! two-dimensional data and a few dozen hidden units are far too little work for a GPU, whose
//! dispatch overhead would dominate, and on the CPU a tensor read is immediate, so the loops
//! can read a number after every step without `async` (on WebGPU a synchronous read panics).
//!
//! - [`critic`]: a 1-D MLP together with its derivative in the input, computed in closed form
//!   by forward-mode propagation (the WGAN-GP penalty needs it; Burn 0.22 has no second-order
//!   gradients).
//! - [`duel`]: a generator `g(z) = theta + eps z` trained against a GAN discriminator
//!   (saturating, non-saturating or the questions' Q2 loss) or a WGAN critic (weight clipping
//!   or gradient penalty).
//! - [`score2d`]: a noise-conditional score network on a 2-D Gaussian mixture, trained by
//!   denoising score matching, and particles under plain or annealed Langevin dynamics (NCSN).

pub mod critic;
pub mod duel;
pub mod score2d;

/// The device every toy runs on (see the crate docs for why the CPU).
pub fn device() -> burn::prelude::Device {
    burn::prelude::Device::flex().autodiff()
}

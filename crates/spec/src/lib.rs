//! # What a DigitLab run is, as plain data
//!
//! The descriptions that the CLI, the page's interface and the page's workers share, with the
//! checks and the closed-form math that need no tensors:
//!
//! - [`sample`]: a sampling request (digits, guidance, sampler, steps, seed).
//! - [`schedule`]: the noise schedule's constants (`betas`, `alphas_cumprod`, ...).
//! - [`edit`]: an edit of a digit (SDEdit's starting step, inpainting's known pixels).
//! - [`duel`]: the 1-D GAN duel's settings and its per-iteration report.
//! - [`mixture`]: the 2-D Gaussian mixture of the Score view and its exact score.
//!
//! Why a crate of its own: the page's interface wasm must not link Burn (Burn's and CubeCL's
//! static constructors, about 4,900 of them, run before the page's first line of code), yet it
//! builds these values and the model crates run them. `digitlab-diffusion` and
//! `digitlab-toys` re-export every type here under its old path; running them (tensors, the
//! schedulers, the training) stays there.

pub mod duel;
pub mod edit;
pub mod mixture;
pub mod sample;
pub mod schedule;

/// A value refused before any run starts; each names what was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("number of diffusion steps T must be 2 to {max}, got {0}", max = schedule::MAX_TRAIN_STEPS)]
    TooFewTrainSteps(usize),
    #[error("beta range must satisfy 0 < beta_start <= beta_end < 1, got {0}..{1}")]
    BadBetas(f64, f64),
    #[error("edit refused: {0}")]
    BadEdit(String),
}

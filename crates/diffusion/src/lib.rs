//! # DigitLab diffusion
//!
//! Everything about diffusion that holds no weights, split as in diffusers:
//!
//! - [`schedule`]: the forward process `q(x_t | x_0)` on tensors, in closed form and step by
//!   step ([`ForwardProcess`]), over the noise schedule (`beta_t`, `alpha_bar_t`, SNR) that
//!   `digitlab-spec` computes without Burn (as it does the requests and edits re-exported here).
//! - [`scheduler`]: the [`Scheduler`] trait (`set_timesteps` / `step` / `add_noise`) that every
//!   sampler implements; [`ddpm`], [`ddim`] and [`dpm_solver`] (DPM-Solver++ 2M) are the samplers.
//! - [`noise`]: seeded Gaussian noise drawn on the host, so the same seed gives the same digits
//!   on every backend (CPU, WebGPU, native or in the browser).
//! - [`langevin`]: annealed Langevin dynamics for score models (NCSN): noise levels, step
//!   sizes and the update; [`ncsn`]: the ContextUnet as a noise-conditional score network
//!   and [`LangevinRun`], its step-by-step sampler.
//! - [`pipeline`]: the one place where a model meets a scheduler: classifier-free guidance and
//!   the step-by-step [`DenoiseRun`] that the CLI loops over and the page animates;
//!   [`edit`]: SDEdit (a starting step) and RePaint inpainting (known pixels) as constraints
//!   on that same run;
//!   [`text`]: the same for text prompts, `text_encoder(["", prompt])` and a negative prompt.
//! - [`distill`]: the targets of guidance and progressive distillation (a few-step student
//!   with `w` as an input).

pub mod ddim;
pub mod ddpm;
pub mod distill;
pub mod dpm_solver;
/// Edits of a digit (SDEdit, inpainting), as data: `digitlab-spec`'s, run by [`DenoiseRun::edit`].
pub use digitlab_spec::edit;
pub mod langevin;
pub mod ncsn;
pub mod noise;
pub mod pipeline;
pub mod schedule;
pub mod scheduler;
pub mod text;

pub use ddim::DdimScheduler;
pub use ddpm::DdpmScheduler;
pub use dpm_solver::DpmSolverScheduler;
pub use edit::{Edit, Resample};
pub use ncsn::{LangevinRequest, LangevinRun, NoiseRange};
pub use noise::NoiseSource;
pub use pipeline::{DenoiseRun, SampleRequest, Trajectory, guided_noise, paired_noise};
pub use schedule::{BetaSchedule, ForwardProcess, NoiseSchedule, ScheduleConfig};
pub use scheduler::{SamplerKind, Scheduler, StepOutput, linspace_timesteps, make_scheduler};
pub use text::{TextDenoiseRun, TextRequest, TextStep, guided_text_noise, prompt_tensors};

/// Errors from building schedules and sampling runs: each names the value that was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DiffusionError {
    #[error("number of diffusion steps T must be 2 to {max}, got {0}", max = crate::schedule::MAX_TRAIN_STEPS)]
    TooFewTrainSteps(usize),
    #[error("beta range must satisfy 0 < beta_start <= beta_end < 1, got {0}..{1}")]
    BadBetas(f64, f64),
    #[error("sampling steps must be between 1 and T = {max}, got {got}")]
    BadStepCount { got: usize, max: usize },
    #[error("DDIM eta must be in [0, 1], got {0}")]
    BadEta(f64),
    #[error("guidance scale w must be finite and in [0, 20], got {0}")]
    BadGuidance(f64),
    #[error(
        "this distilled student learned guidance scales w in [0, {max}]; {got} is beyond them (sample its teacher for more)"
    )]
    GuidanceBeyondStudent { got: f64, max: f64 },
    #[error("class {got} is out of range: use 0..{n_classes} or none for unconditional")]
    BadClass { got: usize, n_classes: usize },
    #[error("a sampling run needs between 1 and {max} samples, got {got}")]
    BadCount { got: usize, max: usize },
    #[error("prompt refused: {0}")]
    BadPrompt(String),
    #[error("noise levels need 0 < sigma_min < sigma_max, got {0} and {1}")]
    BadNoiseRange(f64, f64),
    #[error("edit refused: {0}")]
    BadEdit(String),
}

/// The plain checks of `digitlab-spec` (schedules, edits) fail with the same variants here, so
/// callers match one error type whichever crate refused the value.
impl From<digitlab_spec::SpecError> for DiffusionError {
    fn from(e: digitlab_spec::SpecError) -> Self {
        use digitlab_spec::SpecError;
        match e {
            SpecError::TooFewTrainSteps(n) => DiffusionError::TooFewTrainSteps(n),
            SpecError::BadBetas(a, b) => DiffusionError::BadBetas(a, b),
            SpecError::BadEdit(why) => DiffusionError::BadEdit(why),
        }
    }
}

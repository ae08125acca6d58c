//! # What to sample
//!
//! A sampling run of a class-conditional diffusion model, as data: which digits, the
//! classifier-free guidance scale `w`, the sampler and its number of steps, the seed. The CLI
//! builds one from its flags, the page from its controls, and `digitlab_diffusion::DenoiseRun`
//! checks and runs it; the same request gives the same digits everywhere.

use serde::{Deserialize, Serialize};

/// Most samples in one run: a 16x16 grid. Larger batches belong to `digitlab eval`, which
/// splits its work into runs of this size.
pub const MAX_SAMPLES: usize = 256;
/// Largest guidance scale accepted; beyond it digits saturate into blobs.
pub const MAX_GUIDANCE: f64 = 20.0;

/// What to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRequest {
    /// One entry per sample: `Some(class)` or `None` for unconditional.
    pub labels: Vec<Option<usize>>,
    /// Guidance scale `w >= 0` (diffusers' `guidance_scale = 1 + w`).
    pub guidance: f64,
    pub sampler: SamplerKind,
    /// Number of reverse steps, `1..=T`.
    pub steps: usize,
    pub seed: u64,
}

impl SampleRequest {
    /// `count` samples of the same class (`None`: unconditional).
    pub fn uniform(
        class: Option<usize>,
        count: usize,
        guidance: f64,
        sampler: SamplerKind,
        steps: usize,
        seed: u64,
    ) -> Self {
        Self {
            labels: vec![class; count],
            guidance,
            sampler,
            steps,
            seed,
        }
    }
}

/// Which sampler to build.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Ancestral sampling of DDPM (stochastic, fixed small variance).
    Ddpm,
    /// DDIM (Song et al. 2021), `eta` in `[0, 1]`: 0 is deterministic, 1 is DDPM-like.
    Ddim { eta: f64 },
    /// DPM-Solver++ (2M) (Lu et al. 2022): second order, deterministic, for few steps.
    #[serde(rename = "dpm++")]
    DpmSolverPp,
}

impl SamplerKind {
    pub fn name(&self) -> &'static str {
        match self {
            SamplerKind::Ddpm => "ddpm",
            SamplerKind::Ddim { .. } => "ddim",
            SamplerKind::DpmSolverPp => "dpm++",
        }
    }
}

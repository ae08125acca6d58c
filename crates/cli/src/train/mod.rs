//! # Training
//!
//! Custom training loops (as Burn's `custom-training-loop` example) rather than `burn-train`'s
//! `Learner`: diffusion training samples its own time steps and noise, keeps an EMA copy, and
//! must resume bit-for-bit, which needs every random draw to come from a generator whose state
//! is a function of (seed, step). Burn provides the optimizer (Adam), the learning-rate schedule
//! (linear decay), autodiff and the record formats.
//!
//! - [`data`]: batches from an in-memory IDX dataset, in a seeded order per epoch.
//! - [`ema`]: the exponential moving average of the weights used for sampling.
//! - [`checkpoint`]: atomic checkpoints and `--resume`.
//! - [`progress`]: the progress bar and the JSONL metrics log.
//! - [`ddpm`] (also the NCSN), [`classifier`], [`vae`], [`gan`], [`autoencoder`] and [`text`]
//!   (text-conditioned DDPM in pixel or latent space): the trainers.

pub mod autoencoder;
pub mod checkpoint;
pub mod classifier;
pub mod data;
pub mod ddpm;
pub mod ema;
pub mod gan;
pub mod progress;
pub mod text;
pub mod vae;

use std::path::Path;

use digitlab_weights::{DataInfo, TrainingInfo};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::backend::{Backend, machine_for};

/// The card's account of a finished run.
#[allow(clippy::too_many_arguments)]
pub fn training_info(
    steps: usize,
    epochs: f64,
    batch_size: usize,
    learning_rate: String,
    ema_decay: Option<f64>,
    seed: u64,
    seconds: f64,
    backend: Backend,
    final_loss: f64,
) -> TrainingInfo {
    TrainingInfo {
        steps,
        epochs,
        batch_size,
        learning_rate,
        ema_decay,
        seed,
        seconds,
        backend: backend.name().into(),
        machine: machine_for(backend),
        final_loss,
        continued_from: None,
    }
}

/// The card's account of the data a run trained on.
pub fn data_info(dir: &Path, train_images: usize, held_out_images: usize) -> DataInfo {
    DataInfo {
        name: data_name(dir),
        train_images,
        held_out_images,
    }
}

/// A readable name of a data folder for cards: the `name` in its `dataset.json` (written by
/// `digitlab data import`), else the folder's path.
pub fn data_name(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("dataset.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Whether `--stop-after` ended this session before the last step (then it says how to go on
/// and the trainer returns without writing weights).
pub fn stopped_early(end: usize, total: usize) -> bool {
    if end < total {
        eprintln!("stopped after step {end} of {total}; continue with --resume");
    }
    end < total
}

/// The generator for everything random at `step` of a run seeded with `seed`: restarting from
/// a checkpoint at `step` draws exactly what the uninterrupted run drew.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ (step as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

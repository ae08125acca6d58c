//! # `digitlab train classifier`
//!
//! The evaluation classifier: cross-entropy with Adam on the training split, random shifts of
//! up to 2 pixels as augmentation (drawn per step from the seeded generator), and the held-out
//! accuracy reported after every epoch. The final weights are shipped (not the best epoch's:
//! choosing on the held-out set would make its accuracy optimistic).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_eval::judge;
use digitlab_models::{Classifier, ClassifierConfig};
use digitlab_weights::{Card, ModelSpec, load_record, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, check_same_config};
use super::data::Batches;
use super::ddpm::RunOptions;
use super::progress::Progress;
use super::step_rng;
use crate::cards::write_weights;

pub const KIND: &str = "classifier";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    pub classifier: ClassifierConfig,
    pub data: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_final: f64,
    /// Largest random shift, in pixels, in each direction.
    pub max_shift: usize,
    pub seed: u64,
}

/// Shifts each `side x side` image by a random offset in `[-max, max]^2`, filling with -1
/// (background).
fn shift_images(images: &mut [f32], side: usize, max: usize, rng: &mut impl rand::Rng) {
    if max == 0 {
        return;
    }
    let m = max as i64;
    for img in images.chunks_mut(side * side) {
        let (dx, dy) = (rng.random_range(-m..=m), rng.random_range(-m..=m));
        let src = img.to_vec();
        for y in 0..side as i64 {
            for x in 0..side as i64 {
                let (sx, sy) = (x - dx, y - dy);
                img[(y * side as i64 + x) as usize] =
                    if (0..side as i64).contains(&sx) && (0..side as i64).contains(&sy) {
                        src[(sy * side as i64 + sx) as usize]
                    } else {
                        -1.0
                    };
            }
        }
    }
}

pub fn train(config: ClassifierTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    let data_dir = PathBuf::from(&config.data);
    let train = Dataset::load(&data_dir, Split::Train)?;
    let test = Dataset::load(&data_dir, Split::Test)
        .context("the classifier reports held-out accuracy, so it needs the t10k split too")?;
    if train.rows != 28 || train.cols != 28 {
        bail!(
            "the classifier expects 28x28 images, the data holds {}x{}",
            train.rows,
            train.cols
        );
    }
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let held_out = Batches::new(&test, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch();
    if total == 0 {
        bail!("nothing to train");
    }
    let device = opts.backend.device()?.autodiff();
    let checkpoints = Checkpoints::new(&opts.run);
    let (mut model, mut optim, start, seconds_before) = if opts.resume {
        let (state, dir) = checkpoints.latest::<ClassifierTrainConfig>(KIND)?;
        check_same_config(&state.config, &config)?;
        let read = |f: &str| {
            std::fs::read(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))
        };
        let model = load_record(config.classifier.init(&device), &read("model.bpk")?)?;
        (
            model,
            Optimizer::new(config.lr, config.lr_final, total, Some(&dir))?,
            state.step,
            state.seconds,
        )
    } else {
        device.seed(config.seed);
        let model: Classifier = config.classifier.init(&device);
        (
            model,
            Optimizer::new(config.lr, config.lr_final, total, None)?,
            0,
            0.0,
        )
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let side = batches.side();
    let held_out_accuracy = |model: &Classifier| {
        let valid = model.valid();
        let j = judge(&valid, held_out.all_images(&device.clone().inner()), 250);
        let expected: Vec<usize> = held_out.labels().iter().map(|&l| l as usize).collect();
        j.accuracy(&expected)
    };
    let mut last_loss = f64::NAN;
    for step in start..end {
        let mut batch = batches.batch(step);
        let mut rng = step_rng(config.seed, step);
        shift_images(&mut batch.images, side, config.max_shift, &mut rng);
        let n = batch.len();
        let logits = model.forward(batch.images(side, &device));
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new(
                batch.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                [n],
            ),
            &device,
        );
        let loss = loss_fn.forward(logits, targets);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (trained, lr) = optim.step(model, grads);
        model = trained;
        last_loss = loss_value;
        let done = step + 1;
        let mut extra = serde_json::json!({ "epoch": done as f64 / batches.per_epoch() as f64 });
        if done % batches.per_epoch() == 0 || done == total {
            let acc = held_out_accuracy(&model);
            extra["held_out_accuracy"] = acc.into();
            progress.println(format!(
                "epoch {:.0}: held-out accuracy {:.2} %",
                done as f64 / batches.per_epoch() as f64,
                acc * 100.0
            ));
        }
        progress.step(done, loss_value, n, lr, extra)?;
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            checkpoints.save_step(
                KIND,
                done,
                seconds_before + started.elapsed().as_secs_f64(),
                &config,
                vec![("model.bpk".into(), record_bytes(model.clone()))],
                &optim,
            )?;
        }
    }
    progress.finish();
    if super::stopped_early(end, total) {
        return Ok(opts.run.clone());
    }
    let accuracy = held_out_accuracy(&model);
    let card = Card::new(
        ModelSpec::Classifier {
            classifier: config.classifier.clone(),
        },
        super::data_info(&data_dir, train.len(), test.len()),
        super::training_info(
            total,
            config.epochs as f64,
            config.batch_size,
            format!("Adam {} -> {} (linear)", config.lr, config.lr_final),
            None,
            config.seed,
            seconds_before + started.elapsed().as_secs_f64(),
            opts.backend,
            last_loss,
        ),
        serde_json::json!({
            "held_out_accuracy": accuracy,
            "held_out_images": test.len(),
            "measured_by": "digitlab train classifier (final weights on the t10k split)",
        }),
    );
    let path = write_weights(&opts.run, KIND, &record_bytes(model.valid()), card)?;
    eprintln!(
        "held-out accuracy {:.2} %; wrote {}",
        accuracy * 100.0,
        path.display()
    );
    Ok(path)
}

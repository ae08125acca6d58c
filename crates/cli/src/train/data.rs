//! # Training batches

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_models::pixels::bytes_to_unit;
use rand::seq::SliceRandom;

use super::step_rng;

/// The training split of `dir`, refused unless its images are `side x side` (the size the
/// model is configured for).
pub fn training_split(dir: &std::path::Path, side: usize) -> Result<Dataset> {
    let train = Dataset::load(dir, Split::Train)?;
    if train.rows != side || train.cols != side {
        bail!(
            "the data holds {}x{} images but the model is configured for {side}x{side}",
            train.rows,
            train.cols
        );
    }
    Ok(train)
}

/// Refuses a data set with a label the model has no class for (found before the first step,
/// not as an index out of bounds fifty steps in).
pub fn check_labels(data: &Dataset, n_classes: usize) -> Result<()> {
    if let Some((i, &l)) = data
        .labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= n_classes)
    {
        bail!(
            "label {l} of image {i} is outside the model's {n_classes} classes (0 to {})",
            n_classes - 1
        );
    }
    Ok(())
}

/// The largest batch a trainer takes (a batch lives in memory with its activations).
pub const MAX_BATCH: usize = 4096;

/// A dataset in the models' pixel range, with a seeded order per epoch.
pub struct Batches {
    images: Vec<f32>,
    labels: Vec<u8>,
    pixels: usize,
    side: usize,
    pub batch_size: usize,
    seed: u64,
    order: Vec<usize>,
    order_epoch: Option<usize>,
}

/// One batch, on the host.
pub struct HostBatch {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    /// Each image's index in the dataset (for what a trainer keeps per image: captions,
    /// latents).
    pub indices: Vec<usize>,
}

impl Batches {
    pub fn new(data: &Dataset, batch_size: usize, seed: u64) -> Result<Self> {
        if !(1..=MAX_BATCH).contains(&batch_size) {
            bail!("--batch-size must be 1 to {MAX_BATCH}, got {batch_size}");
        }
        Ok(Self {
            images: bytes_to_unit(&data.images),
            labels: data.labels.clone(),
            pixels: data.rows * data.cols,
            side: data.rows,
            batch_size,
            seed,
            order: (0..data.len()).collect(),
            order_epoch: None,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Batches per epoch (the last one may be short).
    pub fn per_epoch(&self) -> usize {
        self.len().div_ceil(self.batch_size)
    }

    pub fn side(&self) -> usize {
        self.side
    }

    /// The `step`-th batch of the run: epoch `step / per_epoch`, shuffled by (seed, epoch).
    pub fn batch(&mut self, step: usize) -> HostBatch {
        let epoch = step / self.per_epoch();
        if self.order_epoch != Some(epoch) {
            self.order = (0..self.len()).collect();
            // usize::MAX - epoch: a stream apart from the per-step ones.
            self.order
                .shuffle(&mut step_rng(self.seed, usize::MAX - epoch));
            self.order_epoch = Some(epoch);
        }
        let start = (step % self.per_epoch()) * self.batch_size;
        let idx = &self.order[start..(start + self.batch_size).min(self.len())];
        HostBatch {
            images: idx
                .iter()
                .flat_map(|&i| {
                    self.images[i * self.pixels..(i + 1) * self.pixels]
                        .iter()
                        .copied()
                })
                .collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            indices: idx.to_vec(),
        }
    }

    /// All images (in file order) as one tensor `[n, 1, side, side]`.
    pub fn all_images(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(self.images.clone(), [self.len(), 1, self.side, self.side]),
            device,
        )
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

impl HostBatch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn images(&self, side: usize, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(self.images.clone(), [self.len(), 1, side, side]),
            device,
        )
    }
}

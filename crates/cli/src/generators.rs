//! # `digitlab sample` and `digitlab eval` of a VAE or a GAN
//!
//! Both draw `z ~ N(0, I)` from the seeded per-sample streams the page uses
//! (`digitlab_diffusion::NoiseSource`), so sample `i` of seed `s` is the same digit natively
//! and in the browser, and decode it in one forward pass. A conditional GAN gets the classes
//! 0, 1, ..., 9, 0, ... in turn; the others are unconditional and judged by their class
//! histogram (mode coverage) instead of accuracy. A VAE's evaluation adds the held-out negative
//! ELBO, split into its reconstruction and KL terms.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_diffusion::NoiseSource;
use digitlab_eval::MODE_SHARE;
use digitlab_models::{Generator, Vae};
use digitlab_weights::GanLoss;

use crate::backend::Backend;
use crate::cards::CardFile;
use crate::commands::{Reference, store_evaluation};
use crate::grid;

/// A trained VAE or GAN generator, ready to decode latents.
pub enum Decoder {
    Vae(Vae),
    Gan(Generator, GanLoss),
}

impl Decoder {
    pub fn load(card: &CardFile, device: &Device) -> Result<Self> {
        Ok(match card.card.model.kind() {
            "vae" => Decoder::Vae(card.load_vae(device)?),
            "gan" => {
                let (g, loss) = card.load_generator(device)?;
                Decoder::Gan(g, loss)
            }
            other => bail!("a `{other}` model does not decode latents"),
        })
    }

    pub fn latent(&self) -> usize {
        match self {
            Decoder::Vae(v) => v.latent(),
            Decoder::Gan(g, _) => g.latent(),
        }
    }

    /// The classes a conditional generator is asked for (`None`: unconditional).
    pub fn classes(&self, first: usize, n: usize) -> Option<Vec<usize>> {
        match self {
            Decoder::Gan(g, _) if g.is_conditional() => {
                Some((first..first + n).map(|i| i % 10).collect())
            }
            _ => None,
        }
    }

    /// Digits `first..first + n` of `seed` (`[n, 1, 28, 28]` in `[-1, 1]`).
    pub fn generate(&self, seed: u64, first: usize, n: usize, device: &Device) -> Tensor<4> {
        // Streams are per sample: draw `first + n` and keep the last `n`, so a batch's digits
        // do not depend on how the run was split into batches.
        let z = NoiseSource::new(seed, first + n)
            .latent(self.latent(), device)
            .narrow(0, first, n);
        match self {
            Decoder::Vae(v) => v.decode(z),
            Decoder::Gan(g, _) => {
                let classes = self.classes(first, n).map(|c| {
                    Tensor::<1, Int>::from_data(
                        TensorData::new(c.iter().map(|&c| c as i64).collect::<Vec<_>>(), [n]),
                        device,
                    )
                });
                g.forward(z, classes)
            }
        }
    }
}

pub fn sample(card: &CardFile, count: usize, seed: u64, out: &Path, device: &Device) -> Result<()> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let decoder = Decoder::load(card, device)?;
    let images = decoder.generate(seed, 0, count, device);
    let columns = (count as f64).sqrt().ceil() as usize;
    grid::save_png(&grid::grid(&images, columns), out)?;
    eprintln!("wrote {count} digits to {}", out.display());
    Ok(())
}

pub struct EvalSettings<'a> {
    pub samples: usize,
    pub batch: usize,
    pub seed: u64,
    pub backend: Backend,
    pub json: bool,
    pub update_card: bool,
    pub data: &'a Path,
}

pub fn eval(
    mut card: CardFile,
    settings: EvalSettings,
    reference: &Reference,
    device: &Device,
) -> Result<()> {
    let decoder = Decoder::load(&card, device)?;
    let started = Instant::now();
    let mut images = Vec::new();
    let mut first = 0;
    while first < settings.samples {
        let n = settings.batch.max(1).min(settings.samples - first);
        let batch = decoder.generate(settings.seed, first, n, device);
        // Wait for the batch, so that the time measured is the sampling's.
        let _ = batch.clone().slice([0..1, 0..1, 0..1, 0..1]).into_data();
        images.push(batch);
        first += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    let j = digitlab_eval::judge(&reference.classifier, Tensor::cat(images, 0), 250);
    let stats = digitlab_eval::FeatureStats::new(&j.features, j.feature_dim);
    let frechet = digitlab_eval::frechet_distance(&stats, &reference.stats);
    let mut result = serde_json::json!({
        "samples": settings.samples,
        "seed": settings.seed,
        "confidence": j.mean_confidence(),
        "histogram": j.histogram(10),
        "modes_covered": j.modes_covered(10, MODE_SHARE),
        "mode_share": MODE_SHARE,
        "frechet": frechet,
        "frechet_floor": reference.frechet_floor,
        "frechet_reference": format!("{} held-out digits", reference.test_len),
        "seconds": seconds,
        "ms_per_digit": seconds * 1000.0 / settings.samples as f64,
        "network_calls": 1,
        "backend": settings.backend.name(),
    });
    if let Some(expected) = decoder.classes(0, settings.samples) {
        result["accuracy"] = j.accuracy(&expected).into();
        result["per_class"] = j.per_class_accuracy(&expected, 10).into();
    }
    if let Decoder::Vae(vae) = &decoder {
        let test = Dataset::load(settings.data, Split::Test)?;
        let px = test.rows * test.cols;
        let images = Tensor::<4>::from_data(
            TensorData::new(
                digitlab_models::pixels::bytes_to_unit(&test.images[..test.len() * px]),
                [test.len(), 1, test.rows, test.cols],
            ),
            device,
        );
        let (rec, kl) = crate::train::vae::held_out_elbo(vae, images);
        result["held_out_neg_elbo"] = (rec + kl).into();
        result["held_out_reconstruction"] = rec.into();
        result["held_out_kl"] = kl.into();
        result["held_out_images"] = test.len().into();
    }
    if let Decoder::Gan(_, loss) = &decoder {
        result["loss"] = loss.name().into();
    }
    if settings.json {
        println!("{result}");
    } else {
        let elbo = match result.get("held_out_neg_elbo") {
            Some(v) => format!(
                " | held-out -ELBO {:.1} nats (reconstruction {:.1} + KL {:.1})",
                v.as_f64().unwrap_or(f64::NAN),
                result["held_out_reconstruction"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                result["held_out_kl"].as_f64().unwrap_or(f64::NAN)
            ),
            None => String::new(),
        };
        eprintln!(
            "{} digits: modes covered {} / 10 {:?} | confidence {:.3} | Fréchet {:.2} (floor {:.2}) | {:.3} ms/digit{elbo}",
            settings.samples,
            j.modes_covered(10, MODE_SHARE),
            j.histogram(10),
            j.mean_confidence(),
            frechet,
            reference.frechet_floor,
            seconds * 1000.0 / settings.samples as f64,
        );
    }
    if settings.update_card {
        let command = format!(
            "digitlab eval --model {} --backend {} --samples {} --seed {}",
            card.path.display(),
            match settings.backend {
                Backend::Flex => "flex",
                Backend::Wgpu => "wgpu",
            },
            settings.samples,
            settings.seed
        );
        store_evaluation(&mut card, command, vec![result])?;
    }
    Ok(())
}

//! # VAEs and GANs: `digitlab sample` and `digitlab eval` of a `vae` or `gan` card
//!
//! Both draw `z ~ N(0, I)` from the seeded per-sample streams the page uses
//! (`digitlab_diffusion::NoiseSource`), so sample `i` of seed `s` is the same digit natively
//! and in the browser, and decode it in one forward pass. A conditional GAN gets the classes
//! 0, 1, ..., 9, 0, ... in turn; the others are unconditional and judged by their class
//! histogram (mode coverage) instead of accuracy. A VAE's evaluation adds the held-out negative
//! ELBO, split into its reconstruction and KL terms.

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_data::Split;
use digitlab_diffusion::NoiseSource;
use digitlab_models::{Generator, Vae};
use digitlab_weights::{GanLoss, Model};

use super::{check_count, columns};
use crate::args::{EvalArgs, SampleArgs};
use crate::cards::CardFile;
use crate::evaluate::{EvalKey, Reference, digits, extend, images_of, store_evaluation};
use crate::grid;

/// A trained VAE or GAN generator, ready to decode latents. (One per command: the size of
/// its variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum Decoder {
    Vae(Vae),
    Gan(Generator, GanLoss),
}

impl Decoder {
    pub fn load(card: &CardFile, device: &Device) -> Result<Self> {
        Ok(match card.load(device)? {
            Model::Vae(vae) => Decoder::Vae(vae),
            Model::Gan { generator, loss } => Decoder::Gan(generator, loss),
            other => bail!("a `{}` model does not decode latents", other.kind()),
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

pub fn sample(card: &CardFile, args: &SampleArgs, device: &Device) -> Result<()> {
    check_count(args.count)?;
    let decoder = Decoder::load(card, device)?;
    let images = decoder.generate(args.sampling.seed, 0, args.count, device);
    grid::save_png(&grid::grid(&images, columns(args.count)), &args.out)?;
    eprintln!("wrote {} digits to {}", args.count, args.out.display());
    Ok(())
}

pub fn eval(mut card: CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let decoder = Decoder::load(&card, device)?;
    let reference = Reference::new(&args.data, &args.classifier, args.samples, device)?;
    let seed = args.sampling.seed;
    let judged = reference.judge_batches(args.samples, args.batch, None, |_, first, n| {
        Ok(decoder.generate(seed, first, n, device))
    })?;
    let expected = decoder.classes(0, args.samples);
    let mut result = judged.fields(&reference, expected.as_deref(), 10, args.sampling.backend);
    extend(
        &mut result,
        serde_json::json!({
            "seed": seed,
            "mode_share": digitlab_eval::MODE_SHARE,
            "network_calls": 1,
        }),
    );
    if let Decoder::Vae(vae) = &decoder {
        let test = digits(&args.data, Split::Test)?;
        let (rec, kl) = crate::train::vae::held_out_elbo(vae, images_of(&test, test.len(), device));
        extend(
            &mut result,
            serde_json::json!({
                "held_out_neg_elbo": rec + kl,
                "held_out_reconstruction": rec,
                "held_out_kl": kl,
                "held_out_images": test.len(),
            }),
        );
    }
    if let Decoder::Gan(_, loss) = &decoder {
        result["loss"] = loss.name().into();
    }
    if args.json {
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
        let j = &judged.judgement;
        eprintln!(
            "{} digits: modes covered {} / 10 {:?} | confidence {:.3} | Fréchet {:.2} (floor {:.2}) | {:.3} ms/digit{elbo}",
            args.samples,
            j.modes_covered(10, digitlab_eval::MODE_SHARE),
            j.histogram(10),
            j.mean_confidence(),
            judged.frechet,
            reference.frechet_floor,
            judged.ms_per_digit(),
        );
    }
    if args.update_card {
        let key = EvalKey::new(
            args.sampling.backend,
            format!("--samples {} --seed {seed}", args.samples),
        );
        store_evaluation(&mut card, key, vec![result])?;
    }
    Ok(())
}

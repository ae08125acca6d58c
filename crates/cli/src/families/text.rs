//! # Text-conditioned models: `digitlab sample --prompt` and `digitlab eval` of a `text-ddpm` card
//!
//! Sampling runs `digitlab_diffusion::TextDenoiseRun` (`text_encoder([negative or "", prompt])`,
//! guidance, the DDPM/DDIM schedulers) in pixel or latent space; a latent model's final latent
//! is divided by the autoencoder's `latent_scale` and decoded to pixels.
//!
//! The evaluation asks for each digit with each single attribute ("a thick 7", "a small 7",
//! ..., and the plain "a 7"), generates, and then *measures* the result as the captions were
//! measured: the classifier names the digit, and the same measures and bins say whether the
//! generated digit is thick, slanted or small. Each attribute's hit rate is reported beside its
//! base rate, the share of plain-prompt digits that happen to have it, so a model that ignores
//! the attribute scores its base rate, not zero.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_captions::{Bins, Described, Size, Slant, Thickness, Tokens, measure};
use digitlab_diffusion::{ForwardProcess, SamplerKind, TextDenoiseRun, TextRequest};
use digitlab_models::pixels::unit_to_bytes;
use digitlab_weights::ModelSpec;

use super::{check_count, columns, joined};
use crate::args::{EvalArgs, SampleArgs};
use crate::cards::{CardFile, TextModel};
use crate::evaluate::{EvalKey, Reference, extend, print_json, store_evaluation};

/// The caption bins of a text model's card.
fn text_bins(card: &CardFile) -> Result<Bins> {
    match &card.card.model {
        ModelSpec::TextDdpm { bins, .. } => Ok(bins.clone()),
        other => bail!("a `{}` card, not a text model", other.kind()),
    }
}

/// How to run a text model.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    pub guidance: f64,
    pub sampler: SamplerKind,
    pub steps: usize,
    pub seed: u64,
}

impl TextModel {
    pub fn tokens(&self, prompt: &str) -> Result<Tokens> {
        self.tokenizer.encode(prompt).map_err(anyhow::Error::msg)
    }

    /// Pixels in `[-1, 1]` of what a run ended on (a latent is decoded).
    pub fn to_pixels(&self, sample: Tensor<4>) -> Tensor<4> {
        match &self.decoder {
            None => sample,
            Some((autoencoder, scale)) => autoencoder.decode(sample / *scale) * 2.0 - 1.0,
        }
    }

    /// One digit per prompt, against `negative` (the empty prompt for plain guidance).
    pub fn generate(
        &self,
        prompts: Vec<Tokens>,
        negative: Tokens,
        s: &Sampling,
        device: &Device,
        mut on_step: impl FnMut(usize, usize),
    ) -> Result<Tensor<4>> {
        let request = TextRequest {
            prompts,
            negative,
            guidance: s.guidance,
            sampler: s.sampler,
            steps: s.steps,
            seed: s.seed,
        };
        let mut run = TextDenoiseRun::new(&self.unet, self.schedule.clone(), &request, device)?;
        let total = run.trajectory().total_steps();
        let out = run.run(&self.unet, |k, _| on_step(k, total));
        Ok(self.to_pixels(out))
    }
}

/// `digitlab sample` of a text card: `count` digits for the prompt, as a grid PNG.
pub fn sample(card: &CardFile, args: &SampleArgs, device: &Device) -> Result<()> {
    check_count(args.count)?;
    let prompt = args.prompt.as_deref().unwrap_or("");
    let model = card.load_text_ddpm(device)?;
    let tokens = model.tokens(prompt)?;
    let negative = model.tokens(args.negative_prompt.as_deref().unwrap_or(""))?;
    let s = Sampling {
        guidance: args.guidance,
        sampler: args.sampling.kind(),
        steps: args.sampling.steps,
        seed: args.sampling.seed,
    };
    let started = Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let pixels = model.generate(
        vec![tokens.clone(); args.count],
        negative,
        &s,
        device,
        |k, total| {
            if terminal {
                eprint!("\rstep {k}/{total}");
            }
        },
    )?;
    if terminal {
        eprintln!();
    }
    crate::grid::save_png(&crate::grid::grid(&pixels, columns(args.count)), &args.out)?;
    eprintln!(
        "wrote {} ({} digits for \"{prompt}\" = {}, {:.2} s)",
        args.out.display(),
        args.count,
        tokens.tokens.join(" "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The attribute a prompt asks for, beside the digit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request {
    Plain,
    Thickness(Thickness),
    Slant(Slant),
    Size(Size),
}

/// The requests of the evaluation, in turn.
pub const REQUESTS: [Request; 8] = [
    Request::Plain,
    Request::Thickness(Thickness::Thin),
    Request::Thickness(Thickness::Thick),
    Request::Slant(Slant::Upright),
    Request::Slant(Slant::Right),
    Request::Slant(Slant::Left),
    Request::Size(Size::Small),
    Request::Size(Size::Large),
];

impl Request {
    pub fn word(self) -> &'static str {
        match self {
            Request::Plain => "",
            Request::Thickness(Thickness::Thin) => "thin",
            Request::Thickness(Thickness::Regular) => "regular",
            Request::Thickness(Thickness::Thick) => "thick",
            Request::Slant(Slant::Upright) => "upright",
            Request::Slant(Slant::Right) => "right-slanted",
            Request::Slant(Slant::Left) => "left-slanted",
            Request::Size(Size::Small) => "small",
            Request::Size(Size::Medium) => "medium",
            Request::Size(Size::Large) => "large",
        }
    }

    /// The prompt for `digit`, in the captions' own grammar.
    pub fn prompt(self, digit: usize) -> String {
        let name = digitlab_captions::grammar::ENGLISH[digit];
        match self {
            Request::Plain => format!(
                "{} {name}",
                if name.starts_with(['e']) { "an" } else { "a" }
            ),
            r => {
                let w = r.word();
                let article = if w.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                format!("{article} {w} {name}")
            }
        }
    }

    /// Whether a digit described as `d` has the requested attribute.
    pub fn holds(self, d: &Described) -> bool {
        match self {
            Request::Plain => true,
            Request::Thickness(t) => d.thickness == t,
            Request::Slant(s) => d.slant == s,
            Request::Size(s) => d.size == s,
        }
    }
}

/// The denoising loss `|| eps - eps_theta(x_t, t, caption) ||^2` on `images` (`[-1, 1]`, with
/// their captions), one draw of `t` and noise per image from a fixed seed: the training
/// objective measured on digits the model never saw.
pub fn held_out_loss(model: &TextModel, images: Tensor<4>, captions: &[String]) -> Result<f64> {
    use rand::{RngExt, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};
    let device = images.device();
    let x0 = match &model.decoder {
        None => images,
        Some((ae, scale)) => ae.encode_mean((images + 1.0) / 2.0) * *scale,
    };
    let [n, c, h, w] = x0.dims();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let t: Vec<usize> = (0..n)
        .map(|_| rng.random_range(0..model.schedule.train_steps()))
        .collect();
    let noise: Vec<f32> = (0..n * c * h * w)
        .map(|_| -> f32 { StandardNormal.sample(&mut rng) })
        .collect();
    let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, c, h, w]), &device);
    let x_t = model.schedule.q_sample(x0, noise.clone(), &t);
    let time: Vec<f32> = t.iter().map(|&t| model.schedule.time_input(t)).collect();
    let tokens: Vec<Tokens> = captions
        .iter()
        .map(|p| model.tokens(p))
        .collect::<Result<_>>()?;
    let rows: Vec<&Tokens> = tokens.iter().collect();
    let (ids, pad) = digitlab_diffusion::prompt_tensors(&model.unet, &rows, &device)?;
    let text = model.unet.encode_text(ids, pad);
    let eps = model
        .unet
        .forward(x_t, Tensor::from_floats(time.as_slice(), &device), &text);
    Ok((eps - noise).square().mean().into_scalar::<f32>() as f64)
}

/// The held-out denoising loss of a text model on (up to) 500 held-out digits, with their
/// true captions and with the empty prompt: how much the caption helps predict the noise.
pub fn held_out_losses(
    card: &CardFile,
    data: &std::path::Path,
    device: &Device,
) -> Result<serde_json::Value> {
    let model = card.load_text_ddpm(device)?;
    let bins = text_bins(card)?;
    let test = crate::evaluate::digits(data, digitlab_data::Split::Test)?;
    let n = test.len().min(500);
    let side = test.rows;
    let captions: Vec<String> = (0..n)
        .map(|i| {
            let d = bins.describe(test.labels[i], &measure(test.image(i), side));
            digitlab_captions::caption(&d, i as u64 % 24)
        })
        .collect();
    let values = digitlab_models::pixels::bytes_to_unit(&test.images[..n * side * side]);
    let images = Tensor::<4>::from_data(TensorData::new(values, [n, 1, side, side]), device);
    let with = held_out_loss(&model, images.clone(), &captions)?;
    let without = held_out_loss(&model, images, &vec![String::new(); n])?;
    Ok(serde_json::json!({ "digits": n, "with_caption": with, "empty_prompt": without }))
}

pub fn eval(mut card: CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let model = card.load_text_ddpm(device)?;
    let bins = text_bins(&card)?;
    let n = args.samples;
    if n < REQUESTS.len() * 10 {
        bail!(
            "--samples must be at least {} (every digit with every request)",
            REQUESTS.len() * 10
        );
    }
    let reference = Reference::new(&args.data, &args.classifier, n, device)?;
    let held_out = held_out_losses(&card, &args.data, device)?;
    let s = &args.sampling;
    // Sample i: digit i % 10, request (i / 10) % 8.
    let asked: Vec<(usize, Request)> = (0..n)
        .map(|i| (i % 10, REQUESTS[(i / 10) % REQUESTS.len()]))
        .collect();
    let prompts: Vec<Tokens> = asked
        .iter()
        .map(|&(d, r)| model.tokens(&r.prompt(d)))
        .collect::<Result<_>>()?;
    let empty = model.tokens("")?;
    let expected: Vec<usize> = asked.iter().map(|&(d, _)| d).collect();
    let mut results = Vec::new();
    for &w in &args.guidance {
        let label = (!args.json).then(|| format!("w = {w}"));
        let mut generated = Vec::new();
        let judged =
            reference.judge_batches(n, args.batch, label.as_deref(), |b, first, len| {
                let sampling = Sampling {
                    guidance: w,
                    sampler: s.kind(),
                    steps: s.steps,
                    seed: s.seed.wrapping_add(b as u64 * 7919),
                };
                let images = model.generate(
                    prompts[first..first + len].to_vec(),
                    empty.clone(),
                    &sampling,
                    device,
                    |_, _| {},
                )?;
                generated.push(images.clone());
                Ok(images)
            })?;
        let values = Tensor::cat(generated, 0)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let bytes = unit_to_bytes(&values);
        let described: Vec<Described> = asked
            .iter()
            .enumerate()
            .map(|(i, &(d, _))| {
                bins.describe(d as u8, &measure(&bytes[i * 784..(i + 1) * 784], 28))
            })
            .collect();
        let mut attributes = Vec::new();
        for &r in &REQUESTS[1..] {
            let rate = |want: Request| {
                let idx: Vec<usize> = (0..n).filter(|&i| asked[i].1 == want).collect();
                idx.iter().filter(|&&i| r.holds(&described[i])).count() as f64 / idx.len() as f64
            };
            attributes.push(serde_json::json!({
                "attribute": r.word(),
                "asked": rate(r),
                "base_rate": rate(Request::Plain),
            }));
        }
        let mut result = judged.fields(&reference, Some(&expected), 10, s.backend);
        extend(
            &mut result,
            serde_json::json!({
                "guidance": w,
                "diffusers_guidance_scale": 1.0 + w,
                "sampler": s.kind().name(),
                "steps": s.steps,
                "seed": s.seed,
                "attributes": attributes,
                "held_out_loss": held_out,
            }),
        );
        if !args.json {
            let attrs: Vec<String> = attributes
                .iter()
                .map(|a| {
                    format!(
                        "{} {:.0}% (base {:.0}%)",
                        a["attribute"].as_str().unwrap_or(""),
                        a["asked"].as_f64().unwrap_or(0.0) * 100.0,
                        a["base_rate"].as_f64().unwrap_or(0.0) * 100.0
                    )
                })
                .collect();
            eprintln!(
                "\rw = {w}: digit accuracy {:.1} % | Fréchet {:.1} (floor {:.1}) | {:.1} ms/digit | held-out loss {:.4} (empty prompt {:.4})\n  {}",
                judged.judgement.accuracy(&expected) * 100.0,
                judged.frechet,
                reference.frechet_floor,
                judged.ms_per_digit(),
                held_out["with_caption"].as_f64().unwrap_or(f64::NAN),
                held_out["empty_prompt"].as_f64().unwrap_or(f64::NAN),
                attrs.join(" | ")
            );
        }
        results.push(result);
    }
    if args.json {
        print_json(&results, false);
    }
    if args.update_card {
        let key = EvalKey::new(
            s.backend,
            format!(
                "--samples {n} --guidance {} --sampler {} --steps {} --seed {}",
                joined(&args.guidance),
                s.kind().name(),
                s.steps,
                s.seed
            ),
        );
        store_evaluation(&mut card, key, results)?;
    }
    Ok(())
}

//! # `digitlab train text-ddpm`
//!
//! Text-conditioned DDPM, Stable Diffusion's recipe at digit size:
//!
//! 1. Every training digit is measured (thickness, slant, size; `digitlab_captions`) and the
//!    measures binned; a WordPiece tokenizer is trained on all caption forms of all digits and
//!    saved in the run folder (a resumed run reads it back rather than retraining it).
//! 2. In `--space latent`, every digit is encoded once by the frozen autoencoder (posterior
//!    mean, times its `latent_scale`): the UNet then learns to denoise 4x7x7 latents.
//! 3. Each step draws, per digit, one of the 24 caption forms, replaced by `""` with
//!    probability `p_uncond` (the unconditional prompt of classifier-free guidance), a time
//!    step and noise; the loss is DDPM's `|| eps - eps_theta(x_t, t, text_encoder(caption)) ||^2`,
//!    and the text encoder learns with the UNet.
//!
//! With `--text-encoder-from CARD` the run instead takes another text model's tokenizer and
//! trained encoder and keeps the encoder frozen, as Stable Diffusion keeps CLIP frozen: the
//! UNet alone learns, reading a representation that already tells "seven" from "two". Trained
//! jointly in pixel space, the encoder was slow to learn the digit's name (the UNet first
//! learns strokes and style, which the name does not change), so the pixel model starts from
//! the latent model's encoder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_captions::{Bins, Described, PromptTokenizer, caption, measure};
use digitlab_data::{Dataset, Split};
use digitlab_diffusion::{NoiseSchedule, ScheduleConfig, prompt_tensors};
use digitlab_models::{TextEncoder, TextEncoderConfig, TextUnet, TextUnetConfig};
use digitlab_weights::{Card, ModelSpec, Space, load_record, record_bytes};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, Optimizer, check_same_config};
use super::data::Batches;
use super::ddpm::RunOptions;
use super::progress::Progress;
use super::{ema, step_rng};
use crate::cards::{CardFile, write_weights};
use crate::files;

pub const KIND: &str = "text-ddpm";
/// The caption forms of each digit (see `digitlab_captions::grammar::caption`).
pub const CAPTION_FORMS: u64 = 24;
const TOKENIZER_FILE: &str = "tokenizer.json";

/// Where the model denoises, as the trainer is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SpaceChoice {
    Pixel,
    /// The latent of the autoencoder whose card is at this path.
    Latent {
        autoencoder: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextTrainConfig {
    pub unet: TextUnetConfig,
    pub schedule: ScheduleConfig,
    pub space: SpaceChoice,
    pub data: String,
    /// Largest vocabulary the tokenizer may learn.
    pub vocab_limit: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_final: f64,
    pub ema_decay: f64,
    pub p_uncond: f64,
    pub seed: u64,
    /// The frozen text encoder's source, if the run does not train its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_encoder_from: Option<EncoderSource>,
}

/// The text model whose tokenizer and encoder a run borrows, pinned by its weights' sha256
/// (part of the config, so resuming after the card changed is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderSource {
    pub card: String,
    pub sha256: String,
}

/// The borrowed tokenizer and encoder of `--text-encoder-from`.
struct Borrowed {
    tokenizer: PromptTokenizer,
    encoder: TextEncoder,
}

/// Reads the card of `source`, which must be a text model, and its encoder's configuration.
/// A resumed run is refused by `check_same_config` if the card's sha256 changed since the run
/// started.
fn source_card(source: &EncoderSource) -> Result<(CardFile, TextEncoderConfig)> {
    let card = CardFile::read(Path::new(&source.card))?;
    let ModelSpec::TextDdpm { unet, .. } = &card.card.model else {
        bail!(
            "--text-encoder-from {}: a `{}` card, not a text model (`text-ddpm`)",
            source.card,
            card.card.model.kind()
        );
    };
    let text = unet.text.clone();
    Ok((card, text))
}

/// The tokenizer and trained encoder of a text model's card (a new run's; a resumed run has
/// both in its checkpoint and run folder).
fn borrow_encoder(card: &CardFile, device: &Device) -> Result<Borrowed> {
    let (model, _, tokenizer) = card
        .card
        .load_text_ddpm(&card.weights()?, device)
        .with_context(|| card.path.display().to_string())?;
    Ok(Borrowed {
        tokenizer,
        encoder: model.text_encoder().clone(),
    })
}

/// Every training digit described in words, with the bins that did it.
pub fn describe_all(train: &Dataset) -> Result<(Bins, Vec<Described>)> {
    let side = train.rows;
    let attributes: Vec<_> = (0..train.len())
        .map(|i| measure(train.image(i), side))
        .collect();
    let bins =
        Bins::fit(&attributes, &train.labels, train.n_classes()).map_err(anyhow::Error::msg)?;
    let described = attributes
        .iter()
        .zip(&train.labels)
        .map(|(a, &l)| bins.describe(l, a))
        .collect();
    Ok((bins, described))
}

/// The tokenizer of the run: read back on `--resume`, else trained on every caption form of
/// every training digit and saved.
fn run_tokenizer(
    run: &Path,
    resume: bool,
    described: &[Described],
    config: &TextTrainConfig,
    borrowed: Option<&Borrowed>,
) -> Result<PromptTokenizer> {
    let path = run.join(TOKENIZER_FILE);
    let max_len = config.unet.text.max_len;
    if resume {
        let json = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the run's tokenizer {}", path.display()))?;
        return PromptTokenizer::from_json(&json, max_len).map_err(anyhow::Error::msg);
    }
    if let Some(borrowed) = borrowed {
        files::write_atomic(&path, borrowed.tokenizer.to_json().as_bytes())?;
        return Ok(borrowed.tokenizer.clone());
    }
    let corpus = described
        .iter()
        .flat_map(|d| (0..CAPTION_FORMS).map(move |v| caption(d, v)));
    let tokenizer =
        PromptTokenizer::train(corpus, config.vocab_limit, max_len).map_err(anyhow::Error::msg)?;
    files::write_atomic(&path, tokenizer.to_json().as_bytes())?;
    Ok(tokenizer)
}

/// What the UNet learns to denoise: `[n, c * s * s]` on the host.
struct Targets {
    values: Vec<f32>,
    shape: [usize; 3],
    /// The autoencoder that made latents (copied beside the final card).
    autoencoder: Option<CardFile>,
}

fn targets(config: &TextTrainConfig, train: &Dataset, device: &Device) -> Result<Targets> {
    let all = Batches::new(train, 256, 0);
    match &config.space {
        SpaceChoice::Pixel => Ok(Targets {
            values: all
                .all_images(device)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            shape: [1, train.rows, train.cols],
            autoencoder: None,
        }),
        SpaceChoice::Latent { autoencoder } => {
            let card = CardFile::read(Path::new(autoencoder))?;
            let (model, scale) = card.load_autoencoder(device)?;
            let shape = model.latent_shape();
            let images = all.all_images(device);
            let n = images.dims()[0];
            let mut values = Vec::with_capacity(n * shape.iter().product::<usize>());
            for start in (0..n).step_by(500) {
                let len = 500.min(n - start);
                let x = super::autoencoder::to_unit(images.clone().narrow(0, start, len));
                let z = model.encode_mean(x) * scale;
                values.extend(
                    z.into_data()
                        .try_to_vec::<f32>()
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?,
                );
            }
            Ok(Targets {
                values,
                shape,
                autoencoder: Some(card),
            })
        }
    }
}

pub fn train(mut config: TextTrainConfig, opts: RunOptions) -> Result<PathBuf> {
    if !(0.0..1.0).contains(&config.p_uncond) || !(0.0..1.0).contains(&config.ema_decay) {
        bail!("p_uncond and ema_decay must be in [0, 1)");
    }
    let schedule = NoiseSchedule::new(config.schedule)?;
    let data_dir = PathBuf::from(&config.data);
    let train = super::data::training_split(&data_dir, 28)?;
    let held_out = Dataset::load(&data_dir, Split::Test)
        .map(|d| d.len())
        .unwrap_or(0);
    let (bins, described) = describe_all(&train)?;
    let device = opts.backend.device()?.autodiff();
    let inner = device.clone().inner();
    let source = match &config.text_encoder_from {
        Some(source) => Some(source_card(source)?),
        None => None,
    };
    let borrowed = match source {
        Some((card, text)) => {
            config.unet.text = text;
            (!opts.resume)
                .then(|| borrow_encoder(&card, &device))
                .transpose()?
        }
        None => None,
    };
    let tokenizer = run_tokenizer(
        &opts.run,
        opts.resume,
        &described,
        &config,
        borrowed.as_ref(),
    )?;
    config.unet.text.vocab_size = tokenizer.vocab_size();
    let targets = targets(&config, &train, &inner)?;
    let [c, s, _] = targets.shape;
    if config.unet.in_channels != c || config.unet.image_size != s {
        bail!(
            "the UNet is configured for {}x{k}x{k}, the training targets are {c}x{s}x{s}",
            config.unet.in_channels,
            k = config.unet.image_size
        );
    }
    config.unet.validate().map_err(anyhow::Error::msg)?;
    let mut batches = Batches::new(&train, config.batch_size, config.seed);
    let total = config.epochs * batches.per_epoch();
    if total == 0 {
        bail!("nothing to train");
    }
    let checkpoints = Checkpoints::new(&opts.run);
    let (mut model, mut ema_model, mut optim, start, seconds_before) = if opts.resume {
        let (state, dir) = checkpoints.latest::<TextTrainConfig>(KIND)?;
        check_same_config(&state.config, &config)?;
        let read = |f: &str| {
            std::fs::read(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))
        };
        let mut model = load_record(config.unet.init(&device), &read("model.bpk")?)?;
        if config.text_encoder_from.is_some() {
            model = model.freeze_text_encoder();
        }
        let ema_model = load_record(config.unet.init(&inner), &read("ema.bpk")?)?;
        eprintln!(
            "resuming {} from step {} of {total}",
            opts.run.display(),
            state.step
        );
        let optim = Optimizer::new(config.lr, config.lr_final, total, Some(&dir))?;
        (model, ema_model, optim, state.step, state.seconds)
    } else {
        device.seed(config.seed);
        let mut model: TextUnet = config.unet.init(&device);
        if let Some(borrowed) = borrowed {
            model = model.with_frozen_text_encoder(borrowed.encoder);
        }
        let ema_model = model.valid();
        let optim = Optimizer::new(config.lr, config.lr_final, total, None)?;
        (model, ema_model, optim, 0, 0.0)
    };
    eprintln!(
        "{} space, {}: tokenizer of {} tokens, {} training digits{}",
        match config.space {
            SpaceChoice::Pixel => "pixel",
            SpaceChoice::Latent { .. } => "latent",
        },
        config.unet.conditioning.name(),
        tokenizer.vocab_size(),
        train.len(),
        match &config.text_encoder_from {
            Some(source) => format!(", text encoder frozen from {}", source.card),
            None => String::new(),
        }
    );
    let per_item = c * s * s;
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let mut last_loss = f64::NAN;
    for step in start..end {
        // 1. batch, captions (10 % dropped to ""), time steps and noise
        let batch = batches.batch(step);
        let n = batch.len();
        let mut rng = step_rng(config.seed, step);
        let mut prompts = Vec::with_capacity(n);
        for &i in &batch.indices {
            let form = rng.random_range(0..CAPTION_FORMS);
            let text = if rng.random::<f64>() < config.p_uncond {
                String::new()
            } else {
                caption(&described[i], form)
            };
            prompts.push(tokenizer.encode(&text).map_err(anyhow::Error::msg)?);
        }
        let t: Vec<usize> = (0..n)
            .map(|_| rng.random_range(0..schedule.train_steps()))
            .collect();
        let noise: Vec<f32> = (0..n * per_item)
            .map(|_| -> f32 { StandardNormal.sample(&mut rng) })
            .collect();
        let x0: Vec<f32> = batch
            .indices
            .iter()
            .flat_map(|&i| {
                targets.values[i * per_item..(i + 1) * per_item]
                    .iter()
                    .copied()
            })
            .collect();
        let x0 = Tensor::<4>::from_data(TensorData::new(x0, [n, c, s, s]), &device);
        let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, c, s, s]), &device);
        // 2. forward process, text encoding and noise prediction
        let x_t = schedule.q_sample(x0, noise.clone(), &t);
        let time: Vec<f32> = t.iter().map(|&t| schedule.time_input(t)).collect();
        let time = Tensor::<1>::from_floats(time.as_slice(), &device);
        let rows: Vec<_> = prompts.iter().collect();
        let (ids, pad) = prompt_tensors(&model, &rows, &device)?;
        let text = model.encode_text(ids, pad);
        let eps = model.forward(x_t, time, &text);
        let loss = (eps - noise).square().mean();
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            bail!(
                "the loss became {loss_value} at step {step}: lower the learning rate (the last checkpoint is intact)"
            );
        }
        // 3. optimizer step, then the EMA
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (trained, lr) = optim.step(model, grads);
        model = trained;
        ema_model = ema::update(
            ema_model,
            &model.valid(),
            ema::warmup_decay(config.ema_decay, step),
        );
        last_loss = loss_value;
        let done = step + 1;
        progress.step(
            done,
            loss_value,
            n,
            lr,
            serde_json::json!({ "epoch": done as f64 / batches.per_epoch() as f64 }),
        )?;
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            checkpoints.save_step(
                KIND,
                done,
                seconds_before + started.elapsed().as_secs_f64(),
                &config,
                vec![
                    ("model.bpk".into(), record_bytes(model.clone())),
                    ("ema.bpk".into(), record_bytes(ema_model.clone())),
                ],
                &optim,
            )?;
        }
    }
    progress.finish();
    if super::stopped_early(end, total) {
        return Ok(opts.run.clone());
    }
    // The latent model's autoencoder travels beside its card.
    let space = match &targets.autoencoder {
        None => Space::Pixel,
        Some(card) => {
            let name = "autoencoder.json";
            let weights = files::read(&card.weights_path)?;
            files::write_atomic(&opts.run.join(&card.card.weights), &weights)?;
            files::write_atomic(&opts.run.join(name), card.card.to_json().as_bytes())?;
            Space::Latent {
                autoencoder: name.into(),
                autoencoder_sha256: card.card.sha256.clone(),
            }
        }
    };
    let card = Card::new(
        ModelSpec::TextDdpm {
            unet: config.unet.clone(),
            schedule: config.schedule,
            space,
            tokenizer: serde_json::from_str(&tokenizer.to_json())?,
            bins,
        },
        super::data_info(&data_dir, train.len(), held_out),
        super::training_info(
            total,
            config.epochs as f64,
            config.batch_size,
            format!(
                "Adam {} -> {} (linear), captions dropped to \"\" with p = {}{}",
                config.lr,
                config.lr_final,
                config.p_uncond,
                match &config.text_encoder_from {
                    Some(source) => format!(
                        "; tokenizer and text encoder (frozen) from {} (sha256 {})",
                        source.card, source.sha256
                    ),
                    None => String::new(),
                }
            ),
            Some(config.ema_decay),
            config.seed,
            seconds_before + started.elapsed().as_secs_f64(),
            opts.backend,
            last_loss,
        ),
        serde_json::Value::Null,
    );
    let path = write_weights(&opts.run, KIND, &record_bytes(ema_model), card)?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

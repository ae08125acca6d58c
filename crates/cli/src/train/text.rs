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

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use digitlab_captions::{Bins, Described, PromptTokenizer, caption};
use digitlab_data::Dataset;
use digitlab_diffusion::{ForwardProcess, NoiseSchedule, ScheduleConfig, prompt_tensors};
use digitlab_models::{Conditioning, TextEncoder, TextEncoderConfig, TextUnet, TextUnetConfig};
use digitlab_weights::{Card, Kind, ModelSpec, Space, TrainingInfo, record_bytes};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{Averaged, Plan, RunOptions, Shipped, StepReport, Trainer, step_rng};
use crate::args::{ConditioningArg, SpaceArg, TextArgs};
use crate::cards::CardFile;
use crate::files;

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

/// What the UNet learns to denoise: `[n, c * s * s]` on the host.
struct Targets {
    values: Vec<f32>,
    shape: [usize; 3],
    /// The autoencoder that made latents (copied beside the final card).
    autoencoder: Option<CardFile>,
}

fn targets(config: &TextTrainConfig, train: &Dataset, device: &Device) -> Result<Targets> {
    let all = Batches::new(train, 256, 0)?;
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

/// `digitlab train text-ddpm`'s options as a config, with each space's defaults where an option
/// is not given: in pixel space a UNet of width 32 with two levels, conditioned after every up
/// level, with self-attention at the 7x7 bottleneck (it must lay out the whole digit); in
/// latent space width 64, no levels (the latent is 7x7 already), two extra conditioned blocks
/// at the bottleneck, no self-attention, and no clipping of the predicted `x_0` (a latent has
/// no fixed range).
pub fn config(a: &TextArgs) -> Result<TextTrainConfig> {
    // The text encoder's vocabulary is the trained tokenizer's (set by the trainer).
    let text_config = TextEncoderConfig::new(a.vocab)
        .with_d_model(a.d_text)
        .with_n_layers(a.text_layers);
    let unet = TextUnetConfig::new(text_config).with_conditioning(match a.conditioning {
        ConditioningArg::CrossAttention => Conditioning::CrossAttention,
        ConditioningArg::Film => Conditioning::Film,
    });
    let (unet, space, schedule) = match a.space {
        SpaceArg::Pixel => (
            unet.with_n_feat(a.n_feat.unwrap_or(32))
                .with_extra_mid_blocks(a.extra_mid_blocks.unwrap_or(0))
                .with_self_attention(Some(a.self_attention.unwrap_or(true))),
            SpaceChoice::Pixel,
            ScheduleConfig::default(),
        ),
        SpaceArg::Latent => {
            let card = CardFile::read(&a.autoencoder)?;
            let ModelSpec::Autoencoder {
                autoencoder: ae, ..
            } = &card.card.model
            else {
                bail!(
                    "--autoencoder {}: a `{}` card, not an autoencoder",
                    a.autoencoder.display(),
                    card.card.kind()
                );
            };
            let [c, side, _] = ae.latent_shape();
            (
                unet.with_n_feat(a.n_feat.unwrap_or(64))
                    .with_in_channels(c)
                    .with_image_size(side)
                    .with_levels(0)
                    .with_extra_mid_blocks(a.extra_mid_blocks.unwrap_or(2))
                    .with_self_attention(Some(a.self_attention.unwrap_or(false))),
                SpaceChoice::Latent {
                    autoencoder: a.autoencoder.display().to_string(),
                },
                ScheduleConfig {
                    clip_sample: None,
                    ..Default::default()
                },
            )
        }
    };
    Ok(TextTrainConfig {
        unet,
        schedule,
        space,
        data: a.common.data.display().to_string(),
        vocab_limit: a.vocab,
        epochs: a.optim.epochs,
        batch_size: a.optim.batch_size,
        lr: a.optim.lr,
        lr_final: a.optim.lr_final,
        ema_decay: a.optim.ema_decay,
        p_uncond: a.optim.p_uncond,
        seed: a.common.seed,
        text_encoder_from: match &a.text_encoder_from {
            Some(path) => Some(EncoderSource {
                sha256: CardFile::read(path)?.card.sha256,
                card: path.display().to_string(),
            }),
            None => None,
        },
    })
}

pub struct TextTrainer {
    config: TextTrainConfig,
    schedule: NoiseSchedule,
    run: PathBuf,
    bins: Bins,
    described: Vec<Described>,
    tokenizer: PromptTokenizer,
    /// The encoder of `--text-encoder-from` for a fresh run (a resumed one has it in its
    /// checkpoint).
    borrowed: Option<TextEncoder>,
    targets: Targets,
    plan: Plan,
    train_images: usize,
    held_out_images: usize,
}

impl TextTrainer {
    /// Measures and captions the training digits, takes the run's tokenizer (read back on
    /// `--resume`; borrowed with `--text-encoder-from`; else trained) and, in latent space,
    /// encodes every digit once with the frozen autoencoder. Writes nothing: the tokenizer is
    /// saved when the run starts ([`Trainer::init`]).
    pub fn new(mut config: TextTrainConfig, opts: &RunOptions, device: &Device) -> Result<Self> {
        if !(0.0..1.0).contains(&config.p_uncond) || !(0.0..1.0).contains(&config.ema_decay) {
            bail!("--p-uncond and --ema-decay must be in [0, 1)");
        }
        let schedule = NoiseSchedule::new(config.schedule)?;
        let data_dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&data_dir, 28)?;
        super::data::check_labels(&train, digitlab_captions::grammar::ENGLISH.len())?;
        let held_out_images = super::held_out_split(&data_dir)?.len();
        let crate::datasets::Captioned {
            bins, described, ..
        } = crate::datasets::describe(&train, &data_dir)?;
        let inner = device.clone().inner();
        let mut borrowed = None;
        let tokenizer = match &config.text_encoder_from {
            Some(source) => {
                let (card, text) = source_card(source)?;
                config.unet.text = text;
                if opts.resume {
                    read_tokenizer(&opts.run, config.unet.text.max_len)?
                } else {
                    let b = borrow_encoder(&card, device)?;
                    borrowed = Some(b.encoder);
                    b.tokenizer
                }
            }
            None if opts.resume => read_tokenizer(&opts.run, config.unet.text.max_len)?,
            None => {
                let corpus = described
                    .iter()
                    .flat_map(|d| (0..CAPTION_FORMS).map(move |v| caption(d, v)));
                PromptTokenizer::train(corpus, config.vocab_limit, config.unet.text.max_len)
                    .map_err(anyhow::Error::msg)?
            }
        };
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
        Ok(Self {
            plan: Plan {
                kind: Kind::TextDdpm,
                seed: config.seed,
                epochs: config.epochs,
                batches: Batches::new(&train, config.batch_size, config.seed)?,
            },
            train_images: train.len(),
            held_out_images,
            schedule,
            run: opts.run.clone(),
            bins,
            described,
            tokenizer,
            borrowed,
            targets,
            config,
        })
    }
}

/// The run's tokenizer, saved in its folder when it started.
fn read_tokenizer(run: &Path, max_len: usize) -> Result<PromptTokenizer> {
    let path = run.join(TOKENIZER_FILE);
    let json = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the run's tokenizer {}", path.display()))?;
    PromptTokenizer::from_json(&json, max_len).map_err(anyhow::Error::msg)
}

impl Trainer for TextTrainer {
    type Config = TextTrainConfig;
    type State = Averaged<TextUnet>;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &TextTrainConfig {
        &self.config
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Averaged<TextUnet>> {
        let unet = &self.config.unet;
        let mut model: TextUnet = unet.init(device);
        // A fresh run saves its tokenizer; a borrowed encoder joins the UNet, frozen.
        if from.is_none() {
            files::write_atomic(
                &self.run.join(TOKENIZER_FILE),
                self.tokenizer.to_json().as_bytes(),
            )?;
            if let Some(encoder) = self.borrowed.take() {
                model = model.with_frozen_text_encoder(encoder);
            }
        }
        let average = || unet.init(&device.clone().inner());
        let rate = self.rate(self.config.lr, self.config.lr_final);
        let mut s = Averaged::start(model, average, from, rate)?;
        // A resumed run's encoder comes from its checkpoint: frozen again.
        if from.is_some() && self.config.text_encoder_from.is_some() {
            s.model = s.model.freeze_text_encoder();
        }
        Ok(s)
    }

    fn step(
        &mut self,
        s: Averaged<TextUnet>,
        step: usize,
        device: &Device,
    ) -> Result<(Averaged<TextUnet>, StepReport)> {
        let c = &self.config;
        // 1. batch, captions (10 % dropped to ""), time steps and noise
        let batch = self.plan.batches.batch(step);
        let n = batch.len();
        let [ch, side, _] = self.targets.shape;
        let per_item = ch * side * side;
        let mut rng = step_rng(c.seed, step);
        let mut prompts = Vec::with_capacity(n);
        for &i in &batch.indices {
            let form = rng.random_range(0..CAPTION_FORMS);
            let text = if rng.random::<f64>() < c.p_uncond {
                String::new()
            } else {
                caption(&self.described[i], form)
            };
            prompts.push(self.tokenizer.encode(&text).map_err(anyhow::Error::msg)?);
        }
        let t: Vec<usize> = (0..n)
            .map(|_| rng.random_range(0..self.schedule.train_steps()))
            .collect();
        let noise = super::gaussian(&mut rng, n * per_item);
        let x0: Vec<f32> = batch
            .indices
            .iter()
            .flat_map(|&i| {
                self.targets.values[i * per_item..(i + 1) * per_item]
                    .iter()
                    .copied()
            })
            .collect();
        let x0 = Tensor::<4>::from_data(TensorData::new(x0, [n, ch, side, side]), device);
        let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, ch, side, side]), device);
        // 2. forward process, text encoding and noise prediction
        let x_t = self.schedule.q_sample(x0, noise.clone(), &t);
        let time: Vec<f32> = t.iter().map(|&t| self.schedule.time_input(t)).collect();
        let time = Tensor::<1>::from_floats(time.as_slice(), device);
        let rows: Vec<_> = prompts.iter().collect();
        let (ids, pad) = prompt_tensors(&s.model, &rows, device)?;
        let text = s.model.encode_text(ids, pad);
        let eps = s.model.forward(x_t, time, &text);
        let loss = (eps - noise).square().mean();
        let value = loss.clone().into_scalar::<f32>() as f64;
        // 3. optimizer step, then the EMA
        let (s, lr) = s.descend(loss, value, c.ema_decay, step);
        Ok((s, StepReport::loss(value, n, lr)))
    }

    fn checkpoint(&self, s: &Averaged<TextUnet>) -> Result<Vec<(String, Vec<u8>)>> {
        s.files()
    }

    fn finish(&mut self, s: Averaged<TextUnet>, training: TrainingInfo) -> Result<Shipped> {
        let c = &self.config;
        // The latent model's autoencoder travels beside its card.
        let space = match &self.targets.autoencoder {
            None => Space::Pixel,
            Some(card) => {
                let name = "autoencoder.json";
                let weights = files::read(&card.weights_path)?;
                files::write_atomic(&self.run.join(&card.card.weights), &weights)?;
                files::write_atomic(&self.run.join(name), card.card.to_json().as_bytes())?;
                Space::Latent {
                    autoencoder: name.into(),
                    autoencoder_sha256: card.card.sha256.clone(),
                }
            }
        };
        let card = Card::new(
            ModelSpec::TextDdpm {
                unet: c.unet.clone(),
                schedule: c.schedule,
                space,
                tokenizer: serde_json::from_str(&self.tokenizer.to_json())?,
                bins: self.bins.clone(),
            },
            super::data_info(Path::new(&c.data), self.train_images, self.held_out_images),
            TrainingInfo {
                epochs: c.epochs as f64,
                batch_size: c.batch_size,
                learning_rate: format!(
                    "Adam {} -> {} (linear), captions dropped to \"\" with p = {}{}",
                    c.lr,
                    c.lr_final,
                    c.p_uncond,
                    match &c.text_encoder_from {
                        Some(source) => format!(
                            "; tokenizer and text encoder (frozen) from {} (sha256 {})",
                            source.card, source.sha256
                        ),
                        None => String::new(),
                    }
                ),
                ema_decay: Some(c.ema_decay),
                ..training
            },
            serde_json::Value::Null,
        );
        Ok(Shipped {
            stem: Kind::TextDdpm.name().into(),
            weights: record_bytes(s.ema),
            card,
            summary: None,
        })
    }
}

//! # The loaded models
//!
//! A `Lab` holds a device and the models loaded on it. The model worker's holds the diffusion
//! model, its distilled student and a classifier; the page's (for the views not yet moved to the
//! worker) the score network (NCSN), the latent-variable models (VAEs and GAN generators), the
//! text models and a classifier. Each model keeps the
//! bytes it was loaded from, so a lost WebGPU device can be replaced by the CPU backend
//! without fetching anything again.

use std::rc::Rc;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use digitlab_captions::{Bins, PromptTokenizer};
use digitlab_diffusion::{NoiseRange, NoiseSchedule};
use digitlab_models::{Autoencoder, Classifier, ContextUnet, Generator, TextUnet, Vae};
use digitlab_weights::{Card, FORMAT_VERSION, Model, ModelSpec};

use crate::backend::BackendKind;

/// A diffusion model with its card, as loaded on one device.
#[derive(Clone)]
pub struct Ddpm {
    pub card: Rc<Card>,
    pub bytes: Rc<Vec<u8>>,
    pub model: ContextUnet,
    pub schedule: NoiseSchedule,
    /// Where it came from: "shipped" or the file the person chose.
    pub source: String,
}

/// A score network (NCSN) with its card.
#[derive(Clone)]
pub struct Score {
    pub card: Rc<Card>,
    pub bytes: Rc<Vec<u8>>,
    pub model: ContextUnet,
    pub range: NoiseRange,
    pub source: String,
}

impl Score {
    pub fn load(
        card: Card,
        bytes: Vec<u8>,
        source: String,
        device: &Device,
    ) -> Result<Self, String> {
        let (model, range) = card.load_ncsn(&bytes, device).map_err(|e| e.to_string())?;
        Ok(Self {
            card: Rc::new(card),
            bytes: Rc::new(bytes),
            model,
            range,
            source,
        })
    }

    pub fn on(&self, device: &Device) -> Result<Self, String> {
        Self::load(
            (*self.card).clone(),
            (*self.bytes).clone(),
            self.source.clone(),
            device,
        )
    }

    pub fn describe(&self) -> String {
        let t = &self.card.training;
        format!(
            "{} ({}): sigma {} to {}, {} steps, batch {}, {:.0} s on {}, {} weights",
            self.card.weights,
            self.source,
            self.range.sigma_max,
            self.range.sigma_min,
            t.steps,
            t.batch_size,
            t.seconds,
            t.backend,
            self.card.stored_as()
        )
    }
}

/// What turns a latent `z` into a digit (a handful live at once, so their sizes do not matter).
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Decoding {
    Vae(Vae),
    Gan(Generator),
}

/// A VAE or an (unconditional) GAN generator with its card, under the stem of its shipped
/// file (`vae`, `vae-2d`, `dcgan`, `wgan-sn`).
#[derive(Clone)]
pub struct LatentModel {
    pub name: String,
    pub card: Rc<Card>,
    pub bytes: Rc<Vec<u8>>,
    pub model: Decoding,
}

impl LatentModel {
    pub fn load(name: &str, card: Card, bytes: Vec<u8>, device: &Device) -> Result<Self, String> {
        let model = match card.load(&bytes, device).map_err(|e| e.to_string())? {
            Model::Vae(vae) => Decoding::Vae(vae),
            Model::Gan { generator, .. } if generator.is_conditional() => {
                return Err("this page shows unconditional GANs; sample a conditional one with `digitlab sample`".into());
            }
            Model::Gan { generator, .. } => Decoding::Gan(generator),
            other => return Err(format!("a `{}` model is not a VAE or a GAN", other.kind())),
        };
        Ok(Self {
            name: name.into(),
            card: Rc::new(card),
            bytes: Rc::new(bytes),
            model,
        })
    }

    pub fn on(&self, device: &Device) -> Result<Self, String> {
        Self::load(
            &self.name,
            (*self.card).clone(),
            (*self.bytes).clone(),
            device,
        )
    }

    pub fn latent(&self) -> usize {
        match &self.model {
            Decoding::Vae(v) => v.latent(),
            Decoding::Gan(g) => g.latent(),
        }
    }

    /// `[n, latent]` to digits `[n, 1, 28, 28]` in `[-1, 1]`.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<4> {
        match &self.model {
            Decoding::Vae(v) => v.decode(z),
            Decoding::Gan(g) => g.forward(z, None),
        }
    }

    pub fn describe(&self) -> String {
        let t = &self.card.training;
        format!(
            "{} (latent {}): {} steps, {:.0} epochs, batch {}, {:.0} s on {}, {} weights",
            self.card.weights,
            self.latent(),
            t.steps,
            t.epochs,
            t.batch_size,
            t.seconds,
            t.backend,
            self.card.stored_as()
        )
    }

    pub fn vae(&self) -> Option<&Vae> {
        match &self.model {
            Decoding::Vae(v) => Some(v),
            Decoding::Gan(_) => None,
        }
    }
}

/// A text-conditioned model under the stem of its shipped file (`text-pixel`,
/// `text-latent`, `text-latent-film`), with its tokenizer, caption bins and, in latent space,
/// the autoencoder that decodes its latents.
#[derive(Clone)]
pub struct TextModel {
    pub name: String,
    pub card: Rc<Card>,
    pub bytes: Rc<Vec<u8>>,
    /// The autoencoder's card and weights (latent models).
    pub autoencoder: Option<(Rc<Card>, Rc<Vec<u8>>)>,
    pub unet: TextUnet,
    pub schedule: NoiseSchedule,
    pub tokenizer: PromptTokenizer,
    pub decoder: Option<(Autoencoder, f64)>,
    pub bins: Bins,
}

impl TextModel {
    /// Checks and loads a text model; a latent one needs its autoencoder's card and weights,
    /// checked to be the pair it was trained with.
    pub fn load(
        name: &str,
        card: Card,
        bytes: Vec<u8>,
        autoencoder: Option<(Card, Vec<u8>)>,
        device: &Device,
    ) -> Result<Self, String> {
        let (unet, schedule, tokenizer) = card
            .load_text_ddpm(&bytes, device)
            .map_err(|e| e.to_string())?;
        let ModelSpec::TextDdpm { bins, .. } = &card.model else {
            return Err("not a text model".into());
        };
        let bins = bins.clone();
        let (decoder, autoencoder) = match autoencoder {
            None if card.model_space_is_latent() => {
                return Err("a latent model needs its autoencoder".into());
            }
            None => (None, None),
            Some((ae_card, ae_bytes)) => {
                card.check_autoencoder(&ae_card)
                    .map_err(|e| e.to_string())?;
                let decoder = ae_card
                    .load_autoencoder(&ae_bytes, device)
                    .map_err(|e| e.to_string())?;
                (Some(decoder), Some((Rc::new(ae_card), Rc::new(ae_bytes))))
            }
        };
        Ok(Self {
            name: name.into(),
            card: Rc::new(card),
            bytes: Rc::new(bytes),
            autoencoder,
            unet,
            schedule,
            tokenizer,
            decoder,
            bins,
        })
    }

    pub fn on(&self, device: &Device) -> Result<Self, String> {
        Self::load(
            &self.name,
            (*self.card).clone(),
            (*self.bytes).clone(),
            self.autoencoder
                .as_ref()
                .map(|(c, b)| ((**c).clone(), (**b).clone())),
            device,
        )
    }

    pub fn describe(&self) -> String {
        let t = &self.card.training;
        let [c, h, w] = self.unet.image_shape();
        format!(
            "{}: denoises {c}x{h}x{w}, vocabulary of {} tokens, {} steps, {:.0} epochs, {:.0} s on {}, {} weights",
            self.card.weights,
            self.tokenizer.vocab_size(),
            t.steps,
            t.epochs,
            t.seconds,
            t.backend,
            self.card.stored_as()
        )
    }

    /// Pixels in `[-1, 1]` of a run's sample (a latent is unscaled and decoded).
    pub fn to_pixels(&self, sample: Tensor<4>) -> Tensor<4> {
        match &self.decoder {
            None => sample,
            Some((autoencoder, scale)) => autoencoder.decode(sample / *scale) * 2.0 - 1.0,
        }
    }
}

#[derive(Clone)]
pub struct Judge {
    pub card: Rc<Card>,
    pub bytes: Rc<Vec<u8>>,
    pub model: Classifier,
}

#[derive(Clone)]
pub struct Lab {
    pub device: Device,
    /// (Everything below lives in the model worker.)
    pub backend: BackendKind,
    pub ddpm: Option<Ddpm>,
    /// A distilled few-step student of the diffusion model (the Sample view's live mode).
    pub student: Option<Ddpm>,
    pub judge: Option<Judge>,
    pub ncsn: Option<Score>,
    pub latents: Vec<LatentModel>,
    pub texts: Vec<TextModel>,
}

/// Fetches `weights/<file>` (a card) and the weights it names, calling `progress(received,
/// total)` while the weights arrive; the card is checked (format, JSON) before they are
/// fetched, and an error names the card.
pub async fn fetch_shipped(
    file: &str,
    progress: impl FnMut(usize, Option<usize>),
) -> Result<(Card, Vec<u8>), String> {
    let card = parse_card(&crate::fetch::text(&format!("weights/{file}")).await?)
        .map_err(|e| format!("{file}: {e}"))?;
    let bytes = crate::fetch::bytes(&format!("weights/{}", card.weights), progress).await?;
    Ok((card, bytes))
}

/// Checks a card's text before any weights are touched: valid JSON of a known format version.
pub fn parse_card(text: &str) -> Result<Card, String> {
    Card::from_json(text).map_err(|e| {
        format!("{e} (this page reads weights cards of format version {FORMAT_VERSION})")
    })
}

impl Ddpm {
    /// Checks `bytes` against the card (kind, sha256, architecture) and loads them on `device`.
    pub fn load(
        card: Card,
        bytes: Vec<u8>,
        source: String,
        device: &Device,
    ) -> Result<Self, String> {
        let (model, schedule) = card.load_ddpm(&bytes, device).map_err(|e| e.to_string())?;
        Ok(Self {
            card: Rc::new(card),
            bytes: Rc::new(bytes),
            model,
            schedule,
            source,
        })
    }

    pub fn on(&self, device: &Device) -> Result<Self, String> {
        let (model, schedule) = self
            .card
            .load_ddpm(&self.bytes, device)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            model,
            schedule,
            ..self.clone()
        })
    }

    /// A student's DDIM step count and its largest `w` (`None`: not a distilled student).
    pub fn student(&self) -> Option<(usize, f64)> {
        match &self.card.model {
            ModelSpec::DdpmCfg {
                distilled: Some(d),
                unet,
                ..
            } => Some((d.steps?, unet.guidance_max?)),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        let t = &self.card.training;
        format!(
            "{} ({}): {} steps, batch {}, {:.0} s on {}, {} weights",
            self.card.weights,
            self.source,
            t.steps,
            t.batch_size,
            t.seconds,
            t.backend,
            self.card.stored_as()
        )
    }
}

impl Judge {
    pub fn load(card: Card, bytes: Vec<u8>, device: &Device) -> Result<Self, String> {
        let model = card
            .load_classifier(&bytes, device)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            card: Rc::new(card),
            bytes: Rc::new(bytes),
            model,
        })
    }

    pub fn on(&self, device: &Device) -> Result<Self, String> {
        Self::load((*self.card).clone(), (*self.bytes).clone(), device)
    }

    /// The classifier's label and confidence for each image (`[n, 1, 28, 28]` in `[-1, 1]`).
    pub async fn classify(&self, images: Tensor<4>) -> Result<Vec<(usize, f32)>, String> {
        let [n, _, _, _] = images.dims();
        let probs = softmax(self.model.forward(images), 1);
        let data = probs
            .into_data_async()
            .await
            .map_err(|e| format!("reading the classifier's output: {e:?}"))?;
        let probs: Vec<f32> = data.try_to_vec().map_err(|e| format!("{e:?}"))?;
        let classes = probs.len() / n.max(1);
        Ok(probs
            .chunks(classes)
            .map(|row| {
                row.iter().enumerate().fold(
                    (0, f32::MIN),
                    |best, (i, &p)| if p > best.1 { (i, p) } else { best },
                )
            })
            .collect())
    }
}

impl Lab {
    /// A lab on `device` with nothing loaded yet.
    pub fn empty(device: Device, backend: BackendKind) -> Self {
        Self {
            device,
            backend,
            ddpm: None,
            student: None,
            judge: None,
            ncsn: None,
            latents: Vec::new(),
            texts: Vec::new(),
        }
    }

    pub fn latent(&self, name: &str) -> Option<&LatentModel> {
        self.latents.iter().find(|m| m.name == name)
    }

    pub fn text(&self, name: &str) -> Option<&TextModel> {
        self.texts.iter().find(|m| m.name == name)
    }

    /// The same models on another device (after a lost WebGPU device).
    pub fn moved_to(&self, device: Device, backend: BackendKind) -> Result<Self, String> {
        Ok(Self {
            ddpm: self.ddpm.as_ref().map(|d| d.on(&device)).transpose()?,
            student: self.student.as_ref().map(|d| d.on(&device)).transpose()?,
            judge: self.judge.as_ref().map(|j| j.on(&device)).transpose()?,
            ncsn: self.ncsn.as_ref().map(|s| s.on(&device)).transpose()?,
            latents: self
                .latents
                .iter()
                .map(|m| m.on(&device))
                .collect::<Result<_, _>>()?,
            texts: self
                .texts
                .iter()
                .map(|m| m.on(&device))
                .collect::<Result<_, _>>()?,
            device,
            backend,
        })
    }
}

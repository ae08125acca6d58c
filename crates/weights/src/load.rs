//! # Checked loading
//!
//! Each loader takes the card's own spec by pattern (a card of another kind is refused with
//! [`CardError::WrongKind`]), checks the weights' sha256 and the config, builds the module
//! lazily and loads the record into it ([`crate::load_record`]: not a record, non-finite
//! values, too few values, another architecture). [`Card::load`] does the same for whatever
//! the card holds and returns it as a typed [`Model`].

use burn::prelude::*;
use digitlab_captions::PromptTokenizer;
use digitlab_diffusion::{NoiseRange, NoiseSchedule};
use digitlab_models::{Autoencoder, Classifier, ContextUnet, Generator, TextUnet, Vae};

use crate::{Card, CardError, GanLoss, Kind, ModelSpec, Space, load_record};

/// A card's model, loaded: one variant per [`Kind`].
#[derive(Debug)]
pub enum Model {
    Ddpm {
        unet: ContextUnet,
        schedule: NoiseSchedule,
    },
    Classifier(Classifier),
    Ncsn {
        unet: ContextUnet,
        noise: NoiseRange,
    },
    Vae(Vae),
    Gan {
        generator: Generator,
        loss: GanLoss,
    },
    Autoencoder {
        autoencoder: Autoencoder,
        latent_scale: f64,
    },
    /// A text model's UNet, schedule and tokenizer (a latent one's autoencoder is another
    /// card, see [`Card::check_autoencoder`]).
    Text {
        unet: TextUnet,
        schedule: NoiseSchedule,
        tokenizer: PromptTokenizer,
    },
}

impl Model {
    pub fn kind(&self) -> Kind {
        match self {
            Model::Ddpm { .. } => Kind::DdpmCfg,
            Model::Classifier(_) => Kind::Classifier,
            Model::Ncsn { .. } => Kind::Ncsn,
            Model::Vae(_) => Kind::Vae,
            Model::Gan { .. } => Kind::Gan,
            Model::Autoencoder { .. } => Kind::Autoencoder,
            Model::Text { .. } => Kind::TextDdpm,
        }
    }
}

fn config(result: Result<(), String>) -> Result<(), CardError> {
    result.map_err(CardError::Config)
}

fn schedule(config: digitlab_diffusion::ScheduleConfig) -> Result<NoiseSchedule, CardError> {
    NoiseSchedule::new(config).map_err(|e| CardError::Config(e.to_string()))
}

impl Card {
    /// Loads whatever model the card describes.
    pub fn load(&self, bytes: &[u8], device: &Device) -> Result<Model, CardError> {
        Ok(match self.kind() {
            Kind::DdpmCfg => {
                let (unet, schedule) = self.load_ddpm(bytes, device)?;
                Model::Ddpm { unet, schedule }
            }
            Kind::Classifier => Model::Classifier(self.load_classifier(bytes, device)?),
            Kind::Ncsn => {
                let (unet, noise) = self.load_ncsn(bytes, device)?;
                Model::Ncsn { unet, noise }
            }
            Kind::Vae => Model::Vae(self.load_vae(bytes, device)?),
            Kind::Gan => {
                let (generator, loss) = self.load_generator(bytes, device)?;
                Model::Gan { generator, loss }
            }
            Kind::Autoencoder => {
                let (autoencoder, latent_scale) = self.load_autoencoder(bytes, device)?;
                Model::Autoencoder {
                    autoencoder,
                    latent_scale,
                }
            }
            Kind::TextDdpm => {
                let (unet, schedule, tokenizer) = self.load_text_ddpm(bytes, device)?;
                Model::Text {
                    unet,
                    schedule,
                    tokenizer,
                }
            }
        })
    }

    /// Rebuilds the diffusion model and its schedule from this card and the weights' bytes.
    pub fn load_ddpm(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(ContextUnet, NoiseSchedule), CardError> {
        let ModelSpec::DdpmCfg {
            unet,
            schedule: s,
            distilled,
        } = &self.model
        else {
            return Err(self.wrong_kind(Kind::DdpmCfg));
        };
        self.check_bytes(bytes)?;
        config(unet.validate())?;
        if distilled.is_some() && unet.guidance_max.is_none() {
            return Err(CardError::Config(
                "a distilled student's network must take the guidance scale as an input (unet.guidance_max)".into(),
            ));
        }
        let schedule = schedule(*s)?;
        Ok((load_record(unet.init(device), bytes)?, schedule))
    }

    /// Rebuilds a score network and its noise range from this card and the weights' bytes.
    pub fn load_ncsn(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(ContextUnet, NoiseRange), CardError> {
        let ModelSpec::Ncsn { unet, noise } = &self.model else {
            return Err(self.wrong_kind(Kind::Ncsn));
        };
        self.check_bytes(bytes)?;
        config(unet.validate())?;
        if unet.guidance_max.is_some() || unet.v_prediction == Some(true) {
            return Err(CardError::Config(
                "a score network predicts the noise and takes no guidance input (unet.guidance_max, unet.v_prediction are a distilled DDPM's)".into(),
            ));
        }
        noise
            .check()
            .map_err(|e| CardError::Config(e.to_string()))?;
        Ok((load_record(unet.init(device), bytes)?, *noise))
    }

    /// Rebuilds a VAE from this card and the weights' bytes.
    pub fn load_vae(&self, bytes: &[u8], device: &Device) -> Result<Vae, CardError> {
        let ModelSpec::Vae { vae } = &self.model else {
            return Err(self.wrong_kind(Kind::Vae));
        };
        self.check_bytes(bytes)?;
        config(vae.validate())?;
        load_record(vae.init(device), bytes)
    }

    /// Rebuilds a GAN's generator (and says which loss trained it).
    pub fn load_generator(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Generator, GanLoss), CardError> {
        let ModelSpec::Gan { generator, loss } = &self.model else {
            return Err(self.wrong_kind(Kind::Gan));
        };
        self.check_bytes(bytes)?;
        config(generator.validate())?;
        Ok((load_record(generator.init(device), bytes)?, *loss))
    }

    /// Rebuilds the latent-diffusion autoencoder and its latent scale.
    pub fn load_autoencoder(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Autoencoder, f64), CardError> {
        let ModelSpec::Autoencoder {
            autoencoder,
            latent_scale,
        } = &self.model
        else {
            return Err(self.wrong_kind(Kind::Autoencoder));
        };
        self.check_bytes(bytes)?;
        config(autoencoder.validate())?;
        if !(latent_scale.is_finite() && *latent_scale > 0.0) {
            return Err(CardError::Config(format!(
                "latent_scale must be positive, got {latent_scale}"
            )));
        }
        Ok((load_record(autoencoder.init(device), bytes)?, *latent_scale))
    }

    /// The tokenizer of a text model's card (without loading its weights: the page tokenises
    /// while the weights download).
    pub fn tokenizer(&self) -> Result<PromptTokenizer, CardError> {
        let ModelSpec::TextDdpm {
            unet, tokenizer, ..
        } = &self.model
        else {
            return Err(self.wrong_kind(Kind::TextDdpm));
        };
        let tokenizer = PromptTokenizer::from_json(&tokenizer.to_string(), unet.text.max_len)
            .map_err(CardError::Config)?;
        if tokenizer.vocab_size() > unet.text.vocab_size {
            return Err(CardError::Config(format!(
                "the tokenizer has {} tokens, the text encoder only {}",
                tokenizer.vocab_size(),
                unet.text.vocab_size
            )));
        }
        Ok(tokenizer)
    }

    /// Rebuilds a text-conditioned UNet, its schedule and its tokenizer. A latent model also
    /// needs its autoencoder ([`Card::load_autoencoder`] on the card that [`Space::Latent`]
    /// names; [`Card::check_autoencoder`] checks the pair).
    pub fn load_text_ddpm(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(TextUnet, NoiseSchedule, PromptTokenizer), CardError> {
        let ModelSpec::TextDdpm {
            unet, schedule: s, ..
        } = &self.model
        else {
            return Err(self.wrong_kind(Kind::TextDdpm));
        };
        let tokenizer = self.tokenizer()?;
        self.check_bytes(bytes)?;
        config(unet.validate())?;
        let schedule = schedule(*s)?;
        Ok((load_record(unet.init(device), bytes)?, schedule, tokenizer))
    }

    /// Checks that `autoencoder` is the card this latent text model was trained with.
    pub fn check_autoencoder(&self, autoencoder: &Card) -> Result<(), CardError> {
        let ModelSpec::TextDdpm {
            space: Space::Latent {
                autoencoder_sha256, ..
            },
            unet,
            ..
        } = &self.model
        else {
            return Err(CardError::Config("not a latent text model".into()));
        };
        let ModelSpec::Autoencoder {
            autoencoder: config,
            ..
        } = &autoencoder.model
        else {
            return Err(autoencoder.wrong_kind(Kind::Autoencoder));
        };
        if autoencoder.sha256 != *autoencoder_sha256 {
            return Err(CardError::Mismatch(format!(
                "the latent model was trained on the autoencoder with sha256 {autoencoder_sha256}, this one is {}",
                autoencoder.sha256
            )));
        }
        let [c, side, _] = config.latent_shape();
        if unet.in_channels != c || unet.image_size != side {
            return Err(CardError::Mismatch(format!(
                "the UNet denoises {}x{s}x{s}, the autoencoder's latent is {c}x{side}x{side}",
                unet.in_channels,
                s = unet.image_size
            )));
        }
        Ok(())
    }

    /// Rebuilds the classifier from this card and the weights' bytes.
    pub fn load_classifier(&self, bytes: &[u8], device: &Device) -> Result<Classifier, CardError> {
        let ModelSpec::Classifier { classifier } = &self.model else {
            return Err(self.wrong_kind(Kind::Classifier));
        };
        self.check_bytes(bytes)?;
        config(classifier.validate())?;
        load_record(classifier.init(device), bytes)
    }
}

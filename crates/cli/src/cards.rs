//! # Loading and writing cards from disk
//!
//! The checks themselves live in `digitlab-weights` (shared with the page); this module only
//! finds the files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use digitlab_captions::PromptTokenizer;
use digitlab_diffusion::{NoiseRange, NoiseSchedule};
use digitlab_models::{Autoencoder, Classifier, ContextUnet, TextUnet};
use digitlab_weights::{Card, Kind, Model, ModelSpec, Space, record_bytes_f16, sha256_hex};

use crate::files;

/// A card read from disk, with the path of its weights file.
pub struct CardFile {
    pub card: Card,
    pub path: PathBuf,
    pub weights_path: PathBuf,
}

impl CardFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the card {}", path.display()))?;
        let card = Card::from_json(&text).with_context(|| format!("{}", path.display()))?;
        let weights_path = path.parent().unwrap_or(Path::new(".")).join(&card.weights);
        Ok(Self {
            card,
            path: path.to_path_buf(),
            weights_path,
        })
    }

    pub fn kind(&self) -> Kind {
        self.card.kind()
    }

    /// Whatever model the card describes (a latent text model without its autoencoder: see
    /// [`CardFile::load_text_ddpm`]).
    pub fn load(&self, device: &Device) -> Result<Model> {
        let bytes = self.weights()?;
        self.card
            .load(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))
    }

    pub fn weights(&self) -> Result<Vec<u8>> {
        files::read(&self.weights_path)
            .with_context(|| format!("the weights named by {}", self.path.display()))
    }

    pub fn load_ddpm(&self, device: &Device) -> Result<(ContextUnet, NoiseSchedule)> {
        let bytes = self.weights()?;
        self.card
            .load_ddpm(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))
    }

    pub fn load_ncsn(&self, device: &Device) -> Result<(ContextUnet, NoiseRange)> {
        let bytes = self.weights()?;
        self.card
            .load_ncsn(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))
    }

    pub fn load_autoencoder(&self, device: &Device) -> Result<(Autoencoder, f64)> {
        let bytes = self.weights()?;
        self.card
            .load_autoencoder(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))
    }

    /// A text model, its schedule and tokenizer, and for a latent model the autoencoder (read
    /// from beside the card and checked to be the one it was trained with) and its scale.
    pub fn load_text_ddpm(&self, device: &Device) -> Result<TextModel> {
        let bytes = self.weights()?;
        let (unet, schedule, tokenizer) = self
            .card
            .load_text_ddpm(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))?;
        let decoder = match &self.card.model {
            ModelSpec::TextDdpm {
                space: Space::Latent { autoencoder, .. },
                ..
            } => {
                let path = self
                    .path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(autoencoder);
                let ae = CardFile::read(&path).with_context(|| {
                    format!(
                        "the autoencoder of the latent model {}",
                        self.path.display()
                    )
                })?;
                self.card
                    .check_autoencoder(&ae.card)
                    .with_context(|| format!("{} and {}", self.path.display(), path.display()))?;
                Some(ae.load_autoencoder(device)?)
            }
            _ => None,
        };
        Ok(TextModel {
            unet,
            schedule,
            tokenizer,
            decoder,
        })
    }

    pub fn load_classifier(&self, device: &Device) -> Result<Classifier> {
        let bytes = self.weights()?;
        self.card
            .load_classifier(&bytes, device)
            .with_context(|| format!("{}", self.path.display()))
    }

    /// Rewrites the card (after metrics were added), atomically.
    pub fn save(&self) -> Result<()> {
        files::write_atomic(&self.path, self.card.to_json().as_bytes())
    }
}

/// `digitlab weights half`: rewrites a card's weights in half precision (half the bytes the
/// page downloads; they are widened back to f32 on load) and records it in the card. Returns
/// the sizes before and after. An autoencoder is refused: the latent models trained on it pin
/// its sha256.
pub fn to_half(path: &Path) -> Result<(usize, usize)> {
    let mut file = CardFile::read(path)?;
    if file.card.stored_dtype.as_deref() == Some("f16") {
        bail!("{}: the weights are already f16", path.display());
    }
    let device = Device::flex();
    let before = std::fs::metadata(&file.weights_path)
        .with_context(|| format!("the weights named by {}", path.display()))?
        .len() as usize;
    let bytes = match file.load(&device)? {
        Model::Ddpm { unet, .. } | Model::Ncsn { unet, .. } => record_bytes_f16(unet),
        Model::Classifier(classifier) => record_bytes_f16(classifier),
        Model::Vae(vae) => record_bytes_f16(vae),
        Model::Gan { generator, .. } => record_bytes_f16(generator),
        Model::Text { unet, .. } => record_bytes_f16(unet),
        Model::Autoencoder { .. } => bail!(
            "{}: an autoencoder stays f32, because the latent models trained on it check its sha256",
            path.display()
        ),
    };
    file.card.sha256 = sha256_hex(&bytes);
    file.card.stored_dtype = Some("f16".into());
    // Weights, then card, each written atomically: an interruption between the two leaves a
    // card whose checksum refuses the new weights, never a half-written file.
    files::write_atomic(&file.weights_path, &bytes)?;
    file.save()?;
    Ok((before, bytes.len()))
}

/// A loaded text-conditioned model.
pub struct TextModel {
    pub unet: TextUnet,
    pub schedule: NoiseSchedule,
    pub tokenizer: PromptTokenizer,
    /// The autoencoder and latent scale of a latent model.
    pub decoder: Option<(Autoencoder, f64)>,
}

/// Writes `weights` as `<dir>/<stem>.bpk` and its card as `<dir>/<stem>.json`.
pub fn write_weights(dir: &Path, stem: &str, weights: &[u8], mut card: Card) -> Result<PathBuf> {
    card.weights = format!("{stem}.bpk");
    card.sha256 = sha256_hex(weights);
    files::write_atomic(&dir.join(&card.weights), weights)?;
    let card_path = dir.join(format!("{stem}.json"));
    files::write_atomic(&card_path, card.to_json().as_bytes())?;
    Ok(card_path)
}

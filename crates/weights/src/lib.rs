//! # Weights cards
//!
//! Every weights file (a Burn record in the burnpack format, `*.bpk`) travels with a JSON
//! card: which model it is, the exact config that rebuilds it, the data and training that made
//! it, the metrics measured on it, a format version and the sha256 of the weights file.
//!
//! Loading checks, in order, and refuses with a message naming what is wrong: the card parses;
//! its format version is one this build reads; its kind is the one the caller wants (a
//! classifier card is not a diffusion model); the weights' sha256 matches; the config is valid;
//! the file is a record of finite values with at least as many values as the config's module
//! has parameters (checked before any parameter is allocated); the record fits the architecture
//! of the config (a record of another width names the tensors that do not fit).
//!
//! - [`card`]: the card, its [`Kind`] and [`ModelSpec`].
//! - [`record`]: module parameters to bytes and back, and the host-side check of a record.
//! - [`load`]: the checked loaders, one per kind, and [`Card::load`] into a typed [`Model`].

pub mod card;
pub mod load;
pub mod record;

pub use card::{
    Card, DataInfo, Distillation, FORMAT_VERSION, GanLoss, Kind, ModelSpec, Space, TrainingInfo,
    sha256_hex,
};
pub use load::Model;
pub use record::{
    RecordSummary, RecordTensor, load_record, record_bytes, record_bytes_f16, record_tensors,
};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CardError {
    #[error("not a DigitLab weights card: {0}")]
    Parse(String),
    #[error(
        "card format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    Version { found: u32 },
    #[error("this is a `{found}` card, but a `{expected}` model is needed here")]
    WrongKind { expected: Kind, found: Kind },
    #[error(
        "the weights file does not match its card (sha256 {actual}, card says {expected}): corrupt, truncated, or the card of another file"
    )]
    Checksum { expected: String, actual: String },
    #[error("the weights do not fit the architecture in the card: {0}")]
    Mismatch(String),
    #[error("the weights hold a value that is not a finite number, in {0}: refused")]
    NonFinite(String),
    #[error("invalid config in the card: {0}")]
    Config(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use burn::tensor::DType;
    use digitlab_diffusion::{NoiseRange, ScheduleConfig};
    use digitlab_models::{ContextUnetConfig, GeneratorConfig, VaeConfig};

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
                distilled: None,
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
                distilled: None,
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
        // A student's network under a score network's card, and a card that says "distilled"
        // over a network without the guidance input, are refused by their configs.
        let student = unet
            .clone()
            .with_guidance_max(Some(4.0))
            .with_v_prediction(Some(true));
        let student_bytes = record_bytes(student.init(&device));
        let odd_ncsn = card_for(
            ModelSpec::Ncsn {
                unet: student,
                noise: NoiseRange::default(),
            },
            &student_bytes,
        );
        assert!(matches!(
            odd_ncsn.load_ncsn(&student_bytes, &device),
            Err(CardError::Config(_))
        ));
        let not_a_student = card_for(
            ModelSpec::DdpmCfg {
                unet: unet.clone(),
                schedule: ScheduleConfig::default(),
                distilled: Some(crate::Distillation {
                    teacher_sha256: "0".repeat(64),
                    origin_sha256: "0".repeat(64),
                    steps: Some(4),
                }),
            },
            &bytes,
        );
        assert!(matches!(
            not_a_student.load_ddpm(&bytes, &device),
            Err(CardError::Config(_))
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
        // A config far larger than the file (n_feat 60,000 would be 5e11 bytes in one
        // convolution) is refused by its parameter count, before anything is allocated; one
        // beyond the models' bounds, by its config.
        let huge = |n_feat| {
            card_for(
                ModelSpec::DdpmCfg {
                    unet: ContextUnetConfig::new().with_n_feat(n_feat),
                    schedule: ScheduleConfig::default(),
                    distilled: None,
                },
                &bytes,
            )
        };
        assert!(
            matches!(huge(60_000).load_ddpm(&bytes, &device), Err(CardError::Mismatch(m)) if m.contains("parameters")),
        );
        assert!(
            matches!(huge(100_000).load_ddpm(&bytes, &device), Err(CardError::Config(m)) if m.contains("at most 65536")),
        );
        // Whatever the card holds loads as its typed model.
        assert_eq!(card.load(&bytes, &device).unwrap().kind(), Kind::DdpmCfg);
        assert_eq!(ncsn.load(&bytes, &device).unwrap().kind(), Kind::Ncsn);
        assert_eq!(
            card.load_classifier(&bytes, &device)
                .unwrap_err()
                .to_string(),
            "this is a `ddpm-cfg` card, but a `classifier` model is needed here"
        );
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
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
                distilled: None,
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

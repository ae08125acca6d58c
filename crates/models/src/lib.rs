//! # DigitLab models
//!
//! The Burn modules that the native trainer trains and the browser page runs, unchanged:
//!
//! - [`ContextUnet`]: the class-conditional noise-prediction network of DDPM with
//!   classifier-free guidance, after TeaPearce/Conditional_Diffusion_MNIST.
//! - [`Classifier`]: a small CNN used only to *judge* generated digits (accuracy, confidence,
//!   and the features of the Fréchet distance).
//! - [`Vae`]: a convolutional VAE with a Bernoulli decoder.
//! - [`Generator`] and [`Critic`]: a DCGAN generator and its discriminator / WGAN critic
//!   (optionally spectrally normalised).
//! - [`TextUnet`] with its [`TextEncoder`]: text-conditioned noise prediction, by
//!   cross-attention or FiLM, in pixel or latent space.
//! - [`Autoencoder`]: the KL autoencoder whose 7x7 latent the latent-diffusion model works in.
//!
//! Every module has a `#[derive(Config)]` whose JSON travels with the weights, so that
//! inference rebuilds exactly the trained architecture before loading the record.

pub mod autoencoder;
pub mod classifier;
pub mod context_unet;
pub mod embeddings;
pub mod gan;
pub mod pixels;
pub mod resnet;
pub mod text_encoder;
pub mod text_unet;
pub mod unet_blocks;
pub mod vae;

pub use autoencoder::{Autoencoder, AutoencoderConfig};
pub use classifier::{Classifier, ClassifierConfig};
pub use context_unet::{ContextUnet, ContextUnetConfig};
pub use gan::{Critic, CriticConfig, Generator, GeneratorConfig};
pub use text_encoder::{TextEncoder, TextEncoderConfig};
pub use text_unet::{Conditioning, TextStates, TextUnet, TextUnetConfig, TextUnetOutput};
pub use vae::{Vae, VaeConfig};

/// Number of groups for a GroupNorm over `channels`: 8 where it divides, else 1 (LayerNorm-like).
///
/// GroupNorm replaces the BatchNorm of the original ContextUnet: BatchNorm couples the samples
/// of a batch, which would make the conditional and unconditional halves of a guided batch
/// influence each other, and needs running statistics that an EMA of the weights does not track.
pub(crate) fn norm_groups(channels: usize) -> usize {
    if channels.is_multiple_of(8) { 8 } else { 1 }
}

/// The largest side of an image a config may ask for.
pub const MAX_IMAGE_SIZE: usize = 1024;

/// The largest width, channel count, latent size, vocabulary or sequence length a config may ask
/// for: far beyond any model this lab trains, and small enough that every tensor's size is a
/// number (a card's config is checked against these before a module is built from it, and a
/// module's parameters are counted before any is allocated).
pub const MAX_DIM: usize = 1 << 16;

/// Every model here halves the image twice (two poolings or strided convolutions), so its side
/// must be a positive multiple of 4 (and at most [`MAX_IMAGE_SIZE`]).
pub(crate) fn check_image_size(size: usize) -> Result<(), String> {
    if !size.is_multiple_of(4) || size == 0 || size > MAX_IMAGE_SIZE {
        return Err(format!(
            "image_size must be a positive multiple of 4 (the image is halved twice) up to {MAX_IMAGE_SIZE}, got {size}"
        ));
    }
    Ok(())
}

/// Refuses any of the named sizes above [`MAX_DIM`].
pub(crate) fn check_dims(model: &str, dims: &[(&str, usize)]) -> Result<(), String> {
    match dims.iter().find(|(_, v)| *v > MAX_DIM) {
        Some((name, v)) => Err(format!(
            "{model}: {name} must be at most {MAX_DIM}, got {v}"
        )),
        None => Ok(()),
    }
}

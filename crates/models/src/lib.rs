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

/// Every model here halves the image twice (two poolings or strided convolutions), so its side
/// must be a positive multiple of 4.
pub(crate) fn check_image_size(size: usize) -> Result<(), String> {
    if !size.is_multiple_of(4) || size == 0 {
        return Err(format!(
            "image_size must be a positive multiple of 4 (the image is halved twice), got {size}"
        ));
    }
    Ok(())
}

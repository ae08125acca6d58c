//! # KL autoencoder
//!
//! The first stage of latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis
//! with Latent Diffusion Models"): a convolutional autoencoder that maps a 28x28 digit to a
//! `latent_channels x 7 x 7` map and back, trained *before* the diffusion model and then frozen.
//! Its encoder outputs a diagonal Gaussian, and a small KL term towards `N(0, I)` (weight
//! `kl_weight` in the trainer, far below a VAE's 1) keeps the latent's scale and shape tame
//! without forcing it to forget the image: the point is a faithful, compact code, not samples
//! from the prior. The diffusion model then works on `latent_scale * mu` (Stable Diffusion's
//! `scaling_factor`, measured on the training set so the latent has unit variance) and the
//! decoder turns the final latent back into pixels.
//!
//! Unlike the [`crate::Vae`], the latent keeps its spatial layout: 7x7 positions the UNet's
//! convolutions and cross-attention can still address.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid};

use crate::resnet::ResidualConvBlock;
use crate::vae::{Posterior, bernoulli_nll, kl_to_standard_normal};

#[derive(Config, Debug, PartialEq)]
pub struct AutoencoderConfig {
    #[config(default = 28)]
    pub image_size: usize,
    /// Channels of the latent map.
    #[config(default = 4)]
    pub latent_channels: usize,
    /// Channels at full resolution; twice this at 14x14 and 7x7.
    #[config(default = 32)]
    pub width: usize,
}

impl AutoencoderConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.latent_channels == 0 || self.width == 0 {
            return Err("autoencoder: latent_channels and width must be positive".into());
        }
        crate::check_dims(
            "autoencoder",
            &[
                ("latent_channels", self.latent_channels),
                ("width", self.width),
            ],
        )?;
        crate::check_image_size(self.image_size)
    }

    /// `[channels, side, side]` of the latent.
    pub fn latent_shape(&self) -> [usize; 3] {
        let side = self.image_size / 4;
        [self.latent_channels, side, side]
    }

    pub fn init(&self, device: &Device) -> Autoencoder {
        let w = self.width;
        let down = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        let same = |i, o, k: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Autoencoder {
            enc_in: ResidualConvBlock::new(1, w, true, device),
            enc_down1: down(w, 2 * w),
            enc_block: ResidualConvBlock::new(2 * w, 2 * w, true, device),
            enc_down2: down(2 * w, 2 * w),
            enc_out: same(2 * w, 2 * self.latent_channels, 1),
            dec_in: same(self.latent_channels, 2 * w, 3),
            dec_block1: ResidualConvBlock::new(2 * w, 2 * w, true, device),
            dec_up1: up(2 * w, w),
            dec_block2: ResidualConvBlock::new(w, w, true, device),
            dec_up2: up(w, w),
            dec_out: same(w, 1, 3),
            latent_channels: self.latent_channels,
            image_size: self.image_size,
        }
    }
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    enc_in: ResidualConvBlock,
    enc_down1: Conv2d,
    enc_block: ResidualConvBlock,
    enc_down2: Conv2d,
    enc_out: Conv2d,
    dec_in: Conv2d,
    dec_block1: ResidualConvBlock,
    dec_up1: ConvTranspose2d,
    dec_block2: ResidualConvBlock,
    dec_up2: ConvTranspose2d,
    dec_out: Conv2d,
    latent_channels: usize,
    image_size: usize,
}

/// The loss terms of one batch, per image: `reconstruction + kl_weight * kl`.
pub struct AutoencoderLoss {
    /// Bernoulli negative log-likelihood of the pixels, nats per image.
    pub reconstruction: Tensor<1>,
    /// `KL(q(z|x) || N(0, I))`, nats per image.
    pub kl: Tensor<1>,
}

impl Autoencoder {
    /// `[channels, side, side]` of the latent.
    pub fn latent_shape(&self) -> [usize; 3] {
        let side = self.image_size / 4;
        [self.latent_channels, side, side]
    }

    /// The encoder's Gaussian over the latent, flattened to `[batch, c * side * side]`.
    ///
    /// `x`: `[batch, 1, size, size]`, pixels in `[0, 1]`.
    pub fn encode(&self, x: Tensor<4>) -> Posterior {
        let [batch, _, _, _] = x.dims();
        let [c, side, _] = self.latent_shape();
        let h = self.enc_in.forward(x);
        let h = self.enc_block.forward(gelu(self.enc_down1.forward(h)));
        let h = gelu(self.enc_down2.forward(h));
        let moments = self.enc_out.forward(h); // [batch, 2c, side, side]
        let mut halves = moments.chunk(2, 1);
        let log_var = halves.pop().expect("two halves").clamp(-30.0, 20.0);
        let mu = halves.pop().expect("two halves");
        Posterior {
            mu: mu.reshape([batch, c * side * side]),
            log_var: log_var.reshape([batch, c * side * side]),
        }
    }

    /// Pixel logits of a latent `[batch, c, side, side]`.
    pub fn decode_logits(&self, z: Tensor<4>) -> Tensor<4> {
        let h = self.dec_block1.forward(gelu(self.dec_in.forward(z)));
        let h = self.dec_block2.forward(gelu(self.dec_up1.forward(h)));
        self.dec_out.forward(gelu(self.dec_up2.forward(h)))
    }

    /// Pixels in `[0, 1]` of a latent `[batch, c, side, side]`.
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        sigmoid(self.decode_logits(z))
    }

    /// The posterior's mean as a latent map `[batch, c, side, side]`.
    pub fn encode_mean(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, _, _, _] = x.dims();
        let [c, side, _] = self.latent_shape();
        self.encode(x).mu.reshape([batch, c, side, side])
    }

    /// Loss terms for pixels `x` in `[0, 1]` and standard normal `e` `[batch, c*side*side]`.
    pub fn loss(&self, x: Tensor<4>, e: Tensor<2>) -> AutoencoderLoss {
        let [batch, _, _, _] = x.dims();
        let [c, side, _] = self.latent_shape();
        let q = self.encode(x.clone());
        let z = q.sample(e).reshape([batch, c, side, side]);
        AutoencoderLoss {
            reconstruction: bernoulli_nll(self.decode_logits(z), x),
            kl: kl_to_standard_normal(&q),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_loss_terms() {
        let device = Device::flex();
        device.seed(1);
        let config = AutoencoderConfig::new().with_width(8);
        assert_eq!(config.latent_shape(), [4, 7, 7]);
        let model = config.init(&device);
        let x = Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let z = model.encode_mean(x.clone());
        assert_eq!(z.dims(), [3, 4, 7, 7]);
        let pixels = model.decode(z);
        assert_eq!(pixels.dims(), [3, 1, 28, 28]);
        let e = Tensor::<2>::zeros([3, 196], &device);
        let loss = model.loss(x, e);
        let rec: Vec<f32> = loss.reconstruction.into_data().try_to_vec().unwrap();
        let kl: Vec<f32> = loss.kl.into_data().try_to_vec().unwrap();
        // An untrained decoder is near p = 1/2 everywhere: about 784 ln 2 = 543 nats.
        assert!(rec.iter().all(|r| (300.0..900.0).contains(r)), "{rec:?}");
        assert!(kl.iter().all(|k| *k >= 0.0));
        assert!(
            AutoencoderConfig::new()
                .with_image_size(30)
                .validate()
                .is_err()
        );
    }
}

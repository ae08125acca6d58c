//! # TextUnet
//!
//! The noise-prediction network of text-conditioned diffusion, `eps_theta(x_t, t, prompt)`,
//! with its own [`TextEncoder`] trained jointly. It is the ContextUnet's shape (residual
//! blocks, two poolings to 7x7 for 28x28 digits, skip connections) with the condition applied
//! in one of two ways, so the page can set them side by side with the class-conditional model
//! (Q4 b of the questions):
//!
//! - [`Conditioning::CrossAttention`], Stable Diffusion's way (Rombach et al. 2022): at the
//!   bottleneck and after every up level, the image features are the *queries* (one per
//!   position) and the prompt's token states the *keys and values*; each position takes the
//!   mixture of tokens it attends to. The attention weights are a map, per token, of where in
//!   the image that token acts, and the page draws it.
//! - [`Conditioning::Film`] (Perez et al. 2018): the `[CLS]` state sets a per-channel scale and
//!   shift, `h <- h (1 + gamma) + beta`, at the same places. The whole prompt becomes one vector,
//!   as the class embedding of the ContextUnet does for a label.
//!
//! `levels` is the number of 2x down/up levels: 2 for 28x28 pixels, 0 for the 7x7 latent of the
//! [`crate::Autoencoder`], where the network is residual blocks and conditioning at one
//! resolution (a 7x7 map is already covered by two 3x3 convolutions and attention).

use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::embeddings::EmbedFc;
use crate::norm_groups;
use crate::resnet::ResidualConvBlock;
use crate::text_encoder::{TextEncoder, TextEncoderConfig};
use crate::unet_blocks::{UnetDown, UnetUp};

/// How the prompt enters the UNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conditioning {
    CrossAttention,
    Film,
}

impl Conditioning {
    pub fn name(self) -> &'static str {
        match self {
            Conditioning::CrossAttention => "cross-attention",
            Conditioning::Film => "FiLM",
        }
    }
}

#[derive(Config, Debug, PartialEq)]
pub struct TextUnetConfig {
    pub text: TextEncoderConfig,
    #[config(default = "Conditioning::CrossAttention")]
    pub conditioning: Conditioning,
    /// Channels of what is denoised: 1 for pixels, the autoencoder's latent channels.
    #[config(default = 1)]
    pub in_channels: usize,
    #[config(default = 28)]
    pub image_size: usize,
    #[config(default = 32)]
    pub n_feat: usize,
    /// 2x down/up levels: 2 for 28x28 pixels, 0 for a 7x7 latent.
    #[config(default = 2)]
    pub levels: usize,
    /// Heads of each cross-attention.
    #[config(default = 4)]
    pub heads: usize,
    /// Conditioned residual blocks at the bottleneck beyond the first. A 7x7 latent model has
    /// no up levels to condition, so without these the time and the prompt would enter once.
    #[config(default = 0)]
    pub extra_mid_blocks: usize,
    /// Self-attention over the bottleneck's positions before its cross-attention, as in
    /// Stable Diffusion's transformer blocks: every position sees the whole image, which the
    /// pixel model needs to lay out a digit from noise (its 3x3 convolutions alone left
    /// strokes without a shape after 10 epochs). `None` in cards written before it existed.
    pub self_attention: Option<bool>,
}

impl TextUnetConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.text.validate()?;
        crate::check_dims(
            "text UNet",
            &[
                ("n_feat", self.n_feat),
                ("in_channels", self.in_channels),
                ("heads", self.heads),
                ("extra_mid_blocks", self.extra_mid_blocks),
            ],
        )?;
        if self.image_size > crate::MAX_IMAGE_SIZE {
            return Err(format!(
                "text UNet: image_size must be at most {}, got {}",
                crate::MAX_IMAGE_SIZE,
                self.image_size
            ));
        }
        if self.n_feat == 0 || self.in_channels == 0 || self.levels > 2 {
            return Err(format!(
                "text UNet: n_feat and in_channels must be positive and levels at most 2, got {self:?}"
            ));
        }
        let step = 1 << self.levels;
        if self.image_size == 0 || !self.image_size.is_multiple_of(step) {
            return Err(format!(
                "text UNet: image_size {} cannot be halved {} times",
                self.image_size, self.levels
            ));
        }
        if self.heads == 0 || !self.n_feat.is_multiple_of(self.heads) {
            return Err(format!(
                "text UNet: n_feat {} must split evenly into {} heads",
                self.n_feat, self.heads
            ));
        }
        Ok(())
    }

    /// Channels at each resolution, full size first: `n`, then `n` and `2n` after each halving.
    fn channels(&self) -> Vec<usize> {
        let n = self.n_feat;
        [n, n, 2 * n][..=self.levels].to_vec()
    }

    pub fn init(&self, device: &Device) -> TextUnet {
        let n = self.n_feat;
        let ch = self.channels();
        let mid = *ch.last().expect("at least one level");
        let site = |c: usize| ConditionSite::new(self, c, device);
        TextUnet {
            text: self.text.init(device),
            init_conv: ResidualConvBlock::new(self.in_channels, n, true, device),
            downs: (0..self.levels)
                .map(|i| UnetDown::new(ch[i], ch[i + 1], device))
                .collect(),
            mid1: ResidualConvBlock::new(mid, mid, true, device),
            mid_self: self
                .self_attention
                .unwrap_or(false)
                .then(|| SelfAttentionBlock::new(mid, self.heads, device)),
            mid_site: site(mid),
            mid2: ResidualConvBlock::new(mid, mid, true, device),
            extra_mid: (0..self.extra_mid_blocks)
                .map(|_| MidBlock {
                    block: ResidualConvBlock::new(mid, mid, true, device),
                    site: site(mid),
                })
                .collect(),
            ups: (0..self.levels)
                .rev()
                .map(|i| {
                    let input = if i + 1 == self.levels { mid } else { ch[i + 1] };
                    UnetUp::new(input + ch[i + 1], ch[i], device)
                })
                .collect(),
            up_sites: (0..self.levels).rev().map(|i| site(ch[i])).collect(),
            out_conv1: Conv2dConfig::new([2 * n, n], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            out_norm: GroupNormConfig::new(norm_groups(n), n).init(device),
            out_conv2: Conv2dConfig::new([n, self.in_channels], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            in_channels: self.in_channels,
            image_size: self.image_size,
        }
    }
}

/// The prompt once encoded: computed once per sampling run and reused at every step.
#[derive(Debug, Clone)]
pub struct TextStates {
    /// `[batch, max_len, d_text]`
    pub states: Tensor<3>,
    /// `[batch, max_len]`, `true` at padding.
    pub pad: Tensor<2, Bool>,
}

impl TextStates {
    /// Rows of `self` then rows of `other` (the conditional and unconditional halves of a
    /// guided batch).
    pub fn cat(self, other: TextStates) -> TextStates {
        TextStates {
            states: Tensor::cat(vec![self.states, other.states], 0),
            pad: Tensor::cat(vec![self.pad, other.pad], 0),
        }
    }

    /// The same prompts, each repeated `times` times in a row (`[a, b]` -> `[a, a, b, b]`).
    pub fn repeat_rows(self, times: usize) -> TextStates {
        let [batch, len, dim] = self.states.dims();
        TextStates {
            states: self
                .states
                .reshape([batch, 1, len, dim])
                .expand([batch, times, len, dim])
                .reshape([batch * times, len, dim]),
            pad: self
                .pad
                .reshape([batch, 1, len])
                .expand([batch, times, len])
                .reshape([batch * times, len]),
        }
    }
}

/// A residual block followed by the time and the condition.
#[derive(Module, Debug)]
pub struct MidBlock {
    block: ResidualConvBlock,
    site: ConditionSite,
}

/// The time embedding and the condition at one resolution.
#[derive(Module, Debug)]
pub struct ConditionSite {
    time: EmbedFc,
    attention: Option<CrossAttentionBlock>,
    film: Option<Linear>,
}

impl ConditionSite {
    fn new(config: &TextUnetConfig, channels: usize, device: &Device) -> Self {
        let d_text = config.text.d_model;
        let (attention, film) = match config.conditioning {
            Conditioning::CrossAttention => (
                Some(CrossAttentionBlock::new(
                    channels,
                    d_text,
                    config.heads,
                    device,
                )),
                None,
            ),
            Conditioning::Film => (
                None,
                Some(LinearConfig::new(d_text, 2 * channels).init(device)),
            ),
        };
        Self {
            time: EmbedFc::new(1, channels, device),
            attention,
            film,
        }
    }

    /// `h + t_emb`, then the condition; returns the attention weights `[batch, h*w, max_len]`
    /// (averaged over heads) where the condition is cross-attention.
    fn forward(
        &self,
        h: Tensor<4>,
        t: Tensor<2>,
        text: &TextStates,
    ) -> (Tensor<4>, Option<Tensor<3>>) {
        let h = h + self.time.forward(t);
        if let Some(attention) = &self.attention {
            let (h, weights) = attention.forward(h, text);
            return (h, Some(weights));
        }
        let film = self.film.as_ref().expect("a site conditions one way");
        let [batch, channels, _, _] = h.dims();
        let cls = text.states.clone().narrow(1, 0, 1).squeeze_dim::<2>(1); // [batch, d_text]
        let gamma_beta = film.forward(cls).reshape([batch, 2 * channels, 1, 1]);
        let mut halves = gamma_beta.chunk(2, 1);
        let beta = halves.pop().expect("two halves");
        let gamma = halves.pop().expect("two halves");
        (h.clone() * (gamma + 1.0) + beta, None)
    }
}

/// Cross-attention from image positions (queries) to prompt tokens (keys and values), with a
/// residual connection: `h + Attention(GroupNorm(h), W_c text)`. The text states are first
/// projected to the image's width, so Burn's `MultiHeadAttention` (one width for queries,
/// keys and values) applies; it also returns the weights the page draws.
#[derive(Module, Debug)]
pub struct CrossAttentionBlock {
    norm: GroupNorm,
    context: Linear,
    attention: MultiHeadAttention,
}

impl CrossAttentionBlock {
    pub fn new(channels: usize, d_text: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(norm_groups(channels), channels).init(device),
            context: LinearConfig::new(d_text, channels).init(device),
            attention: MultiHeadAttentionConfig::new(channels, heads)
                .with_dropout(0.0)
                .init(device),
        }
    }

    /// # Shapes
    /// - `h`: `[batch, c, height, width]`; `text`: `[batch, len, d_text]` states and pad mask
    /// - returns `h` updated and the weights `[batch, height * width, len]`, averaged over
    ///   heads; each row sums to 1 over the prompt's real tokens.
    pub fn forward(&self, h: Tensor<4>, text: &TextStates) -> (Tensor<4>, Tensor<3>) {
        let queries = positions(self.norm.forward(h.clone()));
        let context = self.context.forward(text.states.clone()); // [batch, len, c]
        let out = self
            .attention
            .forward(MhaInput::new(queries, context.clone(), context).mask_pad(text.pad.clone()));
        let update = to_map(out.context, h.dims());
        let weights = out.weights.mean_dim(1).squeeze_dim::<3>(1); // [batch, h*w, len]
        (h + update, weights)
    }
}

/// Self-attention over the image's positions with a residual connection:
/// `h + Attention(GroupNorm(h))`, queries, keys and values all from the image.
#[derive(Module, Debug)]
pub struct SelfAttentionBlock {
    norm: GroupNorm,
    attention: MultiHeadAttention,
}

impl SelfAttentionBlock {
    pub fn new(channels: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(norm_groups(channels), channels).init(device),
            attention: MultiHeadAttentionConfig::new(channels, heads)
                .with_dropout(0.0)
                .init(device),
        }
    }

    /// `h`: `[batch, c, height, width]`, returned updated.
    pub fn forward(&self, h: Tensor<4>) -> Tensor<4> {
        let x = positions(self.norm.forward(h.clone()));
        let out = self.attention.forward(MhaInput::self_attn(x)).context;
        let dims = h.dims();
        h + to_map(out, dims)
    }
}

/// `[batch, c, height, width]` to one token per position, `[batch, height * width, c]`.
fn positions(h: Tensor<4>) -> Tensor<3> {
    let [batch, channels, height, width] = h.dims();
    h.reshape([batch, channels, height * width]).swap_dims(1, 2)
}

/// The inverse of [`positions`], back to a map of `dims`.
fn to_map(tokens: Tensor<3>, dims: [usize; 4]) -> Tensor<4> {
    tokens.swap_dims(1, 2).reshape(dims)
}

#[derive(Module, Debug)]
pub struct TextUnet {
    text: TextEncoder,
    init_conv: ResidualConvBlock,
    downs: Vec<UnetDown>,
    mid1: ResidualConvBlock,
    mid_self: Option<SelfAttentionBlock>,
    mid_site: ConditionSite,
    mid2: ResidualConvBlock,
    extra_mid: Vec<MidBlock>,
    ups: Vec<UnetUp>,
    up_sites: Vec<ConditionSite>,
    out_conv1: Conv2d,
    out_norm: GroupNorm,
    out_conv2: Conv2d,
    in_channels: usize,
    image_size: usize,
}

/// The noise prediction and, for cross-attention, the attention weights of the finest
/// conditioned resolution, `[batch, max_len, side, side]` (each position's weights over the
/// tokens, laid out as one map per token).
pub struct TextUnetOutput {
    pub noise: Tensor<4>,
    pub attention: Option<Tensor<4>>,
}

impl TextUnet {
    /// `[channels, size, size]` of what this network denoises.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.in_channels, self.image_size, self.image_size]
    }

    pub fn text_encoder(&self) -> &TextEncoder {
        &self.text
    }

    /// This network reading prompts through `text` (another text model's trained encoder, of
    /// the same configuration), frozen: Stable Diffusion's way with CLIP, where only the UNet
    /// learns to use a text representation that already tells the prompts apart.
    pub fn with_frozen_text_encoder(mut self, text: TextEncoder) -> Self {
        self.text = text.no_grad();
        self
    }

    /// Stops the encoder's parameters from learning (after a resumed run reloads them).
    pub fn freeze_text_encoder(mut self) -> Self {
        self.text = self.text.no_grad();
        self
    }

    /// Encodes prompts (token ids and pad mask from the tokenizer, `[batch, max_len]`).
    pub fn encode_text(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> TextStates {
        TextStates {
            states: self.text.forward(ids, pad.clone()),
            pad,
        }
    }

    /// Predicts the noise in `x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, size, size]`; `t`: `[batch]`, the step divided by T;
    ///   `text`: one prompt per row
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, text: &TextStates) -> Tensor<4> {
        self.forward_with_attention(x, t, text).noise
    }

    /// [`TextUnet::forward`], also returning the attention map of the finest conditioned level.
    pub fn forward_with_attention(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        text: &TextStates,
    ) -> TextUnetOutput {
        let [batch, _, _, _] = x.dims();
        let t = t.reshape([batch, 1]);
        // 1. down, keeping each level's output for the skip connections
        let x = self.init_conv.forward(x); // [batch, n, s, s]
        let mut skips = Vec::with_capacity(self.downs.len());
        let mut h = x.clone();
        for down in &self.downs {
            h = down.forward(h);
            skips.push(h.clone());
        }
        // 2. bottleneck, conditioned
        let mut h = self.mid1.forward(h);
        if let Some(block) = &self.mid_self {
            h = block.forward(h);
        }
        let (h, mut attention) = self.mid_site.forward(h, t.clone(), text);
        let mut h = self.mid2.forward(h);
        for mid in &self.extra_mid {
            let (next, weights) = mid.site.forward(mid.block.forward(h), t.clone(), text);
            h = next;
            attention = weights.or(attention);
        }
        // 3. up, conditioned after each level
        for (up, site) in self.ups.iter().zip(&self.up_sites) {
            let skip = skips.pop().expect("one skip per level");
            let (next, weights) = site.forward(up.forward(h, skip), t.clone(), text);
            h = next;
            attention = weights.or(attention);
        }
        // 4. out
        let out = Tensor::cat(vec![h, x], 1);
        let out = relu(self.out_norm.forward(self.out_conv1.forward(out)));
        let noise = self.out_conv2.forward(out);
        let attention = attention.map(|w| {
            let [b, positions, len] = w.dims();
            let side = (positions as f64).sqrt().round() as usize;
            w.swap_dims(1, 2).reshape([b, len, side, side])
        });
        TextUnetOutput { noise, attention }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompts(device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        let ids = Tensor::<2, Int>::from_ints([[2, 5, 7, 0, 0, 0], [2, 0, 0, 0, 0, 0]], device);
        let pad = ids.clone().equal_elem(0);
        (ids, pad)
    }

    fn config(conditioning: Conditioning) -> TextUnetConfig {
        TextUnetConfig::new(TextEncoderConfig::new(12).with_max_len(6).with_d_model(16))
            .with_n_feat(8)
            .with_conditioning(conditioning)
    }

    #[test]
    fn attention_maps_have_one_map_per_token_summing_to_one_over_real_tokens() {
        let device = Device::flex();
        device.seed(2);
        let model = config(Conditioning::CrossAttention).init(&device);
        let (ids, pad) = prompts(&device);
        let text = model.encode_text(ids, pad);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let out = model.forward_with_attention(x, Tensor::from_floats([0.3, 0.3], &device), &text);
        assert_eq!(out.noise.dims(), [2, 1, 28, 28]);
        let maps = out.attention.expect("cross-attention gives maps");
        assert_eq!(maps.dims(), [2, 6, 28, 28]);
        let sums: Vec<f32> = maps.clone().sum_dim(1).into_data().try_to_vec().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));
        // Padding gets no attention; the empty prompt's [CLS] gets all of it.
        let padded: f32 = maps.clone().narrow(1, 3, 3).max().into_scalar();
        assert!(padded < 1e-6, "{padded}");
        let cls: f32 = maps.narrow(0, 1, 1).narrow(1, 0, 1).min().into_scalar();
        assert!((cls - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_prompt_changes_the_prediction_both_ways_and_latents_need_no_levels() {
        let device = Device::flex();
        device.seed(4);
        for conditioning in [Conditioning::CrossAttention, Conditioning::Film] {
            let model = config(conditioning).init(&device);
            let (ids, pad) = prompts(&device);
            let text = model.encode_text(ids, pad);
            let x =
                Tensor::<4>::random([1, 1, 28, 28], burn::tensor::Distribution::Default, &device);
            let x = Tensor::cat(vec![x.clone(), x], 0);
            let eps = model.forward(x, Tensor::from_floats([0.5, 0.5], &device), &text);
            let diff: f32 = (eps.clone().narrow(0, 0, 1) - eps.narrow(0, 1, 1))
                .abs()
                .max()
                .into_scalar();
            assert!(diff > 1e-4, "{conditioning:?}: {diff}");
        }
        let latent = config(Conditioning::CrossAttention)
            .with_in_channels(4)
            .with_image_size(7)
            .with_levels(0)
            .with_extra_mid_blocks(2);
        latent.validate().unwrap();
        let model = latent.init(&device);
        let (ids, pad) = prompts(&device);
        let text = model.encode_text(ids, pad);
        let x = Tensor::<4>::zeros([2, 4, 7, 7], &device);
        let out = model.forward_with_attention(x, Tensor::from_floats([0.5, 0.5], &device), &text);
        assert_eq!(out.noise.dims(), [2, 4, 7, 7]);
        assert_eq!(out.attention.unwrap().dims(), [2, 6, 7, 7]);
        assert!(
            config(Conditioning::Film)
                .with_image_size(30)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn self_attention_lets_every_position_see_the_whole_map() {
        let device = Device::flex();
        device.seed(5);
        let block = SelfAttentionBlock::new(8, 2, &device);
        let h = Tensor::<4>::random([1, 8, 7, 7], burn::tensor::Distribution::Default, &device);
        let corner = Tensor::<4>::ones([1, 8, 1, 1], &device);
        let changed = h.clone().slice_assign([0..1, 0..8, 0..1, 0..1], corner);
        let far = |x: Tensor<4>| block.forward(x).slice([0..1, 0..8, 6..7, 6..7]);
        let diff: f32 = (far(h) - far(changed)).abs().max().into_scalar();
        assert!(diff > 1e-5, "the far corner did not change: {diff}");
        // The model with it denoises the same shapes.
        let model = config(Conditioning::CrossAttention)
            .with_self_attention(Some(true))
            .init(&device);
        let (ids, pad) = prompts(&device);
        let text = model.encode_text(ids, pad);
        let x = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        let eps = model.forward(x, Tensor::from_floats([0.5, 0.5], &device), &text);
        assert_eq!(eps.dims(), [2, 1, 28, 28]);
    }

    #[test]
    fn repeated_and_concatenated_states_keep_their_rows() {
        let device = Device::flex();
        let model = config(Conditioning::Film).init(&device);
        let (ids, pad) = prompts(&device);
        let text = model.encode_text(ids, pad);
        let rep = text.clone().repeat_rows(3);
        assert_eq!(rep.states.dims(), [6, 6, 16]);
        let diff: f32 = (rep.states.clone().narrow(0, 2, 1) - text.states.clone().narrow(0, 0, 1))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(diff, 0.0);
        let both = text.clone().cat(text);
        assert_eq!(both.pad.dims(), [4, 6]);
    }
}

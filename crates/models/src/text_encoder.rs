//! # Text encoder
//!
//! A small transformer encoder (Vaswani et al. 2017) over the prompt's tokens, trained jointly
//! with the diffusion model, in the role CLIP's text tower plays in Stable Diffusion: it turns
//! `[CLS] a thick seven [PAD] ...` into one vector per token, which the UNet's cross-attention
//! reads as keys and values. Token and learned position embeddings, Burn's
//! `TransformerEncoder` (pre-norm, no dropout: the captions are a small closed language and
//! the diffusion loss is noisy enough), a final LayerNorm. Padding is masked out of every
//! attention layer, so a prompt's states do not depend on how much padding follows it.
//!
//! The state of `[CLS]` (position 0) summarises the whole prompt; the FiLM variant of the
//! UNet conditions on it alone.

use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;

#[derive(Config, Debug, PartialEq)]
pub struct TextEncoderConfig {
    /// Tokens in the tokenizer's vocabulary.
    pub vocab_size: usize,
    /// Tokens per prompt, `[CLS]` and padding included.
    #[config(default = 12)]
    pub max_len: usize,
    /// Width of every token state.
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 2)]
    pub n_layers: usize,
}

impl TextEncoderConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::check_dims(
            "text encoder",
            &[
                ("vocab_size", self.vocab_size),
                ("max_len", self.max_len),
                ("d_model", self.d_model),
                ("n_heads", self.n_heads),
                ("n_layers", self.n_layers),
            ],
        )?;
        if self.vocab_size < 4 || self.max_len < 2 || self.n_layers == 0 {
            return Err(format!(
                "text encoder: need vocab_size >= 4, max_len >= 2 and a layer, got {self:?}"
            ));
        }
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return Err(format!(
                "text encoder: d_model {} must split evenly into {} heads",
                self.d_model, self.n_heads
            ));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> TextEncoder {
        TextEncoder {
            token: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            position: EmbeddingConfig::new(self.max_len, self.d_model).init(device),
            encoder: TransformerEncoderConfig::new(
                self.d_model,
                2 * self.d_model,
                self.n_heads,
                self.n_layers,
            )
            .with_dropout(0.0)
            .with_norm_first(true)
            .init(device),
            norm: LayerNormConfig::new(self.d_model).init(device),
            vocab_size: self.vocab_size,
            max_len: self.max_len,
        }
    }
}

#[derive(Module, Debug)]
pub struct TextEncoder {
    token: Embedding,
    position: Embedding,
    encoder: TransformerEncoder,
    norm: LayerNorm,
    vocab_size: usize,
    max_len: usize,
}

impl TextEncoder {
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// One state per token.
    ///
    /// # Shapes
    /// - `ids`: `[batch, max_len]` token ids; `pad`: `[batch, max_len]`, `true` at padding
    /// - returns `[batch, max_len, d_model]` (the states at padding are computed but masked
    ///   out of every attention that reads them)
    pub fn forward(&self, ids: Tensor<2, Int>, pad: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, len] = ids.dims();
        let positions = Tensor::<1, Int>::arange(0..len as i64, &ids.device())
            .reshape([1, len])
            .expand([batch, len]);
        let x = self.token.forward(ids) + self.position.forward(positions);
        let x = self
            .encoder
            .forward(TransformerEncoderInput::new(x).mask_pad(pad));
        self.norm.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_does_not_change_the_prompt_and_tokens_do() {
        let device = Device::flex();
        device.seed(5);
        let encoder = TextEncoderConfig::new(20).with_max_len(6).init(&device);
        let ids = Tensor::<2, Int>::from_ints([[2, 5, 7, 0, 0, 0], [2, 5, 7, 9, 0, 0]], &device);
        let pad = Tensor::<2, Bool>::from_bool(
            TensorData::new(
                vec![
                    false, false, false, true, true, true, //
                    false, false, false, false, true, true,
                ],
                [2, 6],
            ),
            &device,
        );
        let states = encoder.forward(ids.clone(), pad.clone());
        assert_eq!(states.dims(), [2, 6, 64]);
        // Another padding token id at a masked position changes nothing.
        let other = Tensor::<2, Int>::from_ints([[2, 5, 7, 3, 3, 3], [2, 5, 7, 9, 0, 0]], &device);
        let same: f32 = (encoder.forward(other, pad.clone()) - states.clone())
            .narrow(1, 0, 3)
            .abs()
            .max()
            .into_scalar();
        assert!(same < 1e-5, "{same}");
        // The fourth token of row 1 changes the [CLS] state.
        let cls = states.narrow(1, 0, 1);
        let diff: f32 = (cls.clone().narrow(0, 0, 1) - cls.narrow(0, 1, 1))
            .abs()
            .max()
            .into_scalar();
        assert!(diff > 1e-4, "{diff}");
    }
}

//! # Embeddings
//!
//! `EmbedFC` of the original ContextUnet: a two-layer MLP that maps a scalar time or a one-hot
//! class vector to a per-channel vector, later broadcast over the feature map.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

/// `Linear -> GELU -> Linear`, from `input` features to `dim` features.
#[derive(Module, Debug)]
pub struct EmbedFc {
    fc1: Linear,
    fc2: Linear,
}

impl EmbedFc {
    pub fn new(input: usize, dim: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(input, dim).init(device),
            fc2: LinearConfig::new(dim, dim).init(device),
        }
    }

    /// An embedding whose output layer starts at zero (weights and bias): it adds nothing to
    /// what it is summed with until trained (a student's new guidance input).
    pub fn zeroed(input: usize, dim: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(input, dim).init(device),
            fc2: LinearConfig::new(dim, dim)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// Width of the output.
    pub fn dim(&self) -> usize {
        self.fc2.weight.dims()[1]
    }

    /// # Shapes
    /// - `x`: `[batch, input]`
    /// - returns `[batch, dim, 1, 1]`, ready to broadcast over `[batch, dim, h, w]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<4> {
        let [batch, _] = x.dims();
        let x = gelu(self.fc1.forward(x));
        let x = self.fc2.forward(x); // [batch, dim]
        let [_, dim] = x.dims();
        x.reshape([batch, dim, 1, 1])
    }
}

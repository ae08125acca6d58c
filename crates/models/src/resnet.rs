//! # Residual convolution block
//!
//! `ResidualConvBlock` of ContextUnet: two `3x3 conv -> GroupNorm -> GELU` layers, with an
//! optional residual connection scaled by `1/sqrt(2)` to keep the activations' variance at one.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::norm_groups;

/// `3x3 conv (same padding) -> GroupNorm -> GELU`.
#[derive(Module, Debug)]
pub struct ConvNormAct {
    conv: Conv2d,
    norm: GroupNorm,
}

impl ConvNormAct {
    pub fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([input, output], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            norm: GroupNormConfig::new(norm_groups(output), output).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        gelu(self.norm.forward(self.conv.forward(x)))
    }
}

/// Two [`ConvNormAct`] layers; with `residual`, the input (or, when the channel count changes,
/// the first layer's output) is added back.
#[derive(Module, Debug)]
pub struct ResidualConvBlock {
    conv1: ConvNormAct,
    conv2: ConvNormAct,
    residual: bool,
    same_channels: bool,
}

impl ResidualConvBlock {
    pub fn new(input: usize, output: usize, residual: bool, device: &Device) -> Self {
        Self {
            conv1: ConvNormAct::new(input, output, device),
            conv2: ConvNormAct::new(output, output, device),
            residual,
            same_channels: input == output,
        }
    }

    /// # Shapes
    /// - `x`: `[batch, input, h, w]` -> `[batch, output, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x1 = self.conv1.forward(x.clone());
        let x2 = self.conv2.forward(x1.clone());
        if !self.residual {
            return x2;
        }
        let skip = if self.same_channels { x } else { x1 };
        (skip + x2) / core::f32::consts::SQRT_2
    }
}

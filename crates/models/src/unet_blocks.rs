//! # UNet down and up blocks
//!
//! A down block halves the resolution after two residual blocks; an up block doubles it with a
//! transposed convolution after concatenating the matching skip connection from the way down.

use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

use crate::resnet::ResidualConvBlock;

#[derive(Module, Debug)]
pub struct UnetDown {
    block1: ResidualConvBlock,
    block2: ResidualConvBlock,
    pool: MaxPool2d,
}

impl UnetDown {
    pub fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            block1: ResidualConvBlock::new(input, output, false, device),
            block2: ResidualConvBlock::new(output, output, false, device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// `[batch, input, h, w]` -> `[batch, output, h/2, w/2]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(self.block2.forward(self.block1.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct UnetUp {
    up: ConvTranspose2d,
    block1: ResidualConvBlock,
    block2: ResidualConvBlock,
}

impl UnetUp {
    /// `input` counts the channels after concatenating the skip connection.
    pub fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            up: ConvTranspose2dConfig::new([input, output], [2, 2])
                .with_stride([2, 2])
                .init(device),
            block1: ResidualConvBlock::new(output, output, false, device),
            block2: ResidualConvBlock::new(output, output, false, device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c1, h, w]`, `skip`: `[batch, c2, h, w]` with `c1 + c2 = input`
    /// - returns `[batch, output, 2h, 2w]`
    pub fn forward(&self, x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
        let x = Tensor::cat(vec![x, skip], 1);
        let x = self.up.forward(x);
        self.block2.forward(self.block1.forward(x))
    }
}

//! # Evaluation classifier
//!
//! A small CNN trained on the training split only, used to judge generated digits: its label
//! gives the accuracy of a conditional generator, its confidence the sharpness of a digit, and
//! its penultimate features the space of the Fréchet distance (an MNIST-sized stand-in for the
//! Inception features of FID).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    #[config(default = 10)]
    pub n_classes: usize,
    /// Width of the first convolutions; the second stage doubles it.
    #[config(default = 32)]
    pub width: usize,
    /// Size of the penultimate features (the Fréchet distance's space).
    #[config(default = 128)]
    pub features: usize,
    #[config(default = 0.3)]
    pub dropout: f64,
}

impl ClassifierConfig {
    /// Checks the configuration before any tensor is allocated.
    pub fn validate(&self) -> Result<(), String> {
        if self.n_classes == 0 || self.width == 0 || self.features == 0 {
            return Err("classifier: n_classes, width and features must be positive".into());
        }
        crate::check_dims(
            "classifier",
            &[
                ("n_classes", self.n_classes),
                ("width", self.width),
                ("features", self.features),
            ],
        )?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "classifier: dropout must be in [0, 1), got {}",
                self.dropout
            ));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Classifier {
        let w = self.width;
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Classifier {
            conv1: conv(1, w),
            conv2: conv(w, w),
            conv3: conv(w, 2 * w),
            conv4: conv(2 * w, 2 * w),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(2 * w * 7 * 7, self.features).init(device),
            fc2: LinearConfig::new(self.features, self.n_classes).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    conv4: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    dropout: Dropout,
}

impl Classifier {
    /// Penultimate features.
    ///
    /// # Shapes
    /// - `x`: `[batch, 1, 28, 28]` in `[-1, 1]` (the diffusion model's pixel range)
    /// - returns `[batch, features]`
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let [batch, _, _, _] = x.dims();
        let x = relu(self.conv1.forward(x));
        let x = self.pool.forward(relu(self.conv2.forward(x))); // [batch, w, 14, 14]
        let x = relu(self.conv3.forward(x));
        let x = self.pool.forward(relu(self.conv4.forward(x))); // [batch, 2w, 7, 7]
        let [_, c, h, w] = x.dims();
        let x = self.dropout.forward(x.reshape([batch, c * h * w]));
        relu(self.fc1.forward(x)) // [batch, features]
    }

    /// Class logits, `[batch, n_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.logits_from_features(self.features(x))
    }

    /// Logits from [`Classifier::features`], so a caller that needs both runs the body once.
    pub fn logits_from_features(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(self.dropout.forward(features))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let device = Device::flex();
        let model = ClassifierConfig::new()
            .with_width(4)
            .with_features(16)
            .init(&device);
        let x = Tensor::<4>::zeros([3, 1, 28, 28], &device);
        assert_eq!(model.features(x.clone()).dims(), [3, 16]);
        assert_eq!(model.forward(x).dims(), [3, 10]);
    }
}

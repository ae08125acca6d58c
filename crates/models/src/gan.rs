//! # GAN generator and critic
//!
//! A small DCGAN (Radford et al. 2016) for 28x28 digits:
//!
//! - [`Generator`]: `z` (and, optionally, a class) through a linear layer to `2w x 7 x 7`, two
//!   transposed convolutions with batch norm and ReLU, `tanh` to `[-1, 1]`.
//! - [`Critic`]: two strided convolutions with leaky ReLU and a linear read-out, no batch norm
//!   (a WGAN critic must score each digit on its own). With a class it adds the projection
//!   term `<embed(y), h>` of Miyato & Koyama (2018). The same module is the DCGAN
//!   discriminator (its output is then a logit) and the WGAN critic.
//!
//! ## The gradient penalty without second-order gradients
//!
//! WGAN-GP needs `|| grad_x D(x^) ||` *inside* the loss, so the weights' gradient goes through
//! a gradient: a second-order derivative. Burn 0.22's autodiff records one backward graph; the
//! gradients it returns are plain tensors that are not themselves tracked (upstream issue
//! #1942), so a penalty built from them would be a constant that trains nothing. This critic
//! is small enough to write its input gradient out by hand ([`Critic::input_gradient`]: the
//! read-out's weight, the leaky ReLUs' slopes at the stored pre-activations, each convolution's
//! transposed convolution), as ordinary forward ops that autodiff differentiates in the weights:
//! [`Critic::gradient_penalty`] is WGAN-GP's penalty, exactly, tested against Burn's own input
//! gradient and against finite differences in the weights. The other Lipschitz constraint,
//! **WGAN-SN**, divides every weight matrix by its largest singular value (Miyato et al. 2018),
//! which bounds the critic's Lipschitz constant (leaky ReLU is 1-Lipschitz).

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

/// Leaky ReLU slope of the critic (DCGAN's 0.2).
const SLOPE: f64 = 0.2;

#[derive(Config, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Size of the noise `z`.
    #[config(default = 64)]
    pub latent: usize,
    /// Channels before the last upsampling; the first feature map has twice as many.
    #[config(default = 32)]
    pub width: usize,
    /// `Some(10)`: class-conditional (the class embedding is concatenated to `z`).
    #[config(default = "None")]
    pub n_classes: Option<usize>,
    #[config(default = 28)]
    pub image_size: usize,
}

/// Size of the class embedding concatenated to `z` by a conditional generator.
const CLASS_DIM: usize = 16;

impl GeneratorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.latent == 0 || self.width == 0 || self.n_classes == Some(0) {
            return Err("latent, width and n_classes must be positive".into());
        }
        crate::check_dims(
            "generator",
            &[
                ("latent", self.latent),
                ("width", self.width),
                ("n_classes", self.n_classes.unwrap_or(0)),
            ],
        )?;
        crate::check_image_size(self.image_size)
    }

    pub fn init(&self, device: &Device) -> Generator {
        let (w, q) = (self.width, self.image_size / 4);
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        let extra = if self.n_classes.is_some() {
            CLASS_DIM
        } else {
            0
        };
        Generator {
            embed: self
                .n_classes
                .map(|n| EmbeddingConfig::new(n, CLASS_DIM).init(device)),
            fc: LinearConfig::new(self.latent + extra, 2 * w * q * q).init(device),
            bn0: BatchNormConfig::new(2 * w).init(device),
            up1: up(2 * w, w),
            bn1: BatchNormConfig::new(w).init(device),
            up2: up(w, 1),
            latent: self.latent,
            width: w,
            quarter: q,
        }
    }
}

#[derive(Module, Debug)]
pub struct Generator {
    embed: Option<Embedding>,
    fc: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
    latent: usize,
    width: usize,
    quarter: usize,
}

impl Generator {
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// Folds the batch norms' pending running-statistics updates into their values.
    ///
    /// Burn's `RunningState` keeps the latest update aside until it is read with
    /// `value_sync`, and a record is written from the older value: a checkpoint taken without
    /// this lags one update behind, and a resumed run drifts from the uninterrupted one.
    pub fn sync_running_stats(&self) {
        for bn in [&self.bn0, &self.bn1] {
            let _ = bn.running_mean.value_sync();
            let _ = bn.running_var.value_sync();
        }
    }

    pub fn is_conditional(&self) -> bool {
        self.embed.is_some()
    }

    /// `z` (`[batch, latent]`) and, for a conditional generator, the classes (`[batch]`) to
    /// digits `[batch, 1, side, side]` in `[-1, 1]`.
    pub fn forward(&self, z: Tensor<2>, classes: Option<Tensor<1, Int>>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let input = match (&self.embed, classes) {
            (Some(embed), Some(c)) => {
                let e = embed
                    .forward(c.reshape([batch, 1]))
                    .reshape([batch, CLASS_DIM]);
                Tensor::cat(vec![z, e], 1)
            }
            (None, _) => z,
            (Some(_), None) => panic!("a conditional generator needs classes"),
        };
        let h = self
            .fc
            .forward(input)
            .reshape([batch, 2 * self.width, self.quarter, self.quarter]);
        let h = relu(self.bn0.forward(h));
        let h = relu(self.bn1.forward(self.up1.forward(h)));
        tanh(self.up2.forward(h))
    }
}

#[derive(Config, Debug, PartialEq)]
pub struct CriticConfig {
    /// Channels of the first convolution; the second doubles it.
    #[config(default = 32)]
    pub width: usize,
    /// `Some(10)`: class-conditional (projection discriminator).
    #[config(default = "None")]
    pub n_classes: Option<usize>,
    /// Divide each weight by its largest singular value (WGAN-SN).
    #[config(default = false)]
    pub spectral_norm: bool,
    #[config(default = 28)]
    pub image_size: usize,
}

impl CriticConfig {
    pub fn init(&self, device: &Device) -> Critic {
        let (w, q) = (self.width, self.image_size / 4);
        let down = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let features = 2 * w * q * q;
        Critic {
            conv1: down(1, w),
            conv2: down(w, 2 * w),
            fc: LinearConfig::new(features, 1).init(device),
            embed: self
                .n_classes
                .map(|n| EmbeddingConfig::new(n, features).init(device)),
            spectral_norm: self.spectral_norm,
        }
    }
}

#[derive(Module, Debug)]
pub struct Critic {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Linear,
    embed: Option<Embedding>,
    spectral_norm: bool,
}

/// Power iterations per forward pass for the largest singular value.
///
/// SN-GAN runs one iteration per step and keeps the vector between steps; a Burn module's
/// forward pass takes `&self` and cannot carry that state, so each pass starts afresh from a
/// fixed vector and runs enough iterations to converge on these small matrices.
pub const POWER_ITERATIONS: usize = 8;

/// The largest singular value of `w` seen as a `[rows, rest]` matrix, by power iteration on
/// the detached weights; the returned `sigma = u^T W v` keeps `w`'s gradient, as in SN-GAN.
pub fn spectral_norm(w: Tensor<2>, iterations: usize) -> Tensor<1> {
    let [_, cols] = w.dims();
    let device = w.device();
    let fixed = w.clone().detach();
    let normalise = |x: Tensor<2>| {
        let n = x.clone().square().sum().sqrt().add_scalar(1e-12);
        x / n.unsqueeze::<2>()
    };
    // A fixed, non-degenerate start (alternating signs would be orthogonal to a smooth filter).
    let start: Vec<f32> = (0..cols).map(|i| 1.0 + (i % 7) as f32 * 0.1).collect();
    let mut v = normalise(Tensor::<1>::from_floats(start.as_slice(), &device).reshape([cols, 1]));
    let mut u = normalise(fixed.clone().matmul(v.clone()));
    for _ in 0..iterations {
        v = normalise(fixed.clone().transpose().matmul(u.clone()));
        u = normalise(fixed.clone().matmul(v.clone()));
    }
    u.transpose().matmul(w).matmul(v).reshape([1])
}

impl Critic {
    /// Divides a weight by its spectral norm when this critic is spectrally normalised.
    fn weight<const D: usize>(&self, w: Tensor<D>) -> Tensor<D> {
        if !self.spectral_norm {
            return w;
        }
        let dims = w.dims();
        let rows = dims[0];
        let sigma = spectral_norm(w.clone().reshape([rows as i32, -1]), POWER_ITERATIONS);
        w / sigma.reshape([1; D])
    }

    fn conv(&self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight(conv.weight.val()),
            conv.bias.as_ref().map(|b| b.val()),
            ConvOptions::new(conv.stride, [1, 1], conv.dilation, conv.groups),
        )
    }

    /// The critic's input gradient `grad_x f(x)` (`[batch, 1, h, w]`), written out as ordinary
    /// tensor ops, so that autodiff differentiates it in the weights: WGAN-GP's penalty without
    /// a second-order derivative (Burn 0.22 has none, upstream issue #1942).
    ///
    /// Backpropagation by hand through the three layers: `d f / d h2` is the read-out's weight
    /// (plus the projection's class embedding); each leaky ReLU multiplies by its slope at the
    /// stored pre-activation (1 or 0.2, a mask with no gradient of its own: the true second
    /// derivative of a piecewise-linear function is zero almost everywhere); each convolution's
    /// adjoint is the transposed convolution with the same weights, stride and padding.
    pub fn input_gradient(&self, x: Tensor<4>, classes: Option<Tensor<1, Int>>) -> Tensor<4> {
        let [batch, _, height, width] = x.dims();
        let (w1, w2) = (
            self.weight(self.conv1.weight.val()),
            self.weight(self.conv2.weight.val()),
        );
        let a1 = self.conv(&self.conv1, x);
        let [_, _, h1, v1] = a1.dims();
        let a2 = self.conv(&self.conv2, leaky_relu(a1.clone(), SLOPE));
        let [_, c2, h2, v2] = a2.dims();
        let features = c2 * h2 * v2;
        let readout = self
            .weight(self.fc.weight.val().transpose())
            .reshape([1, features])
            .repeat_dim(0, batch);
        let g = match (&self.embed, classes) {
            (Some(embed), Some(c)) => {
                readout
                    + embed
                        .forward(c.reshape([batch, 1]))
                        .reshape([batch, features])
            }
            _ => readout,
        };
        let g = g.reshape([batch, c2, h2, v2]) * slopes(a2);
        let g = conv_adjoint(&self.conv2, g, w2, [h1, v1]) * slopes(a1);
        conv_adjoint(&self.conv1, g, w1, [height, width])
    }

    /// WGAN-GP's penalty (Gulrajani et al. 2017), `mean (|| grad_x f(x^) ||_2 - 1)^2` over the
    /// batch, at points `x^` between real and generated digits (the caller draws them), from
    /// [`Critic::input_gradient`]: a graph in the weights, so it trains the critic.
    pub fn gradient_penalty(&self, x: Tensor<4>, classes: Option<Tensor<1, Int>>) -> Tensor<1> {
        let [batch, _, _, _] = x.dims();
        let g = self.input_gradient(x, classes);
        let norm = g
            .reshape([batch as i32, -1])
            .square()
            .sum_dim(1)
            .add_scalar(1e-12)
            .sqrt();
        norm.sub_scalar(1.0).square().mean()
    }

    /// One score per digit (`[batch]`): a logit for the DCGAN discriminator, `f(x)` for a
    /// WGAN critic.
    pub fn forward(&self, x: Tensor<4>, classes: Option<Tensor<1, Int>>) -> Tensor<1> {
        let [batch, _, _, _] = x.dims();
        let h = leaky_relu(self.conv(&self.conv1, x), SLOPE);
        let h = leaky_relu(self.conv(&self.conv2, h), SLOPE).reshape([batch as i32, -1]);
        // Burn's Linear stores `[in, out]`; its spectral norm is that of the transpose.
        let w = self.weight(self.fc.weight.val().transpose()).transpose();
        let mut out = h.clone().matmul(w);
        if let Some(b) = &self.fc.bias {
            out = out + b.val().unsqueeze::<2>();
        }
        let out = out.squeeze_dim::<1>(1);
        match (&self.embed, classes) {
            (Some(embed), Some(c)) => {
                let [_, f] = h.dims();
                let e = embed.forward(c.reshape([batch, 1])).reshape([batch, f]);
                out + (e * h).sum_dim(1).squeeze_dim(1)
            }
            _ => out,
        }
    }
}

/// The leaky ReLU's slope at each pre-activation: 1 where positive, [`SLOPE`] elsewhere.
fn slopes(pre: Tensor<4>) -> Tensor<4> {
    pre.greater_elem(0.0).float() * (1.0 - SLOPE) + SLOPE
}

/// The adjoint of one of the critic's convolutions applied to `g` (the gradient at its
/// output): the transposed convolution with the same weights, stride and padding, padded at
/// the end to the convolution's input size `[h, w]` (which a strided convolution rounds down).
fn conv_adjoint(conv: &Conv2d, g: Tensor<4>, weight: Tensor<4>, [h, w]: [usize; 2]) -> Tensor<4> {
    let [_, _, gh, gw] = g.dims();
    let [_, _, kh, kw] = weight.dims();
    let size = |n: usize, s: usize, k: usize| (n - 1) * s + k - 2;
    let out = [
        h - size(gh, conv.stride[0], kh),
        w - size(gw, conv.stride[1], kw),
    ];
    conv_transpose2d(
        g,
        weight,
        None,
        ConvTransposeOptions::new(conv.stride, [1, 1], out, conv.dilation, conv.groups),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_range() {
        let d = Device::flex();
        let g = GeneratorConfig::new().with_latent(8).with_width(4).init(&d);
        let x = g.forward(
            Tensor::random([3, 8], burn::tensor::Distribution::Default, &d),
            None,
        );
        assert_eq!(x.dims(), [3, 1, 28, 28]);
        let v: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
        let c = CriticConfig::new()
            .with_width(4)
            .with_spectral_norm(true)
            .init(&d);
        assert_eq!(c.forward(x, None).dims(), [3]);

        let cg = GeneratorConfig::new()
            .with_latent(8)
            .with_width(4)
            .with_n_classes(Some(10))
            .init(&d);
        let classes = Tensor::<1, Int>::from_ints([1, 2, 3], &d);
        let x = cg.forward(Tensor::zeros([3, 8], &d), Some(classes.clone()));
        let cc = CriticConfig::new()
            .with_width(4)
            .with_n_classes(Some(10))
            .init(&d);
        assert_eq!(cc.forward(x, Some(classes)).dims(), [3]);
    }

    /// Power iteration finds the largest singular value of a matrix with known singular values.
    #[test]
    fn spectral_norm_of_a_known_matrix() {
        let d = Device::flex();
        // Rows scaled copies of orthogonal vectors: singular values 3, 1.5 and 0.5.
        let w = Tensor::<1>::from_floats(
            [
                3.0f32, 0.0, 0.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0,
            ],
            &d,
        )
        .reshape([3, 4]);
        let s: f32 = spectral_norm(w, POWER_ITERATIONS).into_scalar();
        assert!((s - 3.0).abs() < 1e-3, "{s}");
    }

    /// A spectrally normalised critic is 1-Lipschitz: its score moves by at most the distance
    /// between two inputs, however large its raw weights are.
    #[test]
    fn spectrally_normalised_critic_is_lipschitz() {
        let d = Device::flex();
        d.seed(3);
        let raw = CriticConfig::new().with_width(4).init(&d);
        let scaled = raw.clone().map(&mut Scale(50.0));
        let sn = Critic {
            spectral_norm: true,
            ..scaled.clone()
        };
        let a = Tensor::<4>::random([8, 1, 28, 28], burn::tensor::Distribution::Default, &d);
        let b = a.clone()
            + Tensor::<4>::random(
                [8, 1, 28, 28],
                burn::tensor::Distribution::Normal(0.0, 0.1),
                &d,
            );
        let dist: Vec<f32> = (a.clone() - b.clone())
            .square()
            .reshape([8, 784])
            .sum_dim(1)
            .sqrt()
            .squeeze_dim::<1>(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let gap = |c: &Critic| -> Vec<f32> {
            (c.forward(a.clone(), None) - c.forward(b.clone(), None))
                .abs()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (free, bounded) = (gap(&scaled), gap(&sn));
        // Loose by a little: the norm of a conv as a matrix bounds its operator norm only up to
        // the kernel overlap, so check against the distance with the overlap factor of a 4x4,
        // stride-2 convolution (each input pixel is read by at most 4 windows: factor 2).
        for i in 0..8 {
            assert!(
                bounded[i] <= 4.0 * dist[i],
                "{} > 4 x {}",
                bounded[i],
                dist[i]
            );
        }
        assert!(free.iter().zip(&dist).any(|(f, d)| f > &(4.0 * d)));
    }

    /// Why the penalty's input gradient is written by hand: the one Burn 0.22 returns lives
    /// outside the autodiff graph (on the inner, non-differentiating device), so a penalty built
    /// from it could not send a gradient to the critic's weights.
    #[test]
    fn burns_input_gradient_is_not_tracked() {
        let device = Device::flex().autodiff();
        let critic = CriticConfig::new().with_width(4).init(&device);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device)
            .require_grad();
        assert!(x.device().is_autodiff());
        let grads = critic.forward(x.clone(), None).sum().backward();
        let g = x.grad(&grads).expect("an input gradient");
        assert!(
            !g.device().is_autodiff(),
            "the gradient would be differentiable"
        );
    }

    /// The hand-written input gradient equals Burn's own (untracked) one, for the plain, the
    /// conditional (projection) and the spectrally normalised critic.
    #[test]
    fn input_gradient_equals_burns() {
        let device = Device::flex().autodiff();
        device.seed(5);
        for config in [
            CriticConfig::new().with_width(4),
            CriticConfig::new().with_width(4).with_n_classes(Some(10)),
            CriticConfig::new().with_width(4).with_spectral_norm(true),
        ] {
            let critic = config.init(&device);
            let classes = config
                .n_classes
                .map(|_| Tensor::<1, Int>::from_ints([3, 7, 0], &device));
            let x =
                Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Default, &device)
                    .require_grad();
            let grads = critic.forward(x.clone(), classes.clone()).sum().backward();
            let burns = x.grad(&grads).unwrap();
            let ours = critic.input_gradient(x.detach(), classes).inner();
            let scale: f32 = burns.clone().abs().max().into_scalar();
            let err: f32 = (ours - burns).abs().max().into_scalar();
            assert!(
                scale > 0.0 && err <= 1e-4 * scale,
                "{config:?}: {err} of {scale}"
            );
        }
    }

    /// The penalty trains the critic: its autodiff gradient in a weight matches the finite
    /// difference of the penalty in that weight (the read-out and a convolution's kernel).
    #[test]
    fn gradient_penalty_is_differentiable_in_the_weights() {
        let device = Device::flex().autodiff();
        device.seed(9);
        let critic = CriticConfig::new().with_width(4).init(&device);
        let x = Tensor::<4>::random([4, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let grads = critic.gradient_penalty(x.clone(), None).backward();
        let penalty = |c: &Critic| -> f64 {
            let v: f32 = c.gradient_penalty(x.clone(), None).inner().into_scalar();
            v as f64
        };
        // d P / d (one weight), analytically and by central differences.
        let check = |grad: Tensor<2>, nudge: &dyn Fn(f32) -> Critic, h: f32| {
            let g: f32 = grad.slice([0..1, 0..1]).into_scalar();
            let fd = (penalty(&nudge(h)) - penalty(&nudge(-h))) / (2.0 * h as f64);
            assert!(g.abs() > 1e-6, "a gradient reaches the weight: {g}");
            assert!(
                (g as f64 - fd).abs() <= 0.05 * fd.abs() + 1e-5,
                "autodiff {g} against finite difference {fd}"
            );
        };
        let fc = critic.fc.weight.val().grad(&grads).unwrap();
        check(
            fc,
            &|h| {
                let mut c = critic.clone();
                c.fc.weight = c.fc.weight.clone().map(|w| {
                    let one = Tensor::<2>::zeros(w.dims(), &w.device())
                        .slice_assign([0..1, 0..1], Tensor::<2>::ones([1, 1], &w.device()) * h);
                    w + one
                });
                c
            },
            1e-2,
        );
        let conv = critic.conv2.weight.val().grad(&grads).unwrap();
        check(
            conv.reshape([8, 64]),
            &|h| {
                let mut c = critic.clone();
                c.conv2.weight = c.conv2.weight.clone().map(|w| {
                    let one = Tensor::<4>::zeros(w.dims(), &w.device()).slice_assign(
                        [0..1, 0..1, 0..1, 0..1],
                        Tensor::<4>::ones([1, 1, 1, 1], &w.device()) * h,
                    );
                    w + one
                });
                c
            },
            1e-3,
        );
    }

    struct Scale(f32);
    impl burn::module::ModuleMapper for Scale {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let s = self.0;
            param.map(|t| t * s)
        }
    }
}

//! # ContextUnet
//!
//! The class-conditional noise-prediction network `eps_theta(x_t, t, c)` of
//! TeaPearce/Conditional_Diffusion_MNIST (itself after Ho et al. 2020, "Denoising Diffusion
//! Probabilistic Models", and Ho & Salimans 2022, "Classifier-Free Diffusion Guidance").
//!
//! The condition enters by *modulating* the decoder's features: at each up level the
//! features `h` become `c_emb * h + t_emb`, where `c_emb` and `t_emb` are per-channel vectors
//! computed from the one-hot class and the normalised time. The null class of classifier-free
//! guidance is the all-zero one-hot vector (as in the original), or, with `learned_null`, an
//! extra learned class.
//!
//! Differences from the original, each for a reason: GroupNorm instead of BatchNorm (see
//! [`crate::norm_groups`]); the class arrives as an index, with `n_classes` meaning "null",
//! instead of a one-hot vector plus a separate mask, so one batched forward pass can mix
//! conditional and unconditional rows.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};

use crate::embeddings::EmbedFc;
use crate::norm_groups;
use crate::resnet::ResidualConvBlock;
use crate::unet_blocks::{UnetDown, UnetUp};

#[derive(Config, Debug, PartialEq)]
pub struct ContextUnetConfig {
    /// Image channels (1 for MNIST).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Base width. 32 trains in about an hour on two CPU cores and is enough for MNIST digits
    /// that a classifier recognises; the original uses 128 on a GPU.
    #[config(default = 32)]
    pub n_feat: usize,
    /// Number of real classes; the index `n_classes` is the null class.
    #[config(default = 10)]
    pub n_classes: usize,
    /// Side of the square input. Two 2x poolings and a 7x7 bottleneck make 28 the natural size.
    #[config(default = 28)]
    pub image_size: usize,
    /// `false`: the null class is the zero one-hot vector (the original); `true`: a learned one.
    #[config(default = false)]
    pub learned_null: bool,
    /// `Some(w_max)`: the guidance scale `w` is an input, embedded like the time and added to
    /// it, seen as `w / w_max` (a guidance-distilled student, Meng et al. 2023: one pass
    /// replaces the guided pair). `None` in every card written before students existed.
    pub guidance_max: Option<f64>,
    /// `Some(true)`: the network predicts the velocity `v = sqrt(ab) eps - sqrt(1 - ab) x_0`
    /// instead of the noise (Salimans & Ho's parameterisation for few-step students: an
    /// error in the noise reaches `x_0` multiplied by `sqrt((1 - ab) / ab)`, 150 at
    /// `t = 999`, an error in `v` at most by 1). `None` in cards written before students.
    pub v_prediction: Option<bool>,
}

impl ContextUnetConfig {
    /// Checks the configuration before any tensor is allocated.
    pub fn validate(&self) -> Result<(), String> {
        if self.n_feat == 0 || self.n_classes == 0 || self.in_channels == 0 {
            return Err("n_feat, n_classes and in_channels must be positive".into());
        }
        crate::check_dims(
            "ContextUnet",
            &[
                ("n_feat", self.n_feat),
                ("n_classes", self.n_classes),
                ("in_channels", self.in_channels),
            ],
        )?;
        if let Some(w) = self.guidance_max
            && !(w.is_finite() && w > 0.0)
        {
            return Err(format!("guidance_max must be a positive number, got {w}"));
        }
        crate::check_image_size(self.image_size)
    }

    pub fn init(&self, device: &Device) -> ContextUnet {
        let n = self.n_feat;
        let class_inputs = self.n_classes + usize::from(self.learned_null);
        let bottleneck = self.image_size / 4;
        ContextUnet {
            init_conv: ResidualConvBlock::new(self.in_channels, n, true, device),
            down1: UnetDown::new(n, n, device),
            down2: UnetDown::new(n, 2 * n, device),
            time_embed1: EmbedFc::new(1, 2 * n, device),
            time_embed2: EmbedFc::new(1, n, device),
            context_embed1: EmbedFc::new(class_inputs, 2 * n, device),
            context_embed2: EmbedFc::new(class_inputs, n, device),
            up0: ConvTranspose2dConfig::new([2 * n, 2 * n], [bottleneck, bottleneck])
                .with_stride([bottleneck, bottleneck])
                .init(device),
            up0_norm: GroupNormConfig::new(norm_groups(2 * n), 2 * n).init(device),
            up1: UnetUp::new(4 * n, n, device),
            up2: UnetUp::new(2 * n, n, device),
            out_conv1: Conv2dConfig::new([2 * n, n], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            out_norm: GroupNormConfig::new(norm_groups(n), n).init(device),
            out_conv2: Conv2dConfig::new([n, self.in_channels], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            guidance_embed1: self.guidance_max.map(|_| EmbedFc::zeroed(1, 2 * n, device)),
            guidance_embed2: self.guidance_max.map(|_| EmbedFc::zeroed(1, n, device)),
            n_classes: self.n_classes,
            learned_null: self.learned_null,
            in_channels: self.in_channels,
            image_size: self.image_size,
            guidance_max: self.guidance_max.unwrap_or(0.0),
            v_prediction: self.v_prediction.unwrap_or(false),
        }
    }
}

#[derive(Module, Debug)]
pub struct ContextUnet {
    init_conv: ResidualConvBlock,
    down1: UnetDown,
    down2: UnetDown,
    time_embed1: EmbedFc,
    time_embed2: EmbedFc,
    context_embed1: EmbedFc,
    context_embed2: EmbedFc,
    up0: ConvTranspose2d,
    up0_norm: GroupNorm,
    up1: UnetUp,
    up2: UnetUp,
    out_conv1: Conv2d,
    out_norm: GroupNorm,
    out_conv2: Conv2d,
    /// The guidance input's embeddings (a distilled student), added to the time's.
    guidance_embed1: Option<EmbedFc>,
    guidance_embed2: Option<EmbedFc>,
    n_classes: usize,
    learned_null: bool,
    in_channels: usize,
    image_size: usize,
    /// The largest `w` of a student (0 without a guidance input).
    guidance_max: f64,
    /// Whether the output is the velocity `v` rather than the noise.
    v_prediction: bool,
}

impl ContextUnet {
    /// The label that stands for "no condition".
    pub fn null_class(&self) -> usize {
        self.n_classes
    }

    /// `[channels, size, size]` of the images this network denoises.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.in_channels, self.image_size, self.image_size]
    }

    /// The largest guidance scale this network takes as an input (`None`: it takes none, and
    /// guidance is the pair of conditional and unconditional predictions).
    pub fn guidance_input(&self) -> Option<f64> {
        self.guidance_embed1.as_ref().map(|_| self.guidance_max)
    }

    /// Whether the output is the velocity `v` (a student) rather than the noise.
    pub fn predicts_velocity(&self) -> bool {
        self.v_prediction
    }

    /// This network as the start of a distilled student: the same weights, a guidance input
    /// whose embeddings end in zero weights (so it adds nothing before training: Meng et al.
    /// also start the student from the teacher), and the velocity as its output, which the
    /// same weights predict well at low noise, where `v` is close to the noise, and must learn
    /// at high noise, where `v` is close to `-x_0`.
    pub fn into_student(self, guidance_max: f64, device: &Device) -> Self {
        let n = self.time_embed2.dim();
        Self {
            guidance_embed1: Some(EmbedFc::zeroed(1, 2 * n, device)),
            guidance_embed2: Some(EmbedFc::zeroed(1, n, device)),
            guidance_max,
            v_prediction: true,
            ..self
        }
    }

    /// Predicts the noise in `x` (the velocity for a student: [`Self::predicts_velocity`]).
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, size, size]`, the noisy image `x_t`
    /// - `t`: `[batch]`, the time step divided by T (in `[0, 1]`)
    /// - `labels`: `[batch]`, class indices in `0..=n_classes`, `n_classes` being null
    /// - returns `[batch, channels, size, size]`, the predicted `eps`
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>, labels: Tensor<1, Int>) -> Tensor<4> {
        self.predict(x, t, labels, None)
    }

    /// A student's guided prediction `eps_s(x_t, t, c, w)` in one pass: as [`Self::forward`],
    /// with `guidance`, `[batch]`, the scale `w` of each row (ignored by a network without a
    /// guidance input: see [`Self::guidance_input`]).
    pub fn forward_guided(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        labels: Tensor<1, Int>,
        guidance: Tensor<1>,
    ) -> Tensor<4> {
        self.predict(x, t, labels, Some(guidance))
    }

    fn predict(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        labels: Tensor<1, Int>,
        guidance: Option<Tensor<1>>,
    ) -> Tensor<4> {
        let [batch, _, _, _] = x.dims();

        // 1. condition: one-hot class (the null row stays zero unless learned) and time
        // One-hot by comparison with 0..=n_classes rather than `Tensor::one_hot`: Burn's
        // `one_hot` checks the labels' range with a synchronous read, which panics in the
        // browser on WebGPU (every read there must be async).
        let device = labels.device();
        let classes = Tensor::<1, Int>::arange(0..(self.n_classes + 1) as i64, &device)
            .reshape([1, self.n_classes + 1])
            .expand([batch, self.n_classes + 1]);
        let onehot: Tensor<2> = labels
            .reshape([batch, 1])
            .expand([batch, self.n_classes + 1])
            .equal(classes)
            .float();
        let onehot = if self.learned_null {
            onehot
        } else {
            onehot.narrow(1, 0, self.n_classes) // [batch, n_classes]
        };
        let t = t.reshape([batch, 1]);
        let c_emb1 = self.context_embed1.forward(onehot.clone()); // [batch, 2n, 1, 1]
        let mut t_emb1 = self.time_embed1.forward(t.clone()); // [batch, 2n, 1, 1]
        let c_emb2 = self.context_embed2.forward(onehot); // [batch, n, 1, 1]
        let mut t_emb2 = self.time_embed2.forward(t); // [batch, n, 1, 1]
        // A student's w, embedded like t and added to it (w = 0 when none is given).
        if let (Some(g1), Some(g2)) = (&self.guidance_embed1, &self.guidance_embed2) {
            let w = guidance
                .unwrap_or_else(|| Tensor::zeros([batch], &device))
                .reshape([batch, 1])
                / self.guidance_max;
            t_emb1 = t_emb1 + g1.forward(w.clone());
            t_emb2 = t_emb2 + g2.forward(w);
        }

        // 2. down
        let x = self.init_conv.forward(x); // [batch, n, 28, 28]
        let down1 = self.down1.forward(x.clone()); // [batch, n, 14, 14]
        let down2 = self.down2.forward(down1.clone()); // [batch, 2n, 7, 7]
        let hidden = gelu(down2.clone().mean_dims(&[2, 3])); // [batch, 2n, 1, 1]

        // 3. up, with the condition modulating each level: h <- c_emb * h + t_emb
        let up1 = relu(self.up0_norm.forward(self.up0.forward(hidden))); // [batch, 2n, 7, 7]
        let up2 = self.up1.forward(c_emb1 * up1 + t_emb1, down2); // [batch, n, 14, 14]
        let up3 = self.up2.forward(c_emb2 * up2 + t_emb2, down1); // [batch, n, 28, 28]

        // 4. out
        let out = Tensor::cat(vec![up3, x], 1); // [batch, 2n, 28, 28]
        let out = relu(self.out_norm.forward(self.out_conv1.forward(out)));
        self.out_conv2.forward(out) // [batch, channels, 28, 28]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_has_the_input_shape_and_depends_on_the_class() {
        let device = Device::flex();
        device.seed(3);
        let model = ContextUnetConfig::new().with_n_feat(8).init(&device);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let t = Tensor::<1>::from_floats([0.5, 0.5], &device);
        let a = model.forward(x.clone(), t.clone(), Tensor::from_ints([3, 10], &device));
        let b = model.forward(x, t, Tensor::from_ints([4, 10], &device));
        assert_eq!(a.dims(), [2, 1, 28, 28]);
        let diff: Vec<f32> = (a - b)
            .abs()
            .sum_dims(&[1, 2, 3])
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(diff[0] > 1e-4, "the class must change the prediction");
        assert!(
            diff[1] < 1e-6,
            "a null row is unaffected by the other rows' classes"
        );
    }

    #[test]
    fn a_fresh_guidance_input_changes_nothing_until_trained() {
        let device = Device::flex();
        device.seed(5);
        let model = ContextUnetConfig::new().with_n_feat(8).init(&device);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let t = Tensor::<1>::from_floats([0.2, 0.9], &device);
        let labels = Tensor::<1, Int>::from_ints([1, 7], &device);
        let teacher = model.forward(x.clone(), t.clone(), labels.clone());
        let student = model.into_student(4.0, &device);
        assert_eq!(student.guidance_input(), Some(4.0));
        assert!(student.predicts_velocity());
        let w = Tensor::<1>::from_floats([0.5, 3.0], &device);
        let same: f32 = (student.forward_guided(x.clone(), t.clone(), labels.clone(), w.clone())
            - teacher)
            .abs()
            .max()
            .into_scalar();
        assert_eq!(same, 0.0, "the zero-ended embedding adds nothing");
        // Its record round-trips through a config that asks for the input.
        let config = ContextUnetConfig::new()
            .with_n_feat(8)
            .with_guidance_max(Some(4.0))
            .with_v_prediction(Some(true));
        assert!(config.validate().is_ok());
        let fresh = config.init(&device);
        assert_eq!(fresh.num_params(), student.num_params());
        assert!(
            ContextUnetConfig::new()
                .with_guidance_max(Some(0.0))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn rejects_sizes_the_poolings_cannot_halve() {
        assert!(
            ContextUnetConfig::new()
                .with_image_size(30)
                .validate()
                .is_err()
        );
        assert!(ContextUnetConfig::new().validate().is_ok());
    }
}

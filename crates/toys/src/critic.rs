//! # A 1-D MLP and its derivative in the input
//!
//! The discriminator of the GAN and the critic of the WGAN are the same network,
//! `x -> Linear -> tanh -> Linear -> tanh -> Linear`, with scalar input and output. `tanh`
//! (rather than ReLU) is deliberate: a network that can tell two far-apart, narrow Gaussians
//! apart pushes its units into saturation and becomes flat where the generated samples are,
//! which is how the GAN's vanishing gradient looks in a real discriminator.
//!
//! The WGAN-GP penalty needs `f'(x)` *inside* the loss, and its gradient in the weights: a
//! second-order gradient, which Burn 0.22's autodiff does not take (gradients come back
//! without an autodiff graph, and there is no `retain_graph`). In one dimension the input
//! derivative has a closed form that is built from ordinary tensor operations by carrying a
//! tangent through the layers (forward mode): `h = x W + b` gives `dh = dx W`, and
//! `a = tanh(h)` gives `da = (1 - a^2) dh`. Burn's reverse mode then differentiates that
//! expression in the weights like any other loss term. [`Critic::forward_with_slope`] is that
//! closed form; a test checks it against Burn's own first-order gradient.

use burn::module::{ModuleMapper, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;
use rand::RngExt;
use rand::rngs::StdRng;

#[derive(Module, Debug)]
pub struct Critic {
    layers: Vec<Linear>,
}

/// A `Linear` whose weights are drawn from `rng` (uniform in `±1/sqrt(fan_in)`, as PyTorch
/// does), so that a seed gives the same network natively and in the page whatever the
/// backend's own random generator does.
fn linear(rng: &mut StdRng, fan_in: usize, fan_out: usize, device: &Device) -> Linear {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let mut layer = LinearConfig::new(fan_in, fan_out).init(device);
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(fan_in * fan_out), [fan_in, fan_out]),
        device,
    ));
    layer.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(fan_out), [fan_out]),
        device,
    )));
    layer
}

impl Critic {
    /// Two hidden layers of `hidden` units.
    pub fn new(hidden: usize, rng: &mut StdRng, device: &Device) -> Self {
        Self {
            layers: vec![
                linear(rng, 1, hidden, device),
                linear(rng, hidden, hidden, device),
                linear(rng, hidden, 1, device),
            ],
        }
    }

    /// `[n, 1] -> [n, 1]`: the logit of a GAN discriminator, or a WGAN critic's value.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = tanh(h);
            }
        }
        h
    }

    /// The value and its derivative in `x`, both `[n, 1]`, as differentiable tensors (see
    /// the module docs).
    pub fn forward_with_slope(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let last = self.layers.len() - 1;
        let mut dh = x.ones_like();
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            dh = dh.matmul(layer.weight.val());
            h = layer.forward(h);
            if i < last {
                h = tanh(h);
                dh = (h.clone().square().neg() + 1.0) * dh;
            }
        }
        (h, dh)
    }

    /// Every weight and bias clamped to `[-c, c]`: the original WGAN's way to keep the critic
    /// Lipschitz.
    pub fn clipped(self, c: f64) -> Self {
        struct Clip(f64);
        impl ModuleMapper for Clip {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let c = self.0;
                param.map(|t| t.clamp(-c, c).detach().require_grad())
            }
        }
        self.map(&mut Clip(c))
    }

    /// The largest absolute weight or bias (to check clipping).
    pub fn max_abs_weight(&self) -> f64 {
        self.layers
            .iter()
            .flat_map(|l| {
                let mut v: Vec<f32> = l.weight.val().into_data().try_to_vec().unwrap_or_default();
                if let Some(b) = &l.bias {
                    v.extend(b.val().into_data().try_to_vec::<f32>().unwrap_or_default());
                }
                v
            })
            .fold(0.0, |m, v| m.max(v.abs() as f64))
    }
}

/// WGAN-GP's penalty `lambda * mean((|f'(x)| - 1)^2)` at the points `x` (`[n, 1]`), or with
/// `one_sided` the Lipschitz penalty of WGAN-LP (Petzka et al., 2018),
/// `lambda * mean(max(0, |f'(x)| - 1)^2)`, which leaves slopes below 1 alone.
pub fn gradient_penalty(critic: &Critic, x: Tensor<2>, lambda: f64, one_sided: bool) -> Tensor<1> {
    let (_, slope) = critic.forward_with_slope(x);
    let excess = slope.abs() - 1.0;
    let excess = if one_sided {
        excess.clamp_min(0.0)
    } else {
        excess
    };
    excess.square().mean() * lambda
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn points(device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(vec![-2.5f32, -0.3, 0.0, 0.7, 1.9, 4.0], [6, 1]),
            device,
        )
    }

    #[test]
    fn slope_equals_burns_own_input_gradient() {
        let device = crate::device();
        let critic = Critic::new(16, &mut StdRng::seed_from_u64(3), &device);
        let x = points(&device).require_grad();
        let (value, slope) = critic.forward_with_slope(x.clone());
        let grads = value.clone().sum().backward();
        let autodiff: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        let closed: Vec<f32> = slope.into_data().try_to_vec().unwrap();
        let plain: Vec<f32> = critic
            .forward(points(&device))
            .into_data()
            .try_to_vec()
            .unwrap();
        let with: Vec<f32> = value.into_data().try_to_vec().unwrap();
        for i in 0..6 {
            assert!(
                (autodiff[i] - closed[i]).abs() < 1e-5,
                "{autodiff:?} vs {closed:?}"
            );
            assert_eq!(plain[i], with[i]);
        }
        assert!(
            closed.iter().any(|s| s.abs() > 1e-3),
            "a slope of zero tests nothing"
        );
    }

    #[test]
    fn penalty_is_the_squared_distance_of_the_slope_from_one() {
        let device = crate::device();
        let critic = Critic::new(8, &mut StdRng::seed_from_u64(5), &device);
        // Reference slopes by central differences of the plain forward pass.
        let xs = [-1.0f32, 0.25, 2.0];
        let f = |x: f32| -> f32 {
            critic
                .forward(Tensor::from_data(TensorData::new(vec![x], [1, 1]), &device))
                .into_scalar()
        };
        let h = 1e-2f32;
        let expected: f32 = xs
            .iter()
            .map(|&x| {
                let s = (f(x + h) - f(x - h)) / (2.0 * h);
                (s.abs() - 1.0).powi(2)
            })
            .sum::<f32>()
            / 3.0
            * 10.0;
        let got: f32 = gradient_penalty(
            &critic,
            Tensor::from_data(TensorData::new(xs.to_vec(), [3, 1]), &device),
            10.0,
            false,
        )
        .into_scalar();
        assert!(
            (got - expected).abs() < 1e-3 * expected.max(1.0),
            "{got} vs {expected}"
        );
    }

    #[test]
    fn the_penalty_has_a_gradient_in_the_weights() {
        // The whole point of the closed form: reverse mode differentiates it.
        let device = crate::device();
        let critic = Critic::new(8, &mut StdRng::seed_from_u64(5), &device);
        let grads = gradient_penalty(&critic, points(&device), 10.0, false).backward();
        let g = critic.layers[0]
            .weight
            .val()
            .grad(&grads)
            .expect("a gradient");
        let norm: f32 = g.square().sum().into_scalar();
        assert!(norm > 1e-8, "{norm}");
    }

    #[test]
    fn clipping_bounds_every_parameter() {
        let device = crate::device();
        let critic = Critic::new(8, &mut StdRng::seed_from_u64(1), &device);
        assert!(critic.max_abs_weight() > 0.1);
        assert!(critic.clipped(0.05).max_abs_weight() <= 0.05 + 1e-7);
    }
    #[test]
    fn the_penalty_gradient_matches_finite_differences() {
        let device = crate::device();
        let critic = Critic::new(4, &mut StdRng::seed_from_u64(5), &device);
        let x =
            || Tensor::<2>::from_data(TensorData::new(vec![-1.0f32, 0.5, 2.0], [3, 1]), &device);
        let loss_of = |c: &Critic| -> f32 { gradient_penalty(c, x(), 1.0, false).into_scalar() };
        let grads = gradient_penalty(&critic, x(), 1.0, false).backward();
        for layer in 0..3 {
            let weight = critic.layers[layer].weight.val();
            let g: Vec<f32> = weight
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap();
            let w: Vec<f32> = weight.clone().into_data().try_to_vec().unwrap();
            for k in 0..w.len().min(4) {
                let at = |delta: f32| {
                    let mut v = w.clone();
                    v[k] += delta;
                    let mut c = critic.clone();
                    c.layers[layer].weight = Param::from_tensor(Tensor::from_data(
                        TensorData::new(v, weight.dims()),
                        &device,
                    ));
                    loss_of(&c)
                };
                let fd = (at(1e-2) - at(-1e-2)) / 2e-2;
                assert!(
                    (g[k] - fd).abs() < 1e-3,
                    "layer {layer} weight {k}: {} vs {fd}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn the_one_sided_penalty_ignores_slopes_below_one() {
        let device = crate::device();
        // Clipped to 0.01, the slope is at most 8 * 8 * 0.01^3 in size: far below 1.
        let critic = Critic::new(8, &mut StdRng::seed_from_u64(2), &device).clipped(0.01);
        let one: f32 = gradient_penalty(&critic, points(&device), 10.0, true).into_scalar();
        let two: f32 = gradient_penalty(&critic, points(&device), 10.0, false).into_scalar();
        assert_eq!(one, 0.0);
        assert!((two - 10.0).abs() < 1e-2, "{two}");
    }
}

//! Held-out denoising loss by band of t, for pixel-space diffusion cards (class or text).
//!
//! `cargo run --release --example per_t_loss -- <card.json> [...]` (from the repository root,
//! with `data/mnist` imported). The training loss averages over t, and two models with the same
//! average can sample very differently: a model that is poor at large t (where the digit's
//! shape is laid out) still scores well on average. Each band prints the noise error and the
//! error it implies on the predicted x_0, `eps error * (1 - alpha_bar) / alpha_bar`.
//! A debugging aid for the README's pixel text model, not part of the CLI.
use burn::prelude::*;
use digitlab_diffusion::ForwardProcess;
use digitlab_weights::{Card, ModelSpec};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn main() {
    let device = Device::flex();
    let test =
        digitlab_data::Dataset::load("data/mnist".as_ref(), digitlab_data::Split::Test).unwrap();
    let n = 300;
    let side = test.rows;
    let values = digitlab_models::pixels::bytes_to_unit(&test.images[..n * side * side]);
    let bands = [(0, 50), (50, 200), (200, 500), (500, 800), (800, 1000)];
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap();
        let card = Card::from_json(&text).unwrap();
        let dir = std::path::Path::new(&path).parent().unwrap();
        let bytes = std::fs::read(dir.join(&card.weights)).unwrap();
        // The model and its condition (the digits' captions or labels), once per card.
        let (schedule, predict): (_, Box<dyn Fn(Tensor<4>, Tensor<1>) -> Tensor<4>>) = match &card
            .model
        {
            ModelSpec::TextDdpm { bins, .. } => {
                let (unet, schedule, tok) = card.load_text_ddpm(&bytes, &device).unwrap();
                let toks: Vec<_> = (0..n)
                    .map(|i| {
                        let d = bins.describe(
                            test.labels[i],
                            &digitlab_captions::measure(test.image(i), side),
                        );
                        tok.encode(&digitlab_captions::caption(&d, i as u64 % 24))
                            .unwrap()
                    })
                    .collect();
                let rows: Vec<_> = toks.iter().collect();
                let (ids, pad) = digitlab_diffusion::prompt_tensors(&unet, &rows, &device).unwrap();
                let states = unet.encode_text(ids, pad);
                (
                    schedule,
                    Box::new(move |x_t, time| unet.forward(x_t, time, &states)),
                )
            }
            _ => {
                let (unet, schedule) = card.load_ddpm(&bytes, &device).unwrap();
                let labels: Vec<i64> = test.labels[..n].iter().map(|&l| l as i64).collect();
                let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
                (
                    schedule,
                    Box::new(move |x_t, time| unet.forward(x_t, time, labels.clone())),
                )
            }
        };
        let x0 =
            Tensor::<4>::from_data(TensorData::new(values.clone(), [n, 1, side, side]), &device);
        let mut line = format!("{path}:");
        for (lo, hi) in bands {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let t: Vec<usize> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
            let noise: Vec<f32> = (0..n * side * side)
                .map(|_| -> f32 { StandardNormal.sample(&mut rng) })
                .collect();
            let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, 1, side, side]), &device);
            let x_t = schedule.q_sample(x0.clone(), noise.clone(), &t);
            let time: Vec<f32> = t.iter().map(|&t| schedule.time_input(t)).collect();
            let eps = predict(x_t, Tensor::from_floats(time.as_slice(), &device));
            let per: Vec<f32> = (eps - noise)
                .square()
                .mean_dim(3)
                .mean_dim(2)
                .flatten::<1>(0, 3)
                .into_data()
                .try_to_vec()
                .unwrap();
            let eps_mse = per.iter().sum::<f32>() as f64 / n as f64;
            // The squared x_0 error it implies: eps error * (1 - alpha_bar) / alpha_bar.
            let x0_mse = per
                .iter()
                .zip(&t)
                .map(|(&e, &t)| {
                    let ab = schedule.alphas_cumprod[t];
                    e as f64 * (1.0 - ab) / ab
                })
                .sum::<f64>()
                / n as f64;
            line += &format!("  t{lo}-{hi}: eps {eps_mse:.4} x0 {x0_mse:.4}");
        }
        println!("{line}");
    }
}

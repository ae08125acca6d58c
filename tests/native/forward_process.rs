//! The forward process in closed form agrees with iterating its one-step formula.

use burn::prelude::*;
use digitlab_diffusion::{
    BetaSchedule, ForwardProcess, NoiseSchedule, NoiseSource, ScheduleConfig,
};

/// Iterating `x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps` from a fixed `x_0` gives the
/// mean `sqrt(alpha_bar_t) x_0` and variance `1 - alpha_bar_t` of the closed form; so does the
/// closed form itself. 4,000 chains per pixel value, for both schedules.
#[test]
fn closed_form_and_iteration_have_the_same_mean_and_variance() {
    let device = Device::flex();
    for betas in [BetaSchedule::default(), BetaSchedule::Cosine { s: 0.008 }] {
        let schedule = NoiseSchedule::new(ScheduleConfig {
            train_steps: 1000,
            betas,
            ..Default::default()
        })
        .unwrap();
        let chains = 4000;
        let x0_values = [-1.0f32, 0.0, 0.6, 1.0];
        let x0 = Tensor::<1>::from_floats(x0_values, &device)
            .reshape([1, 1, 1, 4])
            .repeat_dim(0, chains);
        let mut noise = NoiseSource::new(5, chains);
        for t_end in [10usize, 250, 999] {
            let mut x = x0.clone();
            for t in 0..=t_end {
                x = schedule.q_step(x, noise.tensor([1, 1, 4], &device), t);
            }
            let closed = schedule.q_sample(
                x0.clone(),
                noise.tensor([1, 1, 4], &device),
                &vec![t_end; chains],
            );
            let ab = schedule.alphas_cumprod[t_end];
            for (name, samples) in [("iterated", x), ("closed form", closed)] {
                let mean: Vec<f32> = samples
                    .clone()
                    .mean_dim(0)
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                let var: Vec<f32> = samples.var(0).into_data().try_to_vec().unwrap();
                for (i, &v0) in x0_values.iter().enumerate() {
                    let (m, s2) = (ab.sqrt() * v0 as f64, 1.0 - ab);
                    // 5 standard errors: sd/sqrt(n) for the mean, s2*sqrt(2/n) for the variance.
                    let mean_tol = 5.0 * (s2 / chains as f64).sqrt() + 1e-4;
                    let var_tol = 5.0 * s2 * (2.0 / chains as f64).sqrt() + 1e-4;
                    assert!(
                        (mean[i] as f64 - m).abs() < mean_tol,
                        "{betas:?} t={t_end} {name}: mean {} vs {m}",
                        mean[i]
                    );
                    assert!(
                        (var[i] as f64 - s2).abs() < var_tol,
                        "{betas:?} t={t_end} {name}: variance {} vs {s2}",
                        var[i]
                    );
                }
            }
        }
    }
}

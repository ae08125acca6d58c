//! # The bench, measured in the model worker
//!
//! The page's bench view (`?bench=1`) asks for the same two numbers as `digitlab bench sample`,
//! on the model worker's backend ([`measure`]): ms per guided UNet call (16 digits, so a batch
//! of 32) and ms per 16-digit DDIM grid. The grid is
//! timed the way a real sampler should run on a GPU: all steps queued, one read at the end.
//! The native numbers measured on the machine that made `public/bench/native.jsonl` are shown
//! beside them; the ratio means something only when both ran on the same machine.

use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, NoiseSource, SampleRequest, SamplerKind, guided_noise};

use crate::lab::Lab;
use crate::protocol::BenchNumbers;
use crate::ticks::{next_tick, now_ms};
use digitlab_models::ContextUnet;

pub const COUNT: usize = 16;
pub const GUIDANCE: f64 = 2.0;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median ms of one guided call of `model` for `count` digits (a batch of `2 count`) over
/// `runs` calls, after one that compiles the kernels. (Also the Compare view's cost per digit.)
pub async fn unet_call_ms(
    model: &ContextUnet,
    device: &Device,
    count: usize,
    guidance: f64,
    runs: usize,
) -> Result<f64, String> {
    let x = NoiseSource::new(0, count).tensor(model.image_shape(), device);
    let t = Tensor::<1>::from_floats(vec![0.5f32; count].as_slice(), device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..count as i64).map(|l| l % 10).collect::<Vec<_>>(),
            [count],
        ),
        device,
    );
    let mut times = Vec::new();
    for i in 0..=runs.max(1) {
        let start = now_ms();
        let eps = guided_noise(model, x.clone(), t.clone(), labels.clone(), guidance);
        eps.into_data_async().await.map_err(|e| format!("{e:?}"))?;
        if i > 0 {
            times.push(now_ms() - start); // the first call compiles kernels
        }
        next_tick().await;
    }
    Ok(median(times))
}

/// The bench on the lab's teacher (in the model worker).
pub async fn measure(lab: &Lab, steps: usize) -> Result<BenchNumbers, String> {
    let ddpm = lab.ddpm.clone().ok_or("no diffusion model is loaded")?;
    let device = &lab.device;
    let ms_per_unet_call = unet_call_ms(&ddpm.model, device, COUNT, GUIDANCE, 5).await?;
    let request = SampleRequest {
        labels: (0..COUNT).map(|i| Some(i % 10)).collect(),
        guidance: GUIDANCE,
        sampler: SamplerKind::Ddim { eta: 0.0 },
        steps,
        seed: 1,
    };
    let start = now_ms();
    let mut run = DenoiseRun::new(&ddpm.model, ddpm.schedule.clone(), &request, device)
        .map_err(|e| e.to_string())?;
    while run.step(&ddpm.model).is_some() {}
    run.trajectory()
        .sample()
        .clone()
        .into_data_async()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(BenchNumbers {
        ms_per_unet_call,
        ms_per_grid: now_ms() - start,
        steps,
        backend: lab.backend.label(),
    })
}

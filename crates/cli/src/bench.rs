//! # Benchmarks
//!
//! Speed is measured here, never in timed unit tests: `digitlab bench train` reports training
//! images per second for a UNet width and batch size; `digitlab bench sample` the milliseconds
//! per UNet call and per 16-digit grid of a shipped model. Each warms up first (kernels are
//! compiled and memory pools grow on first use) and reports the median of the timed repeats.

use std::time::Instant;

use anyhow::Result;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, NoiseSource, SampleRequest, guided_noise};
use digitlab_models::ContextUnetConfig;

use crate::args::BenchCommand;
use crate::backend::{Backend, machine_for};
use crate::cards::CardFile;

/// Median seconds of `repeats` calls of `f`, after one warm-up call.
fn timed(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..repeats.max(1))
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn bench_text(
    models: &[std::path::PathBuf],
    count: usize,
    repeats: usize,
    backend: Backend,
    json: bool,
) -> Result<()> {
    let device = backend.device()?;
    let mut rows = Vec::new();
    for path in models {
        let model = CardFile::read(path)?.load_text_ddpm(&device)?;
        let prompt = model
            .tokenizer
            .encode("a thick seven")
            .map_err(anyhow::Error::msg)?;
        let empty = model.tokenizer.encode("").map_err(anyhow::Error::msg)?;
        let mut rows_tokens = vec![&prompt; count];
        rows_tokens.extend(std::iter::repeat_n(&empty, count));
        let (ids, pad) = digitlab_diffusion::prompt_tensors(&model.unet, &rows_tokens, &device)?;
        let text = model.unet.encode_text(ids, pad);
        let x = NoiseSource::new(0, count).tensor(model.unet.image_shape(), &device);
        let t = Tensor::<1>::from_floats(vec![0.5f32; count].as_slice(), &device);
        let call = timed(repeats, || {
            let (eps, _) = digitlab_diffusion::guided_text_noise(
                &model.unet,
                x.clone(),
                t.clone(),
                &text,
                2.0,
            );
            let _ = eps.into_data();
        });
        let decode = model.decoder.as_ref().map(|_| {
            timed(repeats, || {
                let _ = model.to_pixels(x.clone()).into_data();
            })
        });
        let [c, h, w] = model.unet.image_shape();
        rows.push(serde_json::json!({
            "model": path.display().to_string(),
            "space": format!("{c}x{h}x{w}"),
            "ms_per_unet_call": call * 1e3,
            "ms_per_decode": decode.map(|d| d * 1e3),
            "params": model.unet.num_params(),
        }));
    }
    let out = serde_json::json!({ "count": count, "guidance": 2.0, "backend": backend.name(), "machine": machine_for(backend), "models": rows });
    if json {
        println!("{out}");
        return Ok(());
    }
    for r in &rows {
        println!(
            "{}: {} | {:.1} ms per guided UNet call of {count} digits{} | {} parameters",
            r["model"].as_str().unwrap_or(""),
            r["space"].as_str().unwrap_or(""),
            r["ms_per_unet_call"].as_f64().unwrap_or(f64::NAN),
            r["ms_per_decode"]
                .as_f64()
                .map(|d| format!(" + {d:.1} ms to decode once"))
                .unwrap_or_default(),
            r["params"]
        );
    }
    if let [a, b] = &rows[..] {
        println!(
            "ratio: one call in {} costs {:.1}x one in {} | {} | {}",
            a["space"].as_str().unwrap_or(""),
            a["ms_per_unet_call"].as_f64().unwrap_or(f64::NAN)
                / b["ms_per_unet_call"].as_f64().unwrap_or(f64::NAN),
            b["space"].as_str().unwrap_or(""),
            backend.name(),
            machine_for(backend)
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Text {
            models,
            count,
            repeats,
            backend,
            json,
        } => bench_text(&models, count, repeats, backend, json)?,
        BenchCommand::Train {
            n_feat,
            batch_size,
            steps,
            backend,
            json,
        } => {
            let device = backend.device()?.autodiff();
            device.seed(0);
            let mut model = ContextUnetConfig::new().with_n_feat(n_feat).init(&device);
            let mut optim = AdamConfig::new().init();
            let mut noise = NoiseSource::new(0, batch_size);
            let mut times = Vec::new();
            for i in 0..steps + 2 {
                let x = noise.tensor([1, 28, 28], &device);
                let eps = noise.tensor([1, 28, 28], &device);
                let t = Tensor::<1>::from_floats(vec![0.5f32; batch_size].as_slice(), &device);
                let labels = Tensor::<1, Int>::from_data(
                    TensorData::new(
                        (0..batch_size as i64).map(|l| l % 11).collect::<Vec<_>>(),
                        [batch_size],
                    ),
                    &device,
                );
                let start = Instant::now();
                let loss = (model.forward(x, t, labels) - eps).square().mean();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-4, model, grads);
                device.sync()?;
                if i >= 2 {
                    times.push(start.elapsed().as_secs_f64());
                }
            }
            let per_step = median(times);
            let ips = batch_size as f64 / per_step;
            // flex's thread pool is rayon's: RAYON_NUM_THREADS, else one per core.
            let threads = std::env::var("RAYON_NUM_THREADS")
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
                .filter(|&t| t > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "images_per_s": ips, "ms_per_step": per_step * 1e3, "n_feat": n_feat, "batch_size": batch_size, "params": model.num_params(), "threads": threads, "backend": backend.name(), "machine": machine_for(backend) })
                );
            } else {
                println!(
                    "train: {ips:.1} images/s ({:.0} ms per step of {batch_size}) | ContextUnet n_feat {n_feat}, {} parameters | {threads} threads | {} | {}",
                    per_step * 1e3,
                    model.num_params(),
                    backend.name(),
                    machine_for(backend)
                );
            }
        }
        BenchCommand::Sample {
            sampling,
            count,
            guidance,
            repeats,
            json,
        } => {
            let device = sampling.backend.device()?;
            let (model, schedule) = CardFile::read(&sampling.model)?.load_ddpm(&device)?;
            let x = NoiseSource::new(0, count).tensor(model.image_shape(), &device);
            let t = Tensor::<1>::from_floats(vec![0.5f32; count].as_slice(), &device);
            let labels = Tensor::<1, Int>::from_data(
                TensorData::new(
                    (0..count as i64).map(|l| l % 10).collect::<Vec<_>>(),
                    [count],
                ),
                &device,
            );
            let call = || -> Result<f64> {
                let start = Instant::now();
                let eps = guided_noise(&model, x.clone(), t.clone(), labels.clone(), guidance);
                let _ = eps.into_data();
                Ok(start.elapsed().as_secs_f64())
            };
            call()?; // warm-up
            let per_call = median(
                (0..repeats.max(1))
                    .map(|_| call())
                    .collect::<Result<Vec<_>>>()?,
            );
            let request = SampleRequest {
                labels: (0..count).map(|i| Some(i % 10)).collect(),
                guidance,
                sampler: sampling.kind(),
                steps: sampling.steps,
                seed: sampling.seed,
            };
            let start = Instant::now();
            let mut run = DenoiseRun::new(&model, schedule, &request, &device)?;
            let _ = run.run(&model, |_, _| {}).into_data();
            let per_grid = start.elapsed().as_secs_f64();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ms_per_unet_call": per_call * 1e3, "ms_per_grid": per_grid * 1e3, "count": count, "steps": sampling.steps, "guidance": guidance, "backend": sampling.backend.name(), "machine": machine_for(sampling.backend) })
                );
            } else {
                println!(
                    "sample: {:.1} ms per guided UNet call ({count} digits, batch {}) | {:.0} ms per {count}-digit grid ({} {} steps) | {} | {}",
                    per_call * 1e3,
                    // a student's guidance is one pass; a teacher's a doubled batch
                    if guidance > 0.0 && model.guidance_input().is_none() {
                        2 * count
                    } else {
                        count
                    },
                    per_grid * 1e3,
                    sampling.kind().name(),
                    sampling.steps,
                    sampling.backend.name(),
                    machine_for(sampling.backend)
                );
            }
        }
    }
    Ok(())
}

//! # The bench view (`?bench=1`)
//!
//! The same two numbers as `digitlab bench sample`, on the model worker's backend (measured
//! there, [`measure`]): ms per
//! guided UNet call (16 digits, so a batch of 32) and ms per 16-digit DDIM grid. The grid is
//! timed the way a real sampler should run on a GPU: all steps queued, one read at the end.
//! The native numbers measured on the machine that made `public/bench/native.jsonl` are shown
//! beside them; the ratio means something only when both ran on the same machine.

use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, NoiseSource, SampleRequest, SamplerKind, guided_noise};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::Ui;
use crate::client;
use crate::lab::Lab;
use crate::protocol::{BenchNumbers, Reply, Request};
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

#[component]
pub fn BenchView(ui: Ui) -> impl IntoView {
    let steps = RwSignal::new("50".to_string());
    let result = RwSignal::new(None::<BenchNumbers>);
    let native = RwSignal::new(String::new());
    spawn_local(async move {
        if let Ok(text) = crate::fetch::text("bench/native.jsonl").await {
            native.set(text);
        }
    });
    let start = move |_| {
        let Some(n) = ui.checked(crate::sampling::whole_number(
            "bench steps",
            &steps.get_untracked(),
            1,
            1000,
        )) else {
            return;
        };
        let id = ui.begin();
        spawn_local(async move {
            ui.status.set("benchmarking".into());
            match client::call(|job| Request::Bench { job, steps: n }, |_| {}).await {
                Ok(Reply::Bench { numbers, .. }) => {
                    result.set(Some(numbers));
                    ui.finish(id, "done");
                }
                Ok(other) => ui.finish(id, &format!("error: {}", client::unexpected(other))),
                Err(error) => ui.finish(id, &format!("error: {error}")),
            }
        });
    };
    view! {
        <section class="view">
            <h2>"Benchmark: sampling cost on this page's backend"</h2>
            <p>"One guided UNet call for 16 digits (a batch of 32: conditional and unconditional), median of 5 after a warm-up; then a whole 16-digit DDIM grid with every step queued and one read at the end. Natively: "
                <code>"digitlab bench sample --backend wgpu"</code> " (or " <code>"--backend flex"</code> ")."</p>
            <label>"DDIM steps for the grid "
                <input type="number" min="1" max="1000" data-testid="bench-steps"
                    prop:value=move || steps.get() on:input=move |ev| steps.set(event_target_value(&ev))/>
            </label>
            <button data-testid="bench-run" on:click=start disabled=move || !ui.ready.get() || ui.busy.get()>"Run benchmark"</button>
            {move || result.get().map(|r| view! {
                <table class="stats">
                    <tr><th>"backend"</th><td>{r.backend.clone()}</td></tr>
                    <tr><th>"ms per guided UNet call (16 digits)"</th><td>{format!("{:.1}", r.ms_per_unet_call)}</td></tr>
                    <tr><th>{format!("ms per 16-digit grid (DDIM {} steps)", r.steps)}</th><td>{format!("{:.0}", r.ms_per_grid)}</td></tr>
                </table>
            })}
            <pre data-testid="bench-result" hidden>{move || result.get().map(|r| serde_json::json!({
                "ms_per_unet_call": r.ms_per_unet_call, "ms_per_grid": r.ms_per_grid, "steps": r.steps, "backend": r.backend,
            }).to_string())}</pre>
            <h3>"Native numbers shipped with the page"</h3>
            <pre class="native">{move || native.get()}</pre>
        </section>
    }
}

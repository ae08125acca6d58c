//! # The bench view (`?bench=1`)
//!
//! The same two numbers as `digitlab bench sample`, on the page's active backend: ms per
//! guided UNet call (16 digits, so a batch of 32) and ms per 16-digit DDIM grid. The grid is
//! timed the way a real sampler should run on a GPU: all steps queued, one read at the end.
//! The native numbers measured on the machine that made `public/bench/native.jsonl` are shown
//! beside them; the ratio means something only when both ran on the same machine.

use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, NoiseSource, SampleRequest, SamplerKind, guided_noise};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::Ui;
use crate::ticks::{next_tick, now_ms};

pub const COUNT: usize = 16;
pub const GUIDANCE: f64 = 2.0;

#[derive(Clone, Debug, Default)]
pub struct BenchResult {
    pub ms_per_unet_call: f64,
    pub ms_per_grid: f64,
    pub steps: usize,
    pub backend: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn measure(ui: Ui, steps: usize) -> Result<BenchResult, String> {
    let lab = ui.lab.get_value().ok_or("the models are not loaded yet")?;
    let ddpm = lab.ddpm.clone().ok_or("no diffusion model is loaded")?;
    let device = &lab.device;
    let x = NoiseSource::new(0, COUNT).tensor(ddpm.model.image_shape(), device);
    let t = Tensor::<1>::from_floats(vec![0.5f32; COUNT].as_slice(), device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..COUNT as i64).map(|l| l % 10).collect::<Vec<_>>(),
            [COUNT],
        ),
        device,
    );
    let mut times = Vec::new();
    for i in 0..6 {
        let start = now_ms();
        let eps = guided_noise(&ddpm.model, x.clone(), t.clone(), labels.clone(), GUIDANCE);
        eps.into_data_async().await.map_err(|e| format!("{e:?}"))?;
        if i > 0 {
            times.push(now_ms() - start); // the first call compiles kernels
        }
        next_tick().await;
    }
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
    Ok(BenchResult {
        ms_per_unet_call: median(times),
        ms_per_grid: now_ms() - start,
        steps,
        backend: lab.backend.label(),
    })
}

#[component]
pub fn BenchView(ui: Ui) -> impl IntoView {
    let steps = RwSignal::new("50".to_string());
    let result = RwSignal::new(None::<BenchResult>);
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
            match measure(ui, n).await {
                Ok(r) => {
                    result.set(Some(r));
                    ui.finish(id, "done");
                }
                Err(e) => ui.finish(id, &format!("error: {e}")),
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

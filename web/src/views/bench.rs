//! # The bench view (`?bench=1`)
//!
//! The same two numbers as `digitlab bench sample`, on the model worker's backend (measured
//! there, by `digitlab_web_worker::bench`): ms per guided UNet call (16 digits, so a batch of
//! 32) and ms per 16-digit DDIM grid. The grid is
//! timed the way a real sampler should run on a GPU: all steps queued, one read at the end.
//! The native numbers measured on the machine that made `public/bench/native.jsonl` are shown
//! beside them; the ratio means something only when both ran on the same machine.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::protocol::{BenchNumbers, Reply, Request};
use crate::state::Ui;

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
        let Some(n) = ui.checked(crate::views::sampling::whole_number(
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

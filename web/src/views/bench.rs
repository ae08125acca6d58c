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
use crate::i18n::*;
use crate::protocol::{BenchNumbers, Reply, Request};
use crate::state::Ui;

#[component]
pub fn BenchView(ui: Ui) -> impl IntoView {
    let i18n = use_i18n();
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
            <h2>{t!(i18n, bench.title)}</h2>
            <p>{t!(i18n, bench.intro)}
                <code>"digitlab bench sample --backend wgpu"</code> {t!(i18n, bench.or)} <code>"--backend flex"</code> ")."</p>
            <label>{t!(i18n, bench.steps)} " "
                <input type="number" min="1" max="1000" data-testid="bench-steps"
                    prop:value=move || steps.get() on:input=move |ev| steps.set(event_target_value(&ev))/>
            </label>
            <button data-testid="bench-run" on:click=start disabled=move || !ui.ready.get() || ui.busy.get()>{t!(i18n, bench.run)}</button>
            {move || result.get().map(|r| view! {
                <table class="stats">
                    <tr><th>{t!(i18n, bench.backend)}</th><td>{r.backend.clone()}</td></tr>
                    <tr><th>{t!(i18n, bench.per_call)}</th><td>{format!("{:.1}", r.ms_per_unet_call)}</td></tr>
                    <tr><th>{t!(i18n, bench.per_grid, steps = r.steps)}</th><td>{format!("{:.0}", r.ms_per_grid)}</td></tr>
                </table>
            })}
            <pre data-testid="bench-result" hidden>{move || result.get().map(|r| serde_json::json!({
                "ms_per_unet_call": r.ms_per_unet_call, "ms_per_grid": r.ms_per_grid, "steps": r.steps, "backend": r.backend,
            }).to_string())}</pre>
            <h3>{t!(i18n, bench.native)}</h3>
            <pre class="native">{move || native.get()}</pre>
        </section>
    }
}

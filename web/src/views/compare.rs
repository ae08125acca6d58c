//! # The comparison view (Q5)
//!
//! The table `digitlab compare` wrote (`weights/comparison.json`): every shipped generator
//! measured by `digitlab eval` with the same classifier, held-out reference, number of digits,
//! seed and backend. One column is measured here, in the model worker on its backend: the sampling cost per
//! digit in this browser, for a batch of 16 digits, after a warm-up call (which compiles the
//! kernels). The VAE and GAN rows time their one decoder call (median of 3); the diffusion and
//! score models time one guided network call and multiply by the calls their row's sampler
//! makes (the same figure as the Bench view's, without running every step: on a CPU-emulated
//! WebGPU one call takes seconds).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{LatentOp, Reply, Request, Slot};
use crate::state::Ui;
use crate::ticks::next_tick;
use crate::views::latent;

const BATCH: usize = 16;

/// The median ms of one guided call of the worker's model in `slot` for `BATCH` digits.
async fn unet_ms(slot: Slot) -> Result<f64, String> {
    match client::call(
        |job| Request::TimeUnet {
            job,
            slot,
            count: BATCH,
            runs: 1,
        },
        |_| {},
    )
    .await?
    {
        Reply::Timed { ms, .. } => Ok(ms),
        other => Err(client::unexpected(other)),
    }
}

/// Browser ms per digit for one row of the table (by its card's stem), or why not; measured in
/// the model worker.
async fn measure(ui: Ui, stem: &str, calls: usize) -> Result<String, String> {
    let ms = match stem {
        "ddpm-cfg" => Some(unet_ms(Slot::Teacher).await?),
        "ncsn" => {
            crate::loaders::load_model(ui, Slot::Ncsn).await?;
            Some(unet_ms(Slot::Ncsn).await?)
        }
        _ => None,
    };
    if let Some(ms) = ms {
        return Ok(format!(
            "{:.1} (≈ {calls} calls × {:.1} ms / {BATCH})",
            ms * calls as f64 / BATCH as f64,
            ms
        ));
    }
    latent::load(ui, stem).await?;
    let ms = match client::call(
        |job| Request::Latent {
            job,
            model: stem.to_string(),
            op: LatentOp::Time {
                count: BATCH,
                runs: 3,
            },
        },
        |_| {},
    )
    .await?
    {
        Reply::Timed { ms, .. } => ms,
        other => return Err(client::unexpected(other)),
    };
    Ok(format!("{:.2}", ms / BATCH as f64))
}

/// The table's rows, from the comparison file.
fn rows(table: &serde_json::Value) -> Vec<serde_json::Value> {
    table["rows"].as_array().cloned().unwrap_or_default()
}

fn stem(row: &serde_json::Value) -> String {
    row["card"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches(".json")
        .to_string()
}

#[component]
pub fn CompareView(ui: Ui, active: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let table = RwSignal::new(serde_json::Value::Null);
    let info = RwSignal::new(String::from("opens with the view"));
    let browser = RwSignal::new(std::collections::BTreeMap::<String, String>::new());
    let measured = RwSignal::new(0u32);
    crate::state::first_time(
        move || active.get(),
        move || {
            spawn_local(async move {
                match crate::fetch::text("weights/comparison.json").await {
                    Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v) => {
                            info.set(format!(
                                "{} · {} digits per model, seed {}, on {} ({})",
                                v["command"].as_str().unwrap_or(""),
                                v["samples"],
                                v["seed"],
                                v["backend"].as_str().unwrap_or(""),
                                v["machine"].as_str().unwrap_or("")
                            ));
                            table.set(v);
                        }
                        Err(e) => info.set(format!("comparison.json does not parse: {e}")),
                    },
                    Err(e) => info.set(format!("no comparison table ({e})")),
                }
            });
        },
    );
    let run = move |_| {
        let id = ui.begin();
        spawn_local(async move {
            ui.status.set("measuring".into());
            for row in rows(&table.get_untracked()) {
                if ui.run_id.get_untracked() != id {
                    return;
                }
                let s = stem(&row);
                let calls = row["result"]["network_calls"]
                    .as_u64()
                    .map(|c| c as usize)
                    .or_else(|| row["result"]["steps"].as_u64().map(|s| s as usize))
                    .unwrap_or(1);
                let cell = match measure(ui, &s, calls).await {
                    Ok(v) => v,
                    Err(e) => format!("not measured: {e}"),
                };
                browser.update(|b| {
                    b.insert(s, cell);
                });
                next_tick().await;
            }
            measured.update(|n| *n += 1);
            ui.finish(id, "done");
        });
    };
    let body = move || {
        rows(&table.get())
            .into_iter()
            .map(|row| {
                let r = &row["result"];
                let f = |k: &str, d: usize| r[k].as_f64().map_or("-".into(), |v| format!("{v:.d$}"));
                let s = stem(&row);
                let cell_id = format!("compare-browser-{s}");
                let b = s.clone();
                view! {
                    <tr data-testid=format!("compare-row-{s}")>
                        <td>{row["name"].as_str().unwrap_or("").to_string()}</td>
                        <td>{format!("{} (floor {})", f("frechet", 1), f("frechet_floor", 1))}</td>
                        <td>{f("confidence", 3)}</td>
                        <td>{r["modes_covered"].as_u64().map_or("-".into(), |m| format!("{m} / 10"))}</td>
                        <td>{r["accuracy"].as_f64().map_or("unconditional".into(), |a| format!("{:.1} %", a * 100.0))}</td>
                        <td>{format!("{} ({})", f("ms_per_digit", 2), r["backend"].as_str().unwrap_or(""))}</td>
                        <td data-testid=cell_id>{move || browser.with(|m| m.get(&b).cloned().unwrap_or_default())}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section class="view">
            <h2>{t!(i18n, compare.title)}</h2>
            <p>{t!(i18n, compare.measured_by)} <code>"digitlab compare"</code> {t!(i18n, compare.which_runs)} <code>"digitlab eval --json"</code>
               {t!(i18n, compare.for_each)} {t!(i18n, compare.frechet)} {t!(i18n, compare.modes)}</p>
            <p class="meta" data-testid="compare-info">{move || info.get()}</p>
            <table class="stats" data-testid="compare-table">
                <tr>
                    <th>{t!(i18n, compare.col_model)}</th><th>{t!(i18n, compare.col_frechet)}</th><th>{t!(i18n, compare.col_confidence)}</th>
                    <th>{t!(i18n, compare.col_modes)}</th><th>{t!(i18n, compare.col_accuracy)}</th><th>{t!(i18n, compare.col_native)}</th>
                    <th>{t!(i18n, compare.col_browser)}</th>
                </tr>
                {body}
            </table>
            <button data-testid="compare-measure" on:click=run disabled=move || !ui.ready.get() || ui.busy.get() || table.with(|t| t.is_null())>{t!(i18n, compare.measure)}</button>
            <span data-testid="compare-measured" hidden>{move || measured.get()}</span>
        </section>
    }
}

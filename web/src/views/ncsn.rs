//! # NCSN on MNIST in the page: annealed Langevin sampling with 3, 40 or 80 levels
//!
//! The shipped (or the person's own) `ncsn` weights, sampled by `digitlab_diffusion`'s
//! `LangevinRun`, one network call at a time in the model worker, the page redrawing each
//! frame it sends. Two ways to compare numbers of levels: the same total number of network
//! calls (T = calls / L), or the same updates per level (cost grows with L). Below, the table
//! that `digitlab eval` measured and stored in the card.

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{Reply, Request, Slot};
use crate::state::Ui;
use crate::views::sampling::show_labels;
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain::{formula, math};
use crate::widgets::timeline::{Timeline, timeline_controls};
use digitlab_ui::grid::alt_text;
use digitlab_ui::inputs::{LangevinParams, MAX_COUNT, MAX_W_NCSN};

/// One row of the card's stored evaluations, with where it was measured: a card's rows can
/// come from different machines and sample counts (the shipped one's from a GPU at 1,000 digits
/// and from the CPU at 100), and the time per digit means nothing without its machine.
fn table_rows(ui: Ui) -> Vec<[String; 10]> {
    let Some(card) = ui.ncsn_card.get() else {
        return vec![];
    };
    let mut rows = vec![];
    for run in card["metrics"]["evaluations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for r in run["results"].as_array().into_iter().flatten() {
            let f = |k: &str, d: usize| r[k].as_f64().map_or("-".into(), |v| format!("{v:.d$}"));
            rows.push([
                f("levels", 0),
                f("steps_per_level", 0),
                f("sigma_max", 0),
                f("network_calls", 0),
                r["accuracy"]
                    .as_f64()
                    .map_or("-".into(), |v| format!("{:.1} %", v * 100.0)),
                f("confidence", 3),
                f("frechet", 1),
                f("ms_per_digit", 1),
                f("samples", 0),
                r["backend"].as_str().unwrap_or("-").to_string(),
            ]);
        }
    }
    rows
}

#[component]
pub fn NcsnMnist(ui: Ui) -> impl IntoView {
    let i18n = use_i18n();
    let digit = RwSignal::new("3".to_string());
    let levels = RwSignal::new("3".to_string());
    let budget = RwSignal::new("calls".to_string());
    let amount = RwSignal::new("30".to_string());
    let step_size = RwSignal::new("2e-3".to_string());
    let sigma_max = RwSignal::new("2".to_string());
    let guidance = RwSignal::new(1.0f64);
    let count = RwSignal::new("4".to_string());
    let seed = RwSignal::new("1".to_string());
    let counter = RwSignal::new(String::from("0/0"));
    let predictions = RwSignal::new(String::new());
    let summary = RwSignal::new(String::new());
    let grid: NodeRef<Canvas> = NodeRef::new();
    // The command that draws the grid on screen natively (set when a run starts).
    let command = RwSignal::new(String::new());
    let timeline = Timeline::new(grid);

    let generate = move |_| {
        let Some(r) = ui.checked(LangevinParams::parse(
            &digit.get_untracked(),
            &levels.get_untracked(),
            &budget.get_untracked(),
            &amount.get_untracked(),
            &step_size.get_untracked(),
            &sigma_max.get_untracked(),
            guidance.get_untracked(),
            &count.get_untracked(),
            &seed.get_untracked(),
        )) else {
            return;
        };
        let id = ui.begin();
        predictions.set(String::new());
        summary.set(String::new());
        say(ui, &Slot::Ncsn, command, |path| {
            digitlab_ui::command::langevin(path, &r)
        });
        timeline.clear();
        spawn_local(async move {
            ui.status.set("sampling".into());
            let count = r.count;
            let class = r.class;
            let reply = client::call(
                |job| Request::Langevin { job, params: r },
                move |frame| {
                    if let Reply::Frame {
                        values,
                        side,
                        ms_per_step,
                        note,
                        ..
                    } = frame
                        && ui.run_id.get_untracked() == id
                    {
                        if let Some(c) = grid.get_untracked() {
                            canvas::paint_grid(&c, &values, count, side);
                        }
                        ui.step_ms.set(ms_per_step);
                        timeline.push(note.clone(), &values, count, side);
                        counter.set(note);
                    }
                },
            )
            .await;
            match reply {
                Ok(Reply::Done { labels, .. }) => {
                    if let Some(labels) = labels {
                        show_labels(labels, class, predictions, summary);
                    }
                    ui.finish(id, "done");
                }
                Ok(Reply::Stopped { .. }) => ui.finish(id, "stopped"),
                Ok(other) => ui.finish(id, &format!("error: {}", client::unexpected(other))),
                Err(error) => ui.finish(id, &format!("error: {error}")),
            }
        });
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, ncsn.title)}</h2>
            <p class="meta">{t!(i18n, ncsn.network)} " " <span data-testid="ncsn-info">{move || ui.ncsn_info.get()}</span></p>
            <div class="columns">
                <div class="controls">
                    <label>{t!(i18n, ncsn.digit)} " "
                        <select data-testid="ncsn-digit" prop:value=move || digit.get()
                            on:change=move |ev| digit.set(event_target_value(&ev))>
                            <option value="none">{t!(i18n, ncsn.unconditional)}</option>
                            {(0..10).map(|d| view! { <option value=d.to_string()>{d}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>{t!(i18n, ncsn.levels)} " "
                        <select data-testid="ncsn-levels" prop:value=move || levels.get()
                            on:change=move |ev| levels.set(event_target_value(&ev))>
                            <option value="3">"3"</option>
                            <option value="40">"40"</option>
                            <option value="80">"80"</option>
                        </select>
                    </label>
                    <label>{t!(i18n, ncsn.budget)} " "
                        <select data-testid="ncsn-budget" prop:value=move || budget.get()
                            on:change=move |ev| budget.set(event_target_value(&ev))>
                            <option value="calls">{t!(i18n, ncsn.same_calls)}</option>
                            <option value="per-level">{t!(i18n, ncsn.same_updates)}</option>
                        </select>
                    </label>
                    <label>{move || if budget.get() == "calls" { t_string!(i18n, ncsn.calls) } else { t_string!(i18n, ncsn.updates) }} " "
                        <input type="number" min="1" data-testid="ncsn-amount" prop:value=move || amount.get()
                            on:input=move |ev| amount.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, ncsn.step_size)} " "
                        <input type="text" data-testid="ncsn-step-size" prop:value=move || step_size.get()
                            on:input=move |ev| step_size.set(event_target_value(&ev))/>
                    </label>
                    <label>{math(formula::SIGMA_MAX)} " " {t!(i18n, ncsn.sigma_max)} " "
                        <input type="text" data-testid="ncsn-sigma-max" aria-label=move || t_string!(i18n, ncsn.sigma_max_name) prop:value=move || sigma_max.get()
                            on:input=move |ev| sigma_max.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, ncsn.guidance)} " "
                        <input type="range" min="0" max=MAX_W_NCSN step="0.1" data-testid="ncsn-guidance"
                            prop:value=move || guidance.get().to_string()
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                    guidance.set(v.clamp(0.0, MAX_W_NCSN));
                                }
                            }/>
                        <output>{move || format!("{:.1}", guidance.get())}</output>
                    </label>
                    <label>{t!(i18n, ncsn.count)} " "
                        <input type="number" min="1" max=MAX_COUNT.to_string() data-testid="ncsn-count"
                            prop:value=move || count.get() on:input=move |ev| count.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, ncsn.seed)} " "
                        <input type="number" min="0" data-testid="ncsn-seed"
                            prop:value=move || seed.get() on:input=move |ev| seed.set(event_target_value(&ev))/>
                    </label>
                    <div class="buttons">
                        <button data-testid="ncsn-generate" on:click=generate disabled=move || !ui.ready.get() || ui.busy.get()>{t!(i18n, ncsn.generate)}</button>
                        <button data-testid="ncsn-stop" on:click=move |_| ui.stop() disabled=move || !ui.busy.get()>{t!(i18n, ncsn.stop)}</button>
                    </div>
                    <p class="meta" data-testid="ncsn-counter">{move || counter.get()}</p>
                    <p class="meta">{move || summary.get()}</p>
                    <span data-testid="ncsn-predictions" hidden>{move || predictions.get()}</span>
                </div>
                <div class="output">
                    <canvas class="digits" node_ref=grid width="28" height="28" data-testid="ncsn-samples"
                        role="img" aria-label=move || alt_text(t_string!(i18n, ncsn.grid), &predictions.get())></canvas>
                    {timeline_controls(ui, timeline, "ncsn-timeline")}
                    {command_line("ncsn-command", command)}
                </div>
            </div>
            <h3>{t!(i18n, ncsn.table_title)}</h3>
            <table class="stats" data-testid="ncsn-table">
                <tr>
                    <th>{t!(i18n, ncsn.col_levels)}</th><th>{t!(i18n, ncsn.col_updates)}</th><th>{t!(i18n, ncsn.col_sigma_max)}</th><th>{t!(i18n, ncsn.col_calls)}</th>
                    <th>{t!(i18n, ncsn.col_accuracy)}</th><th>{t!(i18n, ncsn.col_confidence)}</th><th>{t!(i18n, ncsn.col_frechet)}</th><th>{t!(i18n, ncsn.col_ms)}</th>
                    <th>{t!(i18n, ncsn.col_digits)}</th><th>{t!(i18n, ncsn.col_backend)}</th>
                </tr>
                {move || {
                    table_rows(ui)
                        .into_iter()
                        .map(|row| view! { <tr>{row.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr> })
                        .collect_view()
                }}
            </table>
        </section>
    }
}

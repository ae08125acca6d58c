//! # The Text view (Q4 b, c, d)
//!
//! Prompts to digits with the shipped text-conditioned models, run in the model worker by the
//! same `TextDenoiseRun` as `digitlab sample --prompt`: the tokenizer trained with the model,
//! `text_encoder([negative or "", prompt])` once per run, guidance, DDIM steps. A pixel model
//! draws `x_t` at each step; a latent model draws its 4 latent channels (of the first digit)
//! and the decoding of its current guess of the clean latent. After the run the chosen token's
//! cross-attention map is drawn over each digit, and each digit is *measured* (classifier,
//! thickness, slant, size) so the page says whether it is what was asked for. The weights are
//! fetched the first time the view opens.

use digitlab_ui::command::TextSettings;
use digitlab_ui::inputs::Sampler;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{Loaded, Reply, Request, Slot, TextJob};
use crate::state::Ui;
use crate::views::sampling::{MAX_W, text_field, whole_number};
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain;
use crate::widgets::explain::{formula, math};
use crate::widgets::timeline::{Timeline, timeline_controls};
use digitlab_ui::grid::normalise;

/// The shipped text models, by file stem (the switch names them in the page's language:
/// pixel space, cross-attention; latent space, cross-attention; latent space, FiLM).
pub const TEXT_MODELS: [&str; 3] = ["text-pixel", "text-latent", "text-latent-film"];

/// Suggested prompts (the captions' own grammar, English, numerals and Persian names).
pub const SUGGESTIONS: [&str; 8] = [
    "a thick seven",
    "a thin, right-slanted 7",
    "a small two",
    "a large, thick zero",
    "a left-slanted one",
    "an upright four",
    "a thick هفت",
    "a small, thin سه",
];

pub const MAX_COUNT: usize = 16;

/// Has the model worker fetch a shipped text model (and a latent model's autoencoder), unless
/// it has it already; the line for the view and the model's T.
async fn load(ui: Ui, name: &str) -> Result<Loaded, String> {
    crate::loaders::load_model(ui, Slot::Text(name.into())).await
}

/// The loaded model's T (the most steps a run can take), or why there is none.
fn train_steps(ui: Ui, name: &str) -> Result<usize, String> {
    ui.loaded
        .with_value(|all| {
            all.iter()
                .find(|m| m.slot == Slot::Text(name.into()))
                .map(|m| m.train_steps)
        })
        .ok_or_else(|| format!("the {name} model is not loaded"))
}

#[component]
pub fn TextView(ui: Ui, active: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let prompt = RwSignal::new("a thick seven".to_string());
    let negative = RwSignal::new(String::new());
    let guidance = RwSignal::new(3.0f64);
    let steps = RwSignal::new("10".to_string());
    let count = RwSignal::new("4".to_string());
    let seed = RwSignal::new("1".to_string());
    let space = RwSignal::new(TEXT_MODELS[1].to_string());
    let token = RwSignal::new(1usize);
    let tokens = RwSignal::new(Vec::<String>::new());
    let info = RwSignal::new(String::from("loading when the view opens"));
    let counter = RwSignal::new("0/0".to_string());
    // The command that draws the grid on screen natively (set when a run starts).
    let command = RwSignal::new(String::new());
    let verdicts = RwSignal::new(Vec::<String>::new());
    let summary = RwSignal::new(String::new());
    let attention_note = RwSignal::new(String::new());
    let maps = StoredValue::new_local(None::<(Vec<f32>, usize, usize, usize)>);
    let grid: NodeRef<Canvas> = NodeRef::new();
    let timeline = Timeline::new(grid);
    let channels: NodeRef<Canvas> = NodeRef::new();
    let attention: NodeRef<Canvas> = NodeRef::new();

    crate::state::first_time(
        move || active.get() && ui.ready.get(),
        move || {
            spawn_local(async move {
                let mut lines = Vec::new();
                for name in TEXT_MODELS {
                    match load(ui, name).await {
                        Ok(m) => lines.push(m.info),
                        Err(e) => lines.push(format!("{name} not loaded: {e}")),
                    }
                }
                info.set(lines.join(" | "));
            })
        },
    );

    // The prompt's tokens, for the attention chooser (and to show how it was tokenised), from
    // the model worker's tokenizer; an answer to an older prompt is dropped.
    let asked = StoredValue::new(0u64);
    Effect::new(move |_| {
        let text = prompt.get();
        let model = space.get();
        let _ = info.get();
        if train_steps(ui, &model).is_err() {
            return tokens.set(Vec::new());
        }
        asked.update_value(|n| *n += 1);
        let mine = asked.get_value();
        spawn_local(async move {
            let reply = client::call(|job| Request::Tokenize { job, model, text }, |_| {}).await;
            if asked.get_value() != mine {
                return;
            }
            tokens.set(match reply {
                Ok(Reply::Tokens { tokens, .. }) => tokens,
                Ok(other) => vec![format!("({})", client::unexpected(other))],
                Err(error) => vec![format!("({error})")],
            });
        });
    });

    let draw_maps = move || {
        let Some((values, n, len, side)) = maps.get_value() else {
            return;
        };
        let k = token.get_untracked().min(len.saturating_sub(1));
        let per = side * side;
        let chosen: Vec<f32> = (0..n)
            .flat_map(|i| values[(i * len + k) * per..(i * len + k + 1) * per].to_vec())
            .collect();
        if let Some(c) = attention.get_untracked() {
            canvas::paint_grid(&c, &normalise(&chosen, per), n, side);
        }
        let name = tokens.get_untracked().get(k).cloned().unwrap_or_default();
        attention_note.set(format!(
            "where \"{name}\" acts: its attention weight at each of the {side}x{side} positions of the finest conditioned level, at the last step (bright = more; each map scaled to its own range)"
        ));
    };

    // The prompts are checked by the worker's tokenizer when the run starts.
    let params = move || -> Result<TextJob, String> {
        let model = space.get_untracked();
        let g = guidance.get_untracked();
        if !(0.0..=MAX_W).contains(&g) {
            return Err(format!("guidance must be in [0, {MAX_W}], got {g}"));
        }
        Ok(TextJob {
            steps: whole_number("steps", &steps.get_untracked(), 1, train_steps(ui, &model)?)?,
            count: whole_number("count", &count.get_untracked(), 1, MAX_COUNT)?,
            seed: whole_number("seed", &seed.get_untracked(), 0, u32::MAX as usize)? as u64,
            prompt: prompt.get_untracked(),
            negative: negative.get_untracked(),
            guidance: g,
            model,
        })
    };

    let generate = move |_| {
        let Some(p) = ui.checked(params()) else {
            return;
        };
        let id = ui.begin();
        verdicts.set(Vec::new());
        summary.set(String::new());
        counter.set(String::new());
        let settings = TextSettings {
            prompt: p.prompt.clone(),
            negative: (!p.negative.is_empty()).then(|| p.negative.clone()),
            guidance: p.guidance,
            sampler: Sampler::Ddim,
            steps: p.steps,
            count: p.count,
            seed: p.seed,
        };
        say(ui, &Slot::Text(p.model.clone()), command, |path| {
            digitlab_ui::command::text(path, &settings)
        });
        timeline.clear();
        let (name, count) = (p.model.clone(), p.count);
        spawn_local(async move {
            ui.status.set("sampling".into());
            let reply = client::call(
                |job| Request::Text { job, run: p },
                move |frame| {
                    if let Reply::Frame {
                        step,
                        total,
                        values,
                        side,
                        ms_per_step,
                        extra,
                        extra_count,
                        ..
                    } = frame
                        && ui.run_id.get_untracked() == id
                    {
                        if let Some(c) = grid.get_untracked() {
                            canvas::paint_grid(&c, &values, count, side);
                        }
                        if extra_count > 0
                            && let Some(c) = channels.get_untracked()
                        {
                            let side = ((extra.len() / extra_count) as f64).sqrt() as usize;
                            canvas::paint_strip(&c, &extra, extra_count, side);
                        }
                        ui.step_ms.set(ms_per_step);
                        counter.set(format!("{step}/{total}"));
                        timeline.push(format!("step {step}/{total}"), &values, count, side);
                    }
                },
            )
            .await;
            match reply {
                Ok(Reply::TextDone {
                    maps: last_maps,
                    verdicts: lines,
                    summary: line,
                    ..
                }) => {
                    if let Some(m) = last_maps {
                        maps.set_value(Some(m));
                        draw_maps();
                    } else {
                        maps.set_value(None);
                        attention_note.set(format!(
                            "{name} has no attention maps: FiLM turns the whole prompt into one scale and shift per channel"
                        ));
                    }
                    verdicts.set(lines);
                    summary.set(line);
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
            <h2>{t!(i18n, text.title)}</h2>
            <p class="meta" data-testid="text-info">{move || info.get()}</p>
            <div class="columns">
            <div class="controls">
                <label>{t!(i18n, text.prompt)} " "
                    <input type="text" list="prompt-suggestions" data-testid="text-prompt" size="32"
                        prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))/>
                </label>
                <datalist id="prompt-suggestions">
                    {SUGGESTIONS.iter().map(|s| view! { <option value=*s/> }).collect_view()}
                </datalist>
                <label>{t!(i18n, text.negative)} " "
                    <input type="text" data-testid="text-negative" size="20" placeholder=move || t_string!(i18n, text.negative_placeholder)
                        prop:value=move || negative.get() on:input=move |ev| negative.set(event_target_value(&ev))/>
                </label>
                <label>{t!(i18n, text.guidance)} " " <span data-testid="text-guidance-value">{move || format!("{:.1}", guidance.get())}</span>
                    <input type="range" min="0" max=MAX_W step="0.5" data-testid="text-guidance"
                        prop:value=move || guidance.get().to_string()
                        on:input=move |ev| {
                            // A range input always sends a number; anything else is ignored,
                            // never read as 0.
                            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                guidance.set(v.clamp(0.0, MAX_W));
                            }
                        }/>
                </label>
                {text_field(t!(i18n, text.steps), "text-steps", steps)}
                {text_field(t!(i18n, text.count), "text-count", count)}
                {text_field(t!(i18n, text.seed), "text-seed", seed)}
                <label>{t!(i18n, text.model)} " "
                    <select data-testid="text-space" on:change=move |ev| space.set(event_target_value(&ev))>
                        {TEXT_MODELS.iter().enumerate().map(|(k, name)| {
                            let label = move || match k {
                                0 => t_string!(i18n, text.pixel),
                                1 => t_string!(i18n, text.latent),
                                _ => t_string!(i18n, text.film),
                            };
                            view! { <option value=*name selected=move || space.get() == *name>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <div class="buttons">
                    <button data-testid="text-generate" on:click=generate prop:disabled=move || ui.busy.get()>{t!(i18n, text.generate)}</button>
                    <button on:click=move |_| ui.stop() prop:disabled=move || !ui.busy.get()>{t!(i18n, text.stop)}</button>
                </div>
                <span>{t!(i18n, text.step)} " " <span data-testid="text-counter">{move || counter.get()}</span></span>
                <p class="meta">{t!(i18n, text.tokens)} " " <span data-testid="text-tokens">{move || tokens.get().join(" · ")}</span></p>
            </div>
            <div class="sweep textfigs">
                <figure>
                    <canvas class="digits" node_ref=grid data-testid="text-grid" width="28" height="28"
                        role="img" aria-label=move || format!("{}; {}", t_string!(i18n, text.grid), verdicts.get().join("; "))></canvas>
                    <figcaption class="meta">{t!(i18n, text.grid_caption)} {math(formula::XT)} {t!(i18n, text.grid_caption_end)}</figcaption>
                    {timeline_controls(ui, timeline, "text-timeline")}
                    {command_line("text-command", command)}
                </figure>
                <figure>
                    <canvas class="digits strip" node_ref=channels data-testid="text-channels" width="28" height="7"></canvas>
                    <figcaption class="meta">{t!(i18n, text.channels_caption)}</figcaption>
                </figure>
                <figure>
                    <canvas class="digits small" node_ref=attention data-testid="text-attention" width="28" height="28"></canvas>
                    <figcaption>
                        {t!(i18n, text.attention_caption)} " "
                        <select data-testid="text-token" aria-label=move || t_string!(i18n, text.token) on:change=move |ev| {
                            token.set(event_target_value(&ev).parse().unwrap_or(0));
                            draw_maps();
                        }>
                            {move || tokens.get().into_iter().enumerate().map(|(i, t)| view! {
                                <option value=i.to_string() selected=move || token.get() == i>{t}</option>
                            }).collect_view()}
                        </select>
                        <br/><span class="meta" data-testid="text-attention-note">{move || attention_note.get()}</span>
                    </figcaption>
                </figure>
            </div>
            </div>
            <ul data-testid="text-verdicts">
                {move || verdicts.get().into_iter().map(|v| view! { <li>{v}</li> }).collect_view()}
            </ul>
            <p data-testid="text-summary">{move || summary.get()}</p>
            {explain::text()}
        </section>
    }
}

//! # The Text view (Q4 b, c, d)
//!
//! Prompts to digits with the shipped text-conditioned models, run by the same
//! `TextDenoiseRun` as `digitlab sample --prompt`: the tokenizer trained with the model,
//! `text_encoder([negative or "", prompt])` once per run, guidance, DDIM steps. A pixel model
//! draws `x_t` at each step; a latent model draws its 4 latent channels (of the first digit)
//! and the decoding of its current guess of the clean latent. After the run the chosen token's
//! cross-attention map is drawn over each digit, and each digit is *measured* (classifier,
//! thickness, slant, size) so the page says whether it is what was asked for. The weights are
//! fetched the first time the view opens.

use burn::prelude::*;
use digitlab_captions::{Tokens, measure};
use digitlab_diffusion::{SamplerKind, TextDenoiseRun, TextRequest};
use digitlab_models::pixels::unit_to_bytes;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::Ui;
use crate::canvas;
use crate::explain;
use crate::lab::{TextModel, fetch_shipped};
use crate::latent::read;
use crate::sampling::{MAX_W, text_field, whole_number};
use crate::ticks::{next_tick, now_ms};

/// The shipped text models, by file stem, with what the switch calls them.
pub const TEXT_MODELS: [(&str, &str); 3] = [
    ("text-pixel", "pixel space, cross-attention"),
    ("text-latent", "latent space, cross-attention"),
    ("text-latent-film", "latent space, FiLM"),
];

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

/// Fetches a shipped text model (and a latent model's autoencoder) into the lab.
async fn load(ui: Ui, name: &str) -> Result<String, String> {
    if let Some(m) = ui
        .lab
        .with_value(|l| l.as_ref().and_then(|l| l.text(name).cloned()))
    {
        return Ok(describe(&m));
    }
    let (card, bytes) = fetch_shipped(&format!("{name}.json"), |_, _| {}).await?;
    let autoencoder = match &card.model {
        digitlab_weights::ModelSpec::TextDdpm {
            space: digitlab_weights::Space::Latent { autoencoder, .. },
            ..
        } => Some(fetch_shipped(autoencoder, |_, _| {}).await?),
        _ => None,
    };
    let mut lab = ui.lab.get_value().ok_or("the backend is not ready yet")?;
    let model = TextModel::load(name, card, bytes, autoencoder, &lab.device)
        .map_err(|e| format!("{name}: {e}"))?;
    let line = describe(&model);
    if lab.text(name).is_none() {
        lab.texts.push(model);
        ui.lab.set_value(Some(lab));
    }
    Ok(line)
}

fn describe(m: &TextModel) -> String {
    let t = &m.card.training;
    let [c, h, w] = m.unet.image_shape();
    format!(
        "{}: denoises {c}x{h}x{w}, vocabulary of {} tokens, {} steps, {:.0} epochs, {:.0} s on {}, {} weights",
        m.card.weights,
        m.tokenizer.vocab_size(),
        t.steps,
        t.epochs,
        t.seconds,
        t.backend,
        m.card.stored_as()
    )
}

/// A checked request from the controls.
struct Params {
    model: TextModel,
    prompt: Tokens,
    negative: Tokens,
    guidance: f64,
    steps: usize,
    count: usize,
    seed: u64,
}

/// Values in any range to `[-1, 1]` for drawing (each map scaled to its own min and max).
fn normalise(values: &[f32], per: usize) -> Vec<f32> {
    values
        .chunks(per.max(1))
        .flat_map(|m| {
            let lo = m.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = (hi - lo).max(1e-6);
            m.iter().map(move |v| (v - lo) / span * 2.0 - 1.0)
        })
        .collect()
}

#[component]
pub fn TextView(ui: Ui, active: Signal<bool>) -> impl IntoView {
    let prompt = RwSignal::new("a thick seven".to_string());
    let negative = RwSignal::new(String::new());
    let guidance = RwSignal::new(3.0f64);
    let steps = RwSignal::new("10".to_string());
    let count = RwSignal::new("4".to_string());
    let seed = RwSignal::new("1".to_string());
    let space = RwSignal::new(TEXT_MODELS[1].0.to_string());
    let token = RwSignal::new(1usize);
    let tokens = RwSignal::new(Vec::<String>::new());
    let info = RwSignal::new(String::from("loading when the view opens"));
    let counter = RwSignal::new("0/0".to_string());
    let verdicts = RwSignal::new(Vec::<String>::new());
    let summary = RwSignal::new(String::new());
    let attention_note = RwSignal::new(String::new());
    let maps = StoredValue::new_local(None::<(Vec<f32>, usize, usize, usize)>);
    let grid: NodeRef<Canvas> = NodeRef::new();
    let channels: NodeRef<Canvas> = NodeRef::new();
    let attention: NodeRef<Canvas> = NodeRef::new();

    crate::app::first_time(
        move || active.get() && ui.ready.get(),
        move || {
            spawn_local(async move {
                let mut lines = Vec::new();
                for (name, _) in TEXT_MODELS {
                    match load(ui, name).await {
                        Ok(line) => lines.push(line),
                        Err(e) => lines.push(format!("{name} not loaded: {e}")),
                    }
                }
                info.set(lines.join(" | "));
            })
        },
    );

    // The prompt's tokens, for the attention chooser (and to show how it was tokenised).
    Effect::new(move |_| {
        let p = prompt.get();
        let name = space.get();
        let _ = info.get();
        let found = ui.lab.with_value(|l| {
            l.as_ref()
                .and_then(|l| l.text(&name))
                .map(|m| m.tokenizer.encode(&p))
        });
        match found {
            Some(Ok(t)) => tokens.set(t.tokens),
            Some(Err(e)) => tokens.set(vec![format!("({e})")]),
            None => tokens.set(Vec::new()),
        }
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

    let params = move || -> Result<Params, String> {
        let name = space.get_untracked();
        let model = ui
            .lab
            .with_value(|l| l.as_ref().and_then(|l| l.text(&name).cloned()))
            .ok_or_else(|| format!("the {name} model is not loaded"))?;
        let prompt = model.tokenizer.encode(&prompt.get_untracked())?;
        let negative = model.tokenizer.encode(&negative.get_untracked())?;
        let g = guidance.get_untracked();
        if !(0.0..=MAX_W).contains(&g) {
            return Err(format!("guidance must be in [0, {MAX_W}], got {g}"));
        }
        Ok(Params {
            prompt,
            negative,
            guidance: g,
            steps: whole_number(
                "steps",
                &steps.get_untracked(),
                1,
                model.schedule.train_steps(),
            )?,
            count: whole_number("count", &count.get_untracked(), 1, MAX_COUNT)?,
            seed: whole_number("seed", &seed.get_untracked(), 0, u32::MAX as usize)? as u64,
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
        spawn_local(async move {
            ui.status.set("sampling".into());
            match run(ui, id, &p, grid, channels, counter).await {
                Ok(Some((pixels, last_maps))) => {
                    if let Some(m) = last_maps {
                        maps.set_value(Some(m));
                        draw_maps();
                    } else {
                        maps.set_value(None);
                        attention_note.set(format!(
                            "{} has no attention maps: FiLM turns the whole prompt into one scale and shift per channel",
                            p.model.name
                        ));
                    }
                    verdict(ui, &p, pixels, verdicts, summary).await;
                    ui.finish(id, "done");
                }
                Ok(None) => ui.finish(id, "stopped"),
                Err(e) => ui.finish(id, &format!("error: {e}")),
            }
        });
    };

    view! {
        <section class="view">
            <h2>"Text prompts and latent diffusion"</h2>
            <p class="meta" data-testid="text-info">{move || info.get()}</p>
            <div class="columns">
            <div class="controls">
                <label>"Prompt "
                    <input type="text" list="prompt-suggestions" data-testid="text-prompt" size="32"
                        prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))/>
                </label>
                <datalist id="prompt-suggestions">
                    {SUGGESTIONS.iter().map(|s| view! { <option value=*s/> }).collect_view()}
                </datalist>
                <label>"Negative prompt "
                    <input type="text" data-testid="text-negative" size="20" placeholder="(empty: plain guidance)"
                        prop:value=move || negative.get() on:input=move |ev| negative.set(event_target_value(&ev))/>
                </label>
                <label>"Guidance w = " <span data-testid="text-guidance-value">{move || format!("{:.1}", guidance.get())}</span>
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
                {text_field("Steps (DDIM) ", "text-steps", steps)}
                {text_field("Digits ", "text-count", count)}
                {text_field("Seed ", "text-seed", seed)}
                <label>"Model "
                    <select data-testid="text-space" on:change=move |ev| space.set(event_target_value(&ev))>
                        {TEXT_MODELS.iter().map(|(name, label)| view! {
                            <option value=*name selected=move || space.get() == *name>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <div class="buttons">
                    <button data-testid="text-generate" on:click=generate prop:disabled=move || ui.busy.get()>"Generate"</button>
                    <button on:click=move |_| ui.stop() prop:disabled=move || !ui.busy.get()>"Stop"</button>
                </div>
                <span>"step " <span data-testid="text-counter">{move || counter.get()}</span></span>
                <p class="meta">"Tokens: " <span data-testid="text-tokens">{move || tokens.get().join(" · ")}</span></p>
            </div>
            <div class="sweep textfigs">
                <figure>
                    <canvas class="digits" node_ref=grid data-testid="text-grid" width="28" height="28"></canvas>
                    <figcaption class="meta">"the digits (pixel model: x_t at each step; latent model: the decoder's picture of the current guess of the clean latent)"</figcaption>
                </figure>
                <figure>
                    <canvas class="digits strip" node_ref=channels data-testid="text-channels" width="28" height="7"></canvas>
                    <figcaption class="meta">"latent model: the 4 channels (7x7) of the first digit's latent at each step"</figcaption>
                </figure>
                <figure>
                    <canvas class="digits small" node_ref=attention data-testid="text-attention" width="28" height="28"></canvas>
                    <figcaption>
                        "cross-attention of token "
                        <select data-testid="text-token" on:change=move |ev| {
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

type Maps = (Vec<f32>, usize, usize, usize);

/// Runs the request step by step; `None` when stopped. Returns the final pixels and the last
/// step's attention maps `(values, count, max_len, side)`.
async fn run(
    ui: Ui,
    id: u64,
    p: &Params,
    grid: NodeRef<Canvas>,
    channels: NodeRef<Canvas>,
    counter: RwSignal<String>,
) -> Result<Option<(Tensor<4>, Option<Maps>)>, String> {
    let device = ui.device()?;
    let request = TextRequest {
        prompts: vec![p.prompt.clone(); p.count],
        negative: p.negative.clone(),
        guidance: p.guidance,
        sampler: SamplerKind::Ddim { eta: 0.0 },
        steps: p.steps,
        seed: p.seed,
    };
    let model = &p.model;
    let mut run = TextDenoiseRun::new(&model.unet, model.schedule.clone(), &request, &device)
        .map_err(|e| e.to_string())?;
    let total = run.trajectory().total_steps();
    counter.set(format!("0/{total}"));
    let started = now_ms();
    let mut last_attention = None;
    while let Some(step) = run.step(&model.unet) {
        if ui.run_id.get_untracked() != id {
            return Ok(None);
        }
        let latent = model.decoder.is_some();
        let shown = if latent {
            model.to_pixels(step.output.pred_original_sample.clone())
        } else {
            step.output.prev_sample.clone()
        };
        let values = read(shown).await.map_err(|e| ui.backend_failed(e))?;
        if let Some(c) = grid.get_untracked() {
            canvas::paint_grid(&c, &values, p.count, 28);
        }
        if latent {
            let [ch, side, _] = model.unet.image_shape();
            let first = read(step.output.prev_sample.clone().narrow(0, 0, 1))
                .await
                .map_err(|e| ui.backend_failed(e))?;
            if let Some(c) = channels.get_untracked() {
                canvas::paint_strip(&c, &normalise(&first, side * side), ch, side);
            }
        }
        last_attention = step.attention;
        let k = run.trajectory().completed_steps();
        ui.step_ms.set((now_ms() - started) / k as f64);
        counter.set(format!("{k}/{total}"));
        next_tick().await;
        if ui.run_id.get_untracked() != id {
            return Ok(None);
        }
    }
    let maps = match last_attention {
        None => None,
        Some(a) => {
            let [n, len, side, _] = a.dims();
            Some((
                read(a).await.map_err(|e| ui.backend_failed(e))?,
                n,
                len,
                side,
            ))
        }
    };
    Ok(Some((
        model.to_pixels(run.trajectory().sample().clone()),
        maps,
    )))
}

/// Classifies and measures each generated digit, in the captions' words.
async fn verdict(
    ui: Ui,
    p: &Params,
    pixels: Tensor<4>,
    verdicts: RwSignal<Vec<String>>,
    summary: RwSignal<String>,
) {
    let values = match read(pixels.clone()).await {
        Ok(v) => v,
        Err(e) => {
            summary.set(format!("reading the digits failed: {e}"));
            return;
        }
    };
    let labels = match ui.lab.get_value().and_then(|l| l.judge) {
        Some(judge) => judge.classify(pixels).await.ok(),
        None => None,
    };
    let bytes = unit_to_bytes(&values);
    let words = |d: &digitlab_captions::Described| {
        // The caption with every attribute mentioned (form 7), minus the article.
        digitlab_captions::caption(d, 7)
            .split_once(' ')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for i in 0..p.count {
        let attributes = measure(&bytes[i * 784..(i + 1) * 784], 28);
        let line = match labels.as_ref().and_then(|l| l.get(i)) {
            Some(&(digit, confidence)) => format!(
                "#{}: the classifier reads {digit} ({:.0} %); measured as {}",
                i + 1,
                confidence * 100.0,
                words(&p.model.bins.describe(digit as u8, &attributes))
            ),
            None => format!("#{}: (no classifier loaded)", i + 1),
        };
        lines.push(line);
    }
    verdicts.set(lines);
    summary.set(format!(
        "Each digit is measured as the training captions were (ink per row for thickness, image moments for slant, bounding box for size; per-digit tertiles from {}), so the words above are what the digit is, not what was asked.",
        p.model.card.data.name
    ));
}

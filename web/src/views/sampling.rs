//! # The sampling view
//!
//! Digit, guidance `w`, sampler, steps, count and seed; Generate asks the model worker to run
//! the shipped `DenoiseRun` (the same code as `digitlab sample`) one step at a time, and
//! redraws the grid from each frame it sends back: the page's thread only paints, so it stays
//! responsive, and Stop works at once. The noise comes from the seeded generator in `digitlab-diffusion`, not
//! from a backend's RNG: the same settings give the same digits here and in the CLI.

use digitlab_spec::edit::Edit;
use digitlab_spec::sample::{SampleRequest, SamplerKind};
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{Reply, Request, Slot};
use crate::state::Ui;
use crate::ticks::now_ms;
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain;
use crate::widgets::explain::{formula, math};
use crate::widgets::timeline::{Timeline, timeline_controls};
use digitlab_ui::grid::alt_text;

pub use digitlab_ui::inputs::{MAX_COUNT, MAX_W, SWEEP, positive_number, whole_number};
use digitlab_ui::inputs::{SampleParams, Sampler};

/// A labelled text input bound to `sig` (`data-testid` = `id`), for the settings that are
/// parsed when used (the duel's and the score toy's). `label` is usually a translation
/// (`t!(i18n, …)`); a space follows it.
pub fn text_field(
    label: impl IntoView + 'static,
    id: &'static str,
    sig: RwSignal<String>,
) -> impl IntoView {
    field(view! { {label} " " }, None::<fn() -> &'static str>, id, sig)
}

/// A text input whose label is a formula (`σ_max`): `name` gives its accessible name (in the
/// page's language), since a screen reader's name for a label made of MathML is not dependable.
pub fn named_field(
    label: impl IntoView + 'static,
    name: impl Fn() -> &'static str + Send + Sync + 'static,
    id: &'static str,
    sig: RwSignal<String>,
) -> impl IntoView {
    field(view! { {label} " " }, Some(name), id, sig)
}

fn field(
    label: impl IntoView + 'static,
    name: Option<impl Fn() -> &'static str + Send + Sync + 'static>,
    id: &'static str,
    sig: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label>{label}
            <input type="text" inputmode="decimal" data-testid=id aria-label=move || name.as_ref().map(|n| n()) prop:value=move || sig.get()
                on:input=move |ev| sig.set(event_target_value(&ev))/>
        </label>
    }
}

/// "Digit": 0-9 or unconditional (`none`), bound to `sig` (`data-testid` = `id`).
pub fn digit_select(id: &'static str, sig: RwSignal<String>) -> impl IntoView {
    let i18n = use_i18n();
    // In Persian each digit is also named, with the names the captions' tokenizer knows.
    let name = move |d: usize| match i18n.get_locale() {
        Locale::fa => format!("{d} ({})", digitlab_data::names::PERSIAN[d]),
        Locale::en => d.to_string(),
    };
    view! {
        <label>{t!(i18n, sample.digit)} " "
            <select data-testid=id prop:value=move || sig.get()
                on:change=move |ev| sig.set(event_target_value(&ev))>
                <option value="none">{t!(i18n, sample.unconditional)}</option>
                {(0..10).map(|d| view! { <option value=d.to_string()>{move || name(d)}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// "Guidance w": a slider from 0 to [`MAX_W`] bound to `sig`, its value shown in `value_id`.
pub fn guidance_slider(
    id: &'static str,
    value_id: &'static str,
    sig: RwSignal<f64>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label>{t!(i18n, sample.guidance)} " "
            <input type="range" min="0" max=MAX_W step="0.1" data-testid=id
                prop:value=move || sig.get().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                        sig.set(v.clamp(0.0, MAX_W));
                    }
                }/>
            <output data-testid=value_id>{move || format!("{:.1}", sig.get())}</output>
        </label>
    }
}

/// What the sweep shows before it is run: `digitlab sample --class 3 --guidance <w> --sampler
/// ddim --eta 0 --steps 20 --count 4 --seed 1` for each w, the view's default settings.
pub const SHIPPED_SWEEP: &str = "the default settings (digit 3, DDIM, 20 steps, 4 digits, seed 1), drawn by digitlab sample and shipped with the page";

/// A checked request from the controls (`digitlab_ui::inputs::SampleParams`), as a sampling
/// request.
#[derive(Clone, Debug)]
pub struct Params(pub SampleParams);

impl std::ops::Deref for Params {
    type Target = SampleParams;
    fn deref(&self) -> &SampleParams {
        &self.0
    }
}

impl Params {
    fn request(&self, guidance: f64) -> SampleRequest {
        let p = &self.0;
        let sampler = match p.sampler {
            Sampler::Ddpm => SamplerKind::Ddpm,
            Sampler::Ddim => SamplerKind::Ddim { eta: 0.0 },
            Sampler::DpmPp => SamplerKind::DpmSolverPp,
        };
        SampleRequest::uniform(p.class, p.count, guidance, sampler, p.steps, p.seed)
    }
}

/// How a sampling run ended: the final digits' values and side, and the classifier's labels.
pub enum Outcome {
    Done {
        values: Vec<f32>,
        side: usize,
        labels: Option<Result<Vec<(usize, f32)>, String>>,
    },
    Stopped,
}

/// Which diffusion model a run samples.
#[derive(Clone, Copy, PartialEq)]
pub enum Model {
    /// The guided DDPM (Generate, the sweep, editing).
    Teacher,
    /// The distilled few-step student (live mode).
    Student,
}

/// Runs one request (an edit of a digit with `edit`) in the model worker, drawing every frame
/// into `canvas`; stops when `ui.run_id` moves on (`Ui::stop` tells the worker).
#[allow(clippy::too_many_arguments)]
pub async fn run_into(
    ui: Ui,
    id: u64,
    model: Model,
    params: &Params,
    guidance: f64,
    edit: Option<&Edit>,
    canvas: Option<web_sys::HtmlCanvasElement>,
    counter: RwSignal<String>,
    show_x0: RwSignal<bool>,
    timeline: Option<Timeline>,
) -> Result<Outcome, String> {
    let request = params.request(guidance);
    let count = params.count;
    let slot = match model {
        Model::Teacher => Slot::Teacher,
        Model::Student => Slot::Student,
    };
    let edit = edit.cloned();
    counter.set(String::new());
    if let Some(t) = timeline {
        t.clear();
    }
    let reply = client::call(
        |job| Request::Sample {
            job,
            slot,
            request,
            edit,
            show_x0: show_x0.get_untracked(),
        },
        move |frame| {
            if let Reply::Frame {
                step,
                total,
                values,
                side,
                ms_per_step,
                ..
            } = frame
                && ui.run_id.get_untracked() == id
            {
                if let Some(c) = &canvas {
                    canvas::paint_grid(c, &values, count, side);
                }
                ui.step_ms.set(ms_per_step);
                counter.set(format!("{step}/{total}"));
                if let Some(t) = timeline {
                    let shown = if show_x0.get_untracked() {
                        "predicted x₀"
                    } else {
                        "xₜ"
                    };
                    t.push(
                        format!("step {step}/{total}, {shown}"),
                        &values,
                        count,
                        side,
                    );
                }
            }
        },
    )
    .await?;
    if ui.run_id.get_untracked() != id {
        return Ok(Outcome::Stopped);
    }
    match reply {
        Reply::Done {
            values,
            side,
            labels,
            ..
        } => Ok(Outcome::Done {
            values,
            side,
            labels,
        }),
        Reply::Stopped { .. } => Ok(Outcome::Stopped),
        other => Err(client::unexpected(other)),
    }
}

/// The loaded diffusion model's T, the most steps a run can take (1000 before one is loaded).
pub fn train_steps(ui: Ui) -> usize {
    ui.train_steps.get_untracked()
}

/// Where a run is drawn and judged: the grid, the step counter, the x_t / x_0 toggle, and the
/// classifier's labels and summary.
#[derive(Clone, Copy)]
pub struct Drawn {
    pub grid: NodeRef<Canvas>,
    pub counter: RwSignal<String>,
    pub show_x0: RwSignal<bool>,
    pub predictions: RwSignal<String>,
    pub summary: RwSignal<String>,
    /// Every drawn step, to scrub after the run.
    pub timeline: Timeline,
}

/// Starts a run of `p` (an edit of a digit with `edit`) as the Sample and Edit views do: drawn
/// step by step, the final `x_0` painted and labelled by the classifier, the run ended with its
/// status. `on_done` gets the final digits' values, their side and the run's milliseconds up
/// to the painted grid. `working` is the status meanwhile. A new run, or Stop, ends it.
pub fn start_run(
    ui: Ui,
    model: Model,
    p: Params,
    edit: Option<Edit>,
    drawn: Drawn,
    working: &'static str,
    on_done: impl FnOnce(&[f32], usize, f64) + 'static,
) {
    let id = ui.begin();
    let started = now_ms();
    drawn.predictions.set(String::new());
    drawn.summary.set(String::new());
    spawn_local(async move {
        ui.status.set(working.into());
        let result = run_into(
            ui,
            id,
            model,
            &p,
            p.guidance,
            edit.as_ref(),
            drawn.grid.get_untracked(),
            drawn.counter,
            drawn.show_x0,
            Some(drawn.timeline),
        )
        .await;
        match result {
            Ok(Outcome::Done {
                values,
                side,
                labels,
            }) => {
                // The final x_0 (the grid may have shown x_t).
                if let Some(c) = drawn.grid.get_untracked() {
                    canvas::paint_grid(&c, &values, p.count, side);
                }
                on_done(&values, side, now_ms() - started);
                if let Some(labels) = labels {
                    show_labels(labels, p.class, drawn.predictions, drawn.summary);
                }
                ui.finish(id, "done");
            }
            Ok(Outcome::Stopped) => ui.finish(id, "stopped"),
            Err(e) => ui.finish(id, &format!("error: {e}")),
        }
    });
}

#[component]
pub fn SamplingView(ui: Ui) -> impl IntoView {
    let i18n = use_i18n();
    let digit = RwSignal::new("3".to_string());
    let guidance = RwSignal::new(2.0f64);
    let sampler = RwSignal::new("ddim".to_string());
    let steps = RwSignal::new("20".to_string());
    let count = RwSignal::new("4".to_string());
    let seed = RwSignal::new("1".to_string());
    let show_x0 = RwSignal::new(false);
    let counter = RwSignal::new("0/0".to_string());
    let predictions = RwSignal::new(String::new());
    let summary = RwSignal::new(String::new());
    let sweep_label = RwSignal::new(String::new());
    let grid: NodeRef<Canvas> = NodeRef::new();
    let sweep: [NodeRef<Canvas>; 5] = std::array::from_fn(|_| NodeRef::new());
    let live = RwSignal::new(false);
    let live_ms = RwSignal::new(String::new());
    // The command that draws the grid on screen natively (set when a run starts).
    let command = RwSignal::new(String::new());
    let say_command = move |p: &Params, model: Model| {
        let slot = match model {
            Model::Teacher => Slot::Teacher,
            Model::Student => Slot::Student,
        };
        say(ui, &slot, command, |path| {
            digitlab_ui::command::sample(path, p, p.guidance)
        });
    };

    // The settings of a run; in live mode the student's own sampler and steps (DDIM at the
    // count it was distilled for), whatever the Sampler and Steps controls say.
    let params = move || {
        let student = live
            .get_untracked()
            .then(|| ui.student_steps.get_untracked())
            .flatten();
        let (sampler, steps) = match student {
            Some(n) => ("ddim".to_string(), n.to_string()),
            None => (sampler.get_untracked(), steps.get_untracked()),
        };
        SampleParams::parse(
            &digit.get_untracked(),
            guidance.get_untracked(),
            &sampler,
            &steps,
            &count.get_untracked(),
            &seed.get_untracked(),
            train_steps(ui),
        )
        .map(Params)
    };
    let model = move || {
        if live.get_untracked() {
            Model::Student
        } else {
            Model::Teacher
        }
    };
    let drawn = Drawn {
        grid,
        counter,
        show_x0,
        predictions,
        summary,
        timeline: Timeline::new(grid),
    };

    let generate = move |_| {
        let Some(p) = ui.checked(params()) else {
            return;
        };
        sweep_label.set(String::new());
        say_command(&p, model());
        start_run(
            ui,
            model(),
            p,
            None,
            drawn,
            "sampling",
            // The Edit view can start from the first digit.
            move |values, side, _| {
                ui.last_digit
                    .set_value(Some(digitlab_data::pixels::unit_to_bytes(
                        &values[..side * side],
                    )))
            },
        );
    };

    // Live mode: the student is fetched the first time it is switched on; from then on every
    // change of the digit, the guidance, the seed or the count redraws the grid of the same
    // seed, cancelling the redraw in flight (a new run ends the one before).
    crate::state::first_time(
        move || live.get(),
        move || spawn_local(crate::loaders::load_student(ui)),
    );
    Effect::new(move |_| {
        let on = live.get();
        // what a redraw depends on (and the student's arrival)
        let _ = (digit.get(), guidance.get(), seed.get(), count.get());
        let loaded = ui.student_steps.get().is_some();
        if !on || !ui.ready.get() || !loaded {
            return;
        }
        let Some(p) = ui.checked(params()) else {
            return;
        };
        live_ms.set(String::new());
        say_command(&p, Model::Student);
        start_run(
            ui,
            Model::Student,
            p,
            None,
            drawn,
            "sampling",
            move |_, _, ms| live_ms.set(format!("{ms:.0} ms per redraw")),
        );
    });

    let run_sweep = move |_| {
        let Some(p) = ui.checked(params()) else {
            return;
        };
        let id = ui.begin();
        let model = model();
        spawn_local(async move {
            ui.status.set("sampling".into());
            for (i, &w) in SWEEP.iter().enumerate() {
                sweep_label.set(format!("w = {w} ({}/{})", i + 1, SWEEP.len()));
                match run_into(
                    ui,
                    id,
                    model,
                    &p,
                    w,
                    None,
                    sweep[i].get_untracked(),
                    counter,
                    show_x0,
                    None,
                )
                .await
                {
                    Ok(Outcome::Done { .. }) => {}
                    Ok(Outcome::Stopped) => return ui.finish(id, "stopped"),
                    Err(e) => return ui.finish(id, &format!("error: {e}")),
                }
            }
            sweep_label.set(format!("same seed {}, w = 0, 0.5, 1, 2, 4", p.seed));
            ui.finish(id, "done");
        });
    };

    // On first open the sweep shows the default settings' run, drawn by `digitlab sample` and
    // shipped beside the page (public/sweep), instead of five empty boxes.
    let shipped_sweep = StoredValue::new(false);
    Effect::new(move |_| {
        let canvases: Vec<_> = sweep.iter().map(|c| c.get()).collect();
        if shipped_sweep.get_value() || canvases.iter().any(Option::is_none) {
            return;
        }
        shipped_sweep.set_value(true);
        spawn_local(async move {
            for (c, w) in canvases.into_iter().flatten().zip(SWEEP) {
                if let Err(e) = canvas::paint_url(&c, &format!("sweep/w-{w}.png")).await {
                    sweep_label.set(format!("(the shipped sweep: {e})"));
                    return;
                }
            }
            if sweep_label.get_untracked().is_empty() {
                sweep_label.set(SHIPPED_SWEEP.into());
            }
        });
    });

    let stop = move |_| ui.stop();
    let save = move |_| {
        if let Some(c) = grid.get_untracked() {
            let name = format!(
                "digitlab-{}-w{}-{}-{}steps-seed{}.png",
                digit.get_untracked(),
                guidance.get_untracked(),
                sampler.get_untracked(),
                steps.get_untracked(),
                seed.get_untracked()
            );
            if let Err(e) = canvas::save_png(&c, &name) {
                ui.status.set(format!("error: saving the PNG: {e}"));
            }
        }
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, sample.title)}</h2>
            <div class="columns">
                <div class="controls">
                    {digit_select("digit", digit)}
                    {guidance_slider("guidance", "guidance-value", guidance)}
                    <label>{t!(i18n, sample.sampler)} " "
                        <select data-testid="sampler" prop:value=move || sampler.get()
                            disabled=move || live.get()
                            on:change=move |ev| sampler.set(event_target_value(&ev))>
                            <option value="ddim">{t!(i18n, sample.ddim)}</option>
                            <option value="ddpm">{t!(i18n, sample.ddpm)}</option>
                            <option value="dpm++">{t!(i18n, sample.dpmpp)}</option>
                        </select>
                    </label>
                    <label>{t!(i18n, sample.steps)} " "
                        <input type="number" min="1" max="1000" data-testid="steps"
                            prop:value=move || steps.get() disabled=move || live.get()
                            on:input=move |ev| steps.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, sample.count)} " "
                        <input type="number" min="1" max=MAX_COUNT.to_string() data-testid="count"
                            prop:value=move || count.get()
                            on:input=move |ev| count.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, sample.seed)} " "
                        <input type="number" min="0" data-testid="seed"
                            prop:value=move || seed.get()
                            on:input=move |ev| seed.set(event_target_value(&ev))/>
                    </label>
                    <label class="inline">
                        <input type="checkbox" data-testid="live"
                            prop:checked=move || live.get()
                            on:change=move |ev| live.set(event_target_checked(&ev))/>
                        " " {t!(i18n, sample.live)}
                    </label>
                    <p class="meta" data-testid="student-info" class:hidden=move || !live.get()>
                        {move || ui.student_info.get()} " " <span data-testid="live-ms">{move || live_ms.get()}</span>
                    </p>
                    <label class="inline">
                        <input type="checkbox" data-testid="show-x0"
                            prop:checked=move || show_x0.get()
                            on:change=move |ev| {
                                // also the run in flight, from its next frame
                                let on = event_target_checked(&ev);
                                show_x0.set(on);
                                crate::client::send(crate::protocol::Request::ShowX0 { on });
                            }/>
                        " " {t!(i18n, sample.show)} " " {math(formula::X0)} " " {t!(i18n, sample.instead)} " " {math(formula::XT)}
                    </label>
                    <div class="buttons">
                        <button data-testid="generate" on:click=generate disabled=move || !ui.ready.get() || ui.busy.get()>{t!(i18n, sample.generate)}</button>
                        <button data-testid="stop" on:click=stop disabled=move || !ui.busy.get()>{t!(i18n, sample.stop)}</button>
                        <button data-testid="sweep" on:click=run_sweep disabled=move || !ui.ready.get() || ui.busy.get()>{t!(i18n, sample.sweep)}</button>
                        <button data-testid="save-png" on:click=save>{t!(i18n, sample.save)}</button>
                    </div>
                    <p class="meta">{t!(i18n, sample.step)} " " <span data-testid="step-counter" dir="ltr">{move || counter.get()}</span>
                        {move || {
                            let ms = ui.step_ms.get();
                            if ms > 0.0 { format!(" · {ms:.0} {}", t_string!(i18n, sample.per_step)) } else { String::new() }
                        }}
                    </p>
                </div>
                <div class="output">
                    <canvas class="digits" data-testid="samples" node_ref=grid width="32" height="32"
                        role="img" aria-label=move || alt_text(t_string!(i18n, sample.grid_alt), &predictions.get())></canvas>
                    {timeline_controls(ui, drawn.timeline, "sample-timeline")}
                    <p class="meta" data-testid="predictions">{move || predictions.get()}</p>
                    <p class="meta" data-testid="judge-summary">{move || summary.get()}</p>
                    {command_line("sample-command", command)}
                </div>
            </div>
            <h3>{t!(i18n, sample.sweep_title)} " " <span class="meta" data-testid="sweep-label">{move || sweep_label.get()}</span></h3>
            <div class="sweep">
                {SWEEP.iter().enumerate().map(|(i, w)| view! {
                    <figure>
                        <canvas class="digits small" data-testid=format!("sweep-{i}") node_ref=sweep[i] width="32" height="32"
                            role="img" aria-label=move || format!("{} {w}", t_string!(i18n, sample.sweep_alt))></canvas>
                        <figcaption>{format!("w = {w}")}</figcaption>
                    </figure>
                }).collect_view()}
            </div>
            {explain::sampling()}
        </section>
    }
}

/// The classifier's label for each digit, and how many are the requested `class`.
pub fn show_labels(
    labels: Result<Vec<(usize, f32)>, String>,
    class: Option<usize>,
    predictions: RwSignal<String>,
    summary: RwSignal<String>,
) {
    match labels {
        Ok(labels) => {
            predictions.set(
                labels
                    .iter()
                    .map(|(c, _)| c.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
            let mean_conf =
                labels.iter().map(|(_, p)| *p as f64).sum::<f64>() / labels.len() as f64;
            summary.set(match class {
                Some(c) => format!(
                    "the classifier reads {}/{} as {c} (mean confidence {:.2})",
                    labels.iter().filter(|(l, _)| *l == c).count(),
                    labels.len(),
                    mean_conf
                ),
                None => format!("classifier's labels above (mean confidence {mean_conf:.2})"),
            });
        }
        Err(e) => summary.set(format!("classifier failed: {e}")),
    }
}

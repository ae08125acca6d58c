//! # The forward-process view (Q3)
//!
//! A real held-out digit `x_0` and a step `t`: `x_t` from the closed form
//! `sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps` beside `x_t` from iterating
//! `x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) eps_s` t times, each over many noise draws
//! so their means and spreads can be compared with the theory. Below, beta_t, alphabar_t and
//! the SNR of the linear and cosine schedules.

use std::rc::Rc;

use digitlab_data::pixels::bytes_to_unit;
use digitlab_spec::schedule::NoiseSchedule;
use digitlab_web_common::protocol::forward_schedule;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{Reply, Request};
use crate::state::Ui;
use crate::widgets::canvas;
use crate::widgets::explain;
use crate::widgets::explain::{formula, math};
use crate::widgets::plot::{self, Chart, Drawing, Plot, Series};

/// Held-out digits shipped with the page (`digitlab data sample` writes them).
pub struct Digits {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub side: usize,
}

impl Digits {
    pub fn parse(images: &[u8], labels: &[u8]) -> Result<Self, String> {
        let images =
            digitlab_data::idx::parse(images, "digits images").map_err(|e| e.to_string())?;
        let labels =
            digitlab_data::idx::parse(labels, "digits labels").map_err(|e| e.to_string())?;
        if images.shape.len() != 3 || labels.shape.len() != 1 || images.shape[0] != labels.shape[0]
        {
            return Err(format!(
                "digits: images {:?} and labels {:?} do not match",
                images.shape, labels.shape
            ));
        }
        Ok(Self {
            side: images.shape[1],
            images: images.data,
            labels: labels.data,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.side * self.side;
        &self.images[i * n..(i + 1) * n]
    }
}

pub const DRAWS: usize = 64;

/// Means and spreads of the two ways to reach `x_t`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub mean_err_closed: f64,
    pub mean_err_iter: f64,
    pub std_closed: f64,
    pub std_iter: f64,
    pub std_theory: f64,
}

/// `mean` over draws and pixels of `x - sqrt(abar) x0`, and its standard deviation.
fn deviation(values: &[f32], x0: &[f32], sqrt_abar: f64) -> (f64, f64) {
    let n = values.len() as f64;
    let p = x0.len();
    let dev = |i: usize| values[i] as f64 - sqrt_abar * x0[i % p] as f64;
    let mean = (0..values.len()).map(dev).sum::<f64>() / n;
    let var = (0..values.len())
        .map(|i| (dev(i) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var.sqrt())
}

#[component]
pub fn ForwardView(ui: Ui) -> impl IntoView {
    let i18n = use_i18n();
    let index = RwSignal::new("0".to_string());
    let t = RwSignal::new(200usize);
    let kind = RwSignal::new("linear".to_string());
    let stats = RwSignal::new(None::<Stats>);
    // What the pictures show: the digit's index and class, the step and whether the schedule
    // is the cosine one.
    let shown = RwSignal::new(None::<(usize, u8, usize, bool)>);
    let progress = RwSignal::new(String::new());
    let original: NodeRef<Canvas> = NodeRef::new();
    let closed: NodeRef<Canvas> = NodeRef::new();
    let iterated: NodeRef<Canvas> = NodeRef::new();
    let betas = RwSignal::new(Drawing::default());
    let abar = RwSignal::new(Drawing::default());
    let snr = RwSignal::new(Drawing::default());

    // The schedule plots follow t (and the page's language).
    Effect::new(move |_| {
        let marker = t.get() as f64;
        let (lin, cos) = (forward_schedule("linear"), forward_schedule("cosine"));
        let curve = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &y)| (i as f64 + 1.0, y))
                .collect()
        };
        let snr_of = |s: &NoiseSchedule| -> Vec<(f64, f64)> {
            (0..s.train_steps())
                .map(|i| (i as f64 + 1.0, s.snr(i)))
                .collect()
        };
        let draw = |node: RwSignal<Drawing>,
                    title: &str,
                    log_y: bool,
                    a: Vec<(f64, f64)>,
                    b: Vec<(f64, f64)>| {
            plot::draw(
                node,
                &Plot {
                    title,
                    log_y,
                    marker_x: Some(marker),
                    y_range: None,
                    x_label: "t",
                    series: vec![
                        Series {
                            label: t_string!(i18n, forward.linear_curve),
                            color: "#1f77b4",
                            points: &a,
                        },
                        Series {
                            label: t_string!(i18n, forward.cosine_name),
                            color: "#ff7f0e",
                            points: &b,
                        },
                    ],
                },
            );
        };
        draw(betas, "beta_t", false, curve(&lin.betas), curve(&cos.betas));
        draw(
            abar,
            "alphabar_t",
            false,
            curve(&lin.alphas_cumprod),
            curve(&cos.alphas_cumprod),
        );
        draw(
            snr,
            t_string!(i18n, forward.snr_title),
            true,
            snr_of(&lin),
            snr_of(&cos),
        );
    });

    let compare = move |_| {
        let Some(digits) = ui.checked(ui.held_out()) else {
            return;
        };
        let Some(i) = ui.checked(crate::views::sampling::whole_number(
            "digit index",
            &index.get_untracked(),
            0,
            digits.len() - 1,
        )) else {
            return;
        };
        let step = t.get_untracked().clamp(1, 1000);
        let kind_now = kind.get_untracked();
        let id = ui.begin();
        spawn_local(async move {
            ui.status.set("computing".into());
            match run(
                ui,
                id,
                &digits,
                i,
                step,
                &kind_now,
                [original, closed, iterated],
                progress,
            )
            .await
            {
                Ok(Some(s)) => {
                    stats.set(Some(s));
                    shown.set(Some((i, digits.labels[i], step, kind_now == "cosine")));
                    ui.finish(id, "done");
                }
                Ok(None) => {}
                Err(e) => ui.finish(id, &format!("error: {e}")),
            }
        });
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, forward.title)} " " {math(formula::FORWARD_JUMP)}</h2>
            <div class="columns">
                <div class="controls">
                    <label>{t!(i18n, forward.held_out)} " "
                        <input type="number" min="0" max="99" data-testid="forward-index"
                            prop:value=move || index.get()
                            on:input=move |ev| index.set(event_target_value(&ev))/>
                    </label>
                    <label>{t!(i18n, forward.step)} " "
                        <input type="range" min="1" max="1000" step="1" data-testid="forward-t"
                            prop:value=move || t.get().to_string()
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                                    t.set(v.clamp(1, 1000));
                                }
                            }/>
                        <output>{move || t.get()}</output>
                    </label>
                    <label>{t!(i18n, forward.schedule)} " "
                        <select data-testid="forward-schedule" prop:value=move || kind.get()
                            on:change=move |ev| kind.set(event_target_value(&ev))>
                            <option value="linear">{t!(i18n, forward.linear)}</option>
                            <option value="cosine">{t!(i18n, forward.cosine)}</option>
                        </select>
                    </label>
                    <div class="buttons">
                        <button data-testid="forward-run" on:click=compare disabled=move || ui.busy.get()>{t!(i18n, forward.compare)}</button>
                    </div>
                    <p class="meta">{move || progress.get()}</p>
                </div>
                <div class="output">
                    <div class="sweep">
                        <figure><canvas class="digits small" node_ref=original width="28" height="28"></canvas><figcaption>{math(formula::X0)}</figcaption></figure>
                        <figure><canvas class="digits small" data-testid="forward-closed" node_ref=closed width="28" height="28"></canvas><figcaption>{t!(i18n, forward.closed)}</figcaption></figure>
                        <figure><canvas class="digits small" data-testid="forward-iterated" node_ref=iterated width="28" height="28"></canvas><figcaption>{t!(i18n, forward.one_step)}</figcaption></figure>
                    </div>
                    <p class="meta">{move || shown.get().map(|(i, digit, step, cosine)| {
                        let schedule = if cosine { t_string!(i18n, forward.cosine_name) } else { t_string!(i18n, forward.linear_name) };
                        t!(i18n, forward.shown, i, digit, step, schedule, draws = DRAWS)
                    })}</p>
                    <table class="stats">
                        <tr><th></th><th>{t!(i18n, forward.mean_of)} " " {math(formula::RESIDUAL)}</th><th>{t!(i18n, forward.std_of)} " " {math(formula::RESIDUAL)}</th></tr>
                        {move || stats.get().map(|s| view! {
                            <tr><td>{t!(i18n, forward.closed)}</td><td>{format!("{:+.4}", s.mean_err_closed)}</td><td>{format!("{:.4}", s.std_closed)}</td></tr>
                            <tr><td>{t!(i18n, forward.iterated)}</td><td>{format!("{:+.4}", s.mean_err_iter)}</td><td>{format!("{:.4}", s.std_iter)}</td></tr>
                            <tr><td>{t!(i18n, forward.theory)}</td><td>"0"</td><td>{format!("{:.4}", s.std_theory)}</td></tr>
                        })}
                    </table>
                    <pre data-testid="forward-stats" hidden>{move || stats.get().map(|s| serde_json::json!({
                        "mean_err_closed": s.mean_err_closed, "mean_err_iter": s.mean_err_iter,
                        "std_closed": s.std_closed, "std_iter": s.std_iter, "std_theory": s.std_theory,
                    }).to_string())}</pre>
                </div>
            </div>
            <div class="plots">
                <Chart drawing=betas/>
                <Chart drawing=abar/>
                <Chart drawing=snr/>
            </div>
            {explain::forward()}
        </section>
    }
}

/// Has the model worker run the forward process for held-out digit `i` to step `step`, showing
/// its progress; `None` when stopped.
#[allow(clippy::too_many_arguments)]
async fn run(
    ui: Ui,
    id: u64,
    digits: &Rc<Digits>,
    i: usize,
    step: usize,
    kind: &str,
    [original, closed, iterated]: [NodeRef<Canvas>; 3],
    progress: RwSignal<String>,
) -> Result<Option<Stats>, String> {
    let s = forward_schedule(kind);
    let side = digits.side;
    let x0_values = bytes_to_unit(digits.image(i));
    if let Some(c) = original.get_untracked() {
        canvas::paint_grid(&c, &x0_values, 1, side);
    }
    let x0 = x0_values.clone();
    let cosine = kind == "cosine";
    let reply = client::call(
        |job| Request::Forward {
            job,
            x0,
            side,
            step,
            cosine,
            draws: DRAWS,
        },
        move |frame| {
            if let Reply::Frame { note, .. } = frame
                && ui.run_id.get_untracked() == id
            {
                progress.set(note);
            }
        },
    )
    .await?;
    progress.set(String::new());
    let (c, it) = match reply {
        Reply::Forward {
            closed, iterated, ..
        } => (closed, iterated),
        Reply::Stopped { .. } => return Ok(None),
        other => return Err(client::unexpected(other)),
    };
    if ui.run_id.get_untracked() != id {
        return Ok(None);
    }
    let n = side * side;
    if let Some(cv) = closed.get_untracked() {
        canvas::paint_grid(&cv, &c[..n], 1, side);
    }
    if let Some(cv) = iterated.get_untracked() {
        canvas::paint_grid(&cv, &it[..n], 1, side);
    }
    let sqrt_abar = s.sqrt_alphas_cumprod[step - 1];
    let (mean_err_closed, std_closed) = deviation(&c, &x0_values, sqrt_abar);
    let (mean_err_iter, std_iter) = deviation(&it, &x0_values, sqrt_abar);
    Ok(Some(Stats {
        mean_err_closed,
        mean_err_iter,
        std_closed,
        std_iter,
        std_theory: s.sqrt_one_minus_alphas_cumprod[step - 1],
    }))
}

//! # The score view (Q1): score matching and Langevin dynamics on a 2-D toy, live
//!
//! `digitlab_toys::score2d` in the toys' worker: Train fits a noise-conditional score network to
//! the NCSN paper's mixture (0.2 / 0.8) by denoising score matching, with Burn's autodiff on the
//! CPU backend; Play moves particles by plain or annealed Langevin dynamics with the learned (or
//! the exact) score. The canvas here shows both score fields as arrows at the chosen noise level
//! (the exact one computed in the page, the learned one asked of the worker), the particles, and
//! beneath it the fraction of particles per mode against the true weights. The worker answers
//! every ~30 ms of work.

use std::cell::RefCell;
use std::rc::Rc;

use digitlab_spec::mixture::Mixture;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use crate::client;
use crate::i18n::*;
use crate::protocol::{ParticleSetup, ParticleState, ToyReply, ToyRequest};
use crate::views::sampling::{named_field, positive_number, text_field, whole_number};
use crate::widgets::explain::{formula, math};

const HALF: f64 = 10.0; // the canvas shows [-HALF, HALF]^2
const SIZE: f64 = 360.0;

/// What the canvas draws (the network and the particles live in the toys' worker).
#[derive(Default)]
struct Toy {
    particles: Option<ParticleState>,
    /// The trained network's score on [`grid`] at a σ.
    learned: Option<(f64, Vec<f32>)>,
    trained: bool,
}

/// The Langevin settings from the controls.
#[derive(Clone, Copy)]
struct Fields {
    levels: RwSignal<String>,
    sigma_max: RwSignal<String>,
    sigma_min: RwSignal<String>,
    steps: RwSignal<String>,
    eps: RwSignal<String>,
    particles: RwSignal<String>,
    seed: RwSignal<String>,
    kind: RwSignal<String>,
    source: RwSignal<String>,
    train_steps: RwSignal<String>,
}

impl Fields {
    fn sigmas(&self) -> Result<(f64, f64), String> {
        let hi = positive_number("sigma_max", &self.sigma_max.get_untracked())?;
        let lo = positive_number("sigma_min", &self.sigma_min.get_untracked())?;
        if lo >= hi {
            return Err(format!("sigma_min ({lo}) must be below sigma_max ({hi})"));
        }
        Ok((hi, lo))
    }

    fn particles(&self) -> Result<ParticleSetup, String> {
        let (hi, lo) = self.sigmas()?;
        let levels = whole_number("levels", &self.levels.get_untracked(), 1, 1000)?;
        let steps = whole_number("steps per level", &self.steps.get_untracked(), 1, 10_000)?;
        let eps = positive_number("the step size", &self.eps.get_untracked())?;
        let n = whole_number("particles", &self.particles.get_untracked(), 1, 5000)?;
        let seed = whole_number("the seed", &self.seed.get_untracked(), 0, u32::MAX as usize)?;
        Ok(ParticleSetup {
            plain: self.kind.get_untracked() == "plain",
            sigma_max: hi,
            sigma_min: lo,
            levels,
            steps_per_level: steps,
            eps,
            count: n,
            seed: seed as u64,
        })
    }
}

/// The 15 x 15 points where the score fields are drawn.
fn grid() -> Vec<f32> {
    (0..15)
        .flat_map(|j| {
            (0..15).flat_map(move |i| {
                [
                    (-9.0 + 18.0 * i as f64 / 14.0) as f32,
                    (-9.0 + 18.0 * j as f64 / 14.0) as f32,
                ]
            })
        })
        .collect()
}

fn context(canvas: &web_sys::HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
}

fn px(v: f64) -> f64 {
    (v + HALF) / (2.0 * HALF) * SIZE
}

fn py(v: f64) -> f64 {
    (1.0 - (v + HALF) / (2.0 * HALF)) * SIZE
}

/// Arrows of a score field on a 15 x 15 grid: direction of the score, length growing with its
/// size (log-scaled so the small scores far from the data still show).
fn arrows(ctx: &CanvasRenderingContext2d, grid: &[f32], score: &[f32], color: &str) {
    ctx.set_stroke_style_str(color);
    ctx.set_line_width(1.2);
    ctx.begin_path();
    for (p, s) in grid.chunks(2).zip(score.chunks(2)) {
        let (sx, sy) = (s[0] as f64, s[1] as f64);
        let m = (sx * sx + sy * sy).sqrt();
        if !m.is_finite() || m == 0.0 {
            continue;
        }
        let len = 4.0 + 4.0 * (1.0 + m).ln();
        let (x0, y0) = (px(p[0] as f64), py(p[1] as f64));
        let (dx, dy) = (sx / m * len.min(11.0), -sy / m * len.min(11.0));
        ctx.move_to(x0, y0);
        ctx.line_to(x0 + dx, y0 + dy);
        // a small head
        let (hx, hy) = (x0 + dx, y0 + dy);
        ctx.move_to(hx, hy);
        ctx.line_to(hx - 0.35 * dx + 0.2 * dy, hy - 0.35 * dy - 0.2 * dx);
    }
    ctx.stroke();
}

fn draw(canvas: &web_sys::HtmlCanvasElement, toy: &Toy, mixture: &Mixture, sigma: f64) {
    let Some(ctx) = context(canvas) else { return };
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, SIZE, SIZE);
    ctx.set_stroke_style_str("#ddd");
    ctx.stroke_rect(0.0, 0.0, SIZE, SIZE);
    let grid = grid();
    let exact: Vec<f32> = grid
        .chunks(2)
        .flat_map(|p| {
            let s = mixture.score([p[0] as f64, p[1] as f64], sigma);
            [s[0] as f32, s[1] as f32]
        })
        .collect();
    arrows(&ctx, &grid, &exact, "#1f77b4");
    if let Some((at, learned)) = &toy.learned
        && *at == sigma
    {
        arrows(&ctx, &grid, learned, "#d62728");
    }
    if let Some(p) = &toy.particles {
        ctx.set_fill_style_str("rgba(0,0,0,0.55)");
        for q in p.xs.chunks(2) {
            ctx.fill_rect(px(q[0] as f64) - 1.0, py(q[1] as f64) - 1.0, 2.0, 2.0);
        }
    }
    for m in &mixture.means {
        ctx.set_stroke_style_str("#2ca02c");
        ctx.stroke_rect(px(m[0]) - 4.0, py(m[1]) - 4.0, 8.0, 8.0);
    }
}

#[component]
pub fn ScoreView(ui: crate::state::Ui) -> impl IntoView {
    let i18n = use_i18n();
    let mixture = Mixture::ncsn();
    let fields = Fields {
        levels: RwSignal::new("10".into()),
        sigma_max: RwSignal::new("20".into()),
        sigma_min: RwSignal::new("1".into()),
        steps: RwSignal::new("100".into()),
        eps: RwSignal::new("0.1".into()),
        particles: RwSignal::new("1000".into()),
        seed: RwSignal::new("0".into()),
        kind: RwSignal::new("annealed".into()),
        source: RwSignal::new("learned".into()),
        train_steps: RwSignal::new("1500".into()),
    };
    let toy: StoredValue<Rc<RefCell<Toy>>, LocalStorage> = StoredValue::new_local(Rc::default());
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let busy = RwSignal::new(String::new()); // "", "training" or "running"
    let job = RwSignal::new(0u64); // bumped to end the current loop
    let message = RwSignal::new(String::new());
    let train_progress = RwSignal::new(String::from("not trained"));
    let progress = RwSignal::new(String::new());
    let fractions = RwSignal::new(Vec::<f64>::new());
    // log10 of the sigma whose fields are drawn; follows the run while one plays.
    let view_log_sigma = RwSignal::new(0.0f64);

    let mixture_draw = mixture.clone();
    let redraw = move || {
        if let Some(c) = canvas.get_untracked() {
            toy.with_value(|t| {
                draw(
                    &c,
                    &t.borrow(),
                    &mixture_draw,
                    10f64.powf(view_log_sigma.get_untracked()),
                )
            });
        }
    };

    // The learned field at the drawn σ, asked of the worker when the σ changes or the network
    // has trained further; an answer for another σ is not drawn.
    let refresh_learned = {
        let redraw = redraw.clone();
        move || {
            if !toy.with_value(|t| t.borrow().trained) {
                return;
            }
            let sigma = 10f64.powf(view_log_sigma.get_untracked());
            let redraw = redraw.clone();
            spawn_local(async move {
                let reply = client::toy(
                    |job| ToyRequest::LearnedField {
                        job,
                        grid: grid(),
                        sigma,
                    },
                    |_| {},
                )
                .await;
                if let Ok(ToyReply::Field {
                    score: Some(score), ..
                }) = reply
                {
                    toy.with_value(|t| t.borrow_mut().learned = Some((sigma, score)));
                    redraw();
                }
            });
        }
    };
    {
        let (redraw, refresh_learned) = (redraw.clone(), refresh_learned.clone());
        Effect::new(move |_| {
            let _ = view_log_sigma.get();
            let _ = canvas.get();
            redraw();
            refresh_learned();
        });
    }

    let show_run = move |p: &ParticleState| {
        if let Some((level, step, sigma)) = p.at {
            progress.set(format!(
                "level {}/{} · step {}/{} · sigma = {:.3} · update {}/{}",
                level + 1,
                p.levels,
                step + 1,
                p.steps_per_level,
                sigma,
                p.done,
                p.total
            ));
            view_log_sigma.set(sigma.log10());
        }
        fractions.set(p.fractions.clone());
    };

    // Fresh particles from the settings: checked and announced here at once, made in the worker.
    let new_particles = move || -> Option<ParticleSetup> {
        match fields.particles() {
            Ok(setup) => {
                message.set(String::new());
                progress.set(format!(
                    "level 0/{} · step 0/{} · {} updates to go",
                    setup.levels,
                    setup.steps_per_level,
                    setup.levels * setup.steps_per_level
                ));
                Some(setup)
            }
            Err(e) => {
                message.set(format!("error: {e}"));
                None
            }
        }
    };
    let reset_in_worker = {
        let redraw = redraw.clone();
        move |setup: ParticleSetup| {
            let redraw = redraw.clone();
            async move {
                match client::toy(|job| ToyRequest::ParticlesReset { job, setup }, |_| {}).await {
                    Ok(ToyReply::Particles { state, .. }) => {
                        fractions.set(state.fractions.clone());
                        toy.with_value(|t| t.borrow_mut().particles = Some(state));
                        redraw();
                        true
                    }
                    other => {
                        let error = other.map_or_else(|e| e, client::unexpected);
                        message.set(format!("error: {error}"));
                        false
                    }
                }
            }
        }
    };

    // Langevin updates for ~30 ms (at most `max_steps`) in the worker; false when finished,
    // impossible or stale. (The learned field follows through the effect on the drawn σ, which
    // `show_run` sets.)
    let advance = {
        let redraw = redraw.clone();
        move |me: u64, max_steps: usize| {
            let exact = fields.source.get_untracked() == "exact";
            let redraw = redraw.clone();
            async move {
                let reply = client::toy(
                    |job| ToyRequest::ParticlesAdvance {
                        job,
                        exact,
                        max_steps,
                        budget_ms: 30.0,
                    },
                    |_| {},
                )
                .await;
                if job.get_untracked() != me {
                    return false;
                }
                match reply {
                    Ok(ToyReply::Particles { state, going, .. }) => {
                        show_run(&state);
                        toy.with_value(|t| t.borrow_mut().particles = Some(state));
                        redraw();
                        going
                    }
                    other => {
                        let error = other.map_or_else(|e| e, client::unexpected);
                        message.set(format!("error: {error}"));
                        false
                    }
                }
            }
        }
    };
    let finished = move || {
        toy.with_value(|t| {
            t.borrow()
                .particles
                .as_ref()
                .is_none_or(|p| p.done >= p.total)
        })
    };

    let play = {
        let (advance, reset_in_worker) = (advance.clone(), reset_in_worker.clone());
        move |_| {
            if busy.get_untracked() == "running" {
                job.update(|j| *j += 1);
                busy.set(String::new());
                return;
            }
            if busy.get_untracked() == "training" {
                return;
            }
            let fresh = if finished() {
                match new_particles() {
                    Some(setup) => Some(setup),
                    None => return,
                }
            } else {
                None
            };
            job.update(|j| *j += 1);
            let me = job.get_untracked();
            busy.set("running".into());
            let (advance, reset_in_worker) = (advance.clone(), reset_in_worker.clone());
            spawn_local(async move {
                if let Some(setup) = fresh
                    && !reset_in_worker(setup).await
                {
                    busy.set(String::new());
                    return;
                }
                while job.get_untracked() == me {
                    if !advance(me, usize::MAX).await {
                        if job.get_untracked() == me {
                            busy.set(String::new());
                        }
                        return;
                    }
                }
            });
        }
    };
    let step = {
        let (advance, reset_in_worker) = (advance.clone(), reset_in_worker.clone());
        move |_| {
            if !busy.get_untracked().is_empty() {
                return;
            }
            let fresh = if finished() {
                match new_particles() {
                    Some(setup) => Some(setup),
                    None => return,
                }
            } else {
                None
            };
            let me = job.get_untracked();
            let (advance, reset_in_worker) = (advance.clone(), reset_in_worker.clone());
            spawn_local(async move {
                if let Some(setup) = fresh
                    && !reset_in_worker(setup).await
                {
                    return;
                }
                advance(me, 1).await;
            });
        }
    };
    let reset = {
        let reset_in_worker = reset_in_worker.clone();
        move |_| {
            if busy.get_untracked() == "training" {
                return; // Stop ends the training first
            }
            job.update(|j| *j += 1);
            if busy.get_untracked() == "running" {
                busy.set(String::new());
            }
            if let Some(setup) = new_particles() {
                let fresh = reset_in_worker.clone()(setup);
                spawn_local(async move {
                    fresh.await;
                });
            }
        }
    };
    let train = {
        let refresh_learned = refresh_learned.clone();
        move |_| {
            if !busy.get_untracked().is_empty() {
                return;
            }
            let setup = fields.sigmas().and_then(|(hi, lo)| {
                let n = whole_number(
                    "training steps",
                    &fields.train_steps.get_untracked(),
                    1,
                    100_000,
                )?;
                let seed = whole_number(
                    "the seed",
                    &fields.seed.get_untracked(),
                    0,
                    u32::MAX as usize,
                )?;
                Ok((lo, hi, seed as u64, n))
            });
            let (lo, hi, seed, total) = match setup {
                Ok(v) => v,
                Err(e) => {
                    message.set(format!("error: {e}"));
                    return;
                }
            };
            message.set(String::new());
            job.update(|j| *j += 1);
            busy.set("training".into());
            let started = crate::ticks::now_ms();
            let progress_line = move |done: usize, loss: f64| {
                format!(
                    "step {done}/{total} · loss {loss:.3} · {:.0} steps/s · sigma {lo} to {hi}",
                    done as f64 / ((crate::ticks::now_ms() - started) / 1000.0).max(1e-3)
                )
            };
            let refresh_learned = refresh_learned.clone();
            spawn_local(async move {
                let on_progress = {
                    let refresh_learned = refresh_learned.clone();
                    move |reply: ToyReply| {
                        if let ToyReply::Training { done, loss, .. } = reply {
                            train_progress.set(progress_line(done, loss));
                            toy.with_value(|t| t.borrow_mut().trained = true);
                            refresh_learned();
                        }
                    }
                };
                let reply = client::toy(
                    |job| ToyRequest::ScoreTrain {
                        job,
                        sigma_min: lo,
                        sigma_max: hi,
                        seed,
                        total,
                    },
                    on_progress,
                )
                .await;
                match reply {
                    Ok(ToyReply::Trained { done, loss, .. }) => {
                        let stopped = if done < total { " (stopped)" } else { "" };
                        train_progress.set(progress_line(done, loss) + stopped);
                        toy.with_value(|t| t.borrow_mut().trained = true);
                        refresh_learned();
                    }
                    other => {
                        let error = other.map_or_else(|e| e, client::unexpected);
                        message.set(format!("error: {error}"))
                    }
                }
                busy.set(String::new());
            });
        }
    };
    let stop_training = move |_| {
        if busy.get_untracked() == "training" {
            client::send_toy(ToyRequest::Stop);
        }
    };

    let weights = mixture.weights.clone();

    view! {
        <section class="view">
            <h2>{t!(i18n, score.title)}</h2>
            <p class="meta">{t!(i18n, score.data)} {math(formula::SCORE_SIGMA)} {t!(i18n, score.data_end)}</p>
            <div class="columns">
                <div class="controls">
                    <h3>{t!(i18n, score.train_title)}</h3>
                    {text_field(t!(i18n, score.train_steps), "score-train-steps", fields.train_steps)}
                    <div class="buttons">
                        <button data-testid="score-train" on:click=train>{t!(i18n, score.train)}</button>
                        <button data-testid="score-train-stop" on:click=stop_training>{t!(i18n, score.stop)}</button>
                    </div>
                    <p class="meta" data-testid="score-train-progress">{move || train_progress.get()}</p>
                    <h3>{t!(i18n, score.langevin_title)}</h3>
                    <label>{t!(i18n, score.levels)} " "
                        <select data-testid="score-levels" prop:value=move || fields.levels.get()
                            on:change=move |ev| fields.levels.set(event_target_value(&ev))>
                            <option value="3">"3"</option>
                            <option value="10">"10"</option>
                            <option value="40">"40"</option>
                            <option value="80">"80"</option>
                        </select>
                    </label>
                    {named_field(math(formula::SIGMA_MAX), move || t_string!(i18n, score.sigma_max), "score-sigma-max", fields.sigma_max)}
                    {named_field(math(formula::SIGMA_MIN), move || t_string!(i18n, score.sigma_min), "score-sigma-min", fields.sigma_min)}
                    {text_field(t!(i18n, score.steps), "score-steps", fields.steps)}
                    {text_field(t!(i18n, score.eps), "score-eps", fields.eps)}
                    {text_field(t!(i18n, score.particles), "score-particles", fields.particles)}
                    {text_field(t!(i18n, score.seed), "score-seed", fields.seed)}
                    <label>{t!(i18n, score.dynamics)} " "
                        <select data-testid="score-kind" prop:value=move || fields.kind.get()
                            on:change=move |ev| fields.kind.set(event_target_value(&ev))>
                            <option value="annealed">{t!(i18n, score.annealed)}</option>
                            <option value="plain">{t!(i18n, score.plain)}</option>
                        </select>
                    </label>
                    <label>{t!(i18n, score.score)} " "
                        <select data-testid="score-source" prop:value=move || fields.source.get()
                            on:change=move |ev| fields.source.set(event_target_value(&ev))>
                            <option value="learned">{t!(i18n, score.learned)}</option>
                            <option value="exact">{t!(i18n, score.exact)}</option>
                        </select>
                    </label>
                    <div class="buttons">
                        <button data-testid="score-play" on:click=play>{move || if busy.get() == "running" { t_string!(i18n, score.pause) } else { t_string!(i18n, score.play) }}</button>
                        <button data-testid="score-step" on:click=step>{t!(i18n, score.step)}</button>
                        <button data-testid="score-reset" on:click=reset>{t!(i18n, score.reset)}</button>
                    </div>
                    <p class="meta" data-testid="score-progress">{move || progress.get()}</p>
                    <p class="meta" data-testid="score-state">{move || { let b = busy.get(); if b.is_empty() { "idle".to_string() } else { b } }}</p>
                    <p class="notice" data-testid="score-message">{move || message.get()}</p>
                </div>
                <div class="output">
                    <canvas class="field" node_ref=canvas width=SIZE.to_string() height=SIZE.to_string() data-testid="score-canvas"
                        role="img" aria-label=move || t_string!(i18n, score.canvas)></canvas>
                    <label>{t!(i18n, score.fields_at)} " " {move || format!("{:.3}", 10f64.powf(view_log_sigma.get()))}
                        <input type="range" min="-1" max="1.5" step="0.01" data-testid="score-view-sigma"
                            prop:value=move || view_log_sigma.get().to_string()
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                    view_log_sigma.set(v);
                                }
                            }/>
                    </label>
                    <table class="stats" data-testid="score-histogram">
                        <tr><th>{t!(i18n, score.mode)}</th><th>{t!(i18n, score.true_weight)}</th><th>{t!(i18n, score.particles_column)}</th><th>{t!(i18n, score.histogram)}</th></tr>
                        {weights
                            .iter()
                            .enumerate()
                            .map(|(k, &w)| {
                                let name = if k == 0 { "(−5, −5)" } else { "(5, 5)" };
                                let got = move || fractions.get().get(k).copied();
                                view! {
                                    <tr>
                                        <td>{name}</td>
                                        <td>{w}</td>
                                        <td>{move || got().map_or("-".into(), |f| format!("{f:.3}"))}</td>
                                        <td>
                                            <div class="bar true" style=format!("width: {:.0}px", w * 200.0)></div>
                                            <div class="bar" style=move || format!("width: {:.0}px", got().unwrap_or(0.0) * 200.0)></div>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </table>
                    <span data-testid="score-fractions" hidden>{move || format!("{:?}", fractions.get())}</span>
                </div>
            </div>
            {crate::widgets::explain::score()}
        </section>
        <crate::views::ncsn::NcsnMnist ui=ui/>
    }
}

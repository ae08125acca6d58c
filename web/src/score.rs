//! # The score view (Q1): score matching and Langevin dynamics on a 2-D toy, live
//!
//! `digitlab_toys::score2d` in the page: Train fits a noise-conditional score network to the
//! NCSN paper's mixture (0.2 / 0.8) by denoising score matching, with Burn's autodiff on the
//! CPU backend in the wasm; Play moves particles by plain or annealed Langevin dynamics with the
//! learned (or the exact) score. The canvas shows both score fields as arrows at the chosen
//! noise level, the particles, and beneath it the fraction of particles per mode against the
//! true weights. Work runs in slices of ~30 ms between yields to the browser.

use std::cell::RefCell;
use std::rc::Rc;

use digitlab_diffusion::langevin::{LangevinKind, LangevinSchedule, geometric_sigmas};
use digitlab_toys::score2d::{Mixture, Particles, ScoreSource, ScoreTrainer};
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::CanvasRenderingContext2d;

use crate::sampling::{positive_number, text_field, whole_number};
use crate::ticks::{next_tick, now_ms};

const HALF: f64 = 10.0; // the canvas shows [-HALF, HALF]^2
const SIZE: f64 = 360.0;

#[derive(Default)]
struct Toy {
    trainer: Option<ScoreTrainer>,
    particles: Option<Particles>,
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

    fn particles(&self) -> Result<Particles, String> {
        let (hi, lo) = self.sigmas()?;
        let levels = whole_number("levels", &self.levels.get_untracked(), 1, 1000)?;
        let steps = whole_number("steps per level", &self.steps.get_untracked(), 1, 10_000)?;
        let eps = positive_number("the step size", &self.eps.get_untracked())?;
        let n = whole_number("particles", &self.particles.get_untracked(), 1, 5000)?;
        let seed = whole_number("the seed", &self.seed.get_untracked(), 0, u32::MAX as usize)?;
        let kind = if self.kind.get_untracked() == "plain" {
            LangevinKind::Plain
        } else {
            LangevinKind::Annealed
        };
        let schedule = LangevinSchedule::new(kind, geometric_sigmas(hi, lo, levels)?, steps, eps)?;
        Particles::new(n, 8.0, schedule, seed as u64)
    }
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
    let grid: Vec<f32> = (0..15)
        .flat_map(|j| {
            (0..15).flat_map(move |i| {
                [
                    (-9.0 + 18.0 * i as f64 / 14.0) as f32,
                    (-9.0 + 18.0 * j as f64 / 14.0) as f32,
                ]
            })
        })
        .collect();
    arrows(
        &ctx,
        &grid,
        &ScoreSource::Exact(mixture).at(&grid, sigma),
        "#1f77b4",
    );
    if let Some(t) = &toy.trainer {
        arrows(&ctx, &grid, &t.score(&grid, sigma), "#d62728");
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
pub fn ScoreView(ui: crate::app::Ui) -> impl IntoView {
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
    let redraw_fields = redraw.clone();
    Effect::new(move |_| {
        let _ = view_log_sigma.get();
        let _ = canvas.get();
        redraw_fields();
    });

    let show_run = {
        let mixture = mixture.clone();
        move |t: &Toy| {
            if let Some(p) = &t.particles {
                let n = p.schedule.len();
                if p.done == 0 {
                    progress.set(format!(
                        "level 0/{} · step 0/{} · {} updates to go",
                        p.schedule.sigmas.len(),
                        p.schedule.steps_per_level,
                        n
                    ));
                } else {
                    let at = p.schedule.step(p.done - 1);
                    progress.set(format!(
                        "level {}/{} · step {}/{} · sigma = {:.3} · update {}/{}",
                        at.level + 1,
                        p.schedule.sigmas.len(),
                        at.step + 1,
                        p.schedule.steps_per_level,
                        at.sigma,
                        p.done,
                        n
                    ));
                    view_log_sigma.set(at.sigma.log10());
                }
                fractions.set(p.mode_fractions(&mixture));
            }
        }
    };

    let new_particles = move || -> bool {
        match fields.particles() {
            Ok(p) => {
                toy.with_value(|t| t.borrow_mut().particles = Some(p));
                message.set(String::new());
                true
            }
            Err(e) => {
                message.set(format!("error: {e}"));
                false
            }
        }
    };

    // One Langevin update; false when finished or impossible.
    let mixture_value = StoredValue::new(mixture.clone());
    let advance = move || -> bool {
        let exact = fields.source.get_untracked() == "exact";
        let mixture = mixture_value.get_value();
        toy.with_value(|t| {
            let mut t = t.borrow_mut();
            let Toy { trainer, particles } = &mut *t;
            let Some(p) = particles.as_mut() else {
                return false;
            };
            let source = match (exact, trainer.as_ref()) {
                (true, _) => ScoreSource::Exact(&mixture),
                (false, Some(tr)) => ScoreSource::Learned(tr),
                (false, None) => {
                    message.set(
                        "error: train the score network first (or choose the exact score)".into(),
                    );
                    return false;
                }
            };
            p.step(&source).is_some()
        })
    };

    let play = {
        let show_run = show_run.clone();
        let redraw = redraw.clone();
        move |_| {
            if busy.get_untracked() == "running" {
                job.update(|j| *j += 1);
                busy.set(String::new());
                return;
            }
            if busy.get_untracked() == "training" {
                return;
            }
            let finished =
                toy.with_value(|t| t.borrow().particles.as_ref().is_none_or(|p| p.finished()));
            if finished && !new_particles() {
                return;
            }
            job.update(|j| *j += 1);
            let me = job.get_untracked();
            busy.set("running".into());
            let (show_run, redraw) = (show_run.clone(), redraw.clone());
            spawn_local(async move {
                loop {
                    if job.get_untracked() != me {
                        return;
                    }
                    let start = now_ms();
                    let mut going = true;
                    while going && now_ms() - start < 30.0 {
                        going = advance();
                    }
                    toy.with_value(|t| show_run(&t.borrow()));
                    redraw();
                    if !going {
                        busy.set(String::new());
                        return;
                    }
                    next_tick().await;
                }
            });
        }
    };
    let step = {
        let (show_run, redraw) = (show_run.clone(), redraw.clone());
        move |_| {
            if !busy.get_untracked().is_empty() {
                return;
            }
            let finished =
                toy.with_value(|t| t.borrow().particles.as_ref().is_none_or(|p| p.finished()));
            if finished && !new_particles() {
                return;
            }
            advance();
            toy.with_value(|t| show_run(&t.borrow()));
            redraw();
        }
    };
    let reset = {
        let (show_run, redraw) = (show_run.clone(), redraw.clone());
        move |_| {
            if busy.get_untracked() == "training" {
                return; // Stop ends the training first
            }
            job.update(|j| *j += 1);
            if busy.get_untracked() == "running" {
                busy.set(String::new());
            }
            if new_particles() {
                toy.with_value(|t| show_run(&t.borrow()));
            }
            redraw();
        }
    };
    let train = {
        let mixture = mixture.clone();
        let redraw = redraw.clone();
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
                Ok((ScoreTrainer::new(mixture.clone(), lo, hi, seed as u64)?, n))
            });
            let (trainer, total) = match setup {
                Ok(v) => v,
                Err(e) => {
                    message.set(format!("error: {e}"));
                    return;
                }
            };
            message.set(String::new());
            let (lo, hi) = (trainer.sigma_min, trainer.sigma_max);
            toy.with_value(|t| t.borrow_mut().trainer = Some(trainer));
            job.update(|j| *j += 1);
            let me = job.get_untracked();
            busy.set("training".into());
            let redraw = redraw.clone();
            spawn_local(async move {
                let started = now_ms();
                let mut loss = f64::NAN;
                let mut done = 0;
                while done < total {
                    if job.get_untracked() != me {
                        return;
                    }
                    let start = now_ms();
                    toy.with_value(|t| {
                        let mut t = t.borrow_mut();
                        let Some(tr) = t.trainer.as_mut() else { return };
                        while done < total && now_ms() - start < 30.0 {
                            loss = tr.step();
                            done += 1;
                        }
                    });
                    train_progress.set(format!(
                        "step {done}/{total} · loss {loss:.3} · {:.0} steps/s · sigma {lo} to {hi}",
                        done as f64 / ((now_ms() - started) / 1000.0).max(1e-3)
                    ));
                    redraw();
                    next_tick().await;
                }
                busy.set(String::new());
            });
        }
    };
    let stop_training = move |_| {
        if busy.get_untracked() == "training" {
            job.update(|j| *j += 1);
            busy.set(String::new());
            train_progress.update(|s| s.push_str(" (stopped)"));
        }
    };

    let weights = mixture.weights.clone();

    view! {
        <section class="view">
            <h2>"Score-based generation: Langevin dynamics and noise levels (NCSN)"</h2>
            <p class="meta">"The data: p = 0.2 N((−5, −5), I) + 0.8 N((5, 5), I), the NCSN paper's toy. Blue arrows: the exact score ∇ log p_σ; red: the network's. Dots: particles (started uniform in [−8, 8]²). Green squares: the two means."</p>
            <div class="columns">
                <div class="controls">
                    <h3>"1. Train the score network"</h3>
                    {text_field("Training steps ", "score-train-steps", fields.train_steps)}
                    <div class="buttons">
                        <button data-testid="score-train" on:click=train>"Train"</button>
                        <button data-testid="score-train-stop" on:click=stop_training>"Stop"</button>
                    </div>
                    <p class="meta" data-testid="score-train-progress">{move || train_progress.get()}</p>
                    <h3>"2. Langevin dynamics"</h3>
                    <label>"Levels L "
                        <select data-testid="score-levels" prop:value=move || fields.levels.get()
                            on:change=move |ev| fields.levels.set(event_target_value(&ev))>
                            <option value="3">"3"</option>
                            <option value="10">"10"</option>
                            <option value="40">"40"</option>
                            <option value="80">"80"</option>
                        </select>
                    </label>
                    {text_field("σ_max ", "score-sigma-max", fields.sigma_max)}
                    {text_field("σ_min ", "score-sigma-min", fields.sigma_min)}
                    {text_field("Steps per level T ", "score-steps", fields.steps)}
                    {text_field("Step size ε ", "score-eps", fields.eps)}
                    {text_field("Particles ", "score-particles", fields.particles)}
                    {text_field("Seed ", "score-seed", fields.seed)}
                    <label>"Dynamics "
                        <select data-testid="score-kind" prop:value=move || fields.kind.get()
                            on:change=move |ev| fields.kind.set(event_target_value(&ev))>
                            <option value="annealed">"annealed over L levels"</option>
                            <option value="plain">"plain, at σ_min (same number of steps)"</option>
                        </select>
                    </label>
                    <label>"Score "
                        <select data-testid="score-source" prop:value=move || fields.source.get()
                            on:change=move |ev| fields.source.set(event_target_value(&ev))>
                            <option value="learned">"learned (the network)"</option>
                            <option value="exact">"exact"</option>
                        </select>
                    </label>
                    <div class="buttons">
                        <button data-testid="score-play" on:click=play>{move || if busy.get() == "running" { "Pause" } else { "Play" }}</button>
                        <button data-testid="score-step" on:click=step>"Step"</button>
                        <button data-testid="score-reset" on:click=reset>"Reset"</button>
                    </div>
                    <p class="meta" data-testid="score-progress">{move || progress.get()}</p>
                    <p class="meta" data-testid="score-state">{move || { let b = busy.get(); if b.is_empty() { "idle".to_string() } else { b } }}</p>
                    <p class="notice" data-testid="score-message">{move || message.get()}</p>
                </div>
                <div>
                    <canvas node_ref=canvas width=SIZE.to_string() height=SIZE.to_string() data-testid="score-canvas"></canvas>
                    <label>"Fields drawn at σ = " {move || format!("{:.3}", 10f64.powf(view_log_sigma.get()))}
                        <input type="range" min="-1" max="1.5" step="0.01" data-testid="score-view-sigma"
                            prop:value=move || view_log_sigma.get().to_string()
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                    view_log_sigma.set(v);
                                }
                            }/>
                    </label>
                    <table class="stats" data-testid="score-histogram">
                        <tr><th>"mode"</th><th>"true weight"</th><th>"particles"</th><th>"histogram (grey: true, black: particles)"</th></tr>
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
            {crate::explain::score()}
        </section>
        <crate::ncsn::NcsnMnist ui=ui/>
    }
}

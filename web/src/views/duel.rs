//! # The live duel: a GAN and a WGAN trained in the page (Q2c, Q2d)
//!
//! `digitlab_toys::duel` trained with Burn's autodiff on the flex CPU backend in the toys'
//! worker (the same code `digitlab duel` runs natively), drawn here: a generator `g(z) = theta + eps z`
//! against a discriminator or a critic. theta0, eps and the start (theta) come from the
//! Divergences sliders above; the run always uses the settings shown, and changing one starts
//! it again. Play runs until Pause or the iteration limit, the worker answering every ~30 ms
//! of iterations; Step runs one iteration.

use std::cell::RefCell;
use std::rc::Rc;

use digitlab_spec::duel::{DuelConfig, Objective, Report};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client;
use crate::i18n::*;
use crate::protocol::{ToyReply, ToyRequest};
use crate::views::sampling::{positive_number, text_field, whole_number};
use crate::widgets::plot::{self, Chart, Drawing, Plot, Series};

const MAX_ITERATIONS: usize = 100_000;

/// The text fields of the controls.
#[derive(Clone, Copy)]
struct Fields {
    objective: RwSignal<String>,
    lr_generator: RwSignal<String>,
    lr_critic: RwSignal<String>,
    critic_steps: RwSignal<String>,
    clip: RwSignal<String>,
    gp_lambda: RwSignal<String>,
    seed: RwSignal<String>,
    limit: RwSignal<String>,
}

impl Fields {
    fn new() -> Self {
        let d = DuelConfig::new(Objective::Minimax);
        Self {
            objective: RwSignal::new(d.objective.name().into()),
            lr_generator: RwSignal::new(d.lr_generator.to_string()),
            lr_critic: RwSignal::new(d.lr_critic.to_string()),
            critic_steps: RwSignal::new(d.critic_steps.to_string()),
            clip: RwSignal::new(d.clip.to_string()),
            gp_lambda: RwSignal::new(d.gp_lambda.to_string()),
            seed: RwSignal::new("0".into()),
            limit: RwSignal::new("1000".into()),
        }
    }

    /// The config the fields and sliders describe (tracked: an effect that calls this reruns
    /// when any of them changes).
    fn config(&self, theta0: f64, theta: f64, eps: f64) -> Result<DuelConfig, String> {
        let cfg = DuelConfig {
            theta0,
            theta_start: theta,
            eps,
            lr_generator: positive_number(
                "the generator's learning rate",
                &self.lr_generator.get(),
            )?,
            lr_critic: positive_number("the critic's learning rate", &self.lr_critic.get())?,
            critic_steps: whole_number("critic steps", &self.critic_steps.get(), 1, 100)?,
            clip: positive_number("the clipping bound", &self.clip.get())?,
            gp_lambda: self
                .gp_lambda
                .get()
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or(format!(
                    "the penalty weight must be a number >= 0, got {:?}",
                    self.gp_lambda.get()
                ))?,
            seed: whole_number("the seed", &self.seed.get(), 0, u32::MAX as usize)? as u64,
            ..DuelConfig::new(Objective::parse(&self.objective.get())?)
        };
        cfg.check()?;
        Ok(cfg)
    }
}

/// The run in progress as the page draws it (the duel itself lives in the toys' worker): its
/// config (`None`: the settings are invalid), history and the critic after the last iteration.
#[derive(Default)]
struct Run {
    config: Option<DuelConfig>,
    history: Vec<Report>,
    critic: Vec<(f64, f64)>,
}

fn density(x: f64, mean: f64, eps: f64) -> f64 {
    let z = (x - mean) / eps;
    (-0.5 * z * z).exp()
}

/// Draws the run's three plots, their titles and legends in the page's language (read
/// untracked: an effect redraws when the language changes).
fn draw(
    i18n: leptos_i18n::I18nContext<Locale>,
    run: &Run,
    theta_plot: RwSignal<Drawing>,
    grad_plot: RwSignal<Drawing>,
    critic_plot: RwSignal<Drawing>,
) {
    let Some(cfg) = &run.config else { return };
    let start = (0.0, cfg.theta_start);
    // At most ~2,000 points per curve: redrawn every ~30 ms, the whole history would make long
    // runs slower and slower.
    let stride = (run.history.len() / 2000).max(1);
    let shown: Vec<&Report> = run
        .history
        .iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i + 1 == run.history.len())
        .map(|(_, r)| r)
        .collect();
    let thetas: Vec<(f64, f64)> = std::iter::once(start)
        .chain(shown.iter().map(|r| (r.iteration as f64, r.theta)))
        .collect();
    let last = thetas.last().map_or(1.0, |p| p.0.max(1.0));
    let target = [(0.0, cfg.theta0), (last, cfg.theta0)];
    plot::draw(
        theta_plot,
        &Plot {
            title: tu_string!(i18n, duel.theta_title),
            log_y: false,
            marker_x: None,
            series: vec![
                Series {
                    label: "theta",
                    color: "#d62728",
                    points: &thetas,
                },
                Series {
                    label: "theta0",
                    color: "#1f77b4",
                    points: &target,
                },
            ],
            y_range: None,
            x_label: tu_string!(i18n, duel.iterations),
        },
    );
    let grads: Vec<(f64, f64)> = shown
        .iter()
        .map(|r| (r.iteration as f64, r.grad_theta.abs().max(1e-12)))
        .collect();
    plot::draw(
        grad_plot,
        &Plot {
            title: tu_string!(i18n, duel.grad_title),
            log_y: true,
            marker_x: None,
            series: vec![Series {
                label: tu_string!(i18n, duel.gradient),
                color: "#9467bd",
                points: &grads,
            }],
            y_range: None,
            x_label: tu_string!(i18n, duel.iterations),
        },
    );
    let theta = run.history.last().map_or(cfg.theta_start, |r| r.theta);
    let f = &run.critic;
    let xs: Vec<f64> = f.iter().map(|p| p.0).collect();
    let values: Vec<f64> = f.iter().map(|p| p.1).collect();
    // The densities, scaled to the critic's range so both fit on one axis.
    let (fmin, fmax) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (base, height) = if cfg.objective.is_wgan() {
        (fmin, (fmax - fmin).max(1e-6))
    } else {
        (0.0, 1.0)
    };
    let scaled = |mean: f64| -> Vec<(f64, f64)> {
        xs.iter()
            .map(|&x| (x, base + height * density(x, mean, cfg.eps)))
            .collect()
    };
    let (pd, pg) = (scaled(cfg.theta0), scaled(theta));
    let label = if cfg.objective.is_wgan() {
        tu_string!(i18n, duel.critic)
    } else {
        "D(x)"
    };
    plot::draw(
        critic_plot,
        &Plot {
            title: tu_string!(i18n, duel.critic_title),
            log_y: false,
            marker_x: Some(theta),
            series: vec![
                Series {
                    label,
                    color: "#2ca02c",
                    points: f,
                },
                Series {
                    label: "p_data",
                    color: "#1f77b4",
                    points: &pd,
                },
                Series {
                    label: "p_g",
                    color: "#d62728",
                    points: &pg,
                },
            ],
            y_range: if cfg.objective.is_wgan() {
                None
            } else {
                Some((0.0, 1.0))
            },
            x_label: "x",
        },
    );
}

#[component]
pub fn DuelLab(
    theta0: RwSignal<f64>,
    theta: RwSignal<f64>,
    log_eps: RwSignal<f64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let fields = Fields::new();
    let run: StoredValue<Rc<RefCell<Run>>, LocalStorage> = StoredValue::new_local(Rc::default());
    let playing = RwSignal::new(false);
    let message = RwSignal::new(String::new());
    let last = RwSignal::new(None::<Report>);
    // Bumped by every reset: a play loop that sees another value ends.
    let generation = RwSignal::new(0u64);
    let theta_plot = RwSignal::new(Drawing::default());
    let grad_plot = RwSignal::new(Drawing::default());
    let critic_plot = RwSignal::new(Drawing::default());

    let redraw =
        move || run.with_value(|r| draw(i18n, &r.borrow(), theta_plot, grad_plot, critic_plot));
    // The plots' words follow the page's language.
    Effect::new(move |_| {
        let _ = i18n.get_locale();
        redraw();
    });

    // Any change of a setting (or Reset) builds a fresh run from the settings shown.
    let config =
        Memo::new(move |_| fields.config(theta0.get(), theta.get(), 10f64.powf(log_eps.get())));
    // A fresh duel in the toys' worker; the drawing follows its answer.
    let reset = move || {
        generation.update(|g| *g += 1);
        let me = generation.get_untracked();
        last.set(None);
        let cfg = match config.get_untracked() {
            Ok(cfg) => cfg,
            Err(e) => {
                message.set(format!("error: {e}"));
                playing.set(false);
                run.with_value(|r| *r.borrow_mut() = Run::default());
                redraw();
                return;
            }
        };
        let config = cfg.clone();
        spawn_local(async move {
            let reply = client::toy(|job| ToyRequest::DuelReset { job, config }, |_| {}).await;
            if generation.get_untracked() != me {
                return;
            }
            let fresh = match reply {
                Ok(ToyReply::Duel { critic, .. }) => {
                    message.set(String::new());
                    Run {
                        config: Some(cfg),
                        history: vec![],
                        critic,
                    }
                }
                other => {
                    let error = other.map_or_else(|e| e, client::unexpected);
                    message.set(format!("error: {error}"));
                    playing.set(false);
                    Run::default()
                }
            };
            run.with_value(|r| *r.borrow_mut() = fresh);
            redraw();
        });
    };

    // Iterations for ~30 ms (at most `max_steps`) in the toys' worker, drawn when they come
    // back; false when the run cannot go on (no run, limit reached, diverged, stale).
    let advance = move |me: u64, max_steps: usize| async move {
        let limit = match whole_number(
            "the iteration limit",
            &fields.limit.get_untracked(),
            1,
            MAX_ITERATIONS,
        ) {
            Ok(l) => l,
            Err(e) => {
                message.set(format!("error: {e}"));
                return false;
            }
        };
        let reply = client::toy(
            |job| ToyRequest::DuelAdvance {
                job,
                limit,
                max_steps,
                budget_ms: 30.0,
            },
            |_| {},
        )
        .await;
        if generation.get_untracked() != me {
            return false;
        }
        match reply {
            Ok(ToyReply::Duel {
                reports,
                critic,
                going,
                ..
            }) => {
                run.with_value(|r| {
                    let mut r = r.borrow_mut();
                    r.history.extend(reports.iter().copied());
                    r.critic = critic;
                });
                if let Some(report) = reports.last() {
                    last.set(Some(*report));
                    if !report.theta.is_finite() {
                        message.set("theta is no longer a finite number: this run diverged. Lower the learning rate and press Reset.".into());
                    }
                }
                redraw();
                going
            }
            other => {
                let error = other.map_or_else(|e| e, client::unexpected);
                message.set(format!("error: {error}"));
                false
            }
        }
    };

    let play_loop = move |me: u64| {
        spawn_local(async move {
            while generation.get_untracked() == me && playing.get_untracked() {
                if !advance(me, usize::MAX).await {
                    if generation.get_untracked() == me {
                        playing.set(false);
                    }
                    return;
                }
            }
        });
    };

    Effect::new(move |_| {
        let _ = config.get();
        let was_playing = playing.get_untracked();
        reset();
        if was_playing && playing.get_untracked() {
            play_loop(generation.get_untracked());
        }
    });

    let on_play = move |_| {
        if playing.get_untracked() {
            playing.set(false);
            return;
        }
        if run.with_value(|r| r.borrow().config.is_none()) {
            reset();
        }
        playing.set(true);
        play_loop(generation.get_untracked());
    };
    let on_step = move |_| {
        playing.set(false);
        let me = generation.get_untracked();
        spawn_local(async move {
            advance(me, 1).await;
        });
    };
    let on_reset = move |_| {
        playing.set(false);
        reset();
    };

    let objectives: Vec<_> = Objective::ALL
        .iter()
        .map(|o| view! { <option value=o.name()>{o.name()}</option> })
        .collect();

    view! {
        <section class="duel">
            <h3>{t!(i18n, duel.title)}</h3>
            <p class="meta">{t!(i18n, duel.intro)} <code>"digitlab duel"</code> {t!(i18n, duel.intro_end)}</p>
            <div class="columns">
                <div class="controls">
                    <label>{t!(i18n, duel.objective)} " "
                        <select data-testid="duel-objective" prop:value=move || fields.objective.get()
                            on:change=move |ev| fields.objective.set(event_target_value(&ev))>
                            {objectives}
                        </select>
                    </label>
                    {text_field(t!(i18n, duel.lr_generator), "duel-lr-g", fields.lr_generator)}
                    {text_field(t!(i18n, duel.lr_critic), "duel-lr-d", fields.lr_critic)}
                    {text_field(t!(i18n, duel.critic_steps), "duel-critic-steps", fields.critic_steps)}
                    {text_field(t!(i18n, duel.clip), "duel-clip", fields.clip)}
                    {text_field(t!(i18n, duel.penalty), "duel-lambda", fields.gp_lambda)}
                    {text_field(t!(i18n, duel.seed), "duel-seed", fields.seed)}
                    {text_field(t!(i18n, duel.limit), "duel-limit", fields.limit)}
                    <div class="buttons">
                        <button data-testid="duel-play" on:click=on_play>{move || if playing.get() { t_string!(i18n, duel.pause) } else { t_string!(i18n, duel.play) }}</button>
                        <button data-testid="duel-step" on:click=on_step>{t!(i18n, duel.step)}</button>
                        <button data-testid="duel-reset" on:click=on_reset>{t!(i18n, duel.reset)}</button>
                    </div>
                    <p class="meta">
                        {t!(i18n, duel.iteration)} " " <span data-testid="duel-iteration">{move || last.get().map_or(0, |r| r.iteration)}</span>
                        " · θ = " <span data-testid="duel-theta">{move || last.get().map_or_else(|| config.get().map(|c| c.theta_start).unwrap_or(f64::NAN), |r| r.theta).to_string()}</span>
                        " · |dL_G/dθ| = " <span data-testid="duel-grad">{move || last.get().map_or(String::from("-"), |r| format!("{:.3e}", r.grad_theta.abs()))}</span>
                        " · " {move || if config.get().is_ok_and(|c| c.objective.is_wgan()) { t_string!(i18n, duel.w_estimate) } else { t_string!(i18n, duel.d_loss) }}
                        " = " <span data-testid="duel-critic">{move || last.get().map_or(String::from("-"), |r| format!("{:.4}", r.critic_value))}</span>
                    </p>
                    <p class="meta" data-testid="duel-state">{move || if playing.get() { "running" } else { "paused" }}</p>
                    <p class="notice" data-testid="duel-message">{move || message.get()}</p>
                </div>
            </div>
            <div class="plots">
                <Chart drawing=theta_plot testid="duel-theta-plot"/>
                <Chart drawing=grad_plot testid="duel-grad-plot"/>
                <Chart drawing=critic_plot testid="duel-critic-plot"/>
            </div>
            {crate::widgets::explain::duel()}
        </section>
    }
}

//! # The GAN view (Q5)
//!
//! DCGAN, WGAN-GP and WGAN-SN generators side by side from the same `z`, a walk between two
//! `z`s in each, and their training curves read from the logs shipped beside the weights
//! (`weights/<name>.metrics.jsonl`, written by `digitlab train gan`).

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::i18n::*;
use crate::protocol::{LatentOp, Slot};
use crate::state::Ui;
use crate::views::latent::{self, LATENT_MODELS_GAN};
use crate::views::sampling::show_labels;
use crate::views::sampling::{text_field, whole_number};
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain;
use crate::widgets::plot::{self, Chart, Drawing, Plot, Series};
use digitlab_ui::grid::alt_text;
use digitlab_ui::log::curve;

const COUNT: usize = 16;

/// The training curves read from the shipped logs: DCGAN's discriminator and generator losses,
/// and the WGAN-GP and WGAN-SN critics' estimates of W.
#[derive(Clone, Default)]
struct Curves {
    discriminator: Vec<(f64, f64)>,
    generator: Vec<(f64, f64)>,
    wgan_gp: Vec<(f64, f64)>,
    wgan_sn: Vec<(f64, f64)>,
}

#[component]
pub fn GanView(ui: Ui, active: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let info = RwSignal::new(String::from("opens with the view"));
    let seed = RwSignal::new("1".to_string());
    let from = RwSignal::new("0".to_string());
    let to = RwSignal::new("1".to_string());
    let t = RwSignal::new(0.5f64);
    let done = RwSignal::new(0u32);
    let error = RwSignal::new(String::new());
    let summaries: [RwSignal<String>; 3] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let predictions: [RwSignal<String>; 3] = std::array::from_fn(|_| RwSignal::new(String::new()));
    // The commands that draw the three grids natively (set when they are drawn).
    let commands: [RwSignal<String>; 3] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let grids: [NodeRef<Canvas>; 3] = Default::default();
    let strips: [NodeRef<Canvas>; 3] = Default::default();
    let points: [NodeRef<Canvas>; 3] = Default::default();
    let dcgan_curve = RwSignal::new(Drawing::default());
    let wgan_curve = RwSignal::new(Drawing::default());
    let curves = RwSignal::new(None::<Curves>);

    let report = move |r: Result<(), String>| match r {
        Ok(()) => done.update(|n| *n += 1),
        Err(e) => error.set(e),
    };

    let generate = move || {
        spawn_local(async move {
            let r = async {
                let seed =
                    whole_number("the seed", &seed.get_untracked(), 0, u32::MAX as usize)? as u64;
                for (k, name) in LATENT_MODELS_GAN.iter().enumerate() {
                    let (values, labels) =
                        latent::run(name, LatentOp::Prior { seed, count: COUNT }).await?;
                    if let Some(c) = grids[k].get_untracked() {
                        canvas::paint_grid(&c, &values, COUNT, 28);
                    }
                    say(ui, &Slot::Latent(name.to_string()), commands[k], |path| {
                        digitlab_ui::command::generator(path, COUNT, seed)
                    });
                    if let Some(labels) = labels {
                        show_labels(labels, None, predictions[k], summaries[k]);
                    }
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    // Both generators along the straight line from z_i to z_j (samples i and j of the seed).
    let walk = move |strip_too: bool| {
        spawn_local(async move {
            let r = async {
                let seed =
                    whole_number("the seed", &seed.get_untracked(), 0, u32::MAX as usize)? as u64;
                let i = whole_number("the first sample", &from.get_untracked(), 0, COUNT - 1)?;
                let j = whole_number("the second sample", &to.get_untracked(), 0, COUNT - 1)?;
                for (k, name) in LATENT_MODELS_GAN.iter().enumerate() {
                    let (z, _) = latent::run(name, LatentOp::Noise { seed, count: COUNT }).await?;
                    let d = z.len() / COUNT;
                    let (a, b) = (&z[i * d..(i + 1) * d], &z[j * d..(j + 1) * d]);
                    let lerp = |s: f32| a.iter().zip(b).map(move |(a, b)| (1.0 - s) * a + s * b);
                    if strip_too {
                        let line: Vec<f32> = (0..9).flat_map(|q| lerp(q as f32 / 8.0)).collect();
                        let values = latent::decode(name, line).await?;
                        if let Some(c) = strips[k].get_untracked() {
                            canvas::paint_strip(&c, &values, 9, 28);
                        }
                    }
                    let one: Vec<f32> = lerp(t.get_untracked() as f32).collect();
                    let values = latent::decode(name, one).await?;
                    if let Some(c) = points[k].get_untracked() {
                        canvas::paint_grid(&c, &values, 1, 28);
                    }
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    crate::state::first_time(
        move || active.get() && ui.ready.get(),
        move || {
            spawn_local(async move {
                info.set("loading the generators".into());
                let mut lines = Vec::new();
                for name in LATENT_MODELS_GAN {
                    match latent::load(ui, name).await {
                        Ok(line) => lines.push(line),
                        Err(e) => lines.push(format!("no {name} ({e})")),
                    }
                }
                info.set(lines.join(" · "));
                generate();
                walk(true);
                let log = |name: &'static str| async move {
                    crate::fetch::text(&format!("weights/{name}.metrics.jsonl"))
                        .await
                        .unwrap_or_default()
                };
                let (d, w, gp) = (
                    log("dcgan").await,
                    log("wgan-sn").await,
                    log("wgan-gp").await,
                );
                curves.set(Some(Curves {
                    discriminator: curve(&d, "critic_loss"),
                    generator: curve(&d, "generator_loss"),
                    wgan_gp: curve(&gp, "w_estimate"),
                    wgan_sn: curve(&w, "w_estimate"),
                }));
            });
        },
    );

    // The training curves, drawn once the logs are read and again in another language.
    Effect::new(move |_| {
        curves.with(|c| {
            let Some(c) = c else { return };
            plot::draw(
                dcgan_curve,
                &Plot {
                    title: t_string!(i18n, gan.dcgan_losses),
                    log_y: false,
                    marker_x: None,
                    series: vec![
                        Series {
                            label: t_string!(i18n, gan.discriminator),
                            color: "#d62728",
                            points: &c.discriminator,
                        },
                        Series {
                            label: t_string!(i18n, gan.generator),
                            color: "#1f77b4",
                            points: &c.generator,
                        },
                    ],
                    y_range: None,
                    x_label: t_string!(i18n, gan.generator_step),
                },
            );
            plot::draw(
                wgan_curve,
                &Plot {
                    title: t_string!(i18n, gan.w_estimates),
                    log_y: false,
                    marker_x: None,
                    series: vec![
                        Series {
                            label: "WGAN-GP",
                            color: "#9467bd",
                            points: &c.wgan_gp,
                        },
                        Series {
                            label: "WGAN-SN",
                            color: "#2ca02c",
                            points: &c.wgan_sn,
                        },
                    ],
                    y_range: None,
                    x_label: t_string!(i18n, gan.generator_step),
                },
            );
        })
    });

    // The accessible name of column `k`'s grid.
    let digits_of = move |k: usize| match k {
        0 => t_string!(i18n, gan.dcgan_digits),
        1 => t_string!(i18n, gan.wgan_gp_digits),
        _ => t_string!(i18n, gan.wgan_sn_digits),
    };
    let column = |k: usize,
                  title: &'static str,
                  grid_id: &'static str,
                  strip_id: &'static str,
                  point_id: &'static str,
                  pred_id: &'static str,
                  summary_id: &'static str,
                  command_id: &'static str| {
        view! {
            <div>
                <h4>{title}</h4>
                <canvas class="digits" node_ref=grids[k] width="28" height="28" data-testid=grid_id
                    role="img" aria-label=move || alt_text(digits_of(k), &predictions[k].get())></canvas>
                {command_line(command_id, commands[k])}
                <p class="meta" data-testid=summary_id>{move || summaries[k].get()}</p>
                <span data-testid=pred_id hidden>{move || predictions[k].get()}</span>
                <canvas class="digits strip" node_ref=strips[k] width="28" height="28" data-testid=strip_id></canvas>
                <canvas class="digits small" node_ref=points[k] width="28" height="28" data-testid=point_id></canvas>
            </div>
        }
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, gan.title)}</h2>
            {explain::gan()}
            <p class="meta">{t!(i18n, gan.models)} " " <span data-testid="gan-info">{move || info.get()}</span></p>
            <p class="notice" data-testid="gan-error">{move || error.get()}</p>
            <span data-testid="gan-done" hidden>{move || done.get()}</span>
            <div class="controls row">
                {text_field(t!(i18n, gan.seed), "gan-seed", seed)}
                <button data-testid="gan-generate" on:click=move |_| { generate(); walk(true); } disabled=move || !ui.ready.get()>{t!(i18n, gan.generate)}</button>
                {text_field(t!(i18n, gan.walk_from), "gan-from", from)}
                {text_field(t!(i18n, gan.walk_to), "gan-to", to)}
                <label>"t "
                    <input type="range" min="0" max="1" step="0.05" data-testid="gan-t"
                        prop:value=move || t.get().to_string()
                        on:input=move |ev| {
                            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                t.set(v.clamp(0.0, 1.0));
                                walk(false);
                            }
                        }/>
                    <output>{move || format!("{:.2}", t.get())}</output>
                </label>
            </div>
            <div class="columns">
                {column(0, "DCGAN", "gan-dcgan", "gan-dcgan-strip", "gan-dcgan-point", "gan-dcgan-predictions", "gan-dcgan-summary", "gan-dcgan-command")}
                {column(1, "WGAN-GP", "gan-wgan-gp", "gan-wgan-gp-strip", "gan-wgan-gp-point", "gan-wgan-gp-predictions", "gan-wgan-gp-summary", "gan-wgan-gp-command")}
                {column(2, "WGAN-SN", "gan-wgan", "gan-wgan-strip", "gan-wgan-point", "gan-wgan-predictions", "gan-wgan-summary", "gan-wgan-command")}
            </div>
            <h3>{t!(i18n, gan.curves_title)}</h3>
            <div class="columns">
                <Chart drawing=dcgan_curve testid="gan-dcgan-curve"/>
                <Chart drawing=wgan_curve testid="gan-wgan-curve"/>
            </div>
            <p class="meta">{t!(i18n, gan.curves_note)}</p>
        </section>
    }
}

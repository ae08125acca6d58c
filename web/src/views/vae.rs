//! # The VAE view (Q5)
//!
//! The shipped VAEs, run by the model worker: samples from the prior, reconstructions of held-out
//! digits, a walk between two digits' encodings, and for the 2-D model the whole decoded
//! latent plane beside the held-out digits' encodings, where a click decodes that point.
//! The weights are fetched the first time the view opens.

use digitlab_data::pixels::bytes_to_unit;
use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::i18n::*;
use crate::protocol::{LatentOp, Slot};
use crate::state::Ui;
use crate::views::latent::{self, decode};
use crate::views::sampling::show_labels;
use crate::views::sampling::{text_field, whole_number};
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain;
use digitlab_ui::grid::alt_text;

/// Samples per grid.
const COUNT: usize = 16;
/// The 2-D model's plane is shown over `[-SPAN, SPAN]^2`.
const SPAN: f64 = 3.0;
/// Manifold grid size.
const GRID: usize = 15;
/// Scatter plot size in pixels.
const PLOT: f64 = 300.0;
/// One colour per digit (the "tab10" palette).
pub const CLASS_COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The held-out digits `indices` in `[-1, 1]` (`[n, 1, 28, 28]` flattened), with their labels.
fn held_out(ui: Ui, indices: &[usize]) -> Result<(Vec<f32>, Vec<u8>), String> {
    let digits = ui
        .digits
        .get_value()
        .ok_or("the held-out digits are not loaded")?;
    let mut values = Vec::new();
    for &i in indices {
        if i >= digits.len() {
            return Err(format!(
                "there are {} held-out digits (0 to {})",
                digits.len(),
                digits.len() - 1
            ));
        }
        values.extend(bytes_to_unit(digits.image(i)));
    }
    let labels = indices.iter().map(|&i| digits.labels[i]).collect();
    Ok((values, labels))
}

/// Pixel position of a latent point in the scatter plot, clamped to its edge.
fn to_plot(z: (f64, f64)) -> (f64, f64) {
    let f = |v: f64| ((v.clamp(-SPAN, SPAN) + SPAN) / (2.0 * SPAN)) * PLOT;
    (f(z.0), PLOT - f(z.1))
}

/// The latent point under a pixel of the scatter plot (the inverse of [`to_plot`]).
fn from_plot(x: f64, y: f64) -> (f64, f64) {
    let f = |p: f64| (p / PLOT).clamp(0.0, 1.0) * 2.0 * SPAN - SPAN;
    (f(x), f(PLOT - y))
}

/// The manifold grid's latents: row 0 at `z2 = +SPAN` (top), column 0 at `z1 = -SPAN`,
/// matching the scatter plot's orientation.
fn manifold_latents() -> Vec<f32> {
    let step = 2.0 * SPAN / (GRID - 1) as f64;
    let mut z = Vec::with_capacity(GRID * GRID * 2);
    for r in 0..GRID {
        for c in 0..GRID {
            z.push((-SPAN + c as f64 * step) as f32);
            z.push((SPAN - r as f64 * step) as f32);
        }
    }
    z
}

#[component]
pub fn VaeView(ui: Ui, active: Signal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let info = RwSignal::new(String::from("opens with the view"));
    let info_2d = RwSignal::new(String::new());
    let seed = RwSignal::new("1".to_string());
    let first = RwSignal::new("1".to_string());
    let second = RwSignal::new("7".to_string());
    let t = RwSignal::new(0.5f64);
    let predictions = RwSignal::new(String::new());
    let summary = RwSignal::new(String::new());
    let picked_z = RwSignal::new(String::new());
    let points = RwSignal::new(Vec::<(f64, f64, u8)>::new());
    let done = RwSignal::new(0u32);
    let error = RwSignal::new(String::new());
    let [samples, originals, recons, strip, interp, manifold, picked]: [NodeRef<Canvas>; 7] =
        std::array::from_fn(|_| NodeRef::new());
    // The encodings of the two digits being interpolated.
    let ends = StoredValue::new(None::<(Vec<f32>, Vec<f32>)>);
    // The command that draws the samples natively (set when they are drawn).
    let command = RwSignal::new(String::new());

    let report = move |r: Result<(), String>| match r {
        Ok(()) => done.update(|n| *n += 1),
        Err(e) => error.set(e),
    };

    let sample = move || {
        spawn_local(async move {
            let r = async {
                let seed =
                    whole_number("the seed", &seed.get_untracked(), 0, u32::MAX as usize)? as u64;
                let (values, labels) =
                    latent::run("vae", LatentOp::Prior { seed, count: COUNT }).await?;
                if let Some(c) = samples.get_untracked() {
                    canvas::paint_grid(&c, &values, COUNT, 28);
                }
                say(ui, &Slot::Latent("vae".into()), command, |path| {
                    digitlab_ui::command::generator(path, COUNT, seed)
                });
                if let Some(labels) = labels {
                    show_labels(labels, None, predictions, summary);
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    let reconstruct = move || {
        spawn_local(async move {
            let r = async {
                let (x, _) = held_out(ui, &(0..10).collect::<Vec<_>>())?;
                let (back, _) =
                    latent::run("vae", LatentOp::Reconstruct { images: x.clone() }).await?;
                if let (Some(a), Some(b)) = (originals.get_untracked(), recons.get_untracked()) {
                    canvas::paint_strip(&a, &x, 10, 28);
                    canvas::paint_strip(&b, &back, 10, 28);
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    // Decodes the point at `t` between the two encodings.
    let show_t = move || {
        spawn_local(async move {
            let r = async {
                let Some((a, b)) = ends.get_value() else {
                    return Ok(());
                };
                let s = t.get_untracked() as f32;
                let z: Vec<f32> = a
                    .iter()
                    .zip(&b)
                    .map(|(a, b)| (1.0 - s) * a + s * b)
                    .collect();
                let values = decode("vae", z).await?;
                if let Some(c) = interp.get_untracked() {
                    canvas::paint_grid(&c, &values, 1, 28);
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    let interpolate = move || {
        spawn_local(async move {
            let r = async {
                let n = ui.digits.with_value(|d| d.as_ref().map_or(0, |d| d.len()));
                let i = whole_number("the first digit", &first.get_untracked(), 0, n.max(1) - 1)?;
                let j = whole_number("the second digit", &second.get_untracked(), 0, n.max(1) - 1)?;
                let (x, _) = held_out(ui, &[i, j])?;
                let (mu, _) = latent::run("vae", LatentOp::Encode { images: x }).await?;
                let k = mu.len() / 2;
                let (a, b) = (mu[..k].to_vec(), mu[k..].to_vec());
                // Nine steps from the first encoding to the second, decoded in one batch.
                let mut z = Vec::with_capacity(9 * k);
                for step in 0..9 {
                    let s = step as f32 / 8.0;
                    z.extend(a.iter().zip(&b).map(|(a, b)| (1.0 - s) * a + s * b));
                }
                let values = decode("vae", z).await?;
                if let Some(c) = strip.get_untracked() {
                    canvas::paint_strip(&c, &values, 9, 28);
                }
                ends.set_value(Some((a, b)));
                Ok(())
            }
            .await;
            report(r);
            show_t();
        });
    };

    let plane = move || {
        spawn_local(async move {
            let r = async {
                let values = decode("vae-2d", manifold_latents()).await?;
                if let Some(c) = manifold.get_untracked() {
                    canvas::paint_grid(&c, &values, GRID * GRID, 28);
                }
                let n = ui.digits.with_value(|d| d.as_ref().map_or(0, |d| d.len()));
                let (x, labels) = held_out(ui, &(0..n).collect::<Vec<_>>())?;
                let (mu, _) = latent::run("vae-2d", LatentOp::Encode { images: x }).await?;
                points.set(
                    mu.chunks(2)
                        .zip(labels)
                        .map(|(z, l)| (z[0] as f64, z[1] as f64, l))
                        .collect(),
                );
                Ok(())
            }
            .await;
            report(r);
        });
    };

    let pick = move |ev: leptos::ev::MouseEvent| {
        let (z1, z2) = from_plot(ev.offset_x() as f64, ev.offset_y() as f64);
        picked_z.set(format!("z = ({z1:.2}, {z2:.2})"));
        spawn_local(async move {
            let r = async {
                let values = decode("vae-2d", vec![z1 as f32, z2 as f32]).await?;
                if let Some(c) = picked.get_untracked() {
                    canvas::paint_grid(&c, &values, 1, 28);
                }
                Ok(())
            }
            .await;
            report(r);
        });
    };

    // Fetch the weights the first time the view opens (and the page is ready), then draw.
    crate::state::first_time(
        move || active.get() && ui.ready.get(),
        move || {
            spawn_local(async move {
                info.set("loading the VAE".into());
                match latent::load(ui, "vae").await {
                    Ok(line) => {
                        info.set(line);
                        sample();
                        reconstruct();
                        interpolate();
                    }
                    Err(e) => info.set(format!("no VAE loaded ({e})")),
                }
                match latent::load(ui, "vae-2d").await {
                    Ok(line) => {
                        info_2d.set(line);
                        plane();
                    }
                    Err(e) => info_2d.set(format!("no 2-D VAE loaded ({e})")),
                }
            });
        },
    );

    let dots = move || {
        points
            .get()
            .into_iter()
            .map(|(z1, z2, l)| {
                let (x, y) = to_plot((z1, z2));
                view! { <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="3.5" fill=CLASS_COLORS[l as usize % 10] fill-opacity="0.85"><title>{format!("{} {l} {} ({z1:.2}, {z2:.2})", t_string!(i18n, vae.dot), t_string!(i18n, vae.dot_at))}</title></circle> }
            })
            .collect_view()
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, vae.title)}</h2>
            {explain::vae()}
            <p class="meta">{t!(i18n, vae.model)} " " <span data-testid="vae-info">{move || info.get()}</span></p>
            <p class="notice" data-testid="vae-error">{move || error.get()}</p>
            <span data-testid="vae-done" hidden>{move || done.get()}</span>
            <h3>{t!(i18n, vae.samples_title)}</h3>
            <div class="columns">
                <div class="controls">
                    {text_field(t!(i18n, vae.seed), "vae-seed", seed)}
                    <button data-testid="vae-sample" on:click=move |_| sample() disabled=move || !ui.ready.get()>{t!(i18n, vae.sample)}</button>
                    <p class="meta" data-testid="vae-summary">{move || summary.get()}</p>
                    <span data-testid="vae-predictions" hidden>{move || predictions.get()}</span>
                </div>
                <div class="output">
                    <canvas class="digits" node_ref=samples width="28" height="28" data-testid="vae-samples"
                        role="img" aria-label=move || alt_text(t_string!(i18n, vae.samples), &predictions.get())></canvas>
                    {command_line("vae-samples-command", command)}
                </div>
            </div>
            <h3>{t!(i18n, vae.recon_title)}</h3>
            <p class="meta">{t!(i18n, vae.held_out)}</p>
            <canvas class="digits strip" node_ref=originals width="28" height="28" data-testid="vae-originals"></canvas>
            <p class="meta">{t!(i18n, vae.recons)}</p>
            <canvas class="digits strip" node_ref=recons width="28" height="28" data-testid="vae-recon"></canvas>
            <h3>{t!(i18n, vae.interp_title)}</h3>
            <div class="controls row">
                {text_field(t!(i18n, vae.from), "vae-from", first)}
                {text_field(t!(i18n, vae.to), "vae-to", second)}
                <button data-testid="vae-interpolate" on:click=move |_| interpolate() disabled=move || !ui.ready.get()>{t!(i18n, vae.encode)}</button>
                <label>"t "
                    <input type="range" min="0" max="1" step="0.05" data-testid="vae-t"
                        prop:value=move || t.get().to_string()
                        on:input=move |ev| {
                            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                t.set(v.clamp(0.0, 1.0));
                                show_t();
                            }
                        }/>
                    <output>{move || format!("{:.2}", t.get())}</output>
                </label>
            </div>
            <div class="columns">
                <canvas class="digits strip" node_ref=strip width="28" height="28" data-testid="vae-strip"></canvas>
                <canvas class="digits small" node_ref=interp width="28" height="28" data-testid="vae-interp"></canvas>
            </div>
            <h3>{t!(i18n, vae.plane_title)}</h3>
            <p class="meta">{t!(i18n, vae.model)} " " <span data-testid="vae-2d-info">{move || info_2d.get()}</span></p>
            <div class="columns">
                <canvas class="digits manifold" node_ref=manifold width="28" height="28" data-testid="vae-manifold"></canvas>
                <div>
                    <svg class="scatter" viewBox=format!("0 0 {PLOT} {PLOT}") width=PLOT.to_string() height=PLOT.to_string()
                        data-testid="vae-scatter" data-points=move || points.with(|p| p.len().to_string()) on:click=pick>
                        <rect x="0" y="0" width=PLOT.to_string() height=PLOT.to_string() fill="#fafafa" stroke="#999"/>
                        <line x1="0" y1=(PLOT / 2.0).to_string() x2=PLOT.to_string() y2=(PLOT / 2.0).to_string() stroke="#ddd"/>
                        <line x1=(PLOT / 2.0).to_string() y1="0" x2=(PLOT / 2.0).to_string() y2=PLOT.to_string() stroke="#ddd"/>
                        {dots}
                    </svg>
                    <p class="legend">{(0..10).map(|d| view! { <span><span class="swatch" style=format!("background: {}", CLASS_COLORS[d])></span>{format!(" {d} ")}</span> }).collect_view()}</p>
                    <p class="meta">{t!(i18n, vae.pick)} " " <span data-testid="vae-picked-z">{move || picked_z.get()}</span></p>
                    <canvas class="digits small" node_ref=picked width="28" height="28" data-testid="vae-picked"></canvas>
                </div>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_coordinates_round_trip_and_match_the_grid() {
        for z in [(-2.0, 1.5), (0.0, 0.0), (2.9, -2.9)] {
            let (x, y) = to_plot(z);
            let back = from_plot(x, y);
            assert!((back.0 - z.0).abs() < 1e-9 && (back.1 - z.1).abs() < 1e-9);
        }
        // Top-left of the plot is (-SPAN, +SPAN), the grid's first latent.
        assert_eq!(from_plot(0.0, 0.0), (-SPAN, SPAN));
        let g = manifold_latents();
        assert_eq!(g.len(), GRID * GRID * 2);
        assert_eq!((g[0] as f64, g[1] as f64), (-SPAN, SPAN));
        let last = g.len() - 2;
        assert_eq!((g[last] as f64, g[last + 1] as f64), (SPAN, -SPAN));
    }
}

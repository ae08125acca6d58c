//! # The Divergences view (Q2)
//!
//! `p_data = N(theta0, eps^2)` and `p_g = N(theta, eps^2)`: sliders for theta0, theta and eps
//! (log scale, 1e-3 to 2); the two densities; KL (both directions), JS and W1 against theta;
//! their derivatives in theta; a marker at the current theta. The numbers come from
//! `digitlab-divergence`, the crate behind `digitlab divergence --json`. Exploding curves are
//! drawn clipped at the axis with a label, never as a broken line. Below, [`crate::views::duel`]
//! trains a GAN and a WGAN on the same two Gaussians, live.

use digitlab_divergence::{disjoint, gaussian};
use leptos::prelude::*;

use crate::i18n::*;
use crate::widgets::plot::{self, Chart, Drawing, Plot, Series};

const POINTS: usize = 241;

fn density(x: f64, mean: f64, eps: f64) -> f64 {
    let z = (x - mean) / eps;
    (-0.5 * z * z).exp() / (eps * (2.0 * std::f64::consts::PI).sqrt())
}

#[component]
pub fn DivergenceView() -> impl IntoView {
    let i18n = use_i18n();
    let theta0 = RwSignal::new(0.0f64);
    // The live duel's defaults (digitlab_toys::duel::DuelConfig): far apart, narrow.
    let theta = RwSignal::new(3.0f64);
    let log_eps = RwSignal::new(0.05f64.log10()); // eps = 10^log_eps
    let readout = RwSignal::new(String::new());
    let densities = RwSignal::new(Drawing::default());
    let values = RwSignal::new(Drawing::default());
    let slopes = RwSignal::new(Drawing::default());

    Effect::new(move |_| {
        let (t0, t, eps) = (theta0.get(), theta.get(), 10f64.powf(log_eps.get()));
        let (lo, hi) = (t0.min(t) - 3.0, t0.max(t) + 3.0);
        let Ok(curve) = gaussian::curves(t0, eps, lo, hi, POINTS) else {
            readout.set("eps must be > 0".into());
            return;
        };
        let here = gaussian::point(t, t0, eps).expect("checked inputs");
        let disjoint_here = disjoint::point(t - t0);
        readout.set(format!(
            "at theta = {t:.3}: KL = {:.4e}, dKL/dtheta = {:.4e}; JS = {:.6} (log 2 = 0.693147), dJS/dtheta = {:.4e}; W1 = {:.4}, dW1/dtheta = {}. Disjoint supports: KL = {}, JS = {:.6}, W1 = {:.4}",
            here.kl_g_data,
            here.d_kl_g_data,
            here.js,
            here.d_js,
            here.w1,
            here.d_w1,
            match disjoint_here.kl.finite() {
                Some(v) => format!("{v}"),
                None => "infinite".into(),
            },
            disjoint_here.js,
            disjoint_here.w1
        ));
        let xs: Vec<f64> = (0..POINTS)
            .map(|i| lo + (hi - lo) * i as f64 / (POINTS - 1) as f64)
            .collect();
        // Sample the densities densely near the means so narrow peaks are not missed.
        let mut dx: Vec<f64> = xs.clone();
        for m in [t0, t] {
            dx.extend((0..81).map(|i| m + eps * (i as f64 - 40.0) / 10.0));
        }
        dx.sort_by(f64::total_cmp);
        let pd: Vec<(f64, f64)> = dx.iter().map(|&x| (x, density(x, t0, eps))).collect();
        let pg: Vec<(f64, f64)> = dx.iter().map(|&x| (x, density(x, t, eps))).collect();
        let peak = 1.0 / (eps * (2.0 * std::f64::consts::PI).sqrt());
        let col = |f: fn(&gaussian::Point) -> f64| -> Vec<(f64, f64)> {
            curve.iter().map(|p| (p.theta, f(p))).collect()
        };
        let (kl, kl_rev, js, w1) = (
            col(|p| p.kl_g_data),
            col(|p| p.kl_data_g),
            col(|p| p.js),
            col(|p| p.w1),
        );
        let (dkl, djs, dw1) = (col(|p| p.d_kl_g_data), col(|p| p.d_js), col(|p| p.d_w1));
        plot::draw(
            densities,
            &Plot {
                title: t_string!(i18n, divergence.densities),
                log_y: false,
                marker_x: Some(t),
                series: vec![
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
                y_range: Some((0.0, peak.min(5.0))),
                x_label: "x",
            },
        );
        plot::draw(
            values,
            &Plot {
                title: t_string!(i18n, divergence.values),
                log_y: false,
                marker_x: Some(t),
                series: vec![
                    Series {
                        label: "KL(p_g||p_data)",
                        color: "#9467bd",
                        points: &kl,
                    },
                    Series {
                        label: "KL(p_data||p_g)",
                        color: "#e377c2",
                        points: &kl_rev,
                    },
                    Series {
                        label: "JS",
                        color: "#2ca02c",
                        points: &js,
                    },
                    Series {
                        label: "W1",
                        color: "#ff7f0e",
                        points: &w1,
                    },
                ],
                y_range: Some((0.0, 4.0)),
                x_label: "theta",
            },
        );
        plot::draw(
            slopes,
            &Plot {
                title: t_string!(i18n, divergence.slopes),
                log_y: false,
                marker_x: Some(t),
                series: vec![
                    Series {
                        label: "dKL/dtheta",
                        color: "#9467bd",
                        points: &dkl,
                    },
                    Series {
                        label: "dJS/dtheta",
                        color: "#2ca02c",
                        points: &djs,
                    },
                    Series {
                        label: "dW1/dtheta",
                        color: "#ff7f0e",
                        points: &dw1,
                    },
                ],
                y_range: Some((-4.0, 4.0)),
                x_label: "theta",
            },
        );
    });

    view! {
        <section class="view">
            <h2>{t!(i18n, divergence.title)}</h2>
            <div class="columns">
                <div class="controls">
                    {slider("theta0 ", "div-theta0", -3.0, 3.0, theta0, |v| format!("{v:.2}"))}
                    {slider("theta ", "div-theta", -3.0, 3.0, theta, |v| format!("{v:.2}"))}
                    {slider(view! { {t!(i18n, divergence.eps)} " " }, "div-eps", -3.0, 2f64.log10(), log_eps, |v| format!("{:.4}", 10f64.powf(v)))}
                </div>
                <p class="meta" data-testid="div-readout">{move || readout.get()}</p>
            </div>
            <div class="plots">
                <Chart drawing=densities testid="div-densities"/>
                <Chart drawing=values testid="div-values"/>
                <Chart drawing=slopes testid="div-slopes"/>
            </div>
            {crate::widgets::explain::divergence()}
            <crate::views::duel::DuelLab theta0=theta0 theta=theta log_eps=log_eps/>
        </section>
    }
}

/// A labelled slider from `min` to `max` bound to `sig`, its value shown by `show` in
/// `<id>-value`.
fn slider(
    label: impl IntoView + 'static,
    id: &'static str,
    min: f64,
    max: f64,
    sig: RwSignal<f64>,
    show: fn(f64) -> String,
) -> impl IntoView {
    view! {
        <label>{label}
            <input type="range" min=min.to_string() max=max.to_string() step="0.01" data-testid=id
                prop:value=move || sig.get().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                        sig.set(v.clamp(min, max));
                    }
                }/>
            <output data-testid=format!("{id}-value")>{move || show(sig.get())}</output>
        </label>
    }
}

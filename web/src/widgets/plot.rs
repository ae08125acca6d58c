//! # Line plots as SVG from a Leptos component
//!
//! The layout is `digitlab_ui::plot` (no browser needed, tested natively); [`draw`] stores a
//! laid-out [`Plot`] in a signal and [`Chart`] renders that signal as an `<svg>`.

use leptos::prelude::*;

pub use digitlab_ui::plot::{Drawing, HEIGHT, Mark, Plot, Series, WIDTH, layout, subscripts};

/// Lays `plot` out and hands it to the chart that shows `target`.
pub fn draw(target: RwSignal<Drawing>, plot: &Plot) {
    target.set(layout(plot));
}

/// The SVG of a [`Drawing`] signal.
#[component]
pub fn Chart(drawing: RwSignal<Drawing>, #[prop(optional)] testid: &'static str) -> impl IntoView {
    let marks = move || {
        drawing.with(|d| {
            d.marks
                .iter()
                .map(|m| match m.clone() {
                    Mark::Line { points, color, width } => view! {
                        <polyline points=points fill="none" stroke=color stroke-width=width.to_string()/>
                    }
                    .into_any(),
                    Mark::Text { x, y, text, color, end } => {
                        // `p_data` drawn with `data` lowered and smaller (`digitlab_ui::plot::subscripts`).
                        let runs = subscripts(&text)
                            .into_iter()
                            .map(|(run, sub)| if sub {
                                view! { <tspan baseline-shift="sub" font-size="75%">{run}</tspan> }.into_any()
                            } else {
                                view! { <tspan>{run}</tspan> }.into_any()
                            })
                            .collect_view();
                        view! {
                            <text x=x.to_string() y=y.to_string() fill=color text-anchor=if end { "end" } else { "start" }>{runs}</text>
                        }
                        .into_any()
                    }
                    Mark::Frame { x, y, w, h } => view! {
                        <rect x=x.to_string() y=y.to_string() width=w.to_string() height=h.to_string() fill="none" stroke="#999"/>
                    }
                    .into_any(),
                })
                .collect_view()
        })
    };
    view! {
        <svg class="chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") width=WIDTH.to_string() height=HEIGHT.to_string()
            data-testid=testid data-clipped=move || drawing.with(|d| d.clipped.to_string())>
            {marks}
        </svg>
    }
}

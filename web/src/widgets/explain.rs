//! # Explanations beside the controls
//!
//! Short answers, with the math, to the questions the page exists for (`questions.md`). The
//! texts live in `crates/explain/content/<language>/<view>.md` (Markdown, formulas in LaTeX);
//! `build.rs` typesets them into HTML with MathML, which this module includes. Each `##`
//! heading there is one fold here.

use leptos::prelude::*;

use crate::i18n::*;

/// One fold of explanations: title and body as HTML (formulas as `<math>`).
pub struct Fold {
    pub title: &'static str,
    pub body: &'static str,
    pub open: bool,
}

/// The typeset texts (`folds(language, view)`) and the labels' formulas (`formula::XT`).
mod typeset {
    use super::Fold;
    include!(concat!(env!("OUT_DIR"), "/explain.rs"));
}

pub use typeset::formula;

/// A formula of `content/formulas.tex` inside a label, heading or table cell.
pub fn math(mathml: &'static str) -> impl IntoView {
    view! { <span class="formula" inner_html=mathml></span> }
}

/// The folds of one view in the page's language, the open ones unfolded; a view not yet
/// translated says so and shows the English text, left to right. Their HTML is the build's own
/// output from the repository's texts, never user input, so `inner_html` is safe here.
fn folds(view: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        let language = i18n.get_locale().as_str();
        let translated = typeset::translated(language, view);
        let dir = if translated { "auto" } else { "ltr" };
        view! {
            <div class="explain" data-testid=format!("explain-{view}") lang=if translated { language } else { "en" } dir=dir>
                {(!translated).then(|| view! { <p class="meta" lang=language dir="auto">{t!(i18n, explain.untranslated)}</p> })}
                {typeset::folds(language, view)
                    .iter()
                    .map(|fold| {
                        view! {
                            <details open=fold.open>
                                <summary inner_html=fold.title></summary>
                                <div class="fold" inner_html=fold.body></div>
                            </details>
                        }
                    })
                    .collect_view()}
            </div>
        }
    }
}

/// Beside the Sample view (Q3 c-d, Q4 a-b).
pub fn sampling() -> impl IntoView {
    folds("sampling")
}

/// Beside the forward process (Q3 a-b).
pub fn forward() -> impl IntoView {
    folds("forward")
}

/// Beside the divergence curves (Q2).
pub fn divergence() -> impl IntoView {
    folds("divergence")
}

/// Beside the live duel: what each objective does to θ, and why.
pub fn duel() -> impl IntoView {
    folds("duel")
}

/// The Score view's texts (Q1).
pub fn score() -> impl IntoView {
    folds("score")
}

/// Beside the VAE (Q5).
pub fn vae() -> impl IntoView {
    folds("vae")
}

/// Beside the two GANs (Q5).
pub fn gan() -> impl IntoView {
    folds("gan")
}

/// The Text view's texts (Q4 b, c, d).
pub fn text() -> impl IntoView {
    folds("text")
}

/// Beside the Edit view (SDEdit, RePaint).
pub fn edit() -> impl IntoView {
    folds("edit")
}

//! # The app: the header, the tabs and the views
//!
//! Builds the shared state ([`crate::state`]), starts the model worker and the loaders
//! ([`crate::loaders`]), and lays out the header (backend, status with download progress), the
//! tabs, the views ([`crate::views`]) and the Weights box that takes the person's own files.

use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::client;
use crate::i18n::*;
use crate::loaders::{files_of, load_digits, load_ncsn, load_user_files, show_loaded};
use crate::protocol::{Reply, Request, Slot};
use crate::state::{Ui, first_time};
use crate::views::bench::BenchView;
use crate::views::compare::CompareView;
use crate::views::divergence::DivergenceView;
use crate::views::edit::EditView;
use crate::views::forward::ForwardView;
use crate::views::gan::GanView;
use crate::views::sampling::SamplingView;
use crate::views::score::ScoreView;
use crate::views::text::TextView;
use crate::views::vae::VaeView;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Sample,
    Edit,
    Forward,
    Divergence,
    Score,
    Vae,
    Gan,
    Text,
    Compare,
    Bench,
}

/// The page in the visitor's language (English or Persian, remembered; `<html lang dir>` follow).
#[component]
pub fn App() -> impl IntoView {
    view! {
        <I18nContextProvider>
            <RememberLocale/>
            <Page/>
        </I18nContextProvider>
    }
}

/// Where the chosen language is kept between visits.
const LOCALE_KEY: &str = "digitlab-locale";

/// Restores the language chosen on an earlier visit and keeps every later choice, in
/// localStorage (gloo-storage); leptos_i18n's own cookie would link a cookie and date parser.
/// The restoring is done in an effect, after the provider's own first effect (which sets the
/// browser's preferred language) has run, so that it is not overwritten.
#[component]
fn RememberLocale() -> impl IntoView {
    let i18n = use_i18n();
    let saved = LocalStorage::get::<String>(LOCALE_KEY)
        .ok()
        .and_then(|saved| {
            Locale::get_all()
                .iter()
                .copied()
                .find(|l| l.as_str() == saved)
        });
    // `prev` is `None` only on the effect's first run: the moment to restore.
    Effect::new(move |prev: Option<()>| {
        let current = i18n.get_locale();
        if prev.is_none()
            && let Some(saved) = saved.filter(|&l| l != current)
        {
            // This effect runs again with the restored language and stores it.
            i18n.set_locale(saved);
            return;
        }
        // No storage (a private window, a blocked origin): the choice lasts the visit.
        let _ = LocalStorage::set(LOCALE_KEY, current.as_str());
    });
}

/// The English / فارسی switch.
fn language_switch() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label class="language">{t!(i18n, language)} " "
            <select data-testid="language"
                prop:value=move || i18n.get_locale().as_str()
                on:change=move |ev| {
                    let locale = match event_target_value(&ev).as_str() {
                        "fa" => Locale::fa,
                        _ => Locale::en,
                    };
                    i18n.set_locale(locale);
                }>
                <option value="en">"English"</option>
                <option value="fa" lang="fa">"فارسی"</option>
            </select>
        </label>
    }
}

#[component]
fn Page() -> impl IntoView {
    let i18n = use_i18n();
    let ui = Ui {
        loaded: StoredValue::new_local(Vec::new()),
        ncsn_card: RwSignal::new(None),
        digits: StoredValue::new_local(None),
        last_digit: StoredValue::new_local(None),
        status: RwSignal::new("starting".into()),
        backend: RwSignal::new("starting the backend".into()),
        notice: RwSignal::new(String::new()),
        model_info: RwSignal::new(String::new()),
        ncsn_info: RwSignal::new(String::new()),
        student_info: RwSignal::new(String::new()),
        ready: RwSignal::new(false),
        train_steps: RwSignal::new(1000),
        student_steps: RwSignal::new(None),
        busy: RwSignal::new(false),
        run_id: RwSignal::new(0),
        step_ms: RwSignal::new(0.0),
        finished: RwSignal::new(0),
    };
    let tab = RwSignal::new(if query("bench").is_some() {
        Tab::Bench
    } else {
        Tab::Sample
    });
    let user_message = RwSignal::new(String::new());
    first_time(
        move || tab.get() == Tab::Score && ui.ready.get(),
        move || spawn_local(load_ncsn(ui)),
    );

    // The model worker: its backend and download progress show in the header.
    client::start(move |reply| match reply {
        Reply::Backend { label, notice, .. } => {
            // The worker's wasm has arrived and its backend runs: next, the weights.
            if !ui.ready.get_untracked() {
                ui.status.set("loading weights".into());
            }
            ui.backend.set(label);
            if let Some(notice) = notice {
                ui.notice.set(notice);
            }
        }
        Reply::Progress { file, got, total } if !ui.ready.get_untracked() => {
            ui.status.set(match total {
                Some(t) => format!(
                    "loading weights: {file} {:.1}/{:.1} MB",
                    got as f64 / 1e6,
                    t as f64 / 1e6
                ),
                None => format!("loading weights: {file} {:.1} MB", got as f64 / 1e6),
            })
        }
        _ => {}
    });
    spawn_local(async move {
        let force_cpu = query("backend").is_some_and(|b| b == "cpu");
        // What is still loading: first the model worker's own wasm (Burn and the models' code,
        // fetched by the browser for the worker), then the weights (with progress).
        ui.status
            .set("loading the model worker (Burn and the models' code)".into());
        let started = client::call(|job| Request::Start { job, force_cpu }, |_| {});
        // Meanwhile the held-out digits.
        if let Err(e) = load_digits(ui).await {
            ui.notice
                .set(format!("The held-out digits did not load: {e}"));
        }
        match started.await {
            Ok(Reply::Started { loaded, errors, .. }) => {
                for model in &loaded {
                    show_loaded(ui, model);
                }
                ui.ready.set(loaded.iter().any(|m| m.slot == Slot::Teacher));
                ui.status.set(match errors.first() {
                    None => "ready".into(),
                    Some(e) => format!("error: {e}"),
                });
            }
            Ok(other) => ui
                .status
                .set(format!("error: {}", client::unexpected(other))),
            Err(e) => ui.status.set(format!("error: {e}")),
        }
    });

    let take_files = move |files: Vec<web_sys::File>| {
        if files.is_empty() {
            return;
        }
        if ui.busy.get_untracked() {
            ui.stop();
        }
        spawn_local(async move {
            match load_user_files(ui, files).await {
                Ok(msg) => {
                    user_message.set(msg.clone());
                    ui.status.set("ready".into());
                }
                Err(e) => {
                    user_message.set(format!("Not loaded: {e}. The page keeps the model it had."));
                    ui.status.set(format!("error: {e}"));
                }
            }
        });
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            take_files(files_of(input.files()));
            input.set_value("");
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        take_files(files_of(ev.data_transfer().and_then(|d| d.files())));
    };

    view! {
        <header>
            <h1>"DigitLab"</h1>
            {language_switch()}
            <p class="tagline">{t!(i18n, tagline)}</p>
            <p class="backend">{t!(i18n, backend)} " " <span data-testid="backend" dir="ltr">{move || ui.backend.get()}</span></p>
            <p class="status">{t!(i18n, status)} " " <span data-testid="status" dir="ltr">{move || ui.status.get()}</span></p>
            <p class="notice" data-testid="notice">{move || ui.notice.get()}</p>
            <span data-testid="runs-finished" hidden>{move || ui.finished.get()}</span>
        </header>
        <nav>
            <button class:active=move || tab.get() == Tab::Sample on:click=move |_| tab.set(Tab::Sample) data-testid="tab-sample">{t!(i18n, tabs.sample)}</button>
            <button class:active=move || tab.get() == Tab::Edit on:click=move |_| tab.set(Tab::Edit) data-testid="tab-edit">{t!(i18n, tabs.edit)}</button>
            <button class:active=move || tab.get() == Tab::Forward on:click=move |_| tab.set(Tab::Forward) data-testid="tab-forward">{t!(i18n, tabs.forward)}</button>
            <button class:active=move || tab.get() == Tab::Divergence on:click=move |_| tab.set(Tab::Divergence) data-testid="tab-divergence">{t!(i18n, tabs.divergence)}</button>
            <button class:active=move || tab.get() == Tab::Score on:click=move |_| tab.set(Tab::Score) data-testid="tab-score">{t!(i18n, tabs.score)}</button>
            <button class:active=move || tab.get() == Tab::Vae on:click=move |_| tab.set(Tab::Vae) data-testid="tab-vae">{t!(i18n, tabs.vae)}</button>
            <button class:active=move || tab.get() == Tab::Gan on:click=move |_| tab.set(Tab::Gan) data-testid="tab-gan">{t!(i18n, tabs.gan)}</button>
            <button class:active=move || tab.get() == Tab::Text on:click=move |_| tab.set(Tab::Text) data-testid="tab-text">{t!(i18n, tabs.text)}</button>
            <button class:active=move || tab.get() == Tab::Compare on:click=move |_| tab.set(Tab::Compare) data-testid="tab-compare">{t!(i18n, tabs.compare)}</button>
            <button class:active=move || tab.get() == Tab::Bench on:click=move |_| tab.set(Tab::Bench) data-testid="tab-bench">{t!(i18n, tabs.bench)}</button>
        </nav>
        <main>
            <div class:hidden=move || tab.get() != Tab::Sample><SamplingView ui=ui/></div>
            <div class:hidden=move || tab.get() != Tab::Edit><EditView ui=ui/></div>
            <div class:hidden=move || tab.get() != Tab::Forward><ForwardView ui=ui/></div>
            <div class:hidden=move || tab.get() != Tab::Divergence><DivergenceView/></div>
            <div class:hidden=move || tab.get() != Tab::Score><ScoreView ui=ui/></div>
            <div class:hidden=move || tab.get() != Tab::Vae><VaeView ui=ui active=Signal::derive(move || tab.get() == Tab::Vae)/></div>
            <div class:hidden=move || tab.get() != Tab::Gan><GanView ui=ui active=Signal::derive(move || tab.get() == Tab::Gan)/></div>
            <div class:hidden=move || tab.get() != Tab::Text><TextView ui=ui active=Signal::derive(move || tab.get() == Tab::Text)/></div>
            <div class:hidden=move || tab.get() != Tab::Compare><CompareView ui=ui active=Signal::derive(move || tab.get() == Tab::Compare)/></div>
            <div class:hidden=move || tab.get() != Tab::Bench><BenchView ui=ui/></div>
        </main>
        <section class="weights" on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
            <h2>{t!(i18n, weights.title)}</h2>
            <p>{t!(i18n, weights.model)} " " <span data-testid="model-info">{move || ui.model_info.get()}</span></p>
            <p>{t!(i18n, weights.train)} <code>"digitlab train ddpm --run runs/mine"</code>
               {t!(i18n, weights.choose)} <code>"runs/mine/ddpm-cfg.json"</code>
               {t!(i18n, weights.together)} <code>".bpk"</code> {t!(i18n, weights.same_works)} <code>"train ncsn"</code> {t!(i18n, weights.vae)} <code>"train vae"</code>
               {t!(i18n, weights.gan)} <code>"train gan"</code> {t!(i18n, weights.checks)}</p>
            <input type="file" multiple accept=".json,.bpk" data-testid="weights-file" aria-label=move || t_string!(i18n, weights.file) on:change=on_pick/>
            <p class="notice" data-testid="weights-message">{move || user_message.get()}</p>
        </section>
        <footer>
            <p>{t!(i18n, footer.source)}</p>
        </footer>
    }
}

/// A query parameter of the page's URL (`?backend=cpu`, `?bench=1`).
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

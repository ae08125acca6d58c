//! # The app: backend, weights and views
//!
//! At start the page spawns the model worker, which picks its backend and fetches the shipped
//! diffusion model and classifier (checked against each card's format version and sha256
//! before use, with progress); meanwhile the page fetches the held-out digits. Other models are
//! fetched by the worker when their view first opens ([`load_model`]). A person can replace the diffusion model or the classifier with their
//! own card and weights file (file picker or drag and drop); anything wrong with them is
//! reported and the page keeps what it had.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::bench::BenchView;
use crate::client;
use crate::compare::CompareView;
use crate::divergence::DivergenceView;
use crate::edit::EditView;
use crate::fetch;
use crate::forward::{Digits, ForwardView};
use crate::gan::GanView;
use crate::i18n::*;
use crate::protocol::{Loaded, Reply, Request, Slot};
use crate::sampling::SamplingView;
use crate::score::ScoreView;
use crate::text::TextView;
use crate::ticks::query;
use crate::vae::VaeView;

/// Handles shared by the views (all `Copy`: signals and arena-stored values).
#[derive(Clone, Copy)]
pub struct Ui {
    /// What the model worker has loaded (from [`load_model`] and the person's files).
    pub loaded: StoredValue<Vec<Loaded>, LocalStorage>,
    /// The score network's card (the NCSN view shows the evaluations stored in it).
    pub ncsn_card: RwSignal<Option<serde_json::Value>>,
    pub digits: StoredValue<Option<Rc<Digits>>, LocalStorage>,
    /// The first digit of the Sample view's last finished run (grey bytes), for the Edit view.
    pub last_digit: StoredValue<Option<Vec<u8>>, LocalStorage>,
    /// `loading ...`, `ready`, `sampling`, `done`, `stopped` or `error: ...`.
    pub status: RwSignal<String>,
    pub backend: RwSignal<String>,
    pub notice: RwSignal<String>,
    pub model_info: RwSignal<String>,
    /// The score network in use, or why there is none.
    pub ncsn_info: RwSignal<String>,
    /// The live mode's distilled student, or why there is none.
    pub student_info: RwSignal<String>,
    /// The model worker's diffusion model is loaded (the Sample view can run).
    pub ready: RwSignal<bool>,
    /// The diffusion model's T: the most steps a run can take.
    pub train_steps: RwSignal<usize>,
    /// The loaded student's DDIM step count (live mode).
    pub student_steps: RwSignal<Option<usize>>,
    pub busy: RwSignal<bool>,
    /// Bumped by every new run and by Stop; a run that sees another id ends.
    pub run_id: RwSignal<u64>,
    pub step_ms: RwSignal<f64>,
    /// Counts finished runs (done, stopped or failed), so a test can wait for the next one.
    pub finished: RwSignal<u64>,
}

impl Ui {
    /// The held-out digits (the Forward and Edit views start from them).
    pub fn held_out(self) -> Result<Rc<Digits>, String> {
        self.digits
            .get_value()
            .ok_or_else(|| "the held-out digits are not loaded".to_string())
    }

    pub fn begin(self) -> u64 {
        self.run_id.update(|id| *id += 1);
        self.busy.set(true);
        self.step_ms.set(0.0);
        self.run_id.get_untracked()
    }

    /// The value, or `None` after showing the error in the status line (for event handlers
    /// that refuse bad input before starting anything).
    pub fn checked<T>(self, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|e| self.status.set(format!("error: {e}")))
            .ok()
    }

    pub fn stop(self) {
        // The model worker's run (if one is in flight) ends before its next step.
        client::send(Request::Stop);
        self.run_id.update(|id| *id += 1);
        self.busy.set(false);
        self.status.set("stopped".into());
        self.finished.update(|n| *n += 1);
    }

    pub fn finish(self, id: u64, status: &str) {
        if self.run_id.get_untracked() == id {
            self.busy.set(false);
            self.status.set(status.into());
            self.finished.update(|n| *n += 1);
        }
    }
}

/// Runs `start` once, the first time `when` holds (reactively): how views fetch what only they
/// need, when they first open.
pub fn first_time(when: impl Fn() -> bool + 'static, start: impl Fn() + 'static) {
    let done = StoredValue::new(false);
    Effect::new(move |_| {
        if when() && !done.get_value() {
            done.set_value(true);
            start();
        }
    });
}

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

/// What the model worker loaded, shown where the page shows models.
fn show_loaded(ui: Ui, model: &Loaded) {
    match model.slot {
        Slot::Teacher => {
            ui.model_info.set(model.info.clone());
            ui.train_steps.set(model.train_steps);
            // (Also when the shipped one failed and the person brought their own.)
            ui.ready.set(true);
        }
        Slot::Student => {
            ui.student_info.set(model.info.clone());
            ui.student_steps.set(model.student_steps);
        }
        Slot::Ncsn => {
            ui.ncsn_info.set(model.info.clone());
            ui.ncsn_card.set(serde_json::from_str(&model.card).ok());
        }
        Slot::Judge | Slot::Latent(_) | Slot::Text(_) => {}
    }
    ui.loaded.update_value(|all| {
        all.retain(|m| m.slot != model.slot);
        all.push(model.clone());
    });
}

/// The `--model` path of the model loaded into `slot` (for the command under a picture).
pub fn card_path(ui: Ui, slot: &Slot) -> Option<String> {
    ui.loaded
        .with_value(|all| all.iter().find(|m| m.slot == *slot).map(|m| m.path.clone()))
}

/// A shipped model in the model worker (fetched the first time a view needs it), or why not.
pub async fn load_model(ui: Ui, slot: Slot) -> Result<Loaded, String> {
    if let Some(m) = ui
        .loaded
        .with_value(|all| all.iter().find(|m| m.slot == slot).cloned())
    {
        return Ok(m);
    }
    let ask = slot.clone();
    match client::call(|job| Request::LoadShipped { job, slot: ask }, |_| {}).await? {
        Reply::Loaded { model, .. } => {
            show_loaded(ui, &model);
            Ok(model)
        }
        other => Err(client::unexpected(other)),
    }
}

/// The distilled student, fetched by the model worker the first time live mode is switched on
/// (it is as large as the diffusion model). Optional like the score network: without it live
/// mode says why.
pub async fn load_student(ui: Ui) {
    ui.student_info.set("loading the distilled student".into());
    if let Err(e) = load_model(ui, Slot::Student).await {
        ui.student_info.set(format!("no student loaded ({e})"));
    }
}

/// The score network, fetched the first time the Score view opens (it is not needed before,
/// and it is as large as the diffusion model). Optional: the page works without it.
pub async fn load_ncsn(ui: Ui) {
    ui.ncsn_info.set("loading the score network".into());
    if let Err(e) = load_model(ui, Slot::Ncsn).await {
        ui.ncsn_info.set(format!("no score network loaded ({e})"));
    }
}

async fn load_digits(ui: Ui) -> Result<(), String> {
    let images = fetch::bytes("digits/held-out-images-idx3-ubyte", |_, _| {}).await?;
    let labels = fetch::bytes("digits/held-out-labels-idx1-ubyte", |_, _| {}).await?;
    ui.digits
        .set_value(Some(Rc::new(Digits::parse(&images, &labels)?)));
    Ok(())
}

/// The one field of a chosen card that the page reads: which file holds the weights. The model
/// worker checks all the rest (format version, model, checksum) with `digitlab-weights`, which
/// the page does not link (it needs Burn).
#[derive(serde::Deserialize)]
struct CardHead {
    weights: String,
}

/// A card and a weights file chosen by the person.
async fn load_user_files(ui: Ui, files: Vec<web_sys::File>) -> Result<String, String> {
    let card_file = files
        .iter()
        .find(|f| f.name().ends_with(".json"))
        .ok_or("choose the weights card (.json) together with its weights file (.bpk)")?;
    let card_text = String::from_utf8(fetch::file_bytes(card_file).await?)
        .map_err(|_| format!("{} is not text", card_file.name()))?;
    let card: CardHead = serde_json::from_str(&card_text)
        .map_err(|e| format!("{}: not a weights card ({e})", card_file.name()))?;
    let weights_file = files
        .iter()
        .find(|f| f.name() == card.weights)
        .or_else(|| files.iter().find(|f| !f.name().ends_with(".json")))
        .ok_or_else(|| format!("the card names {}: choose that file too", card.weights))?;
    let bytes = fetch::file_bytes(weights_file).await?;
    let source = format!("{} + {}", card_file.name(), weights_file.name());
    // Checked and loaded by the model worker, which keeps what it had if anything is wrong.
    let reply = client::call(
        |job| Request::LoadUser {
            job,
            card: card_text,
            bytes,
            source: source.clone(),
            card_name: card_file.name(),
        },
        |_| {},
    )
    .await?;
    let model = match reply {
        Reply::Loaded { model, .. } => model,
        other => return Err(client::unexpected(other)),
    };
    show_loaded(ui, &model);
    Ok(match &model.slot {
        Slot::Teacher => format!("loaded your diffusion model ({source})"),
        Slot::Student => format!(
            "loaded your {}-step student for live mode ({source})",
            model.student_steps.unwrap_or(0)
        ),
        Slot::Judge => format!("loaded your classifier ({source})"),
        Slot::Ncsn => format!("loaded your score network ({source})"),
        Slot::Latent(name) | Slot::Text(name) => format!(
            "loaded your model in place of `{name}` ({source}); open its view and press Sample / Generate"
        ),
    })
}

fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return vec![] };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// The page in the visitor's language (English or Persian, remembered; `<html lang dir>` follow).
#[component]
pub fn App() -> impl IntoView {
    view! {
        <I18nContextProvider>
            <Page/>
        </I18nContextProvider>
    }
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
        ui.status.set("loading weights".into());
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
            <h2>"Weights"</h2>
            <p>"Diffusion model: " <span data-testid="model-info">{move || ui.model_info.get()}</span></p>
            <p>"Train your own with " <code>"digitlab train ddpm --run runs/mine"</code>
               ", then choose (or drop here) the card " <code>"runs/mine/ddpm-cfg.json"</code>
               " together with its " <code>".bpk"</code> " file. The same works for a score network (" <code>"train ncsn"</code> "), a VAE (" <code>"train vae"</code>
               ", in place of the 2-D one when its latent is 2) and an unconditional GAN (" <code>"train gan"</code> "), and for the classifier. The page checks the format version, the kind, the sha256, that the weights are finite numbers and as many as the card's config needs, and the architecture, before it uses them."</p>
            <input type="file" multiple accept=".json,.bpk" data-testid="weights-file" aria-label="Your weights: the card (.json) and its .bpk file" on:change=on_pick/>
            <p class="notice" data-testid="weights-message">{move || user_message.get()}</p>
        </section>
        <footer>
            <p>"Every number on this page comes from a command in the README. Source: crates/ (Burn modules, samplers), web/ (this page)."</p>
        </footer>
    }
}

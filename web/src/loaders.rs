//! # Loaders: the models, the digits and the person's own weights
//!
//! At start the model worker picks its backend and fetches the shipped diffusion model and
//! classifier (checked against each card's format version and sha256 before use, with
//! progress); meanwhile the page fetches the held-out digits. Other models are fetched by the
//! worker when their view first opens ([`load_model`], the one path for every model). A person
//! can replace a model with their own card and weights file (file picker or drag and drop);
//! the worker checks them and keeps what it had if anything is wrong.

use std::rc::Rc;

use leptos::prelude::*;

use crate::client;
use crate::fetch;
use crate::protocol::{Loaded, Reply, Request, Slot};
use crate::state::Ui;
use crate::views::forward::Digits;

/// What the model worker loaded, shown where the page shows models.
pub fn show_loaded(ui: Ui, model: &Loaded) {
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

pub async fn load_digits(ui: Ui) -> Result<(), String> {
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
pub async fn load_user_files(ui: Ui, files: Vec<web_sys::File>) -> Result<String, String> {
    let card_file = files
        .iter()
        .find(|f| f.name().ends_with(".json"))
        .ok_or("choose the weights card (.json) together with its weights file (.bpk)")?;
    let card_text = String::from_utf8(file_bytes(card_file).await?)
        .map_err(|_| format!("{} is not text", card_file.name()))?;
    let card: CardHead = serde_json::from_str(&card_text)
        .map_err(|e| format!("{}: not a weights card ({e})", card_file.name()))?;
    let weights_file = files
        .iter()
        .find(|f| f.name() == card.weights)
        .or_else(|| files.iter().find(|f| !f.name().ends_with(".json")))
        .ok_or_else(|| format!("the card names {}: choose that file too", card.weights))?;
    let bytes = file_bytes(weights_file).await?;
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

/// The bytes of a file the person chose or dropped (gloo-file).
async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    gloo_file::futures::read_as_bytes(&gloo_file::Blob::from(file.clone()))
        .await
        .map_err(|e| format!("reading {}: {e}", file.name()))
}

pub fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return vec![] };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

//! # The command under a picture
//!
//! The `digitlab` line that draws the same picture natively (`digitlab_ui::command` writes
//! it), shown under the picture with a Copy button. It is set when a run starts, so it always
//! describes the picture on screen rather than the controls' current values.

use digitlab_ui::command::Command;
use leptos::prelude::*;

use crate::i18n::*;
use crate::loaders::card_path;
use crate::protocol::Slot;
use crate::state::Ui;

/// Sets `line` to the command that `of` writes for the model loaded into `slot` (given its
/// `--model` path), or empties it when no model is loaded there.
pub fn say(ui: Ui, slot: &Slot, line: RwSignal<String>, of: impl FnOnce(&str) -> Command) {
    line.set(
        card_path(ui, slot)
            .map(|path| of(&path).to_shell())
            .unwrap_or_default(),
    );
}
use wasm_bindgen_futures::JsFuture;

/// The line in `line` (empty: nothing shown), as `data-testid=id`, and its Copy button
/// (`id-copy`), which says whether the clipboard took it.
pub fn command_line(id: &'static str, line: RwSignal<String>) -> impl IntoView {
    let i18n = use_i18n();
    let copied = RwSignal::new(String::new());
    let copy = move |_| {
        let text = line.get_untracked();
        spawn_local_copy(text, copied);
    };
    view! {
        <p class="command" class:hidden=move || line.get().is_empty()>
            <span class="meta">{t!(i18n, command.natively)} " "</span>
            <code data-testid=id dir="ltr">{move || line.get()}</code>
            " "
            <button data-testid=format!("{id}-copy") aria-label=move || t_string!(i18n, command.copy_label) on:click=copy>{t!(i18n, command.copy)}</button>
            " "
            <span class="meta" data-testid=format!("{id}-copied") aria-live="polite">{move || copied.get()}</span>
        </p>
    }
}

fn spawn_local_copy(text: String, copied: RwSignal<String>) {
    leptos::task::spawn_local(async move {
        let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
        let result = match clipboard {
            Some(c) => JsFuture::from(c.write_text(&text)).await.map(|_| ()),
            None => Err("no window".into()),
        };
        // Where the browser refuses (an insecure origin, no permission) the line stays
        // selectable by hand.
        copied.set(match result {
            Ok(()) => "copied".into(),
            Err(_) => "the browser refused the clipboard: select the line to copy it".into(),
        });
    });
}

//! # DigitLab's page: the interface
//!
//! A Leptos client-side app: the views, their controls, the explanations and the drawing. It
//! links no Burn: the models run in two dedicated Web Workers built from `web/worker` (the
//! model worker owns the device, WebGPU or Burn's CPU backend, and the diffusion models; the
//! toys' worker trains the in-page toys), which run exactly the Burn modules that
//! `digitlab train` trained. Nothing about the models is written in JavaScript. The page
//! speaks to them in the typed messages of [`protocol`] (`web/common`); [`client`] is its end.
//!
//! Laid out by role: [`state`] is the one context struct the views share, [`loaders`] has the
//! worker load models and reads the person's files, [`client`] is the page's end of the
//! workers, [`widgets`] are the drawing and reading parts every view uses (canvas, plots, the
//! explanations, the command line under a picture, the timeline), and [`views`] holds one file
//! per tab; [`app`] puts them on the page.

// The `i18n` module (`Locale`, `use_i18n`, `t!`) from web/locales/*.json. `load_locales!` is
// deprecated in leptos_i18n 0.6 in favour of a build-script generator, which would add ICU's
// data export tools to every build of the page; the macro does the same job at compile time.
#[allow(deprecated)]
mod locales {
    leptos_i18n::load_locales!();
}
pub use locales::i18n;

// The messages, fetching and ticks that the page shares with its workers (web/common).
pub use digitlab_web_common::{fetch, protocol, ticks};

pub mod app;
pub mod client;
pub mod loaders;
pub mod state;
pub mod views;
pub mod widgets;

/// The page's entry point: the panic banner, the service worker, the model worker and the views.
pub fn start_page() {
    install_panic_hook();
    register_service_worker();
    leptos::mount::mount_to_body(app::App);
}

/// Registers the service worker (`web/sw.js`) that keeps every file of the page for offline
/// use after the first visit. Where the browser has none (an insecure origin, an old browser)
/// the page simply works online only.
fn register_service_worker() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        return;
    }
    let registration = navigator.service_worker().register("sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(registration).await {
            web_sys::console::warn_2(&"DigitLab works online only: no service worker".into(), &e);
        }
    });
}

/// A panic must not leave a frozen page without a word: log it, and show it in the
/// `#panic` banner (written with plain DOM calls, since the reactive system may be the part
/// that failed).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("panic"))
        {
            el.set_text_content(Some(&format!(
                "error: DigitLab hit a bug and stopped ({info}). Reload the page to start again."
            )));
            let _ = el.remove_attribute("hidden");
        }
    }));
}

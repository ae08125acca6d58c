//! # DigitLab's page (the library of its two entry points)
//!
//! A Leptos client-side app. It runs exactly the Burn modules that `digitlab train` trained
//! (the workspace's `digitlab-models` and `digitlab-diffusion` crates), on WebGPU through
//! Burn's wgpu backend, or on Burn's CPU backend compiled into the wasm when the browser has
//! no WebGPU. Nothing about the models is written in JavaScript.
//!
//! Two threads: the page (`src/main.rs`: the views, in the window) and the model worker
//! (`src/bin/worker.rs`: a dedicated Web Worker that owns the device and the diffusion models,
//! so sampling never blocks the page). They speak the typed messages of [`protocol`]; [`client`]
//! is the page's end, [`worker`] the worker's.
//!
//! Map: [`backend`] picks the device, [`fetch`] loads files with progress, [`lab`] holds the
//! loaded models, [`sampling`] is the sampling view, [`forward`] the forward-process view,
//! [`divergence`] the divergence lab's curves, [`duel`] its live GAN/WGAN training, [`score`] the NCSN toy and [`ncsn`] NCSN sampling on MNIST, [`text`] text prompts and latent diffusion, [`bench`] the benchmark, [`explain`] the texts, [`canvas`] and [`plot`] the drawing.

// The `i18n` module (`Locale`, `use_i18n`, `t!`) from web/locales/*.json. `load_locales!` is
// deprecated in leptos_i18n 0.6 in favour of a build-script generator, which would add ICU's
// data export tools to every build of the page; the macro does the same job at compile time.
#[allow(deprecated)]
mod locales {
    leptos_i18n::load_locales!();
}
pub use locales::i18n;

pub mod app;
pub mod backend;
pub mod bench;
pub mod canvas;
pub mod client;
pub mod command;
pub mod compare;
pub mod divergence;
pub mod duel;
pub mod edit;
pub mod explain;
pub mod fetch;
pub mod forward;
pub mod gan;
pub mod lab;
pub mod latent;
pub mod ncsn;
pub mod plot;
pub mod protocol;
pub mod sampling;
pub mod score;
pub mod text;
pub mod ticks;
pub mod timeline;
pub mod toys;
pub mod vae;
pub mod worker;

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

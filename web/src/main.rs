//! # DigitLab's page
//!
//! A Leptos client-side app. It runs exactly the Burn modules that `digitlab train` trained
//! (the workspace's `digitlab-models` and `digitlab-diffusion` crates), on WebGPU through
//! Burn's wgpu backend, or on Burn's CPU backend compiled into the wasm when the browser has
//! no WebGPU. Nothing about the models is written in JavaScript.
//!
//! Map: [`backend`] picks the device, [`fetch`] loads files with progress, [`lab`] holds the
//! loaded models, [`sampling`] is the sampling view, [`forward`] the forward-process view,
//! [`divergence`] the divergence lab's curves, [`duel`] its live GAN/WGAN training, [`score`] the NCSN toy and [`ncsn`] NCSN sampling on MNIST, [`text`] text prompts and latent diffusion, [`bench`] the benchmark, [`explain`] the texts, [`canvas`] and [`plot`] the drawing.

mod app;
mod backend;
mod bench;
mod canvas;
mod compare;
mod divergence;
mod duel;
mod edit;
mod explain;
mod fetch;
mod forward;
mod gan;
mod lab;
mod latent;
mod ncsn;
mod plot;
mod sampling;
mod score;
mod text;
mod ticks;
mod vae;

fn main() {
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

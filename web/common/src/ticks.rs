//! Yielding to the browser between steps of work, and timing.
//!
//! A step of work blocks its thread until it is done, so long loops await [`next_tick`] after
//! each step: in the page the browser then repaints and handles clicks and slider moves; in the
//! model worker the messages that arrived meanwhile (Stop, a new run) are handled. Both work in
//! either scope (the window or a worker), through the global object.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Resolves on the next macrotask (`setTimeout(0)`).
pub async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        if let Some(window) = global.dyn_ref::<web_sys::Window>() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), 0);
        } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
            let _ = worker
                .set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Milliseconds from `performance.now()`.
pub fn now_ms() -> f64 {
    let global = js_sys::global();
    let performance = match global.dyn_ref::<web_sys::Window>() {
        Some(window) => window.performance(),
        None => global
            .dyn_ref::<web_sys::WorkerGlobalScope>()
            .and_then(|w| w.performance()),
    };
    performance.map_or(0.0, |p| p.now())
}

/// A query parameter of the page's URL (`?backend=cpu`, `?bench=1`).
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

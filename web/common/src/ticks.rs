//! Yielding to the browser between steps of work, and timing.
//!
//! A step of work blocks its thread until it is done, so long loops await [`next_tick`] after
//! each step: in the page the browser then repaints and handles clicks and slider moves; in the
//! model worker the messages that arrived meanwhile (Stop, a new run) are handled. Both work in
//! either scope (the window or a worker), through the global object.

use wasm_bindgen::JsCast;

/// Resolves on the next macrotask (`setTimeout(0)`, through `gloo-timers`, which calls the
/// global `setTimeout` of the window or the worker).
pub async fn next_tick() {
    gloo_timers::future::TimeoutFuture::new(0).await;
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

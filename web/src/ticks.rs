//! Yielding to the browser between steps of work, and timing.
//!
//! The page runs in one thread: on the CPU backend a denoising step blocks until it is done,
//! so the sampler awaits [`next_tick`] after each step. The browser then repaints, handles
//! clicks (Stop) and slider moves, and the loop carries on.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Resolves on the next macrotask (`setTimeout(0)`).
pub async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Milliseconds from `performance.now()`.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// A query parameter of the page's URL (`?backend=cpu`, `?bench=1`).
pub fn query(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

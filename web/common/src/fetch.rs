//! # Fetching files with progress
//!
//! Weights are fetched from `weights/` (not compiled into the wasm), read chunk by chunk from
//! the response's stream so the page can show how much has arrived.

use gloo_net::http::{Request, Response};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A successful response for `url` (`gloo-net`'s fetch, which calls the global `fetch`, so it
/// works in the window and in the model worker alike).
async fn response(url: &str) -> Result<Response, String> {
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|e| format!("fetching {url} failed: {e}"))?;
    if !resp.ok() {
        return Err(format!("fetching {url}: HTTP {}", resp.status()));
    }
    Ok(resp)
}

pub async fn text(url: &str) -> Result<String, String> {
    response(url)
        .await?
        .text()
        .await
        .map_err(|e| format!("reading {url}: {e}"))
}

/// The whole body, calling `progress(received, total)` after each chunk. (`gloo-net` reads a
/// body only whole, so the chunks are read here from the response's stream.)
pub async fn bytes(
    url: &str,
    mut progress: impl FnMut(usize, Option<usize>),
) -> Result<Vec<u8>, String> {
    let resp = response(url).await?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|s| s.parse::<usize>().ok());
    let Some(body) = resp.body() else {
        return Ok(Vec::new());
    };
    let reader: js_sys::Object = body.get_reader();
    let read = js_sys::Reflect::get(&reader, &"read".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("the response stream has no reader")?;
    let mut out = Vec::with_capacity(total.unwrap_or(0));
    loop {
        let promise: js_sys::Promise = read
            .call0(&reader)
            .map_err(|e| format!("{e:?}"))?
            .dyn_into()
            .map_err(|_| "read() gave no promise".to_string())?;
        let chunk = JsFuture::from(promise)
            .await
            .map_err(|e| format!("reading {url}: {e:?}"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .map(|v| v.is_truthy())
            .unwrap_or(true);
        if done {
            break;
        }
        if let Ok(value) = js_sys::Reflect::get(&chunk, &"value".into()) {
            out.extend_from_slice(&js_sys::Uint8Array::new(&value).to_vec());
        }
        progress(out.len(), total);
    }
    Ok(out)
}

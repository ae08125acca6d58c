//! # Fetching files with progress
//!
//! Weights are fetched from `weights/` (not compiled into the wasm), read chunk by chunk from
//! the response's stream so the page can show how much has arrived.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

async fn response(url: &str) -> Result<Response, String> {
    // `fetch` of the window or of the model worker, whichever runs this.
    let global = js_sys::global();
    let promise = match global.dyn_ref::<web_sys::Window>() {
        Some(window) => window.fetch_with_str(url),
        None => global
            .dyn_ref::<web_sys::WorkerGlobalScope>()
            .ok_or("neither a window nor a worker")?
            .fetch_with_str(url),
    };
    let resp = JsFuture::from(promise)
        .await
        .map_err(|e| format!("fetching {url} failed: {e:?}"))?;
    let resp: Response = resp.dyn_into().map_err(|_| "not a Response".to_string())?;
    if !resp.ok() {
        return Err(format!("fetching {url}: HTTP {}", resp.status()));
    }
    Ok(resp)
}

pub async fn text(url: &str) -> Result<String, String> {
    let resp = response(url).await?;
    let text = JsFuture::from(resp.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("reading {url}: {e:?}"))?;
    text.as_string().ok_or_else(|| format!("{url} is not text"))
}

/// The whole body, calling `progress(received, total)` after each chunk.
pub async fn bytes(
    url: &str,
    mut progress: impl FnMut(usize, Option<usize>),
) -> Result<Vec<u8>, String> {
    let resp = response(url).await?;
    let total = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
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

/// The bytes of a file the person chose or dropped.
pub async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("reading {}: {e:?}", file.name()))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

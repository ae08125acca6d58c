//! # Which backend runs
//!
//! WebGPU when `navigator.gpu` gives an adapter and Burn's wgpu runtime starts on it;
//! otherwise Burn's `flex` CPU backend inside the wasm. `?backend=cpu` forces the CPU. The
//! page shows the choice and why, and the adapter's name as the browser reports it.

use burn::prelude::Device;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    WebGpu { adapter: String },
    Cpu { reason: String },
}

impl BackendKind {
    pub fn is_gpu(&self) -> bool {
        matches!(self, BackendKind::WebGpu { .. })
    }

    pub fn label(&self) -> String {
        match self {
            BackendKind::WebGpu { adapter } => format!("WebGPU (Burn wgpu) on {adapter}"),
            BackendKind::Cpu { reason } => format!("CPU (Burn flex in wasm): {reason}"),
        }
    }
}

/// Starts the backend once per page (Burn's wgpu runtime cannot be started twice).
pub async fn start(force_cpu: bool) -> (Device, BackendKind) {
    if force_cpu {
        return cpu("chosen with ?backend=cpu".into());
    }
    let adapter = match adapter_name().await {
        Ok(name) => name,
        Err(reason) => return cpu(reason),
    };
    match Device::wgpu_options().init_async().await {
        Ok(device) => (device, BackendKind::WebGpu { adapter }),
        Err(e) => cpu(format!("WebGPU did not start ({e:?})")),
    }
}

pub fn cpu(reason: String) -> (Device, BackendKind) {
    (Device::flex(), BackendKind::Cpu { reason })
}

fn get(target: &wasm_bindgen::JsValue, key: &str) -> Option<wasm_bindgen::JsValue> {
    js_sys::Reflect::get(target, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `navigator.gpu.requestAdapter()` and the adapter's `info`, read through `Reflect` (the
/// WebGPU bindings of web-sys are unstable APIs).
async fn adapter_name() -> Result<String, String> {
    // The model worker's navigator (`WorkerNavigator` has `gpu` too) or the window's.
    let navigator = get(&js_sys::global(), "navigator").ok_or("no navigator")?;
    let gpu =
        get(&navigator, "gpu").ok_or("this browser has no WebGPU (navigator.gpu is missing)")?;
    let request = get(&gpu, "requestAdapter")
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise = request
        .call0(&gpu)
        .ok()
        .and_then(|p| p.dyn_into::<js_sys::Promise>().ok())
        .ok_or("navigator.gpu.requestAdapter failed")?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU gave no adapter".into());
    }
    let info = get(&adapter, "info");
    let field = |k: &str| {
        info.as_ref()
            .and_then(|i| get(i, k))
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
    };
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|k| field(k))
        .collect();
    Ok(if parts.is_empty() {
        "an unnamed adapter".into()
    } else {
        parts.join(" ")
    })
}

//! # Backends
//!
//! `flex` is Burn's portable CPU backend (the default: it runs everywhere, these machines have
//! no GPU); `wgpu` runs on a GPU through Vulkan, Metal or DX12 when one is present.

use burn::prelude::Device;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Flex,
    Wgpu,
}

impl Backend {
    /// The device, or a clear error where the backend cannot start (no GPU adapter).
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => Device::wgpu_options().init().map_err(|e| {
                anyhow::anyhow!(
                    "the wgpu backend found no usable GPU adapter ({e}); use --backend flex"
                )
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex (CPU)",
            Backend::Wgpu => "wgpu (GPU)",
        }
    }
}

/// A short description of this machine for weights cards and benchmarks.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {cpu}")
}

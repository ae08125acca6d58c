//! # Backends
//!
//! `flex` is Burn's portable CPU backend (the default: it runs everywhere, these machines have
//! no GPU); `wgpu` runs on a GPU through Vulkan, Metal or DX12 when one is present. With the
//! cargo feature `tch`, `tch` runs on LibTorch's CPU kernels (PyTorch's own, through Burn's
//! `tch` backend, for people who have PyTorch 2.9.0; see `scripts/bench-vs-pytorch`).

use burn::prelude::Device;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Flex,
    Wgpu,
    /// LibTorch on the CPU (cargo feature `tch`).
    #[cfg(feature = "tch")]
    Tch,
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
            // Burn 0.22 marks its tch backend deprecated (in favour of CubeCL's); it is kept
            // here, optional, because LibTorch is the one path to PyTorch's own CPU kernels.
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Backend::Tch => Ok(Device::libtorch()),
        }
    }

    /// As written after `--backend`.
    pub fn flag(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            #[cfg(feature = "tch")]
            Backend::Tch => "tch",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex (CPU)",
            Backend::Wgpu => "wgpu (GPU)",
            #[cfg(feature = "tch")]
            Backend::Tch => "tch (LibTorch, CPU)",
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

/// [`machine`], with the GPU's name first for the wgpu backend where the NVIDIA driver reports
/// one (`/proc/driver/nvidia/gpus/*/information`, Linux): a card then says which GPU trained
/// it. This reads the driver rather than asking wgpu for its adapter because Burn does not
/// expose the adapter natively; on a machine with several GPUs it names the first.
pub fn machine_for(backend: Backend) -> String {
    let host = machine();
    if backend != Backend::Wgpu {
        return host;
    }
    let gpu = std::fs::read_dir("/proc/driver/nvidia/gpus")
        .ok()
        .and_then(|dirs| {
            let mut dirs: Vec<_> = dirs.flatten().map(|d| d.path()).collect();
            dirs.sort();
            dirs.into_iter().find_map(|d| {
                let info = std::fs::read_to_string(d.join("information")).ok()?;
                info.lines()
                    .find(|l| l.starts_with("Model:"))
                    .map(|l| l["Model:".len()..].trim().to_string())
            })
        });
    match gpu {
        Some(gpu) => format!("{gpu} through wgpu, host: {host}"),
        None => format!("a GPU through wgpu, host: {host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gpu_run_names_its_host_and_a_cpu_run_only_the_host() {
        assert_eq!(machine_for(Backend::Flex), machine());
        let gpu = machine_for(Backend::Wgpu);
        assert!(
            gpu.ends_with(&format!("through wgpu, host: {}", machine())),
            "{gpu}"
        );
    }
}

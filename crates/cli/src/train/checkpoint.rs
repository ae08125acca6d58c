//! # Checkpoints
//!
//! `<run>/checkpoints/step-<n>/` holds the files a trainer needs to carry on (weights, EMA,
//! optimizer and learning-rate scheduler records, `state.json` with the step and the whole
//! training config). A checkpoint is written into `step-<n>.tmp/`, renamed into place, and only
//! then named in `LATEST` (itself replaced atomically), so a run killed at any moment resumes
//! from the last complete checkpoint. Older checkpoints are removed after the new one is named.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Serialize, de::DeserializeOwned};

use crate::files;

pub struct Checkpoints {
    root: PathBuf,
}

/// What `state.json` holds besides the files.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct State<C> {
    /// The trainer that wrote it ("ddpm-cfg", "classifier").
    pub kind: String,
    /// Optimizer steps done.
    pub step: usize,
    /// Training seconds so far (summed over resumed sessions).
    pub seconds: f64,
    pub config: C,
}

impl Checkpoints {
    pub fn new(run: &Path) -> Self {
        Self {
            root: run.join("checkpoints"),
        }
    }

    /// Saves step `step` of a run trained by one [`Optimizer`]: the state, the `modules`'
    /// files (name, record bytes) and the optimizer's two files.
    pub fn save_step<C: Serialize + Clone>(
        &self,
        kind: &str,
        step: usize,
        seconds: f64,
        config: &C,
        mut modules: Vec<(String, Vec<u8>)>,
        optim: &Optimizer,
    ) -> Result<PathBuf> {
        modules.extend(optim.files()?);
        let state = State {
            kind: kind.into(),
            step,
            seconds,
            config: config.clone(),
        };
        self.save(&state, &modules)
    }

    pub fn save<C: Serialize>(
        &self,
        state: &State<C>,
        files_: &[(String, Vec<u8>)],
    ) -> Result<PathBuf> {
        let name = format!("step-{:07}", state.step);
        let dir = self.root.join(&name);
        let tmp = self.root.join(format!("{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        for (file, bytes) in files_ {
            files::write_atomic(&tmp.join(file), bytes)?;
        }
        files::write_atomic(
            &tmp.join("state.json"),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).with_context(|| format!("renaming {}", tmp.display()))?;
        files::write_atomic(&self.root.join("LATEST"), name.as_bytes())?;
        // Only now that LATEST names the new one are the older ones expendable.
        for entry in std::fs::read_dir(&self.root)?.flatten() {
            let n = entry.file_name().to_string_lossy().to_string();
            if n.starts_with("step-") && n != name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(dir)
    }

    /// The last complete checkpoint: its state and folder.
    pub fn latest<C: DeserializeOwned>(&self, kind: &str) -> Result<(State<C>, PathBuf)> {
        let latest = self.root.join("LATEST");
        let name = std::fs::read_to_string(&latest).with_context(|| {
            format!(
                "no checkpoint to resume from ({} is missing)",
                latest.display()
            )
        })?;
        let dir = self.root.join(name.trim());
        let text = std::fs::read_to_string(dir.join("state.json"))
            .with_context(|| format!("reading {}", dir.join("state.json").display()))?;
        #[derive(serde::Deserialize)]
        struct Kind {
            kind: String,
        }
        let found: Kind = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a DigitLab checkpoint", dir.display()))?;
        if found.kind != kind {
            bail!(
                "{} is a checkpoint of a `{}` model, not of a `{kind}` model",
                dir.display(),
                found.kind
            );
        }
        let state = serde_json::from_str(&text)
            .with_context(|| format!("{}: checkpoint of another version", dir.display()))?;
        Ok((state, dir))
    }
}

/// Refuses to resume when the command line asks for a different training config than the one
/// the checkpoint was made with, naming the fields that differ.
pub fn check_same_config<C: Serialize>(checkpoint: &C, requested: &C) -> Result<()> {
    let a = serde_json::to_value(checkpoint)?;
    let b = serde_json::to_value(requested)?;
    if a == b {
        return Ok(());
    }
    let mut diffs = Vec::new();
    diff_values("", &a, &b, &mut diffs);
    bail!(
        "the checkpoint was made with another config; resume with the same options or start a new run.\n  {}",
        diffs.join("\n  ")
    )
}

fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (k, v) in x {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(&p, v, y.get(k).unwrap_or(&serde_json::Value::Null), out);
            }
        }
        _ if a != b => out.push(format!("{path}: checkpoint {a}, requested {b}")),
        _ => {}
    }
}

/// Burn's Adam with the run's linear learning-rate decay: fresh, or restored from a checkpoint
/// folder (`<prefix>optim.bpk`, `<prefix>lr.bpk`), and saved back as the same two files. A GAN
/// has two, told apart by the prefix.
pub struct Optimizer {
    optim: burn::optim::ModuleOptimizer,
    schedule: burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler,
    prefix: &'static str,
}

impl Optimizer {
    /// Adam with Burn's default betas, files without a prefix.
    pub fn new(
        lr: f64,
        lr_final: f64,
        total_steps: usize,
        resume_from: Option<&Path>,
    ) -> Result<Self> {
        Self::adam(
            burn::optim::AdamConfig::new(),
            "",
            lr,
            lr_final,
            total_steps,
            resume_from,
        )
    }

    pub fn adam(
        config: burn::optim::AdamConfig,
        prefix: &'static str,
        lr: f64,
        lr_final: f64,
        total_steps: usize,
        resume_from: Option<&Path>,
    ) -> Result<Self> {
        use burn::optim::lr_scheduler::{LrSchedulerRecord, linear::LinearLrSchedulerConfig};
        use burn::tensor::Bytes;
        let mut optim = config.init();
        let mut schedule = LinearLrSchedulerConfig::new(lr, lr_final, total_steps)
            .init()
            .map_err(anyhow::Error::msg)?;
        if let Some(dir) = resume_from {
            let read = |f: &str| {
                std::fs::read(dir.join(f))
                    .with_context(|| format!("reading {}", dir.join(f).display()))
            };
            optim = optim.load_record(burn::optim::OptimizerRecord::from_bytes(
                Bytes::from_bytes_vec(read(&format!("{prefix}optim.bpk"))?),
            )?);
            schedule = schedule.load_record(LrSchedulerRecord::from_bytes(Bytes::from_bytes_vec(
                read(&format!("{prefix}lr.bpk"))?,
            ))?);
        }
        Ok(Self {
            optim,
            schedule,
            prefix,
        })
    }

    /// One optimizer step at the schedule's next learning rate, which it returns.
    pub fn step<M: burn::module::Module>(
        &mut self,
        model: M,
        grads: burn::optim::GradientsParams,
    ) -> (M, f64) {
        let lr = self.schedule.step();
        let base = lr.base();
        (self.optim.step(lr, model, grads), base)
    }

    /// The checkpoint files of the optimizer state and the schedule's position.
    pub fn files(&self) -> Result<[(String, Vec<u8>); 2]> {
        Ok([
            (
                format!("{}optim.bpk", self.prefix),
                self.optim.to_record().into_bytes()?.to_vec(),
            ),
            (
                format!("{}lr.bpk", self.prefix),
                self.schedule.to_record().into_bytes()?.to_vec(),
            ),
        ])
    }
}

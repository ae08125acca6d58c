//! # Checkpoints, the run folder and `--resume`
//!
//! `<run>/checkpoints/step-<n>/` holds the files a trainer needs to carry on (weights, EMA,
//! optimizer and learning-rate scheduler records, `state.json` with the kind, the step and the
//! whole training config). A checkpoint is written into `step-<n>.tmp/`, renamed into place, and
//! only then named in `LATEST` (itself replaced atomically), so a run killed at any moment
//! resumes from the last complete checkpoint. The two newest checkpoints are kept: when the
//! newest cannot be read (a truncated record, a non-finite weight), `--resume` says so and
//! carries on from the one before.
//!
//! A run folder is one run's: [`RunLock`] keeps a second process out while one trains there, and
//! [`RunFolder`] tells whether a folder already holds a run (a fresh run is then refused unless
//! told `--force`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use digitlab_weights::Kind;
use serde::{Serialize, de::DeserializeOwned};

use super::Trainer;
use crate::files;

/// How many complete checkpoints a run keeps.
const KEEP: usize = 2;

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
    /// The loss of the last step (what the card reports if the run ends right after this
    /// checkpoint); absent in checkpoints written before it was kept.
    #[serde(default)]
    pub loss: Option<f64>,
    pub config: C,
}

/// Where a resumed run carries on from.
pub struct ResumedAt {
    pub step: usize,
    pub seconds: f64,
    pub loss: Option<f64>,
    /// A finished run asked for more epochs: (the checkpoint's epochs, the requested ones).
    pub extended: Option<(u64, u64)>,
}

impl Checkpoints {
    pub fn new(run: &Path) -> Self {
        Self {
            root: run.join("checkpoints"),
        }
    }

    /// Saves step `step`: `state.json` (kind, step, seconds, the last loss, config) and
    /// `files` (name, bytes).
    pub fn save<C: Serialize>(
        &self,
        kind: Kind,
        (step, seconds, loss): (usize, f64, f64),
        config: &C,
        files_: Vec<(String, Vec<u8>)>,
    ) -> Result<PathBuf> {
        let state = State {
            kind: kind.name().into(),
            step,
            seconds,
            loss: Some(loss),
            config,
        };
        // A state whose weights or optimizer moments are not finite is never saved: the
        // checkpoint before it stays the newest, and is what the error says is intact.
        for (file, bytes) in files_.iter().filter(|(f, _)| f.ends_with(".bpk")) {
            if let Err(e) = digitlab_weights::RecordSummary::of(bytes) {
                bail!(
                    "after step {step}, {file}: {e} (the training diverged: lower the learning rate); nothing was saved, the checkpoint before it is intact"
                );
            }
        }
        let name = format!("step-{step:07}");
        let dir = self.root.join(&name);
        let tmp = self.root.join(format!("{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let written = (|| -> Result<()> {
            for (file, bytes) in &files_ {
                files::write_atomic(&tmp.join(file), bytes)?;
            }
            files::write_atomic(
                &tmp.join("state.json"),
                serde_json::to_string_pretty(&state)?.as_bytes(),
            )
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).with_context(|| format!("renaming {}", tmp.display()))?;
        files::write_atomic(&self.root.join("LATEST"), name.as_bytes())?;
        // Only now that LATEST names the new one are the older ones expendable; the one before
        // stays, in case the newest is damaged later.
        for old in self.complete().into_iter().skip(KEEP) {
            let _ = std::fs::remove_dir_all(old);
        }
        Ok(dir)
    }

    /// The complete checkpoint folders, newest first (the one `LATEST` names leads).
    pub fn complete(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<(usize, PathBuf)> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let step = name.strip_prefix("step-")?.parse::<usize>().ok()?;
                e.path().is_dir().then(|| (step, e.path()))
            })
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
        let mut dirs: Vec<PathBuf> = dirs.into_iter().map(|(_, p)| p).collect();
        if let Ok(latest) = std::fs::read_to_string(self.root.join("LATEST")) {
            let named = self.root.join(latest.trim());
            if let Some(i) = dirs.iter().position(|d| *d == named) {
                let d = dirs.remove(i);
                dirs.insert(0, d);
            }
        }
        dirs
    }

    /// The state of the checkpoint in `dir`: `Ok(Err(found))` when another kind of model
    /// (`found`) wrote it, an error when it cannot be read.
    pub fn state<C: DeserializeOwned>(
        &self,
        dir: &Path,
        kind: Kind,
    ) -> Result<std::result::Result<State<C>, String>> {
        let path = dir.join("state.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        #[derive(serde::Deserialize)]
        struct Tag {
            kind: String,
        }
        let found: Tag = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a DigitLab checkpoint", dir.display()))?;
        if found.kind != kind.name() {
            return Ok(Err(found.kind));
        }
        serde_json::from_str(&text)
            .map(Ok)
            .with_context(|| format!("{}: checkpoint of another version", dir.display()))
    }

    /// Restores `trainer` from the newest usable checkpoint: one written by the same kind of
    /// model with the same config (a difference is refused, naming it), whose files load. A
    /// checkpoint that cannot be read is reported and the one before it is tried. A larger
    /// `epochs` is the one difference taken, and only from a run that finished its own: the
    /// run goes on from there (see [`check_same_config`]).
    pub fn resume<T: Trainer>(
        &self,
        trainer: &mut T,
        device: &Device,
    ) -> Result<(T::State, ResumedAt)> {
        let dirs = self.complete();
        if dirs.is_empty() {
            bail!(
                "no checkpoint to resume from in {}: start the run without --resume",
                self.root.display()
            );
        }
        let mut failures = Vec::new();
        for dir in dirs {
            let state: State<T::Config> = match self.state(&dir, trainer.kind()) {
                Ok(Ok(s)) => s,
                Ok(Err(found)) => bail!(
                    "{} is a checkpoint of a `{found}` model, not of a `{}` model",
                    dir.display(),
                    trainer.kind()
                ),
                Err(e) => {
                    failures.push(format!("{e:#}"));
                    continue;
                }
            };
            let extended = check_same_config(&state.config, trainer.config())?;
            if let Some((from, to)) = extended
                && trainer.epoch(state.step) + 1e-9 < from as f64
            {
                bail!(
                    "{} has not finished its {from} epochs (epoch {:.2}): resume it with --epochs {from} first; the finished run can then go on to {to}",
                    dir.display(),
                    trainer.epoch(state.step)
                );
            }
            match trainer.start(Some(&dir), device) {
                Ok(restored) => {
                    if !failures.is_empty() {
                        eprintln!(
                            "the newest checkpoint cannot be used ({}); resuming from {} instead",
                            failures.join("; "),
                            dir.display()
                        );
                    }
                    return Ok((
                        restored,
                        ResumedAt {
                            step: state.step,
                            seconds: state.seconds,
                            loss: state.loss,
                            extended,
                        },
                    ));
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        bail!(
            "no usable checkpoint in {}: {}",
            self.root.display(),
            failures.join("; ")
        )
    }
}

/// What a run folder already holds.
pub struct RunFolder {
    root: PathBuf,
    checkpoints: Vec<PathBuf>,
    has_log: bool,
    pub has_final_card: bool,
}

impl RunFolder {
    pub fn inspect(run: &Path) -> Self {
        let checkpoints = Checkpoints::new(run).complete();
        // A finished run's card: any JSON beside the checkpoints that parses as a card.
        let has_final_card = std::fs::read_dir(run)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.path().extension().is_some_and(|x| x == "json")
                    && std::fs::read_to_string(e.path())
                        .ok()
                        .is_some_and(|t| digitlab_weights::Card::from_json(&t).is_ok())
            });
        Self {
            root: run.to_path_buf(),
            checkpoints,
            has_log: run.join("metrics.jsonl").is_file(),
            has_final_card,
        }
    }

    /// Checkpoints, a metrics log or a finished card.
    pub fn holds_a_run(&self) -> bool {
        !self.checkpoints.is_empty() || self.has_log || self.has_final_card
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(newest) = self.checkpoints.first() {
            parts.push(format!(
                "a checkpoint at {}",
                newest.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        if self.has_log {
            parts.push("metrics.jsonl".into());
        }
        if self.has_final_card {
            parts.push("the final weights and card".into());
        }
        parts.join(", ")
    }

    /// `--force`: the old checkpoints and log go (the old card is overwritten when the new run
    /// ends).
    pub fn clear_for_fresh_run(&self) -> Result<()> {
        let dir = self.root.join("checkpoints");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let log = self.root.join("metrics.jsonl");
        if log.exists() {
            std::fs::remove_file(&log).with_context(|| format!("removing {}", log.display()))?;
        }
        Ok(())
    }
}

/// `<run>/.lock`, holding the training process's id while it runs; removed when the run ends
/// (also on error). A lock whose process is gone (killed) is taken over, saying so.
pub struct RunLock {
    path: PathBuf,
    created_folder: Option<PathBuf>,
}

impl RunLock {
    pub fn acquire(run: &Path) -> Result<Self> {
        let created_folder = (!run.exists()).then(|| run.to_path_buf());
        std::fs::create_dir_all(run)
            .with_context(|| format!("creating the run folder {}", run.display()))?;
        let path = run.join(".lock");
        let me = std::process::id().to_string();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(me.as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Self {
                        path,
                        created_folder,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    if process_alive(holder) {
                        bail!(
                            "{} is in use by another training (process {holder}, lock file {}): wait for it to end, or train into another --run folder",
                            run.display(),
                            path.display()
                        );
                    }
                    eprintln!(
                        "taking over {} (left by process {}, which is gone)",
                        path.display(),
                        if holder.is_empty() { "?" } else { holder }
                    );
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }
}

/// Whether the process `pid` still runs (Linux: `/proc/<pid>`; elsewhere a lock is trusted).
fn process_alive(pid: &str) -> bool {
    match pid.parse::<u32>() {
        Ok(pid) if cfg!(target_os = "linux") => Path::new(&format!("/proc/{pid}")).exists(),
        Ok(_) => true,
        Err(_) => false,
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // A folder this run created and left empty (it failed before writing anything) goes too.
        if let Some(dir) = &self.created_folder {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Refuses to resume when the command line asks for a different training config than the one
/// the checkpoint was made with, naming the fields that differ. The one difference taken is a
/// larger top-level `epochs`, returned as (checkpoint's, requested): a run that reached its
/// planned end goes on for more epochs (its learning-rate schedule keeps its position, so a
/// decayed rate stays at its final value; the data order and every random draw follow from
/// the seed and the step, as in an uninterrupted run). Anything else would make the
/// checkpoint's weights the answer to another question.
pub fn check_same_config<C: Serialize>(
    checkpoint: &C,
    requested: &C,
) -> Result<Option<(u64, u64)>> {
    let a = serde_json::to_value(checkpoint)?;
    let mut b = serde_json::to_value(requested)?;
    let epochs = |v: &serde_json::Value| v.get("epochs").and_then(serde_json::Value::as_u64);
    let extended = match (epochs(&a), epochs(&b)) {
        (Some(from), Some(to)) if to > from => {
            b["epochs"] = from.into();
            Some((from, to))
        }
        _ => None,
    };
    if a == b {
        return Ok(extended);
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
            // Read, and checked like weights (a record of finite values), naming the file.
            let read = |f: &str| -> Result<Bytes> {
                let path = dir.join(f);
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                digitlab_weights::RecordSummary::of(&bytes)
                    .with_context(|| format!("{}", path.display()))?;
                Ok(Bytes::from_bytes_vec(bytes))
            };
            let path = |f: &str| dir.join(f).display().to_string();
            let (o, l) = (format!("{prefix}optim.bpk"), format!("{prefix}lr.bpk"));
            optim = optim.load_record(
                burn::optim::OptimizerRecord::from_bytes(read(&o)?).with_context(|| path(&o))?,
            );
            schedule = schedule
                .load_record(LrSchedulerRecord::from_bytes(read(&l)?).with_context(|| path(&l))?);
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

//! # Training
//!
//! Custom training loops (as Burn's `custom-training-loop` example) rather than `burn-train`'s
//! `Learner`: diffusion training samples its own time steps and noise, keeps an EMA copy, and
//! must resume bit-for-bit, which needs every random draw to come from a generator whose state
//! is a function of (seed, step). Burn provides the optimizer (Adam), the learning-rate schedule
//! (linear decay), autodiff and the record formats.
//!
//! One skeleton, [`run`], owns everything a run does around its steps: the run folder (a lock,
//! and no fresh run over an existing one without `--force`), resume or seeded init, progress,
//! the non-finite-loss check, checkpoints, `--stop-after` and the final weights and card. A
//! trainer ([`Trainer`]) only says how to build its modules, how to take one numbered step, what
//! to measure at the end of an epoch and what to ship.
//!
//! - [`data`]: batches from an in-memory IDX dataset, in a seeded order per epoch.
//! - [`ema`]: the exponential moving average of the weights used for sampling.
//! - [`checkpoint`]: atomic checkpoints (the last two kept), the run lock and `--resume`.
//! - [`state`]: what trainers share besides the loop (the plan, one module and its Adam, with or
//!   without a moving average).
//! - [`progress`]: the progress bar and the JSONL metrics log.
//! - [`ddpm`] (also the NCSN), [`classifier`], [`vae`], [`gan`], [`autoencoder`], [`text`]
//!   (text-conditioned DDPM in pixel or latent space) and [`distill`] (a few-step student of a
//!   guided DDPM, in stages): the trainers.

pub mod autoencoder;
pub mod checkpoint;
pub mod classifier;
pub mod data;
pub mod ddpm;
pub mod distill;
pub mod ema;
pub mod gan;
pub mod progress;
pub mod state;
pub mod text;
pub mod vae;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use digitlab_weights::{Card, DataInfo, Kind, TrainingInfo};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::checkpoint::{Checkpoints, RunFolder, RunLock};
use self::progress::Progress;
pub use self::state::{Averaged, Plan, Rate, Single};
use crate::args::{CommonTrain, TrainCommand};
use crate::backend::{Backend, machine_for};
use crate::cards::write_weights;

/// `digitlab train <model>`: the trainer's config from its options, then the skeleton.
pub fn train(command: TrainCommand) -> Result<()> {
    match command {
        TrainCommand::Ddpm(a) => {
            let config = ddpm::ddpm_config(&a)?;
            run(&a.common.options(), |device| {
                ddpm::DdpmTrainer::new(config, device)
            })
        }
        TrainCommand::Ncsn(a) => {
            let config = ddpm::ncsn_config(&a)?;
            run(&a.common.options(), |device| {
                ddpm::DdpmTrainer::new(config, device)
            })
        }
        TrainCommand::Vae(a) => {
            let config = vae::config(&a);
            run(&a.common.options(), |device| {
                vae::VaeTrainer::new(config, device)
            })
        }
        TrainCommand::Gan(a) => {
            let config = gan::config(&a)?;
            run(&a.common.options(), |_| gan::GanTrainer::new(config))
        }
        TrainCommand::Autoencoder(a) => {
            let config = autoencoder::config(&a);
            run(&a.common.options(), |device| {
                autoencoder::AutoencoderTrainer::new(config, device)
            })
        }
        TrainCommand::TextDdpm(a) => {
            let config = text::config(&a)?;
            let options = a.common.options();
            run(&options, |device| {
                text::TextTrainer::new(config, &options, device)
            })
        }
        TrainCommand::Distill(a) => {
            let config = distill::config(&a)?;
            run(&a.common.options(), |device| {
                distill::DistillTrainer::new(config, device)
            })
        }
        TrainCommand::Classifier(a) => {
            let config = classifier::config(&a);
            run(&a.common.options(), |device| {
                classifier::ClassifierTrainer::new(config, device)
            })
        }
    }
    .map(|_| ())
}

/// Where and how a run goes, whatever the model.
pub struct RunOptions {
    pub run: PathBuf,
    pub backend: Backend,
    pub resume: bool,
    /// Start a fresh run in a folder that holds one (its checkpoints and log are removed).
    pub force: bool,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// Stop after this many steps in this session (a checkpoint is written): to split a long
    /// run over sessions, and for the resume test.
    pub stop_after: Option<usize>,
}

impl CommonTrain {
    pub fn options(&self) -> RunOptions {
        RunOptions {
            run: self.run.clone(),
            backend: self.backend,
            resume: self.resume,
            force: self.force,
            checkpoint_every: self.checkpoint_every,
            log_every: self.log_every,
            stop_after: self.stop_after,
        }
    }
}

/// What one training step reports.
pub struct StepReport {
    /// The objective of the step (checked to be finite; the last one goes into the card).
    pub loss: f64,
    /// Images the step trained on (for images per second).
    pub images: usize,
    /// The learning rate the step used.
    pub lr: f64,
    /// Other terms worth logging (reconstruction, KL, the critic's loss, ...): averaged over
    /// the log window like the loss.
    pub terms: Vec<(&'static str, f64)>,
}

impl StepReport {
    /// A step that logs its loss alone.
    pub fn loss(loss: f64, images: usize, lr: f64) -> Self {
        Self {
            loss,
            images,
            lr,
            terms: Vec::new(),
        }
    }
}

/// What a trainer measures at the end of an epoch (held-out numbers).
pub struct Measure {
    /// One line for people.
    pub line: String,
    /// Fields for `metrics.jsonl`.
    pub fields: serde_json::Value,
}

/// The final weights of a run and their card.
pub struct Shipped {
    /// File stem of the weights and the card (`ddpm-cfg`, `dcgan`, ...).
    pub stem: String,
    pub weights: Vec<u8>,
    pub card: Card,
    /// Said after the card is written (held-out numbers).
    pub summary: Option<String>,
}

/// One model family's training: everything but the loop, which [`run`] owns.
pub trait Trainer {
    /// Everything that determines the trained weights: saved in every checkpoint and compared
    /// on `--resume` (a difference is refused, naming the fields).
    type Config: Serialize + DeserializeOwned;
    /// The modules and optimizers that change from step to step.
    type State;

    /// The kind trained, the seed, the epochs and the batches.
    fn plan(&self) -> &Plan;
    fn config(&self) -> &Self::Config;
    /// The kind of model trained (its checkpoints carry it; a resume of another kind's run is
    /// refused).
    fn kind(&self) -> Kind {
        self.plan().kind
    }
    fn seed(&self) -> u64 {
        self.plan().seed
    }
    /// Steps of one epoch, and of the whole run.
    fn steps_per_epoch(&self) -> usize {
        self.plan().batches.per_epoch()
    }
    fn total_steps(&self) -> usize {
        self.plan().epochs * self.steps_per_epoch()
    }
    /// Epochs done after `done` steps, for the log.
    fn epoch(&self, done: usize) -> f64 {
        done as f64 / self.steps_per_epoch().max(1) as f64
    }
    /// The learning-rate schedule of a run with one Adam decaying from `lr` to `lr_final`.
    fn rate(&self, lr: f64, lr_final: f64) -> Rate {
        Rate {
            lr,
            lr_final,
            total: self.total_steps(),
        }
    }
    /// Fresh modules and optimizers (`from` is `None`; the device was seeded with
    /// [`Trainer::seed`]), or those of the checkpoint folder `from`, as [`Trainer::checkpoint`]
    /// wrote them.
    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<Self::State>;
    /// Training step `step` (0-based): every random draw comes from `step_rng(seed, step)`.
    fn step(
        &mut self,
        state: Self::State,
        step: usize,
        device: &Device,
    ) -> Result<(Self::State, StepReport)>;
    /// Held-out numbers at the end of an epoch, if the trainer has any.
    fn measure(&mut self, _state: &Self::State) -> Result<Option<Measure>> {
        Ok(None)
    }
    /// Weights worth keeping before the run ends (a stage of a run in stages) after `done`
    /// steps, with `training()` the run's account of itself for their card (built only when
    /// asked: it reads the machine's description): written into `<run>/stages/`.
    fn milestone(
        &mut self,
        _state: &Self::State,
        _done: usize,
        _training: &dyn Fn() -> TrainingInfo,
    ) -> Result<Option<Shipped>> {
        Ok(None)
    }
    /// The files of a checkpoint: the modules' and the optimizers' records.
    fn checkpoint(&self, state: &Self::State) -> Result<Vec<(String, Vec<u8>)>>;
    /// The shipped weights and their card, given the run's account of itself.
    fn finish(&mut self, state: Self::State, training: TrainingInfo) -> Result<Shipped>;
}

/// A run of `trainer` (made by `make` on the run's device, autodiff on): fresh, or resumed from
/// the newest usable checkpoint. Returns the written card, or `None` when `--stop-after` ended
/// the session early or a resumed run had already finished.
pub fn run<T: Trainer>(
    opts: &RunOptions,
    make: impl FnOnce(&Device) -> Result<T>,
) -> Result<Option<PathBuf>> {
    // 1. the run folder: one run at a time, and never a fresh run over another unasked
    let _lock = RunLock::acquire(&opts.run)?;
    let folder = RunFolder::inspect(&opts.run);
    let checkpoints = Checkpoints::new(&opts.run);
    if !opts.resume && folder.holds_a_run() {
        if !opts.force {
            bail!(
                "{} already holds a run ({}): continue it with --resume, or start over in it with --force",
                opts.run.display(),
                folder.describe()
            );
        }
        folder.clear_for_fresh_run()?;
    }
    if opts.resume && opts.force {
        bail!("--resume and --force contradict each other: give one");
    }
    if opts.resume && checkpoints.complete().is_empty() {
        bail!(
            "no checkpoint to resume from in {}: start the run without --resume",
            opts.run.display()
        );
    }

    // 2. the trainer on the run's device
    let device = opts.backend.device()?.autodiff();
    let mut trainer = make(&device)?;
    let total = trainer.total_steps();
    if total == 0 {
        bail!("nothing to train: the data and the options make 0 steps");
    }

    // 3. fresh weights, or the newest usable checkpoint
    let (mut state, start, seconds_before, mut last_loss) = if opts.resume {
        let (state, at) = checkpoints.resume(&mut trainer, &device)?;
        if at.step >= total && folder.has_final_card {
            eprintln!(
                "{} finished already (step {} of {total}); nothing to do, nothing changed",
                opts.run.display(),
                at.step
            );
            return Ok(None);
        }
        match at.extended {
            Some((from, to)) => eprintln!(
                "extending {} from {from} to {to} epochs: resuming from step {} of {total}",
                opts.run.display(),
                at.step
            ),
            // Killed between the last checkpoint and the card: only the card is missing.
            None => eprintln!(
                "resuming {} from step {} of {total}",
                opts.run.display(),
                at.step
            ),
        }
        (state, at.step, at.seconds, at.loss.unwrap_or(f64::NAN))
    } else {
        device.seed(trainer.seed());
        (trainer.start(None, &device)?, 0, 0.0, f64::NAN)
    };

    // 4. the steps
    let mut progress = Progress::new(&opts.run, start, total, opts.log_every)?;
    let started = Instant::now();
    let end = opts.stop_after.map_or(total, |n| (start + n).min(total));
    let per_epoch = trainer.steps_per_epoch().max(1);
    let mut last_checkpoint = start;
    for step in start..end {
        // What the backend draws itself (the classifier's dropout) is reseeded from (seed,
        // step) too, so a resumed run draws what the uninterrupted one drew.
        device.seed(step_seed(trainer.seed(), step));
        let (next, report) = trainer.step(state, step, &device)?;
        state = next;
        if !report.loss.is_finite() {
            bail!(
                "the loss became {} at step {step}: lower the learning rate (the checkpoint of step {last_checkpoint} is intact)",
                report.loss
            );
        }
        last_loss = report.loss;
        let done = step + 1;
        let mut extra = serde_json::json!({ "epoch": trainer.epoch(done) });
        if (done % per_epoch == 0 || done == total)
            && let Some(m) = trainer.measure(&state)?
        {
            progress.println(format!("epoch {:.0}: {}", trainer.epoch(done), m.line));
            if let (Some(obj), serde_json::Value::Object(more)) = (extra.as_object_mut(), m.fields)
            {
                obj.extend(more);
            }
        }
        progress.step(done, &report, extra)?;
        let run_so_far = (trainer.seed(), trainer.epoch(done));
        let account_now = || {
            let seconds = seconds_before + started.elapsed().as_secs_f64();
            account(opts, run_so_far, done, seconds, last_loss)
        };
        if let Some(m) = trainer.milestone(&state, done, &account_now)? {
            let dir = opts.run.join("stages");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = write_weights(&dir, &m.stem, &m.weights, m.card)?;
            progress.println(format!(
                "{}: wrote {}",
                m.summary.unwrap_or_default(),
                path.display()
            ));
        }
        if done % opts.checkpoint_every.max(1) == 0 || done == end {
            checkpoints.save(
                trainer.kind(),
                (
                    done,
                    seconds_before + started.elapsed().as_secs_f64(),
                    last_loss,
                ),
                trainer.config(),
                trainer.checkpoint(&state)?,
            )?;
            last_checkpoint = done;
        }
    }
    progress.finish();
    let seconds = seconds_before + started.elapsed().as_secs_f64();
    if end < total {
        eprintln!("stopped after step {end} of {total}; continue with --resume");
        return Ok(None);
    }

    // 5. the shipped weights and their card
    let training = account(
        opts,
        (trainer.seed(), trainer.epoch(total)),
        total,
        seconds,
        last_loss,
    );
    if !last_loss.is_finite() {
        bail!(
            "the run's last loss is unknown (a checkpoint written before checkpoints kept it): resume from an earlier checkpoint to write the card"
        );
    }
    let shipped = trainer.finish(state, training)?;
    let path = write_weights(&opts.run, &shipped.stem, &shipped.weights, shipped.card)?;
    match shipped.summary {
        Some(s) => eprintln!("{s}; wrote {}", path.display()),
        None => eprintln!("wrote {}", path.display()),
    }
    Ok(Some(path))
}

/// The run's account of itself after `done` steps, which a trainer completes for its card.
fn account(
    opts: &RunOptions,
    (seed, epochs): (u64, f64),
    done: usize,
    seconds: f64,
    loss: f64,
) -> TrainingInfo {
    TrainingInfo {
        steps: done,
        epochs,
        batch_size: 0,
        learning_rate: String::new(),
        ema_decay: None,
        seed,
        seconds,
        backend: opts.backend.name().into(),
        machine: machine_for(opts.backend),
        final_loss: loss,
        continued_from: None,
    }
}

/// The card's account of the data a run trained on.
pub fn data_info(dir: &Path, train_images: usize, held_out_images: usize) -> DataInfo {
    DataInfo {
        name: data_name(dir),
        train_images,
        held_out_images,
    }
}

/// A readable name of a data folder for cards: the `name` in its `dataset.json` (written by
/// `digitlab data import`), else the folder's path.
pub fn data_name(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("dataset.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| dir.display().to_string())
}

/// The held-out split of `dir`, which a trainer reports on (the VAE's ELBO, the classifier's
/// accuracy) or counts for the card: a missing or damaged file is an error, never "0 held-out
/// images".
pub fn held_out_split(dir: &Path) -> Result<Dataset> {
    Dataset::load(dir, Split::Test).with_context(|| {
        format!(
            "the held-out split (t10k-*) of {}: a trainer reports on it and counts it in the card",
            dir.display()
        )
    })
}

/// The generator for everything random at `step` of a run seeded with `seed`: restarting from
/// a checkpoint at `step` draws exactly what the uninterrupted run drew.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ (step as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// The backend's seed for `step`: a stream apart from [`step_rng`]'s draws.
fn step_seed(seed: u64, step: usize) -> u64 {
    step_rng(seed ^ 0x5EED_0FBA_C4E1_1D00, step).random()
}

/// Each label as a class index, or `null` with probability `p_uncond` (the unconditional rows
/// that classifier-free guidance trains): one draw from `rng` per label.
pub fn dropped_labels(
    rng: &mut impl rand::Rng,
    labels: &[u8],
    p_uncond: f64,
    null: i64,
) -> Vec<i64> {
    labels
        .iter()
        .map(|&l| {
            if rng.random::<f64>() < p_uncond {
                null
            } else {
                l as i64
            }
        })
        .collect()
}

/// `n` standard normal values from `rng`.
pub fn gaussian(rng: &mut impl rand::Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| -> f32 { StandardNormal.sample(rng) })
        .collect()
}

/// Standard normal noise `[n, latent]` from `rng`.
pub fn normal_noise(
    n: usize,
    latent: usize,
    rng: &mut impl rand::Rng,
    device: &Device,
) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(gaussian(rng, n * latent), [n, latent]),
        device,
    )
}

/// Reads `file` of a checkpoint folder.
pub fn read_file(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Loads the record `file` of a checkpoint folder into `module`, naming the file on failure.
pub fn load_module<M: burn::module::Module>(module: M, dir: &Path, file: &str) -> Result<M> {
    let bytes = read_file(dir, file)?;
    digitlab_weights::load_record(module, &bytes)
        .with_context(|| format!("{}", dir.join(file).display()))
}

//! # What the page and its workers say to each other
//!
//! Every message between the page (the views) and the model worker (the device and the
//! models) is one of [`Request`] and [`Reply`], and between the page and the toys' worker (the
//! in-page training) one of [`ToyRequest`] and [`ToyReply`], serialized by `gloo-worker` (bincode). A request
//! that ends in an answer carries a `job` number chosen by the page ([`crate::client`]); every
//! reply about it carries the same number back, and exactly one reply ends it ([`Reply::ends`]).
//! Frames carry only what is drawn: the grey values of the grid shown at that step.

use digitlab_spec::duel::{DuelConfig, Report};
use digitlab_spec::edit::Edit;
use digitlab_spec::sample::SampleRequest;
use digitlab_spec::schedule::{BetaSchedule, NoiseSchedule, ScheduleConfig};
use digitlab_ui::inputs::LangevinParams;
use serde::{Deserialize, Serialize};

/// Which of the worker's models.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The guided DDPM (Generate, the sweep, editing, the bench).
    Teacher,
    /// The distilled few-step student (live mode).
    Student,
    /// The classifier that labels the finished digits.
    Judge,
    /// The score network (NCSN).
    Ncsn,
    /// A VAE or a GAN generator, by the stem of its shipped card (`vae`, `vae-2d`, `dcgan`, ...).
    Latent(String),
    /// A text-conditioned model, by the stem of its shipped card (`text-pixel`, ...).
    Text(String),
}

/// What to do with a VAE or a GAN generator. Images are `[n, 1, 28, 28]` in `[-1, 1]`,
/// latents `[n, latent]`, both flattened.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum LatentOp {
    /// Digits decoded from `count` latents of `seed` (as `digitlab sample --seed` draws them),
    /// labelled by the classifier.
    Prior {
        seed: u64,
        count: usize,
    },
    /// The `count` latents of `seed` themselves.
    Noise {
        seed: u64,
        count: usize,
    },
    Decode {
        z: Vec<f32>,
    },
    /// A VAE's mean encodings.
    Encode {
        images: Vec<f32>,
    },
    /// A VAE's decodings of its mean encodings.
    Reconstruct {
        images: Vec<f32>,
    },
    /// The median ms of one decoder call for `count` latents over `runs`, after a warm-up.
    Time {
        count: usize,
        runs: usize,
    },
}

/// A prompt-to-digits run (the Text view).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TextJob {
    pub model: String,
    pub prompt: String,
    pub negative: String,
    pub guidance: f64,
    pub steps: usize,
    pub count: usize,
    pub seed: u64,
}

/// The last step's cross-attention maps: `(values, count, max_len, side)`, one `side x side`
/// map per digit and token.
pub type Maps = (Vec<f32>, usize, usize, usize);

#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Request {
    /// Start the backend (WebGPU unless `force_cpu`, else the CPU backend), then fetch the
    /// shipped diffusion model and classifier. Sent once, when the page starts; answered by
    /// [`Reply::Backend`], [`Reply::Progress`] while the weights arrive, then [`Reply::Started`].
    Start { job: u64, force_cpu: bool },
    /// Fetch a shipped model (the student, the first time live mode is switched on).
    LoadShipped { job: u64, slot: Slot },
    /// A card and weights the person chose; the worker checks them like the CLI does.
    LoadUser {
        job: u64,
        card: String,
        bytes: Vec<u8>,
        source: String,
        /// The card's file name, for the `digitlab` command that redraws its pictures.
        card_name: String,
    },
    /// A sampling run (an edit of a digit with `edit`), drawn step by step with [`Reply::Frame`],
    /// its digits labelled by the classifier at the end. It ends any run before it.
    Sample {
        job: u64,
        slot: Slot,
        request: SampleRequest,
        edit: Option<Edit>,
        /// Frames show the predicted x₀ instead of x_t.
        show_x0: bool,
    },
    /// Switch the running job's frames between x_t and the predicted x₀.
    ShowX0 { on: bool },
    /// End the running job at its next step (its `Stopped` reply follows).
    Stop,
    /// The bench view: ms per guided UNet call for `count` digits and per DDIM grid of `steps`.
    Bench { job: u64, steps: usize },
    /// The median ms of one guided call of the teacher or the score network for `count` digits.
    TimeUnet {
        job: u64,
        slot: Slot,
        count: usize,
        runs: usize,
    },
    /// Annealed Langevin sampling with the score network, a frame per network call.
    Langevin { job: u64, params: LangevinParams },
    /// A VAE's or a GAN generator's work, answered by [`Reply::Values`] (or `Timed`).
    Latent {
        job: u64,
        model: String,
        op: LatentOp,
    },
    /// The forward process to step `step` of the linear (or cosine) schedule, in closed form and
    /// by `step` one-step updates, for `draws` noisy copies of `x0` (`side x side` in `[-1, 1]`).
    Forward {
        job: u64,
        x0: Vec<f32>,
        side: usize,
        step: usize,
        cosine: bool,
        draws: usize,
    },
    /// How a text model's tokenizer splits `text`.
    Tokenize {
        job: u64,
        model: String,
        text: String,
    },
    /// A prompt-to-digits run, a frame per step.
    Text { job: u64, run: TextJob },
}

/// A loaded model, as the page shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Loaded {
    pub slot: Slot,
    /// The line under the model (`Ddpm::describe`).
    pub info: String,
    /// Its card as JSON (the NCSN view shows the evaluations stored in it).
    pub card: String,
    /// The diffusion model's T (the most steps a run can take).
    pub train_steps: usize,
    /// A distilled student's DDIM step count.
    pub student_steps: Option<usize>,
    /// The card as the CLI's `--model` names it (`public/weights/ddpm-cfg.json`, or a dropped
    /// card's file name): `digitlab_ui::command`.
    pub path: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BenchNumbers {
    pub ms_per_unet_call: f64,
    pub ms_per_grid: f64,
    pub steps: usize,
    pub backend: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Reply {
    /// The backend the worker runs on; `notice` when it changed (a lost WebGPU device).
    Backend {
        label: String,
        gpu: bool,
        notice: Option<String>,
    },
    /// Bytes of a weights file arrived.
    Progress {
        file: String,
        got: usize,
        total: Option<usize>,
    },
    Loaded {
        job: u64,
        model: Loaded,
    },
    NotLoaded {
        job: u64,
        slot: Slot,
        error: String,
    },
    /// The worker finished starting: the models it loaded, and why others did not load.
    Started {
        job: u64,
        loaded: Vec<Loaded>,
        errors: Vec<String>,
    },
    /// One step of a run: the grey values (`[-1, 1]`) of the `count` digits shown, what the
    /// step was (`note`, where a view says more than `step/total`) and anything else drawn
    /// (`extra`: a latent model's `extra_count` channels of its first digit, in `[-1, 1]`).
    Frame {
        job: u64,
        step: usize,
        total: usize,
        values: Vec<f32>,
        side: usize,
        ms_per_step: f64,
        note: String,
        extra: Vec<f32>,
        extra_count: usize,
    },
    /// The final digits, and the classifier's label and confidence for each (or why not).
    Done {
        job: u64,
        values: Vec<f32>,
        side: usize,
        labels: Option<Result<Vec<(usize, f32)>, String>>,
    },
    Stopped {
        job: u64,
    },
    Failed {
        job: u64,
        error: String,
    },
    Bench {
        job: u64,
        numbers: BenchNumbers,
    },
    Timed {
        job: u64,
        ms: f64,
    },
    /// A latent model's answer: digits (with labels when asked for by `Prior`) or latents.
    Values {
        job: u64,
        values: Vec<f32>,
        labels: Option<Result<Vec<(usize, f32)>, String>>,
    },
    /// The forward process's two `x_t`s (`draws x side x side` each).
    Forward {
        job: u64,
        closed: Vec<f32>,
        iterated: Vec<f32>,
    },
    Tokens {
        job: u64,
        tokens: Vec<String>,
    },
    /// The Text view's digits, the last step's attention maps (cross-attention models), and
    /// each digit classified and measured in the captions' words.
    TextDone {
        job: u64,
        values: Vec<f32>,
        maps: Option<Maps>,
        verdicts: Vec<String>,
        summary: String,
    },
}

impl Reply {
    /// A frame of `(step, total)` with nothing drawn besides the digits.
    pub fn frame(
        job: u64,
        (step, total): (usize, usize),
        values: Vec<f32>,
        side: usize,
        ms_per_step: f64,
        note: String,
    ) -> Self {
        Reply::Frame {
            job,
            step,
            total,
            values,
            side,
            ms_per_step,
            note,
            extra: Vec::new(),
            extra_count: 0,
        }
    }

    /// The job this reply is about (`None`: about the worker as a whole).
    pub fn job(&self) -> Option<u64> {
        match self {
            Reply::Backend { .. } | Reply::Progress { .. } => None,
            Reply::Loaded { job, .. }
            | Reply::NotLoaded { job, .. }
            | Reply::Started { job, .. }
            | Reply::Frame { job, .. }
            | Reply::Done { job, .. }
            | Reply::Stopped { job }
            | Reply::Failed { job, .. }
            | Reply::Bench { job, .. }
            | Reply::Timed { job, .. }
            | Reply::Values { job, .. }
            | Reply::Forward { job, .. }
            | Reply::Tokens { job, .. }
            | Reply::TextDone { job, .. } => Some(*job),
        }
    }

    /// Whether this is the last reply about its job (a run sends frames before it ends).
    pub fn ends(&self) -> bool {
        self.job().is_some() && !matches!(self, Reply::Frame { .. })
    }
}

/// A reply that belongs to a job (or to no job) and may end it, or end it in failure: what the
/// page's end of a worker ([`crate::client`]) needs to route replies.
pub trait Routed: Sized + std::fmt::Debug {
    /// The worker, as an error message names it.
    const WORKER: &'static str;
    fn job(&self) -> Option<u64>;
    fn ends(&self) -> bool;
    /// The reply, or the error it carries (a failed job, a model that did not load).
    fn into_result(self) -> Result<Self, String>;
}

impl Routed for Reply {
    const WORKER: &'static str = "the model worker";

    fn job(&self) -> Option<u64> {
        Reply::job(self)
    }

    fn ends(&self) -> bool {
        Reply::ends(self)
    }

    fn into_result(self) -> Result<Self, String> {
        match self {
            Reply::Failed { error, .. } | Reply::NotLoaded { error, .. } => Err(error),
            reply => Ok(reply),
        }
    }
}

/// The Langevin settings of the Score view's particles.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ParticleSetup {
    /// Plain Langevin at the smallest σ instead of annealed.
    pub plain: bool,
    pub sigma_max: f64,
    pub sigma_min: f64,
    pub levels: usize,
    pub steps_per_level: usize,
    pub eps: f64,
    pub count: usize,
    pub seed: u64,
}

/// Requests to the toys' worker: the in-page training of the Divergences duel and of the
/// Score view's 2-D score network (Burn's autodiff on the CPU backend), and the particles that
/// follow a score. Each answers with one [`ToyReply`] (training sends progress first).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum ToyRequest {
    /// A fresh duel of `config`, answered with its critic curve (`ToyReply::Duel`, no reports).
    DuelReset { job: u64, config: DuelConfig },
    /// Duel iterations for about `budget_ms` (at most `max_steps`), stopping at iteration
    /// `limit` or when θ diverges.
    DuelAdvance {
        job: u64,
        limit: usize,
        max_steps: usize,
        budget_ms: f64,
    },
    /// Fresh particles (uniform in the square `[-8, 8]^2`).
    ParticlesReset { job: u64, setup: ParticleSetup },
    /// Particle updates for about `budget_ms` (at most `max_steps`) with the exact score or the
    /// trained network's.
    ParticlesAdvance {
        job: u64,
        exact: bool,
        max_steps: usize,
        budget_ms: f64,
    },
    /// Train a fresh score network for `total` steps, with progress every ~30 ms, until done or
    /// [`ToyRequest::Stop`].
    ScoreTrain {
        job: u64,
        sigma_min: f64,
        sigma_max: f64,
        seed: u64,
        total: usize,
    },
    /// The trained network's score at the points `grid` (flat `[x0, y0, x1, ...]`) and `sigma`.
    LearnedField {
        job: u64,
        grid: Vec<f32>,
        sigma: f64,
    },
    /// End the training in flight.
    Stop,
}

/// Where the particles are, and how far their schedule has come.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ParticleState {
    /// Flat `[x0, y0, x1, y1, ...]`.
    pub xs: Vec<f32>,
    pub done: usize,
    pub total: usize,
    pub levels: usize,
    pub steps_per_level: usize,
    /// The last update's level, step and σ.
    pub at: Option<(usize, usize, f64)>,
    /// The fraction of particles nearest to each mode.
    pub fractions: Vec<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum ToyReply {
    /// The duel's new iterations, its critic (or discriminator) over x as `(x, value)` after
    /// them, and whether it can go on (not at the limit, θ finite).
    Duel {
        job: u64,
        reports: Vec<Report>,
        critic: Vec<(f64, f64)>,
        going: bool,
    },
    Particles {
        job: u64,
        state: ParticleState,
        going: bool,
    },
    /// Training progress (before `Trained`).
    Training {
        job: u64,
        done: usize,
        loss: f64,
    },
    Trained {
        job: u64,
        done: usize,
        loss: f64,
    },
    /// The trained network's score at the asked points (`None`: none trained yet).
    Field {
        job: u64,
        score: Option<Vec<f32>>,
    },
    Failed {
        job: u64,
        error: String,
    },
}

impl Routed for ToyReply {
    const WORKER: &'static str = "the toys' worker";

    fn into_result(self) -> Result<Self, String> {
        match self {
            ToyReply::Failed { error, .. } => Err(error),
            reply => Ok(reply),
        }
    }

    fn job(&self) -> Option<u64> {
        Some(match self {
            ToyReply::Duel { job, .. }
            | ToyReply::Particles { job, .. }
            | ToyReply::Training { job, .. }
            | ToyReply::Trained { job, .. }
            | ToyReply::Field { job, .. }
            | ToyReply::Failed { job, .. } => *job,
        })
    }

    fn ends(&self) -> bool {
        !matches!(self, ToyReply::Training { .. })
    }
}

/// The linear or the cosine schedule (T = 1000) the Forward view plots and the model worker noises with: one definition, so the
/// picture and the plot never disagree.
pub fn forward_schedule(kind: &str) -> NoiseSchedule {
    let betas = if kind == "cosine" {
        BetaSchedule::Cosine { s: 0.008 }
    } else {
        BetaSchedule::default()
    };
    NoiseSchedule::new(ScheduleConfig {
        train_steps: 1000,
        betas,
        ..Default::default()
    })
    .expect("valid built-in schedule")
}

//! # `digitlab train distill`
//!
//! Distils a guided `ddpm-cfg` teacher into a few-step student, in stages that follow one
//! another in one run (one skeleton, one step counter, one resume):
//!
//! 1. **Guidance** (Meng et al. 2023): the student, started from the teacher's weights with a
//!    guidance input that adds nothing yet, learns `(1 + w) eps_c - w eps_u` for `w` uniform in
//!    `[0, w_max]` at every `t`: one pass instead of the guided pair.
//!
//! Students predict the velocity (see `digitlab_diffusion::distill::velocity` for why): every
//! target is the velocity of the `x_0` the teacher's step uses, clipped as the sampler clips it,
//! and the loss its squared error.
//! 2. **Rounds** (Salimans & Ho 2022): each round's student starts from its teacher (the stage
//!    before) and learns to take in one DDIM step what the teacher takes in two; the step counts
//!    go `2N - 1 -> N` down to `--steps` (49, 25, 13, 7, 4 for four rounds to 4).
//!
//! Every stage but the last writes its card and weights into `<run>/stages/` when it ends
//! (`ddpm-guided`, `ddpm-student-25`, ...), the last is the run's `ddpm-student`; each card names
//! the sha256 of its own teacher and of the DDPM the chain started from. A teacher that is a
//! student already continues its chain with rounds alone.
//!
//! The teacher runs on the plain device (no autodiff graph); its weights are part of every
//! checkpoint, so a resumed run continues with the very teacher it had.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use digitlab_diffusion::distill::{
    Round, clipped_x0, ddim_rows, guided_target, noise_from_velocity_rows, progressive_target,
    velocity,
};
use digitlab_diffusion::{ForwardProcess, NoiseSchedule, ScheduleConfig, paired_noise};
use digitlab_models::{ContextUnet, ContextUnetConfig};
use digitlab_weights::{
    Card, Distillation, Kind, ModelSpec, TrainingInfo, load_record, record_bytes, sha256_hex,
};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::data::Batches;
use super::{
    Averaged, Plan, Rate, Shipped, StepReport, Trainer, dropped_labels, gaussian, read_file,
    step_rng,
};
use crate::args::DistillArgs;
use crate::cards::CardFile;

/// Everything that determines the student's weights (saved in checkpoints and cards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillTrainConfig {
    /// The teacher's card and the sha256 of its weights (a resume with other weights behind
    /// the same path is refused as another config).
    pub teacher: String,
    pub teacher_sha256: String,
    /// Students learn `w` in `[0, guidance_max]`.
    pub guidance_max: f64,
    /// The last round's student's DDIM steps, and the number of rounds down to it.
    pub steps: usize,
    pub rounds: usize,
    pub guidance_epochs: usize,
    pub round_epochs: usize,
    pub data: String,
    pub batch_size: usize,
    /// Adam's learning rate, decayed linearly to `lr_final` over each stage (every stage starts
    /// a fresh Adam, as every round of progressive distillation does).
    pub lr: f64,
    pub lr_final: f64,
    pub ema_decay: f64,
    pub p_uncond: f64,
    pub seed: u64,
}

pub fn config(a: &DistillArgs) -> Result<DistillTrainConfig> {
    let teacher = CardFile::read(&a.teacher)?;
    Ok(DistillTrainConfig {
        teacher: a.teacher.display().to_string(),
        teacher_sha256: teacher.card.sha256.clone(),
        guidance_max: a.guidance_max,
        steps: a.steps,
        rounds: a.rounds,
        guidance_epochs: a.guidance_epochs,
        round_epochs: a.round_epochs,
        data: a.common.data.display().to_string(),
        batch_size: a.batch_size,
        lr: a.lr,
        lr_final: a.lr_final,
        ema_decay: a.ema_decay,
        p_uncond: a.p_uncond,
        seed: a.common.seed,
    })
}

/// One stage of the run.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Guidance,
    /// A round, with its student's and its teacher's grids (built once, checked at start).
    Round(Round),
}

impl Stage {
    /// The DDIM steps of the stage's student (`None` after guidance distillation).
    fn steps(&self) -> Option<usize> {
        match self {
            Stage::Guidance => None,
            Stage::Round(r) => Some(r.student.len()),
        }
    }

    fn stem(&self, last: bool) -> String {
        match (self.steps(), last) {
            (_, true) => "ddpm-student".into(),
            (None, false) => "ddpm-guided".into(),
            (Some(n), false) => format!("ddpm-student-{n}"),
        }
    }

    fn name(&self) -> String {
        match self.steps() {
            None => "guidance distillation".into(),
            Some(n) => format!("round to {n} steps"),
        }
    }
}

/// The student and its Adam, the teacher of the current stage, and which stage it is.
pub struct DistillState {
    stage: usize,
    student: Averaged<ContextUnet>,
    teacher: ContextUnet,
    /// The sha256 of the teacher's weights as shipped (the card's, or the previous stage's).
    teacher_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct StageFile {
    stage: usize,
    teacher_sha256: String,
}

pub struct DistillTrainer {
    config: DistillTrainConfig,
    teacher_card: CardFile,
    /// The teacher's architecture and the student's (the same with a guidance input).
    teacher_unet: ContextUnetConfig,
    student_unet: ContextUnetConfig,
    schedule: NoiseSchedule,
    schedule_config: ScheduleConfig,
    stages: Vec<Stage>,
    /// The step at which each stage starts, and one past the end.
    starts: Vec<usize>,
    plan: Plan,
    train_images: usize,
    held_out_images: usize,
    /// The teacher's chain: the DDPM it started from (the teacher itself for a DDPM).
    origin_sha256: String,
}

impl DistillTrainer {
    pub fn new(config: DistillTrainConfig, _device: &Device) -> Result<Self> {
        let teacher_card = CardFile::read(Path::new(&config.teacher))?;
        if teacher_card.kind() != Kind::DdpmCfg {
            bail!(
                "--teacher {}: a `{}` card; distillation needs a guided DDPM (`ddpm-cfg`)",
                config.teacher,
                teacher_card.kind()
            );
        }
        let ModelSpec::DdpmCfg {
            unet,
            schedule,
            distilled,
        } = &teacher_card.card.model
        else {
            bail!("--teacher {}: not a `ddpm-cfg` card", config.teacher);
        };
        if !(config.guidance_max.is_finite()
            && config.guidance_max > 0.0
            && config.guidance_max <= digitlab_diffusion::pipeline::MAX_GUIDANCE)
        {
            bail!(
                "--guidance-max must be in (0, {}], got {}",
                digitlab_diffusion::pipeline::MAX_GUIDANCE,
                config.guidance_max
            );
        }
        if !(0.0..1.0).contains(&config.p_uncond) || !(0.0..1.0).contains(&config.ema_decay) {
            bail!("--p-uncond and --ema-decay must be in [0, 1)");
        }
        if config.steps < 2 {
            bail!(
                "--steps must be at least 2 (a round's student takes one of every two teacher steps), got {}",
                config.steps
            );
        }
        let noise = NoiseSchedule::new(*schedule)?;
        // The stages: guidance first unless the teacher is a student already.
        let mut stages = Vec::new();
        let student_unet = match unet.guidance_max {
            None => {
                stages.push(Stage::Guidance);
                unet.clone()
                    .with_guidance_max(Some(config.guidance_max))
                    .with_v_prediction(Some(true))
            }
            Some(max) => {
                if max != config.guidance_max {
                    bail!(
                        "--teacher {} is a student for w in [0, {max}]: give --guidance-max {max}",
                        config.teacher
                    );
                }
                unet.clone()
            }
        };
        let mut counts: Vec<usize> = Vec::new();
        let mut n = config.steps;
        for _ in 0..config.rounds {
            counts.push(n);
            n = 2 * n - 1;
        }
        counts.reverse();
        for &n in &counts {
            stages.push(Stage::Round(Round::new(&noise, n)?));
        }
        if stages.is_empty() {
            bail!(
                "--teacher {} is a student already and --rounds is 0: nothing to distil",
                config.teacher
            );
        }
        if let (Some(Some(taught)), Some(&first)) =
            (distilled.as_ref().map(|d| d.steps), counts.first())
            && 2 * first - 1 != taught
        {
            bail!(
                "--teacher {} was distilled to {taught} steps, but the first round's teacher would take {}: choose --steps and --rounds so that the rounds go down from {taught}",
                config.teacher,
                2 * first - 1
            );
        }
        let data_dir = PathBuf::from(&config.data);
        let train = super::data::training_split(&data_dir, unet.image_size)?;
        super::data::check_labels(&train, unet.n_classes)?;
        let held_out = super::held_out_split(&data_dir)?;
        let batches = Batches::new(&train, config.batch_size, config.seed)?;
        let per_epoch = batches.per_epoch();
        let mut starts = vec![0];
        for stage in &stages {
            let epochs = match stage {
                Stage::Guidance => config.guidance_epochs,
                Stage::Round(_) => config.round_epochs,
            };
            if epochs == 0 {
                bail!(
                    "the {} needs at least one epoch (--guidance-epochs, --round-epochs)",
                    stage.name()
                );
            }
            starts.push(starts.last().unwrap() + epochs * per_epoch);
        }
        let epochs = config.guidance_epochs * usize::from(stages[0] == Stage::Guidance)
            + config.round_epochs * counts.len();
        let origin_sha256 = distilled.as_ref().map_or_else(
            || teacher_card.card.sha256.clone(),
            |d| d.origin_sha256.clone(),
        );
        Ok(Self {
            plan: Plan {
                kind: Kind::DdpmCfg,
                seed: config.seed,
                epochs,
                batches,
            },
            train_images: train.len(),
            held_out_images: held_out.len(),
            teacher_unet: unet.clone(),
            student_unet,
            schedule: noise,
            schedule_config: *schedule,
            stages,
            starts,
            origin_sha256,
            teacher_card,
            config,
        })
    }

    /// The stage that step `step` belongs to.
    fn stage_of(&self, step: usize) -> usize {
        self.starts[1..]
            .iter()
            .position(|&end| step < end)
            .unwrap_or(self.stages.len() - 1)
    }

    fn rate(&self, stage: usize) -> Rate {
        Rate {
            lr: self.config.lr,
            lr_final: self.config.lr_final,
            total: self.starts[stage + 1] - self.starts[stage],
        }
    }

    /// A fresh student (and Adam) for `stage`, starting from `weights` on the autodiff device.
    fn student(
        &self,
        stage: usize,
        weights: &[u8],
        device: &Device,
    ) -> Result<Averaged<ContextUnet>> {
        let inner = device.clone().inner();
        let model = match &self.stages[stage] {
            Stage::Guidance => load_record(self.teacher_unet.init(device), weights)?
                .into_student(self.config.guidance_max, device),
            Stage::Round(_) => load_record(self.student_unet.init(device), weights)?,
        };
        Averaged::start(
            model,
            || self.student_unet.init(&inner),
            None,
            self.rate(stage),
        )
    }

    /// The network a stage's teacher is (the DDPM's for guidance, a student's for a round).
    fn teacher_config(&self, stage: usize) -> &ContextUnetConfig {
        match (stage, &self.stages[stage]) {
            (_, Stage::Guidance) => &self.teacher_unet,
            (0, Stage::Round(_)) => &self.teacher_unet,
            _ => &self.student_unet,
        }
    }

    /// The card of the student of `stage` as it stands.
    fn card(&self, state: &DistillState, training: TrainingInfo) -> Result<Card> {
        let c = &self.config;
        let steps = self.stages[state.stage].steps();
        Ok(Card::new(
            ModelSpec::DdpmCfg {
                unet: self.student_unet.clone(),
                schedule: self.schedule_config,
                distilled: Some(Distillation {
                    teacher_sha256: state.teacher_sha256.clone(),
                    origin_sha256: self.origin_sha256.clone(),
                    steps,
                }),
            },
            super::data_info(Path::new(&c.data), self.train_images, self.held_out_images),
            TrainingInfo {
                epochs: training.steps as f64 / self.steps_per_epoch().max(1) as f64,
                batch_size: c.batch_size,
                learning_rate: format!(
                    "Adam {} -> {} (linear) per stage; {}",
                    c.lr,
                    c.lr_final,
                    self.stages[..=state.stage]
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", then ")
                ),
                ema_decay: Some(c.ema_decay),
                continued_from: Some(Box::new(self.teacher_card.card.training.clone())),
                ..training
            },
            serde_json::Value::Null,
        ))
    }
}

/// One step's random draws, a function of (seed, step) only.
struct StepDraws {
    /// Guidance: the time step; a round: the student's step index.
    level: Vec<usize>,
    guidance: Vec<f64>,
    labels: Vec<i64>,
    noise: Vec<f32>,
}

fn draws(
    config: &DistillTrainConfig,
    step: usize,
    levels: usize,
    labels: &[u8],
    null: i64,
    pixels: usize,
) -> StepDraws {
    let mut rng = step_rng(config.seed, step);
    let n = labels.len();
    let level = (0..n).map(|_| rng.random_range(0..levels)).collect();
    let guidance = (0..n)
        .map(|_| rng.random::<f64>() * config.guidance_max)
        .collect();
    let labels = dropped_labels(&mut rng, labels, config.p_uncond, null);
    let noise = gaussian(&mut rng, n * pixels);
    StepDraws {
        level,
        guidance,
        labels,
        noise,
    }
}

impl Trainer for DistillTrainer {
    type Config = DistillTrainConfig;
    type State = DistillState;

    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn config(&self) -> &DistillTrainConfig {
        &self.config
    }

    fn total_steps(&self) -> usize {
        *self.starts.last().unwrap()
    }

    fn start(&mut self, from: Option<&Path>, device: &Device) -> Result<DistillState> {
        let inner = device.clone().inner();
        match from {
            None => {
                let bytes = self.teacher_card.weights()?;
                // Checked against its card (sha256, config) before anything is built on it.
                let (teacher, _) = self.teacher_card.load_ddpm(&inner)?;
                Ok(DistillState {
                    stage: 0,
                    student: self.student(0, &bytes, device)?,
                    teacher,
                    teacher_sha256: self.teacher_card.card.sha256.clone(),
                })
            }
            Some(dir) => {
                let file: StageFile = serde_json::from_slice(&read_file(dir, "stage.json")?)
                    .with_context(|| format!("{}", dir.join("stage.json").display()))?;
                if file.stage >= self.stages.len() {
                    bail!(
                        "{}: stage {} of {}",
                        dir.display(),
                        file.stage,
                        self.stages.len()
                    );
                }
                let teacher = super::load_module(
                    self.teacher_config(file.stage).init(&inner),
                    dir,
                    "teacher.bpk",
                )?;
                let model = self.student_unet.init(device);
                Ok(DistillState {
                    stage: file.stage,
                    student: Averaged::start(
                        model,
                        || self.student_unet.init(&inner),
                        Some(dir),
                        self.rate(file.stage),
                    )?,
                    teacher,
                    teacher_sha256: file.teacher_sha256,
                })
            }
        }
    }

    fn step(
        &mut self,
        mut s: DistillState,
        step: usize,
        device: &Device,
    ) -> Result<(DistillState, StepReport)> {
        // 0. a new stage: the last stage's student (its average, as shipped) teaches, and a
        //    copy of it starts learning with a fresh Adam
        let stage = self.stage_of(step);
        if stage != s.stage {
            let bytes = record_bytes(s.student.ema.clone());
            s = DistillState {
                stage,
                student: self.student(stage, &bytes, device)?,
                teacher: s.student.ema,
                teacher_sha256: sha256_hex(&bytes),
            };
        }
        let inner = device.clone().inner();
        // 1. batch and draws
        let batch = self.plan.batches.batch(step);
        let n = batch.len();
        let side = self.plan.batches.side();
        let t_train = self.schedule.train_steps();
        let round = match &self.stages[stage] {
            Stage::Guidance => None,
            Stage::Round(r) => Some(r),
        };
        let levels = round.map_or(t_train, |r| r.student.len());
        let null = self.teacher_unet.n_classes as i64;
        let d = draws(&self.config, step, levels, &batch.labels, null, side * side);
        let x0 = batch.images(side, &inner);
        let noise = Tensor::<4>::from_data(TensorData::new(d.noise, [n, 1, side, side]), &inner);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(d.labels, [n]), &inner);
        let w = Tensor::<1>::from_floats(
            d.guidance
                .iter()
                .map(|&w| w as f32)
                .collect::<Vec<_>>()
                .as_slice(),
            &inner,
        );
        let time = |t: &[usize], dev: &Device| {
            let v: Vec<f32> = t.iter().map(|&t| self.schedule.time_input(t)).collect();
            Tensor::<1>::from_floats(v.as_slice(), dev)
        };
        // 2. the input, its time and the target, from the teacher on the plain device
        let (time_in, x_t, target) = match round {
            None => {
                let t = &d.level;
                let x_t = self.schedule.q_sample(x0, noise, t);
                let time_in = time(t, &inner);
                let (eps_c, eps_u) =
                    paired_noise(&s.teacher, x_t.clone(), time_in.clone(), labels.clone());
                // the velocity of the guided prediction's clipped x_0: predicting it, the
                // student's step is the guided teacher's
                let ab: Vec<f64> = t.iter().map(|&t| self.schedule.alphas_cumprod[t]).collect();
                let guided = guided_target(eps_c, eps_u, &d.guidance);
                let x0 = clipped_x0(x_t.clone(), guided, &ab, self.schedule_config.clip_sample);
                (time_in, x_t.clone(), velocity(x_t, x0, &ab))
            }
            Some(r) => {
                let ab = |grid: &[usize], p: usize| Round::alpha_bar(&self.schedule, grid, p);
                let i = &d.level;
                let t: Vec<usize> = i.iter().map(|&i| r.student[i]).collect();
                let z_t = self.schedule.q_sample(x0, noise, &t);
                let clip = self.schedule_config.clip_sample;
                // the teacher's first step, from its point 2i to 2i + 1
                let first: Vec<f64> = i.iter().map(|&i| ab(&r.teacher, 2 * i)).collect();
                let mid: Vec<f64> = i.iter().map(|&i| ab(&r.teacher, 2 * i + 1)).collect();
                let time_in = time(&t, &inner);
                let v = s.teacher.forward_guided(
                    z_t.clone(),
                    time_in.clone(),
                    labels.clone(),
                    w.clone(),
                );
                let eps = noise_from_velocity_rows(v, z_t.clone(), &first);
                let z_mid = ddim_rows(z_t.clone(), eps, &first, &mid, clip);
                // its second, from 2i + 1 to 2i + 2, for every row but the student's last
                // step (which lands on the clean digit in one teacher step); those rows take
                // a harmless dummy step and keep `z_mid`
                let two: Vec<bool> = i.iter().map(|&i| r.teacher_steps_for(i) == 2).collect();
                let t_mid: Vec<usize> = i
                    .iter()
                    .map(|&i| r.teacher.get(2 * i + 1).copied().unwrap_or(0))
                    .collect();
                let from: Vec<f64> = two
                    .iter()
                    .zip(&mid)
                    .map(|(&k, &a)| if k { a } else { 0.5 })
                    .collect();
                let to: Vec<f64> = i
                    .iter()
                    .zip(&two)
                    .map(|(&i, &k)| if k { ab(&r.teacher, 2 * i + 2) } else { 0.5 })
                    .collect();
                let v = s.teacher.forward_guided(
                    z_mid.clone(),
                    time(&t_mid, &inner),
                    labels.clone(),
                    w.clone(),
                );
                let eps = noise_from_velocity_rows(v, z_mid.clone(), &from);
                let z_two = ddim_rows(z_mid.clone(), eps, &from, &to, clip);
                let one_step = Tensor::<1, Bool>::from_data(
                    TensorData::new(two.iter().map(|k| !k).collect::<Vec<_>>(), [n]),
                    &inner,
                )
                .reshape([n, 1, 1, 1])
                .expand([n, 1, side, side]);
                let z_end = z_two.mask_where(one_step, z_mid);
                // the student's step, from its point i (the teacher's 2i: `first`) to i + 1
                let s_next: Vec<f64> = i.iter().map(|&i| ab(&r.student, i + 1)).collect();
                let x0 = progressive_target(z_t.clone(), z_end, &first, &s_next, clip);
                (time_in, z_t.clone(), velocity(z_t, x0, &first))
            }
        };
        // 3. the student's one pass, and the squared error of its velocity
        let pred = s.student.model.forward_guided(
            Tensor::from_inner(x_t),
            Tensor::from_inner(time_in),
            Tensor::from_inner(labels),
            Tensor::from_inner(w),
        );
        let loss = (pred - Tensor::from_inner(target)).square().mean();
        let value = loss.clone().into_scalar::<f32>() as f64;
        // 4. optimizer step, then the EMA (warmed up from the stage's start)
        let DistillState {
            stage,
            student,
            teacher,
            teacher_sha256,
        } = s;
        let (student, lr) = student.descend(
            loss,
            value,
            self.config.ema_decay,
            step - self.starts[stage],
        );
        let mut report = StepReport::loss(value, n, lr);
        report.terms.push(("stage", stage as f64));
        Ok((
            DistillState {
                stage,
                student,
                teacher,
                teacher_sha256,
            },
            report,
        ))
    }

    fn checkpoint(&self, s: &DistillState) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = s.student.files()?;
        files.push(("teacher.bpk".into(), record_bytes(s.teacher.clone())));
        files.push((
            "stage.json".into(),
            serde_json::to_vec(&StageFile {
                stage: s.stage,
                teacher_sha256: s.teacher_sha256.clone(),
            })?,
        ));
        Ok(files)
    }

    fn milestone(
        &mut self,
        s: &DistillState,
        done: usize,
        training: &dyn Fn() -> TrainingInfo,
    ) -> Result<Option<Shipped>> {
        let last = s.stage + 1 == self.stages.len();
        if last || done != self.starts[s.stage + 1] {
            return Ok(None);
        }
        Ok(Some(Shipped {
            stem: self.stages[s.stage].stem(false),
            weights: record_bytes(s.student.ema.clone()),
            card: self.card(s, training())?,
            summary: Some(format!("{} done", self.stages[s.stage].name())),
        }))
    }

    fn finish(&mut self, s: DistillState, training: TrainingInfo) -> Result<Shipped> {
        let card = self.card(&s, training)?;
        Ok(Shipped {
            stem: self.stages[s.stage].stem(true),
            weights: record_bytes(s.student.ema),
            card,
            summary: None,
        })
    }
}

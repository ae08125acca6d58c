//! # The model worker
//!
//! A dedicated Web Worker (`bin/worker.rs`) that owns the device and the diffusion models: it
//! starts WebGPU (`navigator.gpu` exists in workers) or the CPU backend, fetches and checks the
//! weights, runs the sampling loop and the bench, and moves its models to the CPU when the
//! WebGPU device is lost. CubeCL compiles its kernels here too, so neither a CPU-backend step
//! nor a first WebGPU run blocks the page. It answers [`Request`]s with [`Reply`]s
//! ([`crate::protocol`]); a run checks between steps whether it was stopped or replaced.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, Edit, SampleRequest};
use digitlab_weights::{Card, GanLoss, ModelSpec, Space};
use gloo_worker::{HandlerId, Registrable, Worker, WorkerScope};

use crate::backend;
use crate::lab::{Ddpm, Judge, Lab, LatentModel, Score, TextModel, fetch_shipped, parse_card};
use crate::protocol::{Loaded, Reply, Request, Slot};
use crate::ticks::{next_tick, now_ms};

mod jobs;

/// The worker's entry point.
pub fn register() {
    console_error_panic_hook::set_once();
    ModelWorker::registrar().register();
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) lab: Option<Lab>,
    /// The run that may go on: a new run or Stop changes it, and the run in flight ends before
    /// its next step.
    pub(crate) running: u64,
    show_x0: bool,
}

pub struct ModelWorker {
    state: Rc<RefCell<State>>,
}

pub(crate) type Scope = WorkerScope<ModelWorker>;

impl Worker for ModelWorker {
    type Message = ();
    type Input = Request;
    type Output = Reply;

    fn create(_scope: &Scope) -> Self {
        Self {
            state: Rc::default(),
        }
    }

    fn update(&mut self, _scope: &Scope, _msg: ()) {}

    fn received(&mut self, scope: &Scope, msg: Request, id: HandlerId) {
        // Stop, the x₀ switch and which run may go on take effect as the message arrives; the
        // run in flight sees them at its next step.
        match &msg {
            Request::Stop => {
                self.state.borrow_mut().running = 0;
                return;
            }
            Request::ShowX0 { on } => {
                self.state.borrow_mut().show_x0 = *on;
                return;
            }
            Request::Sample { job, show_x0, .. } => {
                let mut state = self.state.borrow_mut();
                state.running = *job;
                state.show_x0 = *show_x0;
            }
            Request::Langevin { job, .. }
            | Request::Text { job, .. }
            | Request::Forward { job, .. } => self.state.borrow_mut().running = *job,
            _ => {}
        }
        let (scope, state) = (scope.clone(), self.state.clone());
        wasm_bindgen_futures::spawn_local(async move { handle(&scope, id, &state, msg).await });
    }
}

/// The shipped card of a slot, under `weights/`.
fn shipped_card(slot: &Slot) -> String {
    match slot {
        Slot::Teacher => "ddpm-cfg.json".into(),
        Slot::Student => "ddpm-student.json".into(),
        Slot::Judge => "classifier.json".into(),
        Slot::Ncsn => "ncsn.json".into(),
        Slot::Latent(name) | Slot::Text(name) => format!("{name}.json"),
    }
}

async fn handle(scope: &Scope, id: HandlerId, state: &Rc<RefCell<State>>, request: Request) {
    let send = |reply: Reply| scope.respond(id, reply);
    // A job's answer, or its error as the reply that ends it.
    let answer = |job: u64, result: Result<Reply, String>| {
        send(result.unwrap_or_else(|error| Reply::Failed { job, error }))
    };
    match request {
        Request::Start { job, force_cpu } => {
            let (device, kind) = backend::start(force_cpu).await;
            send(Reply::Backend {
                label: kind.label(),
                gpu: kind.is_gpu(),
                notice: None,
            });
            state.borrow_mut().lab = Some(Lab::empty(device, kind));
            // The diffusion model first: the page can sample without the classifier.
            let (mut loaded, mut errors) = (Vec::new(), Vec::new());
            for slot in [Slot::Teacher, Slot::Judge] {
                match load_shipped(&send, state, &slot).await {
                    Ok(model) => loaded.push(model),
                    Err(e) => errors.push(format!("loading the shipped weights: {e}")),
                }
            }
            send(Reply::Started {
                job,
                loaded,
                errors,
            });
        }
        Request::LoadShipped { job, slot } => send(match load_shipped(&send, state, &slot).await {
            Ok(model) => Reply::Loaded { job, model },
            Err(error) => Reply::NotLoaded { job, slot, error },
        }),
        Request::LoadUser {
            job,
            card,
            bytes,
            source,
            card_name,
        } => send(match load_user(state, &card, bytes, &source, card_name) {
            Ok(model) => Reply::Loaded { job, model },
            Err((slot, e)) => Reply::NotLoaded {
                job,
                slot,
                error: format!("{source}: {e}"),
            },
        }),
        Request::Sample {
            job,
            slot,
            request,
            edit,
            ..
        } => answer(
            job,
            sample(scope, id, state, job, slot, &request, edit.as_ref()).await,
        ),
        Request::Bench { job, steps } => {
            let lab = state.borrow().lab.clone();
            let result = match lab {
                Some(lab) => crate::bench::measure(&lab, steps).await,
                None => Err("the models are not loaded yet".into()),
            };
            answer(job, result.map(|numbers| Reply::Bench { job, numbers }))
        }
        Request::TimeUnet {
            job,
            slot,
            count,
            runs,
        } => {
            let lab = state.borrow().lab.clone();
            let unet = lab.as_ref().and_then(|l| {
                let model = match slot {
                    Slot::Ncsn => l.ncsn.as_ref()?.model.clone(),
                    _ => l.ddpm.as_ref()?.model.clone(),
                };
                Some((model, l.device.clone()))
            });
            let result = match unet {
                Some((model, device)) => {
                    crate::bench::unet_call_ms(&model, &device, count, 1.0, runs).await
                }
                None => Err(format!("no {slot:?} model loaded")),
            };
            answer(job, result.map(|ms| Reply::Timed { job, ms }))
        }
        Request::Langevin { job, params } => {
            answer(job, jobs::langevin(scope, id, state, job, &params).await)
        }
        Request::Latent { job, model, op } => {
            answer(job, jobs::latent(state, job, &model, op).await)
        }
        Request::Forward {
            job,
            x0,
            side,
            step,
            cosine,
            draws,
        } => answer(
            job,
            jobs::forward(scope, id, state, job, &x0, side, step, cosine, draws).await,
        ),
        Request::Tokenize { job, model, text } => {
            let lab = state.borrow().lab.clone();
            let tokens = lab
                .as_ref()
                .and_then(|l| l.text(&model))
                .ok_or_else(|| format!("the {model} model is not loaded"))
                .and_then(|m| m.tokenizer.encode(&text));
            answer(
                job,
                tokens.map(|t| Reply::Tokens {
                    job,
                    tokens: t.tokens,
                }),
            )
        }
        Request::Text { job, run } => answer(job, jobs::text(scope, id, state, job, &run).await),
        Request::Stop | Request::ShowX0 { .. } => {}
    }
}

/// Fetches a shipped card and its weights (reporting the bytes as they arrive; a latent text
/// model's autoencoder too) and loads them.
async fn load_shipped(
    send: &impl Fn(Reply),
    state: &Rc<RefCell<State>>,
    slot: &Slot,
) -> Result<Loaded, String> {
    let file = shipped_card(slot);
    let weights = file.trim_end_matches(".json").to_string() + ".bpk";
    let (card, bytes) = fetch_shipped(&file, |got, total| {
        send(Reply::Progress {
            file: weights.clone(),
            got,
            total,
        })
    })
    .await?;
    if *slot == Slot::Student && !is_student(&card) {
        return Err("the shipped card is not a distilled student".into());
    }
    let autoencoder = match &card.model {
        ModelSpec::TextDdpm {
            space: Space::Latent { autoencoder, .. },
            ..
        } => Some(fetch_shipped(autoencoder, |_, _| {}).await?),
        _ => None,
    };
    let path = digitlab_ui::command::card_path(&file, true);
    install(
        state,
        slot,
        card,
        bytes,
        autoencoder,
        "shipped".into(),
        path,
    )
}

fn is_student(card: &Card) -> bool {
    matches!(
        card.model,
        ModelSpec::DdpmCfg {
            distilled: Some(_),
            ..
        }
    )
}

/// A person's card and weights: a diffusion model takes the teacher's place, a distilled
/// student the live mode's, a classifier the judge's, a score network the NCSN view's; a VAE
/// that of the shipped one of its latent size, a GAN that of the loss it was trained with.
fn load_user(
    state: &Rc<RefCell<State>>,
    card: &str,
    bytes: Vec<u8>,
    source: &str,
    card_name: String,
) -> Result<Loaded, (Slot, String)> {
    let card = parse_card(card).map_err(|e| (Slot::Teacher, e))?;
    let latent = |name: &str| Slot::Latent(name.into());
    let slot = match &card.model {
        ModelSpec::DdpmCfg { .. } if is_student(&card) => Slot::Student,
        ModelSpec::DdpmCfg { .. } => Slot::Teacher,
        ModelSpec::Classifier { .. } => Slot::Judge,
        ModelSpec::Ncsn { .. } => Slot::Ncsn,
        ModelSpec::Vae { vae } if vae.latent == 2 => latent("vae-2d"),
        ModelSpec::Vae { .. } => latent("vae"),
        ModelSpec::Gan {
            loss: GanLoss::Dcgan,
            ..
        } => latent("dcgan"),
        ModelSpec::Gan {
            loss: GanLoss::WganGp,
            ..
        } => latent("wgan-gp"),
        ModelSpec::Gan { .. } => latent("wgan-sn"),
        ModelSpec::Autoencoder { .. } | ModelSpec::TextDdpm { .. } => {
            return Err((
                Slot::Teacher,
                format!(
                    "a `{}` model; this page loads `ddpm-cfg`, `ncsn`, `vae`, `gan` and `classifier` models",
                    card.kind()
                ),
            ));
        }
    };
    install(state, &slot, card, bytes, None, source.into(), card_name).map_err(|e| (slot, e))
}

/// Checks and loads a model into its slot on the worker's device (replacing the one there).
fn install(
    state: &Rc<RefCell<State>>,
    slot: &Slot,
    card: Card,
    bytes: Vec<u8>,
    autoencoder: Option<(Card, Vec<u8>)>,
    source: String,
    path: String,
) -> Result<Loaded, String> {
    let mut state = state.borrow_mut();
    let lab = state.lab.as_mut().ok_or("the backend is not ready yet")?;
    let card_json = serde_json::to_string(&card).map_err(|e| e.to_string())?;
    let mut loaded = Loaded {
        slot: slot.clone(),
        info: String::new(),
        card: card_json,
        train_steps: 0,
        student_steps: None,
        path,
    };
    let device = lab.device.clone();
    match slot {
        Slot::Judge => {
            lab.judge = Some(Judge::load(card, bytes, &device)?);
            loaded.info = "classifier".into();
        }
        Slot::Teacher | Slot::Student => {
            let ddpm = Ddpm::load(card, bytes, source, &device)?;
            loaded.info = ddpm.describe();
            loaded.train_steps = ddpm.schedule.train_steps();
            loaded.student_steps = ddpm.student().map(|(steps, _)| steps);
            match slot {
                Slot::Student => lab.student = Some(ddpm),
                _ => lab.ddpm = Some(ddpm),
            }
        }
        Slot::Ncsn => {
            let score = Score::load(card, bytes, source, &device)?;
            loaded.info = score.describe();
            lab.ncsn = Some(score);
        }
        Slot::Latent(name) => {
            let model = LatentModel::load(name, card, bytes, &device)?;
            loaded.info = model.describe();
            lab.latents.retain(|m| m.name != *name);
            lab.latents.push(model);
        }
        Slot::Text(name) => {
            let model = TextModel::load(name, card, bytes, autoencoder, &device)
                .map_err(|e| format!("{name}: {e}"))?;
            loaded.info = model.describe();
            loaded.train_steps = model.schedule.train_steps();
            lab.texts.retain(|m| m.name != *name);
            lab.texts.push(model);
        }
    }
    Ok(loaded)
}

pub(crate) async fn read<const D: usize>(x: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = x.into_data_async().await.map_err(|e| format!("{e:?}"))?;
    data.try_to_vec().map_err(|e| format!("{e:?}"))
}

/// One run, a frame after every step; ends with the digits and their labels, or `Stopped`.
async fn sample(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    slot: Slot,
    request: &SampleRequest,
    edit: Option<&Edit>,
) -> Result<Reply, String> {
    let lab = state
        .borrow()
        .lab
        .clone()
        .ok_or("the models are not loaded yet")?;
    let ddpm = match slot {
        Slot::Student => lab
            .student
            .as_ref()
            .ok_or("no distilled student is loaded (see the line under Live)")?,
        _ => lab.ddpm.as_ref().ok_or("no diffusion model is loaded")?,
    };
    let mut run = match edit {
        Some(edit) => DenoiseRun::edit(
            &ddpm.model,
            ddpm.schedule.clone(),
            request,
            edit,
            &lab.device,
        ),
        None => DenoiseRun::new(&ddpm.model, ddpm.schedule.clone(), request, &lab.device),
    }
    .map_err(|e| e.to_string())?;
    let total = run.trajectory().total_steps();
    let side = ddpm.model.image_shape()[1];
    let goes_on = || state.borrow().running == job;
    let started = now_ms();
    loop {
        if !goes_on() {
            return Ok(Reply::Stopped { job });
        }
        let Some(out) = run.step(&ddpm.model) else {
            break;
        };
        let shown = if state.borrow().show_x0 {
            out.pred_original_sample
        } else {
            out.prev_sample
        };
        let values = read(shown)
            .await
            .map_err(|e| backend_failed(scope, id, state, e))?;
        let step = run.trajectory().completed_steps();
        let ms = (now_ms() - started) / step as f64;
        scope.respond(
            id,
            Reply::frame(job, (step, total), values, side, ms, String::new()),
        );
        next_tick().await;
    }
    let x0 = run.trajectory().sample().clone();
    finish(scope, id, state, job, &lab, x0).await
}

/// The end of a run: its digits (`[n, 1, side, side]` in `[-1, 1]`) read back and labelled by the
/// classifier.
pub(crate) async fn finish(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    lab: &Lab,
    x0: Tensor<4>,
) -> Result<Reply, String> {
    let side = x0.dims()[3];
    let values = read(x0.clone())
        .await
        .map_err(|e| backend_failed(scope, id, state, e))?;
    let labels = match &lab.judge {
        Some(judge) => Some(judge.classify(x0).await),
        None => None,
    };
    Ok(Reply::Done {
        job,
        values,
        side,
        labels,
    })
}

/// A read from the device failed. On WebGPU that means a lost device: move the models to the
/// CPU backend so the next run works, tell the page, and return the run's error.
pub(crate) fn backend_failed(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    error: String,
) -> String {
    let mut state = state.borrow_mut();
    let Some(lab) = state.lab.as_ref() else {
        return error;
    };
    if !lab.backend.is_gpu() {
        return format!("the CPU backend failed: {error}");
    }
    let (device, kind) = backend::cpu(format!("WebGPU failed during sampling ({error})"));
    match lab.moved_to(device, kind.clone()) {
        Ok(moved) => {
            state.lab = Some(moved);
            scope.respond(
                id,
                Reply::Backend {
                    label: kind.label(),
                    gpu: false,
                    notice: Some("The WebGPU device was lost; the page switched to the CPU backend. Press Generate again.".into()),
                },
            );
            format!("WebGPU failed ({error}); switched to the CPU backend")
        }
        Err(e) => format!("WebGPU failed ({error}) and the CPU fallback failed too ({e})"),
    }
}

//! # The toys' worker
//!
//! A dedicated Web Worker (`bin/toys.rs`) for the page's in-browser training: the Divergences
//! view's duel (`digitlab_toys::duel`) and the Score view's 2-D score network and particles
//! (`digitlab_toys::score2d`), all on Burn's CPU backend with autodiff, the same code as
//! `digitlab duel` natively. It works in ~30 ms slices and answers each with what the views
//! draw, so the page's thread never trains; the page spawns it the first time one of those
//! views needs it. It answers [`ToyRequest`]s with [`ToyReply`]s ([`crate::protocol`]).

use std::cell::RefCell;
use std::rc::Rc;

use digitlab_diffusion::langevin::{LangevinKind, LangevinSchedule, geometric_sigmas};
use digitlab_toys::duel::Duel;
use digitlab_toys::score2d::{Mixture, Particles, ScoreSource, ScoreTrainer};
use gloo_worker::{HandlerId, Registrable, Worker, WorkerScope};

use crate::protocol::{ParticleSetup, ParticleState, ToyReply, ToyRequest};
use crate::ticks::{next_tick, now_ms};

/// The worker's entry point.
pub fn register() {
    console_error_panic_hook::set_once();
    ToysWorker::registrar().register();
}

#[derive(Default)]
struct State {
    duel: Option<Duel>,
    trainer: Option<ScoreTrainer>,
    particles: Option<Particles>,
    /// The training that may go on (Stop or a new training changes it).
    training: u64,
}

pub struct ToysWorker {
    state: Rc<RefCell<State>>,
}

type Scope = WorkerScope<ToysWorker>;

impl Worker for ToysWorker {
    type Message = ();
    type Input = ToyRequest;
    type Output = ToyReply;

    fn create(_scope: &Scope) -> Self {
        Self {
            state: Rc::default(),
        }
    }

    fn update(&mut self, _scope: &Scope, _msg: ()) {}

    fn received(&mut self, scope: &Scope, msg: ToyRequest, id: HandlerId) {
        match msg {
            ToyRequest::Stop => self.state.borrow_mut().training = 0,
            ToyRequest::ScoreTrain {
                job,
                sigma_min,
                sigma_max,
                seed,
                total,
            } => {
                self.state.borrow_mut().training = job;
                let (scope, state) = (scope.clone(), self.state.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let reply = train(&scope, id, &state, job, (sigma_min, sigma_max), seed, total)
                        .await
                        .unwrap_or_else(|error| ToyReply::Failed { job, error });
                    scope.respond(id, reply);
                });
            }
            other => {
                let reply = answer(&mut self.state.borrow_mut(), other);
                scope.respond(id, reply);
            }
        }
    }
}

/// The requests answered at once (each a slice of at most ~`budget_ms`).
fn answer(state: &mut State, request: ToyRequest) -> ToyReply {
    match request {
        ToyRequest::DuelReset { job, config } => match Duel::new(config) {
            Ok(duel) => {
                let critic = critic(&duel, duel.theta());
                state.duel = Some(duel);
                ToyReply::Duel {
                    job,
                    reports: Vec::new(),
                    critic,
                    going: true,
                }
            }
            Err(error) => {
                state.duel = None;
                ToyReply::Failed { job, error }
            }
        },
        ToyRequest::DuelAdvance {
            job,
            limit,
            max_steps,
            budget_ms,
        } => {
            let Some(duel) = state.duel.as_mut() else {
                return ToyReply::Failed {
                    job,
                    error: "no duel to run (its settings are invalid)".into(),
                };
            };
            let start = now_ms();
            let mut reports = Vec::new();
            let mut going = true;
            while reports.len() < max_steps && now_ms() - start < budget_ms {
                if duel.iteration() >= limit {
                    going = false;
                    break;
                }
                let report = duel.step();
                reports.push(report);
                if !report.theta.is_finite() {
                    going = false;
                    break;
                }
            }
            going &= duel.iteration() < limit;
            let theta = reports.last().map_or(duel.theta(), |r| r.theta);
            ToyReply::Duel {
                job,
                reports,
                critic: critic(duel, theta),
                going,
            }
        }
        ToyRequest::ParticlesReset { job, setup } => match particles(&setup) {
            Ok(p) => {
                let reply = ToyReply::Particles {
                    job,
                    state: particle_state(&p, None),
                    going: !p.finished(),
                };
                state.particles = Some(p);
                reply
            }
            Err(error) => ToyReply::Failed { job, error },
        },
        ToyRequest::ParticlesAdvance {
            job,
            exact,
            max_steps,
            budget_ms,
        } => {
            let mixture = Mixture::ncsn();
            let State {
                trainer, particles, ..
            } = state;
            let Some(p) = particles.as_mut() else {
                return ToyReply::Failed {
                    job,
                    error: "no particles yet".into(),
                };
            };
            let source = match (exact, trainer.as_ref()) {
                (true, _) => ScoreSource::Exact(&mixture),
                (false, Some(tr)) => ScoreSource::Learned(tr),
                (false, None) => {
                    return ToyReply::Failed {
                        job,
                        error: "train the score network first (or choose the exact score)".into(),
                    };
                }
            };
            let start = now_ms();
            let (mut steps, mut last) = (0, None);
            while steps < max_steps && now_ms() - start < budget_ms {
                match p.step(&source) {
                    Some(at) => last = Some(at),
                    None => break,
                }
                steps += 1;
            }
            ToyReply::Particles {
                job,
                state: particle_state(p, last.map(|at| (at.level, at.step, at.sigma))),
                going: !p.finished(),
            }
        }
        ToyRequest::LearnedField { job, grid, sigma } => ToyReply::Field {
            job,
            score: state.trainer.as_ref().map(|t| t.score(&grid, sigma)),
        },
        ToyRequest::ScoreTrain { job, .. } => ToyReply::Failed {
            job,
            error: "training is answered as it goes".into(),
        },
        ToyRequest::Stop => unreachable!("Stop is handled as it arrives"),
    }
}

/// The critic (or discriminator) over x around θ₀ and θ, finer near both.
fn critic(duel: &Duel, theta: f64) -> Vec<(f64, f64)> {
    let cfg = duel.config();
    let pad = 4.0 * cfg.eps + 0.5;
    let (lo, hi) = (
        cfg.theta0.min(theta).min(cfg.theta_start) - pad,
        cfg.theta0.max(theta).max(cfg.theta_start) + pad,
    );
    let mut xs: Vec<f64> = (0..241)
        .map(|i| lo + (hi - lo) * i as f64 / 240.0)
        .collect();
    for m in [cfg.theta0, theta] {
        if m.is_finite() {
            xs.extend((0..41).map(|i| m + cfg.eps * (i as f64 - 20.0) / 5.0));
        }
    }
    xs.retain(|x| (lo..=hi).contains(x));
    xs.sort_by(f64::total_cmp);
    let values = duel.critic_curve(&xs);
    xs.into_iter().zip(values).collect()
}

fn particles(s: &ParticleSetup) -> Result<Particles, String> {
    let kind = if s.plain {
        LangevinKind::Plain
    } else {
        LangevinKind::Annealed
    };
    let schedule = LangevinSchedule::new(
        kind,
        geometric_sigmas(s.sigma_max, s.sigma_min, s.levels)?,
        s.steps_per_level,
        s.eps,
    )?;
    Particles::new(s.count, 8.0, schedule, s.seed)
}

fn particle_state(p: &Particles, at: Option<(usize, usize, f64)>) -> ParticleState {
    ParticleState {
        xs: p.xs.clone(),
        done: p.done,
        total: p.schedule.len(),
        levels: p.schedule.sigmas.len(),
        steps_per_level: p.schedule.steps_per_level,
        at,
        fractions: p.mode_fractions(&Mixture::ncsn()),
    }
}

/// Trains a fresh score network in ~30 ms slices, reporting after each.
async fn train(
    scope: &Scope,
    id: HandlerId,
    state: &Rc<RefCell<State>>,
    job: u64,
    (sigma_min, sigma_max): (f64, f64),
    seed: u64,
    total: usize,
) -> Result<ToyReply, String> {
    let trainer = ScoreTrainer::new(Mixture::ncsn(), sigma_min, sigma_max, seed)?;
    state.borrow_mut().trainer = Some(trainer);
    let (mut done, mut loss) = (0, f64::NAN);
    while done < total {
        if state.borrow().training != job {
            break;
        }
        let start = now_ms();
        {
            let mut state = state.borrow_mut();
            let Some(tr) = state.trainer.as_mut() else {
                break;
            };
            while done < total && now_ms() - start < 30.0 {
                loss = tr.step();
                done += 1;
            }
        }
        scope.respond(id, ToyReply::Training { job, done, loss });
        next_tick().await;
    }
    Ok(ToyReply::Trained { job, done, loss })
}

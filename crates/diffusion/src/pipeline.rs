//! # Sampling pipeline
//!
//! The one place where the model meets a scheduler (as a diffusers pipeline): at each step,
//! predict the noise with classifier-free guidance, then let the scheduler take the step.
//!
//! ## Classifier-free guidance (Ho & Salimans 2022)
//!
//! ```text
//! eps~ = (1 + w) eps(x_t, c) - w eps(x_t, null) = eps(x_t, null) + (1 + w) (eps(x_t, c) - eps(x_t, null))
//! ```
//!
//! `w = 0` is the plain conditional model; larger `w` pushes samples towards what makes the class
//! most recognisable, at the cost of diversity. In diffusers' convention
//! `eps~ = eps_u + s (eps_c - eps_u)`, so diffusers' `guidance_scale` is `s = 1 + w`.
//! Both predictions come from one forward pass over a doubled batch `[x_t; x_t]` with labels
//! `[c; null]`.
//!
//! [`DenoiseRun`] holds the state of one run and advances it one step at a time: the CLI loops
//! over it, the page awaits between steps so it can redraw and stop. Its network-free half, the
//! [`Trajectory`], also drives the text pipeline's run.

use burn::prelude::*;
use digitlab_models::ContextUnet;

use crate::DiffusionError;
use crate::noise::NoiseSource;
use crate::schedule::NoiseSchedule;
use crate::scheduler::{SamplerKind, Scheduler, StepOutput, make_scheduler};

/// Most samples in one run: a 16x16 grid. Larger batches belong to `digitlab eval`, which
/// splits its work into runs of this size.
pub const MAX_SAMPLES: usize = 256;
/// Largest guidance scale accepted; beyond it digits saturate into blobs.
pub const MAX_GUIDANCE: f64 = 20.0;

/// What to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// One entry per sample: `Some(class)` or `None` for unconditional.
    pub labels: Vec<Option<usize>>,
    /// Guidance scale `w >= 0` (diffusers' `guidance_scale = 1 + w`).
    pub guidance: f64,
    pub sampler: SamplerKind,
    /// Number of reverse steps, `1..=T`.
    pub steps: usize,
    pub seed: u64,
}

impl SampleRequest {
    /// `count` samples of the same class (`None`: unconditional).
    pub fn uniform(
        class: Option<usize>,
        count: usize,
        guidance: f64,
        sampler: SamplerKind,
        steps: usize,
        seed: u64,
    ) -> Self {
        Self {
            labels: vec![class; count],
            guidance,
            sampler,
            steps,
            seed,
        }
    }
}

/// Guided noise prediction for a batch (see the module doc for the formula).
///
/// # Shapes
/// - `x`: `[batch, c, h, w]`, `t`: `[batch]`, `labels`: `[batch]` (null = `model.null_class()`)
pub fn guided_noise(
    model: &ContextUnet,
    x: Tensor<4>,
    t: Tensor<1>,
    labels: Tensor<1, Int>,
    guidance: f64,
) -> Tensor<4> {
    if guidance == 0.0 {
        return model.forward(x, t, labels);
    }
    let nulls = labels.ones_like() * model.null_class() as i64;
    let eps = model.forward(
        Tensor::cat(vec![x.clone(), x], 0),
        Tensor::cat(vec![t.clone(), t], 0),
        Tensor::cat(vec![labels, nulls], 0),
    ); // [2 * batch, c, h, w]
    let mut halves = eps.chunk(2, 0);
    let eps_uncond = halves.pop().expect("two halves");
    let eps_cond = halves.pop().expect("two halves");
    eps_cond * (1.0 + guidance) - eps_uncond * guidance
}

/// Checks what every sampling run must satisfy: between 1 and [`MAX_SAMPLES`] samples and a
/// finite guidance scale in `[0, MAX_GUIDANCE]`. Shared by the class and text pipelines.
pub fn check_run(count: usize, guidance: f64) -> Result<(), DiffusionError> {
    if count == 0 || count > MAX_SAMPLES {
        return Err(DiffusionError::BadCount {
            got: count,
            max: MAX_SAMPLES,
        });
    }
    if !guidance.is_finite() || !(0.0..=MAX_GUIDANCE).contains(&guidance) {
        return Err(DiffusionError::BadGuidance(guidance));
    }
    Ok(())
}

/// Checks the labels and guidance of a sampling request against the model: the labels as the
/// model's class indices (null for unconditional) and the guidance to use (0 for an
/// all-unconditional batch, which needs no second half-batch). Shared by every sampler.
pub fn checked_labels(
    model: &ContextUnet,
    labels: &[Option<usize>],
    guidance: f64,
) -> Result<(Vec<i64>, f64), DiffusionError> {
    let count = labels.len();
    check_run(count, guidance)?;
    let n_classes = model.null_class();
    let mut out = Vec::with_capacity(count);
    for label in labels {
        match *label {
            Some(c) if c >= n_classes => {
                return Err(DiffusionError::BadClass { got: c, n_classes });
            }
            Some(c) => out.push(c as i64),
            None => out.push(n_classes as i64),
        }
    }
    let guidance = if labels.iter().all(Option::is_none) {
        0.0
    } else {
        guidance
    };
    Ok((out, guidance))
}

/// The part of a sampling run that does not depend on the network: the scheduler, the current
/// `x_t`, the seeded host noise streams and the step index. [`DenoiseRun`] and
/// [`crate::TextDenoiseRun`] each pair one with their way of predicting the noise, so both runs
/// draw the same noise and take the same steps.
pub struct Trajectory {
    scheduler: Box<dyn Scheduler>,
    sample: Tensor<4>,
    noise: NoiseSource,
    image: [usize; 3],
    index: usize,
}

impl Trajectory {
    /// Draws `x_T ~ N(0, I)` for `count` samples of shape `image` from the seed's host streams.
    pub fn new(
        sampler: SamplerKind,
        schedule: NoiseSchedule,
        steps: usize,
        seed: u64,
        count: usize,
        image: [usize; 3],
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        let scheduler = make_scheduler(sampler, schedule, steps)?;
        let mut noise = NoiseSource::new(seed, count);
        let sample = noise.tensor(image, device);
        Ok(Self {
            scheduler,
            sample,
            noise,
            image,
            index: 0,
        })
    }

    /// Number of reverse steps in the run.
    pub fn total_steps(&self) -> usize {
        self.scheduler.timesteps().len()
    }

    /// Steps taken so far.
    pub fn completed_steps(&self) -> usize {
        self.index
    }

    pub fn is_done(&self) -> bool {
        self.index >= self.total_steps()
    }

    /// The current `x_t` (the final samples once [`Trajectory::is_done`]).
    pub fn sample(&self) -> &Tensor<4> {
        &self.sample
    }

    /// The time step the next step starts from.
    pub fn next_timestep(&self) -> Option<usize> {
        self.scheduler.timesteps().get(self.index).copied()
    }

    /// The network's time input for the next step, one per sample (`[count]`).
    pub fn next_time_input(&self) -> Option<Tensor<1>> {
        let t = self.next_timestep()?;
        let count = self.sample.dims()[0];
        let time = self.scheduler.schedule().time_input(t);
        Some(Tensor::from_floats(
            vec![time; count].as_slice(),
            &self.sample.device(),
        ))
    }

    /// Takes the scheduler's step with the predicted noise `eps`, drawing fresh noise from the
    /// seeded host streams when the scheduler is stochastic.
    pub fn advance(&mut self, eps: Tensor<4>) -> StepOutput {
        let noise = self
            .scheduler
            .needs_noise(self.index)
            .then(|| self.noise.tensor(self.image, &self.sample.device()));
        let out = self
            .scheduler
            .step(eps, self.index, self.sample.clone(), noise);
        self.sample = out.prev_sample.clone();
        self.index += 1;
        out
    }
}

/// The state of one class-conditional sampling run.
pub struct DenoiseRun {
    trajectory: Trajectory,
    labels: Tensor<1, Int>,
    guidance: f64,
}

impl DenoiseRun {
    /// Checks `request` against the model and schedule and draws `x_T ~ N(0, I)`.
    pub fn new(
        model: &ContextUnet,
        schedule: NoiseSchedule,
        request: &SampleRequest,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        let (labels, guidance) = checked_labels(model, &request.labels, request.guidance)?;
        let count = labels.len();
        let trajectory = Trajectory::new(
            request.sampler,
            schedule,
            request.steps,
            request.seed,
            count,
            model.image_shape(),
            device,
        )?;
        Ok(Self {
            trajectory,
            labels: Tensor::from_data(TensorData::new(labels, [count]), device),
            guidance,
        })
    }

    /// Step count, current `x_t` and the rest of the run's progress.
    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// Takes one reverse step; `None` once the run is done.
    pub fn step(&mut self, model: &ContextUnet) -> Option<StepOutput> {
        let time = self.trajectory.next_time_input()?;
        let eps = guided_noise(
            model,
            self.trajectory.sample().clone(),
            time,
            self.labels.clone(),
            self.guidance,
        );
        Some(self.trajectory.advance(eps))
    }

    /// Runs to the end, calling `on_step(step_number, output)` after each step.
    pub fn run(
        &mut self,
        model: &ContextUnet,
        mut on_step: impl FnMut(usize, &StepOutput),
    ) -> Tensor<4> {
        while let Some(out) = self.step(model) {
            on_step(self.trajectory.completed_steps(), &out);
        }
        self.trajectory.sample().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;
    use digitlab_models::ContextUnetConfig;

    fn setup() -> (ContextUnet, NoiseSchedule, Device) {
        let device = Device::flex();
        device.seed(1);
        let model = ContextUnetConfig::new().with_n_feat(8).init(&device);
        (
            model,
            NoiseSchedule::new(ScheduleConfig::default()).unwrap(),
            device,
        )
    }

    #[test]
    fn guidance_mixes_the_two_predictions() {
        let (model, _, device) = setup();
        let x = NoiseSource::new(3, 2).tensor([1, 28, 28], &device);
        let t = Tensor::<1>::from_floats([0.3, 0.3], &device);
        let labels = Tensor::<1, Int>::from_ints([2, 5], &device);
        let cond = model.forward(x.clone(), t.clone(), labels.clone());
        let uncond = model.forward(x.clone(), t.clone(), Tensor::from_ints([10, 10], &device));
        let w = 2.5;
        let expected = cond.clone() * (1.0 + w) - uncond * w;
        let got = guided_noise(&model, x.clone(), t.clone(), labels.clone(), w);
        let err: f32 = (got - expected).abs().max().into_scalar();
        assert!(err < 1e-4, "{err}");
        let plain: f32 = (guided_noise(&model, x, t, labels, 0.0) - cond)
            .abs()
            .max()
            .into_scalar();
        assert_eq!(plain, 0.0);
    }

    #[test]
    fn runs_are_reproducible_and_refuse_bad_requests() {
        let (model, schedule, device) = setup();
        let request = SampleRequest::uniform(Some(3), 2, 2.0, SamplerKind::Ddpm, 4, 11);
        let run = |r: &SampleRequest| {
            let mut run = DenoiseRun::new(&model, schedule.clone(), r, &device).unwrap();
            let mut seen = 0;
            let out = run.run(&model, |k, _| seen = k);
            assert_eq!(seen, r.steps);
            assert!(run.trajectory().is_done());
            out.into_data().try_to_vec::<f32>().unwrap()
        };
        assert_eq!(run(&request), run(&request));
        let other_seed = SampleRequest {
            seed: 12,
            ..request.clone()
        };
        assert_ne!(run(&request), run(&other_seed));

        let bad = |r: SampleRequest| {
            DenoiseRun::new(&model, schedule.clone(), &r, &device)
                .err()
                .unwrap()
        };
        assert_eq!(
            bad(SampleRequest {
                guidance: -1.0,
                ..request.clone()
            }),
            DiffusionError::BadGuidance(-1.0)
        );
        assert!(matches!(
            bad(SampleRequest {
                guidance: f64::NAN,
                ..request.clone()
            }),
            DiffusionError::BadGuidance(_)
        ));
        assert_eq!(
            bad(SampleRequest {
                labels: vec![Some(10)],
                ..request.clone()
            }),
            DiffusionError::BadClass {
                got: 10,
                n_classes: 10
            }
        );
        assert_eq!(
            bad(SampleRequest {
                labels: vec![],
                ..request.clone()
            }),
            DiffusionError::BadCount {
                got: 0,
                max: MAX_SAMPLES
            }
        );
        assert_eq!(
            bad(SampleRequest {
                steps: 0,
                ..request
            }),
            DiffusionError::BadStepCount { got: 0, max: 1000 }
        );
    }
}

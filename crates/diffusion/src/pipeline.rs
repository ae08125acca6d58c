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
use crate::edit::Edit;
use crate::noise::NoiseSource;
use crate::schedule::NoiseSchedule;
use crate::scheduler::{SamplerKind, Scheduler, StepOutput, make_scheduler};

pub use digitlab_spec::sample::{MAX_GUIDANCE, MAX_SAMPLES, SampleRequest};

/// Guided noise prediction for a batch (see the module doc for the formula). A distilled
/// student (a network with a guidance input) predicts it in one pass from `w` itself, as a
/// velocity: [`DenoiseRun::step`] turns that into the noise the schedulers take.
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
    if model.guidance_input().is_some() {
        let [batch, _, _, _] = x.dims();
        let w = Tensor::<1>::full([batch], guidance, &x.device());
        return model.forward_guided(x, t, labels, w);
    }
    if guidance == 0.0 {
        return model.forward(x, t, labels);
    }
    let (eps_cond, eps_uncond) = paired_noise(model, x, t, labels);
    eps_cond * (1.0 + guidance) - eps_uncond * guidance
}

/// The conditional and the unconditional noise predictions, `(eps(x_t, c), eps(x_t, null))`,
/// from one forward pass over the doubled batch `[x_t; x_t]` with labels `[c; null]`: what
/// guidance mixes, here and in guidance distillation's target.
pub fn paired_noise(
    model: &ContextUnet,
    x: Tensor<4>,
    t: Tensor<1>,
    labels: Tensor<1, Int>,
) -> (Tensor<4>, Tensor<4>) {
    let nulls = labels.ones_like() * model.null_class() as i64;
    let eps = model.forward(
        Tensor::cat(vec![x.clone(), x], 0),
        Tensor::cat(vec![t.clone(), t], 0),
        Tensor::cat(vec![labels, nulls], 0),
    ); // [2 * batch, c, h, w]
    let mut halves = eps.chunk(2, 0);
    let eps_uncond = halves.pop().expect("two halves");
    let eps_cond = halves.pop().expect("two halves");
    (eps_cond, eps_uncond)
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
    if let Some(max) = model.guidance_input()
        && guidance > max
    {
        return Err(DiffusionError::GuidanceBeyondStudent { got: guidance, max });
    }
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
    /// Where the run is in the scheduler's timesteps: the next step starts from
    /// `timesteps()[index]` (an edit starts later; resampling moves it back).
    index: usize,
    /// Reverse steps taken so far, and in all (more than the timesteps when resampling).
    taken: usize,
    total: usize,
    edit: Option<EditState>,
}

/// An edit's constraint on a running trajectory (see [`crate::edit`]).
struct EditState {
    /// The input, `[count, c, h, w]`.
    input: Tensor<4>,
    /// `true` where the input is kept (`[count, c, h, w]`); `None` for SDEdit alone.
    keep: Option<Tensor<4, Bool>>,
    first: usize,
    jump: usize,
    /// Jumps left at each step index (RePaint's resampling).
    jumps_left: Vec<usize>,
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
        let total = scheduler.timesteps().len();
        Ok(Self {
            scheduler,
            sample,
            noise,
            image,
            index: 0,
            taken: 0,
            total,
            edit: None,
        })
    }

    /// Turns a fresh run into an edit of `edit.input` (SDEdit and/or inpainting, see
    /// [`crate::edit`]): the start moves to the edit's first step, with the input noised to that
    /// level by the noise the plain run would have started from (so strength 1 without a mask
    /// is plain sampling, draw for draw).
    pub fn start_edit(&mut self, edit: &Edit) -> Result<(), DiffusionError> {
        let steps = self.scheduler.timesteps().len();
        let count = self.sample.dims()[0];
        edit.check(self.image, steps, count)?;
        if self.taken > 0 {
            return Err(DiffusionError::BadEdit(
                "an edit must start before the first step".into(),
            ));
        }
        let device = self.sample.device();
        let [c, h, w] = self.image;
        // One digit (or mask) for every sample, or one each: `check` allowed only these two.
        let n = edit.input.len() / (c * h * w);
        let input =
            Tensor::<4>::from_data(TensorData::new(edit.input.clone(), [n, c, h, w]), &device)
                .repeat_dim(0, count / n);
        let keep = edit.fill.as_ref().map(|fill| {
            let n = fill.len() / (h * w);
            let keep: Vec<bool> = fill.iter().map(|f| !f).collect();
            Tensor::<4, Bool>::from_data(TensorData::new(keep, [n, 1, h, w]), &device)
                .repeat_dim(0, count / n)
                .repeat_dim(1, c)
        });
        let first = edit.first_step(steps);
        let noise = self.sample.clone();
        self.sample = if first == 0 && keep.is_none() {
            noise // strength 1: plain sampling's x_T
        } else {
            let noised = self.noised(input.clone(), first, noise.clone());
            match &keep {
                // x_T for inpainting: the kept pixels noised, the rest the plain run's noise
                Some(keep) if first == 0 => noise.mask_where(keep.clone(), noised),
                _ => noised,
            }
        };
        let mut jumps_left = vec![0; steps + 1];
        for p in edit.jump_points(first, steps) {
            jumps_left[p] = edit.resample.count - 1;
        }
        self.index = first;
        self.total = edit.total_steps(steps);
        self.edit = Some(EditState {
            input,
            keep,
            first,
            jump: edit.resample.jump,
            jumps_left,
        });
        Ok(())
    }

    /// `alpha_bar` at step index `p`: the level `x` is at before the step `p` (1 after the
    /// last step, where the run lands on a clean digit).
    fn alpha_bar_at(&self, p: usize) -> f64 {
        self.scheduler
            .timesteps()
            .get(p)
            .map_or(1.0, |&t| self.scheduler.schedule().alphas_cumprod[t])
    }

    /// The forward process `q(x_p | x_0)` with the given noise: `x_0` itself at the clean end.
    fn noised(&self, x0: Tensor<4>, p: usize, noise: Tensor<4>) -> Tensor<4> {
        let alpha_bar = self.alpha_bar_at(p);
        if alpha_bar >= 1.0 {
            return x0;
        }
        x0 * alpha_bar.sqrt() + noise * (1.0 - alpha_bar).sqrt()
    }

    /// Number of reverse steps in the run (with an edit: the steps it keeps plus the resampled
    /// ones).
    pub fn total_steps(&self) -> usize {
        self.total
    }

    /// Steps taken so far.
    pub fn completed_steps(&self) -> usize {
        self.taken
    }

    pub fn is_done(&self) -> bool {
        self.index >= self.scheduler.timesteps().len()
    }

    /// The current `x_t` (the final samples once [`Trajectory::is_done`]).
    pub fn sample(&self) -> &Tensor<4> {
        &self.sample
    }

    /// The time step the next step starts from.
    pub fn next_timestep(&self) -> Option<usize> {
        self.scheduler.timesteps().get(self.index).copied()
    }

    /// `alpha_bar` at the time step the next step starts from.
    pub fn next_alpha_bar(&self) -> Option<f64> {
        self.next_timestep()
            .map(|t| self.scheduler.schedule().alphas_cumprod[t])
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
    /// seeded host streams when the scheduler is stochastic; then, for an edit, puts the known
    /// pixels back at the new level and, at a resampling point, jumps back up. The output's
    /// `prev_sample` is where the run now is.
    pub fn advance(&mut self, eps: Tensor<4>) -> StepOutput {
        let device = self.sample.device();
        let noise = self
            .scheduler
            .needs_noise(self.index)
            .then(|| self.noise.tensor(self.image, &device));
        let mut out = self
            .scheduler
            .step(eps, self.index, self.sample.clone(), noise);
        self.index += 1;
        self.taken += 1;
        if let Some(edit) = self.edit.take() {
            let p = self.index;
            let mut x = out.prev_sample;
            if let Some(keep) = &edit.keep {
                // RePaint: the kept pixels from the forward process at the new level (fresh
                // noise), the input itself after the last step: exact, by selection.
                let known = if self.alpha_bar_at(p) >= 1.0 {
                    edit.input.clone()
                } else {
                    let noise = self.noise.tensor(self.image, &device);
                    self.noised(edit.input.clone(), p, noise)
                };
                x = x.mask_where(keep.clone(), known);
            }
            let mut edit = edit;
            if edit.jumps_left[p] > 0 {
                // Back up `jump` levels in one forward draw, q(x_s | x_t) =
                // N(sqrt(ab_s / ab_t) x_t, (1 - ab_s / ab_t) I), and denoise them again.
                edit.jumps_left[p] -= 1;
                let back = p - edit.jump.min(p - edit.first);
                let ratio = self.alpha_bar_at(back) / self.alpha_bar_at(p);
                let noise = self.noise.tensor(self.image, &device);
                x = x * ratio.sqrt() + noise * (1.0 - ratio).sqrt();
                self.index = back;
            }
            out.prev_sample = x;
            self.edit = Some(edit);
        }
        self.sample = out.prev_sample.clone();
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

    /// A run that edits a digit (SDEdit, inpainting: [`crate::edit`]) instead of starting from
    /// pure noise; everything else as [`DenoiseRun::new`].
    pub fn edit(
        model: &ContextUnet,
        schedule: NoiseSchedule,
        request: &SampleRequest,
        edit: &Edit,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        let mut run = Self::new(model, schedule, request, device)?;
        run.trajectory.start_edit(edit)?;
        Ok(run)
    }

    /// Step count, current `x_t` and the rest of the run's progress.
    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// Takes one reverse step; `None` once the run is done.
    pub fn step(&mut self, model: &ContextUnet) -> Option<StepOutput> {
        let time = self.trajectory.next_time_input()?;
        let x = self.trajectory.sample().clone();
        let out = guided_noise(model, x.clone(), time, self.labels.clone(), self.guidance);
        let eps = match self.trajectory.next_alpha_bar() {
            Some(ab) if model.predicts_velocity() => {
                crate::distill::noise_from_velocity(out, x, ab)
            }
            _ => out,
        };
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
    use crate::edit::Resample;
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

    /// An input digit for the edit tests: a bar, in model space.
    fn bar() -> Vec<f32> {
        (0..28 * 28)
            .map(|i| {
                if (10..18).contains(&(i % 28)) {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect()
    }

    fn values(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn strength_0_returns_the_input_and_strength_1_is_plain_sampling() {
        let (model, schedule, device) = setup();
        for sampler in [
            SamplerKind::Ddpm,
            SamplerKind::Ddim { eta: 0.0 },
            SamplerKind::DpmSolverPp,
        ] {
            let request = SampleRequest::uniform(Some(4), 2, 2.0, sampler, 5, 21);
            let edit = |strength| {
                let mut run = DenoiseRun::edit(
                    &model,
                    schedule.clone(),
                    &request,
                    &Edit::sdedit(bar(), strength),
                    &device,
                )
                .unwrap();
                let mut steps = 0;
                let out = run.run(&model, |_, _| steps += 1);
                assert_eq!(steps, run.trajectory().total_steps());
                (values(out), steps)
            };
            let (same, steps) = edit(0.0);
            assert_eq!(steps, 0);
            assert_eq!(same, [bar(), bar()].concat(), "{sampler:?}");
            let mut plain = DenoiseRun::new(&model, schedule.clone(), &request, &device).unwrap();
            let plain = values(plain.run(&model, |_, _| {}));
            let (full, steps) = edit(1.0);
            assert_eq!(steps, 5);
            assert_eq!(full, plain, "{sampler:?}");
            // In between, floor(0.6 x 5) = 3 steps from the noised input: reproducible, and
            // neither the input nor the plain sample.
            let (half, steps) = edit(0.6);
            assert_eq!(steps, 3);
            assert_eq!(half, edit(0.6).0);
            assert_ne!(half, plain);
            assert_ne!(half, same);
        }
    }

    #[test]
    fn inpainting_keeps_every_unmasked_pixel_and_resamples() {
        let (model, schedule, device) = setup();
        // The model fills the lower half; the upper half is kept.
        let fill: Vec<bool> = (0..28 * 28).map(|i| i / 28 >= 14).collect();
        for sampler in [SamplerKind::Ddpm, SamplerKind::DpmSolverPp] {
            let request = SampleRequest::uniform(Some(1), 2, 1.0, sampler, 6, 5);
            let edit = Edit::inpaint(bar(), fill.clone(), Resample { jump: 2, count: 3 });
            let mut run =
                DenoiseRun::edit(&model, schedule.clone(), &request, &edit, &device).unwrap();
            // 6 steps, jumps back 2 at steps 2 and 4, twice each: 6 + 2 x 2 x 2.
            assert_eq!(run.trajectory().total_steps(), 14);
            let mut seen = Vec::new();
            let out = values(run.run(&model, |k, _| seen.push(k)));
            assert_eq!(seen, (1..=14).collect::<Vec<_>>());
            assert!(run.trajectory().is_done());
            let input = bar();
            for (i, v) in out.iter().enumerate() {
                let pixel = i % (28 * 28);
                if !fill[pixel] {
                    assert_eq!(*v, input[pixel], "kept pixel {pixel} changed ({sampler:?})");
                }
            }
            let filled_changed = out
                .iter()
                .enumerate()
                .filter(|(i, v)| fill[i % (28 * 28)] && **v != input[i % (28 * 28)])
                .count();
            assert!(filled_changed > 28 * 14, "{filled_changed}");
            let mut again =
                DenoiseRun::edit(&model, schedule.clone(), &request, &edit, &device).unwrap();
            assert_eq!(values(again.run(&model, |_, _| {})), out);
        }
    }

    /// One digit and one mask per sample: each sample keeps its own input's pixels.
    #[test]
    fn a_batch_edits_one_digit_per_sample() {
        let (model, schedule, device) = setup();
        let other: Vec<f32> = bar().iter().map(|v| -v).collect();
        let input = [bar(), other.clone()].concat();
        let fill: Vec<bool> = (0..2 * 28 * 28)
            .map(|i| (i / 28) % 28 >= 14 + i / 784)
            .collect();
        let request = SampleRequest::uniform(Some(1), 2, 1.0, SamplerKind::Ddim { eta: 0.0 }, 4, 5);
        let edit = Edit::inpaint(input.clone(), fill.clone(), Resample::NONE);
        let mut run = DenoiseRun::edit(&model, schedule, &request, &edit, &device).unwrap();
        let out = values(run.run(&model, |_, _| {}));
        for i in 0..out.len() {
            if !fill[i] {
                assert_eq!(out[i], input[i], "pixel {i}");
            }
        }
    }

    #[test]
    fn edits_are_checked_against_the_model() {
        let (model, schedule, device) = setup();
        let request = SampleRequest::uniform(Some(1), 1, 1.0, SamplerKind::Ddpm, 4, 5);
        let refused = |edit: Edit| {
            DenoiseRun::edit(&model, schedule.clone(), &request, &edit, &device)
                .err()
                .unwrap()
        };
        assert!(matches!(
            refused(Edit::sdedit(vec![0.0; 27 * 27], 0.5)),
            DiffusionError::BadEdit(_)
        ));
        assert!(matches!(
            refused(Edit::inpaint(bar(), vec![true; 10], Resample::NONE)),
            DiffusionError::BadEdit(_)
        ));
        assert!(matches!(
            refused(Edit::inpaint(
                bar(),
                vec![true; 784],
                Resample { jump: 5, count: 2 }
            )),
            DiffusionError::BadEdit(_)
        ));
    }
}

//! # Distillation targets
//!
//! The network-free half of distilling a guided DDPM into a few-step student; the trainer
//! (`digitlab train distill`) runs the networks and the optimiser.
//!
//! - **Guidance distillation** (Meng et al., "On Distillation of Guided Diffusion Models",
//!   CVPR 2023): the student `eps_s(x_t, t, c, w)` learns the teacher's guided prediction
//!   `(1 + w) eps(x_t, c) - w eps(x_t, null)` ([`guided_target`]), so one pass replaces the
//!   guided pair.
//! - **Progressive distillation** (Salimans & Ho, ICLR 2022): one step of the student on a grid
//!   of `N` DDIM steps learns to land where two steps of its teacher on the grid of `2N - 1`
//!   steps land ([`Round`], [`ddim_rows`], [`progressive_target`]).
//! - The student predicts the velocity `v` ([`velocity`], [`noise_from_velocity`]), as in
//!   Salimans & Ho: see [`velocity`] for what the noise did instead. `2N - 1`, not `2N`,
//!   because the samplers' grids ([`crate::linspace_timesteps`]) include both ends: the grid of
//!   `N` steps is every other point of the grid of `2N - 1` (4 <- 7 <- 13 <- 25 <- 49), so
//!   the student is trained on exactly the timesteps `DdimScheduler` visits when it samples.
//!
//! Every row of a batch has its own step (and its own `w`), so the DDIM step here takes one
//! `alpha_bar` per row; with equal rows it is `DdimScheduler::step` at `eta = 0` (tested).

use burn::prelude::*;

use crate::DiffusionError;
use crate::schedule::NoiseSchedule;
use crate::scheduler::linspace_timesteps;

/// `values` as a `[n, 1, 1, 1]` tensor, to scale each row of a `[n, c, h, w]` batch.
fn per_row(values: &[f64], device: &Device) -> Tensor<4> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape([values.len(), 1, 1, 1])
}

/// `(sqrt(ab), sqrt(1 - ab))` per row: how much of `x_0` and of the noise `z_t` holds at
/// `alpha_bar` `ab`.
fn signal_and_noise(ab: &[f64], device: &Device) -> (Tensor<4>, Tensor<4>) {
    let a: Vec<f64> = ab.iter().map(|a| a.sqrt()).collect();
    let s: Vec<f64> = ab.iter().map(|a| (1.0 - a).sqrt()).collect();
    (per_row(&a, device), per_row(&s, device))
}

/// `x` clipped to `[-c, c]` when the schedule clips (`Some(c)`).
fn clipped(x: Tensor<4>, clip: Option<f64>) -> Tensor<4> {
    match clip {
        Some(c) => x.clamp(-c, c),
        None => x,
    }
}

/// The teacher's guided prediction with one scale per row: `(1 + w) eps_c - w eps_u`.
pub fn guided_target(eps_cond: Tensor<4>, eps_uncond: Tensor<4>, w: &[f64]) -> Tensor<4> {
    let w = per_row(w, &eps_cond.device());
    eps_cond * (w.clone() + 1.0) - eps_uncond * w
}

/// One deterministic DDIM step per row (eq. 12 with `eta = 0`), from `alpha_bar` `ab_t[i]` to
/// `ab_next[i]` (1 lands on the clean digit), with `x_0` clipped to `[-c, c]` and the noise
/// recomputed from the clipped `x_0`, exactly as `DdimScheduler::step` does.
pub fn ddim_rows(
    sample: Tensor<4>,
    eps: Tensor<4>,
    ab_t: &[f64],
    ab_next: &[f64],
    clip: Option<f64>,
) -> Tensor<4> {
    let device = sample.device();
    let (a_t, s_t) = signal_and_noise(ab_t, &device);
    let (a_n, s_n) = signal_and_noise(ab_next, &device);
    let x0 = clipped_x0(sample.clone(), eps, ab_t, clip);
    let eps = (sample - x0.clone() * a_t) / s_t;
    x0 * a_n + eps * s_n
}

/// The `x_0` the student must predict at `z_t` (`alpha_bar` `ab_t` per row) so that its one
/// DDIM step to `ab_next` lands on `z_target`, the teacher's two steps (Salimans & Ho,
/// Algorithm 2): `x~ = (z_target - r z_t) / (sqrt(ab_next) - r sqrt(ab_t))` with
/// `r = sqrt(1 - ab_next) / sqrt(1 - ab_t)`, clipped like the sampler clips `x_0` (the step
/// depends on the clipped `x_0` alone, so the clipped target is the nearest one the student's
/// step can reach).
pub fn progressive_target(
    z_t: Tensor<4>,
    z_target: Tensor<4>,
    ab_t: &[f64],
    ab_next: &[f64],
    clip: Option<f64>,
) -> Tensor<4> {
    let device = z_t.device();
    let (r, scale): (Vec<f64>, Vec<f64>) = ab_t
        .iter()
        .zip(ab_next)
        .map(|(&t, &n)| {
            let r = ((1.0 - n) / (1.0 - t)).sqrt();
            (r, n.sqrt() - r * t.sqrt())
        })
        .unzip();
    clipped(
        (z_target - z_t * per_row(&r, &device)) / per_row(&scale, &device),
        clip,
    )
}

/// The `x_0` a guided noise prediction `eps` implies at `z_t`, clipped as the samplers clip it
/// (their step depends on this `x_0` alone).
pub fn clipped_x0(z_t: Tensor<4>, eps: Tensor<4>, ab_t: &[f64], clip: Option<f64>) -> Tensor<4> {
    let (a, s) = signal_and_noise(ab_t, &z_t.device());
    clipped((z_t - eps * s) / a, clip)
}

/// The velocity `v = sqrt(ab) eps - sqrt(1 - ab) x_0` of `z_t` for the clean digit `x0`,
/// with the noise the pair implies: `v = (sqrt(ab) z_t - x_0) / sqrt(1 - ab)`. The student's
/// target: predicting it exactly, the student's step uses this `x_0` (and its noise).
///
/// Why the student predicts `v` and not the noise its teacher predicts: measured on a tiny
/// teacher, the noise's own loss (against the target's noise) asked a student that still was
/// its teacher to change its noise by 0.5 per pixel at `t = 999`, where the teacher's raw
/// noise implies an `x_0` far outside the pixel range that only the clip brings back, and its
/// step then landed 100 times farther from the target than the teacher's own; weighing the
/// noise's error by how far it moves the landing point made the loss so sharp that every Adam
/// step, at any learning rate from 2e-5 to 1e-3, raised it. In `v` an error reaches `x_0`
/// multiplied by `sqrt(1 - ab)`, at most 1 (Salimans & Ho, section 4).
pub fn velocity(z_t: Tensor<4>, x0: Tensor<4>, ab_t: &[f64]) -> Tensor<4> {
    let (a, s) = signal_and_noise(ab_t, &z_t.device());
    (z_t * a - x0) / s
}

/// The noise a velocity prediction `v` implies at `z_t` (one `alpha_bar` for the batch, as a
/// sampler's step has): `eps = sqrt(ab) v + sqrt(1 - ab) z_t`.
pub fn noise_from_velocity(v: Tensor<4>, z_t: Tensor<4>, ab: f64) -> Tensor<4> {
    v * ab.sqrt() + z_t * (1.0 - ab).sqrt()
}

/// [`noise_from_velocity`] with one `alpha_bar` per row.
pub fn noise_from_velocity_rows(v: Tensor<4>, z_t: Tensor<4>, ab_t: &[f64]) -> Tensor<4> {
    let (a, s) = signal_and_noise(ab_t, &z_t.device());
    v * a + z_t * s
}

/// One round of progressive distillation: the student's grid of `N` DDIM steps and its
/// teacher's grid of `2N - 1`, which holds every point of the student's.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub student: Vec<usize>,
    pub teacher: Vec<usize>,
}

impl Round {
    /// The round whose student samples in `student_steps` (at least 2) DDIM steps.
    pub fn new(schedule: &NoiseSchedule, student_steps: usize) -> Result<Self, DiffusionError> {
        if student_steps < 2 {
            return Err(DiffusionError::BadStepCount {
                got: student_steps,
                max: schedule.train_steps(),
            });
        }
        let t = schedule.train_steps();
        let round = Self {
            student: linspace_timesteps(t, student_steps)?,
            teacher: linspace_timesteps(t, 2 * student_steps - 1)?,
        };
        debug_assert!(
            (0..student_steps).all(|i| round.student[i] == round.teacher[2 * i]),
            "the student's grid is every other point of the teacher's"
        );
        Ok(round)
    }

    /// `alpha_bar` at point `p` of `grid` (1 past its end: the clean digit).
    pub fn alpha_bar(schedule: &NoiseSchedule, grid: &[usize], p: usize) -> f64 {
        grid.get(p).map_or(1.0, |&t| schedule.alphas_cumprod[t])
    }

    /// The teacher's steps that make the student's step `i`: two, but one for the student's
    /// last step (from `t = 0` to the clean digit), where the grids end together.
    pub fn teacher_steps_for(&self, i: usize) -> usize {
        if i + 1 < self.student.len() { 2 } else { 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DdimScheduler;
    use crate::noise::NoiseSource;
    use crate::schedule::ScheduleConfig;
    use crate::scheduler::Scheduler;

    fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn the_students_grid_is_every_other_point_of_its_teachers() {
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        for n in [2, 4, 7, 13, 25] {
            let r = Round::new(&schedule, n).unwrap();
            assert_eq!(r.teacher.len(), 2 * n - 1);
            for i in 0..n {
                assert_eq!(r.student[i], r.teacher[2 * i], "N = {n}, step {i}");
            }
        }
        let r = Round::new(&schedule, 4).unwrap();
        assert_eq!(r.student, vec![999, 666, 333, 0]);
        assert_eq!(r.teacher_steps_for(2), 2);
        assert_eq!(r.teacher_steps_for(3), 1);
        assert!(Round::new(&schedule, 1).is_err());
        assert!(Round::new(&schedule, 501).is_err(), "2N - 1 steps beyond T");
    }

    #[test]
    fn a_row_step_is_the_ddim_schedulers_step() {
        let device = Device::flex();
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        let mut ddim = DdimScheduler::new(schedule.clone(), 0.0).unwrap();
        ddim.set_timesteps(7).unwrap();
        let grid = ddim.timesteps().to_vec();
        let mut noise = NoiseSource::new(4, 3);
        let x = noise.tensor([1, 28, 28], &device) * 1.5;
        let eps = noise.tensor([1, 28, 28], &device);
        for p in [0, 3, 6] {
            let ours = ddim_rows(
                x.clone(),
                eps.clone(),
                &[Round::alpha_bar(&schedule, &grid, p); 3],
                &[Round::alpha_bar(&schedule, &grid, p + 1); 3],
                schedule.config.clip_sample,
            );
            let theirs = ddim.step(eps.clone(), p, x.clone(), None).prev_sample;
            assert!(max_diff(ours, theirs) < 1e-5, "step {p}");
        }
    }

    #[test]
    fn a_student_predicting_the_target_lands_where_the_teacher_did() {
        let device = Device::flex();
        let schedule = NoiseSchedule::new(ScheduleConfig::default()).unwrap();
        let round = Round::new(&schedule, 4).unwrap();
        let mut noise = NoiseSource::new(9, 2);
        // A "teacher" that predicts a fixed noise, two steps from the student's points 0 and 2.
        let z = noise.tensor([1, 28, 28], &device);
        let eps = noise.tensor([1, 28, 28], &device) * 0.3;
        let ab = |g: &[usize], p: usize| Round::alpha_bar(&schedule, g, p);
        for i in [0, 2] {
            let (t0, t1, t2) = (
                ab(&round.teacher, 2 * i),
                ab(&round.teacher, 2 * i + 1),
                ab(&round.teacher, 2 * i + 2),
            );
            let clip = schedule.config.clip_sample;
            let mid = ddim_rows(z.clone(), eps.clone(), &[t0; 2], &[t1; 2], clip);
            let end = ddim_rows(mid, eps.clone(), &[t1; 2], &[t2; 2], clip);
            let (s0, s1) = (ab(&round.student, i), ab(&round.student, i + 1));
            assert_eq!((s0, s1), (t0, t2));
            // the student predicts the target's velocity; its step uses the noise that implies
            let target = progressive_target(z.clone(), end.clone(), &[s0; 2], &[s1; 2], None);
            let v = velocity(z.clone(), target, &[s0; 2]);
            let eps = noise_from_velocity_rows(v, z.clone(), &[s0; 2]);
            let student = ddim_rows(z.clone(), eps, &[s0; 2], &[s1; 2], None);
            let gap = max_diff(student, end.clone());
            let scale: f32 = end.abs().max().into_scalar();
            assert!(gap < 1e-3 * scale.max(1.0), "step {i}: {gap}");
        }
    }

    #[test]
    fn a_velocity_gives_back_its_noise_and_its_x0() {
        let device = Device::flex();
        let mut noise = NoiseSource::new(2, 2);
        let x0 = noise.tensor([1, 28, 28], &device).clamp(-1.0, 1.0);
        let eps = noise.tensor([1, 28, 28], &device);
        for ab in [0.9999f64, 0.5, 4.4e-5] {
            let z = x0.clone() * ab.sqrt() + eps.clone() * (1.0 - ab).sqrt();
            let v = velocity(z.clone(), x0.clone(), &[ab; 2]);
            let expected = eps.clone() * ab.sqrt() - x0.clone() * (1.0 - ab).sqrt();
            assert!(max_diff(v.clone(), expected) < 2e-3, "v at {ab}");
            let back = noise_from_velocity(v.clone(), z.clone(), ab);
            assert!(
                max_diff(
                    back.clone(),
                    noise_from_velocity_rows(v, z.clone(), &[ab; 2])
                ) < 1e-6
            );
            // the x_0 the recovered noise implies is the digit (to f32 precision at t = 999,
            // where x_0 is the small difference of two near-equal terms over sqrt(ab))
            let again = clipped_x0(z, back, &[ab; 2], None);
            assert!(max_diff(again, x0.clone()) < 5e-3, "x_0 at {ab}");
        }
    }

    #[test]
    fn the_guided_target_mixes_per_row() {
        let device = Device::flex();
        let c = Tensor::<4>::ones([2, 1, 2, 2], &device);
        let u = Tensor::<4>::zeros([2, 1, 2, 2], &device);
        let t = guided_target(c, u, &[0.0, 2.0]);
        let v: Vec<f32> = t.into_data().try_to_vec().unwrap();
        assert_eq!(&v[..4], &[1.0; 4]);
        assert_eq!(&v[4..], &[3.0; 4]);
    }
}

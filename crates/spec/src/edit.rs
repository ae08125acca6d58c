//! # Editing a digit: SDEdit and inpainting on the ordinary sampling run
//!
//! Both edits are constraints on the one reverse process of `digitlab_diffusion::DenoiseRun`, not a second
//! sampling loop (so every scheduler, the guidance and the seeded noise work as in plain
//! sampling, and the page and the CLI draw the same pixels):
//!
//! - **A starting step** (SDEdit, Meng et al., ICLR 2022): the input is noised with the forward
//!   process `q(x_t0 | x_0)` to the level the run reaches after skipping the first
//!   `steps - floor(strength x steps)` of its steps (diffusers' `img2img` convention), and the
//!   reverse process runs from there. Strength 0 skips every step and returns the input;
//!   strength 1 keeps every step and starts from the seed's pure noise, so it *is* plain
//!   sampling (the forward process at `t = T` is `N(0, I)` up to `sqrt(alpha_bar_T)`, which
//!   plain sampling ignores too).
//! - **Known pixels** (RePaint, Lugmayr et al., CVPR 2022): after every reverse step the pixels
//!   outside the mask are replaced by the input noised to the new level (fresh seeded noise),
//!   and after the last step by the input itself, so the final image keeps them exactly. With
//!   resampling, every `jump` steps the run jumps back up `jump` levels with the forward process
//!   (`q(x_s | x_t)`, one draw) and denoises them again, `count - 1` times, so the filled region
//!   can agree with what is kept (RePaint's "harmonizing"; its Figure 3 schedule, counted in the
//!   run's own steps).
//!
//! The extra noise comes from the run's seeded host streams, after the scheduler's own draw of
//! each step: the same seed gives the same edit on every backend.

use crate::SpecError;

/// Most resampling rounds per jump (RePaint uses 10 at 250 steps; beyond 20 a run only costs).
pub const MAX_RESAMPLE: usize = 20;

/// RePaint's resampling: every `jump` steps, go back up `jump` levels and denoise them again,
/// `count - 1` more times. `count = 1` is no resampling (and `jump` is then unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resample {
    pub jump: usize,
    pub count: usize,
}

impl Resample {
    pub const NONE: Resample = Resample { jump: 1, count: 1 };
}

/// An edit of a digit: one for every sample of a run, or one per sample (an evaluation edits a
/// batch of different digits in one run).
/// (Serializable: the page sends it to its model worker.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Edit {
    /// The digit to start from, `[c, h, w]` flattened row-major in model space `[-1, 1]`; or
    /// `[count, c, h, w]`, one per sample.
    pub input: Vec<f32>,
    /// How much of the reverse process to run, `[0, 1]` (see the module doc).
    pub strength: f64,
    /// One entry per pixel (`[h, w]`, shared by the channels; or `[count, h, w]`): `true` where
    /// the model fills, `false` where the input is kept. `None`: SDEdit only, nothing is kept.
    pub fill: Option<Vec<bool>>,
    pub resample: Resample,
}

impl Edit {
    /// SDEdit of `input` at `strength`: nothing is kept.
    pub fn sdedit(input: Vec<f32>, strength: f64) -> Self {
        Self {
            input,
            strength,
            fill: None,
            resample: Resample::NONE,
        }
    }

    /// Inpainting: the whole reverse process, the `fill` pixels from the model, the rest kept.
    pub fn inpaint(input: Vec<f32>, fill: Vec<bool>, resample: Resample) -> Self {
        Self {
            input,
            strength: 1.0,
            fill: Some(fill),
            resample,
        }
    }

    /// Checks the edit against the image shape `[c, h, w]`, the run's `steps` and its number
    /// of samples.
    pub fn check(&self, image: [usize; 3], steps: usize, count: usize) -> Result<(), SpecError> {
        let [c, h, w] = image;
        let bad = |why: String| Err(SpecError::BadEdit(why));
        if ![c * h * w, count * c * h * w].contains(&self.input.len()) {
            return bad(format!(
                "the input has {} values, the model draws {c}x{h}x{w} (one digit, or one per sample)",
                self.input.len()
            ));
        }
        if let Some(v) = self.input.iter().find(|v| !v.is_finite() || v.abs() > 1.0) {
            return bad(format!(
                "input values must be finite and in [-1, 1], found {v}"
            ));
        }
        if !self.strength.is_finite() || !(0.0..=1.0).contains(&self.strength) {
            return bad(format!("strength must be in [0, 1], got {}", self.strength));
        }
        if let Some(fill) = &self.fill
            && ![h * w, count * h * w].contains(&fill.len())
        {
            return bad(format!(
                "the mask has {} pixels, the model draws {h}x{w} (one mask, or one per sample)",
                fill.len()
            ));
        }
        let Resample { jump, count } = self.resample;
        if count == 0 || count > MAX_RESAMPLE {
            return bad(format!(
                "resample count must be 1 to {MAX_RESAMPLE}, got {count}"
            ));
        }
        if count > 1 && (jump == 0 || jump > steps) {
            return bad(format!(
                "jump length must be 1 to the number of steps ({steps}), got {jump}"
            ));
        }
        if count > 1 && self.fill.is_none() {
            return bad("resampling needs a mask (it harmonizes the filled region)".into());
        }
        Ok(())
    }

    /// Index of the first step the run takes out of `steps`: `steps - floor(strength x steps)`.
    pub fn first_step(&self, steps: usize) -> usize {
        // The epsilon keeps 0.6 x 50 at 30 whatever the rounding of 0.6.
        let kept = ((steps as f64 * self.strength) + 1e-9).floor() as usize;
        steps - kept.min(steps)
    }

    /// The steps at which the run jumps back (RePaint), each `count - 1` times: every `jump`-th
    /// step after `first`, short of the last (which lands on the clean digit).
    pub fn jump_points(&self, first: usize, steps: usize) -> Vec<usize> {
        if self.resample.count <= 1 {
            return Vec::new();
        }
        (1..)
            .map(|k| first + k * self.resample.jump)
            .take_while(|&p| p < steps)
            .collect()
    }

    /// Reverse steps a run with this edit takes: the kept steps plus every resampled one.
    pub fn total_steps(&self, steps: usize) -> usize {
        let first = self.first_step(steps);
        let jumps = self.jump_points(first, steps).len();
        (steps - first) + jumps * (self.resample.count - 1) * self.resample.jump
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(strength: f64) -> Edit {
        Edit::sdedit(vec![0.0; 4], strength)
    }

    #[test]
    fn strength_picks_the_first_step() {
        assert_eq!(edit(0.0).first_step(50), 50);
        assert_eq!(edit(1.0).first_step(50), 0);
        assert_eq!(edit(0.6).first_step(50), 20);
        assert_eq!(edit(0.5).first_step(15), 8); // floor(7.5) = 7 steps taken
        assert_eq!(edit(0.01).first_step(50), 50);
    }

    #[test]
    fn resampling_counts_its_steps() {
        let e = Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 10, count: 3 });
        assert_eq!(e.jump_points(0, 50), vec![10, 20, 30, 40]);
        assert_eq!(e.total_steps(50), 50 + 4 * 2 * 10);
        assert_eq!(e.jump_points(0, 10), Vec::<usize>::new());
        let none = Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample::NONE);
        assert_eq!(none.total_steps(50), 50);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let shape = [1, 2, 2];
        assert!(edit(0.5).check(shape, 10, 1).is_ok());
        assert!(Edit::sdedit(vec![0.0; 8], 0.5).check(shape, 10, 2).is_ok());
        assert!(Edit::sdedit(vec![0.0; 8], 0.5).check(shape, 10, 3).is_err());
        // Without resampling the jump length is not used, so it is not checked.
        let plain = Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 50, count: 1 });
        assert!(plain.check(shape, 10, 1).is_ok());
        for bad in [
            edit(1.5),
            edit(-0.1),
            edit(f64::NAN),
            Edit::sdedit(vec![0.0; 3], 0.5),
            Edit::sdedit(vec![0.0, 0.0, 2.0, 0.0], 0.5),
            Edit::sdedit(vec![0.0, f32::NAN, 0.0, 0.0], 0.5),
            Edit::inpaint(vec![0.0; 4], vec![true; 3], Resample::NONE),
            Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 0, count: 2 }),
            Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 11, count: 2 }),
            Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 2, count: 0 }),
            Edit::inpaint(vec![0.0; 4], vec![true; 4], Resample { jump: 2, count: 21 }),
            Edit {
                resample: Resample { jump: 2, count: 2 },
                ..edit(0.5)
            },
        ] {
            let err = bad.check(shape, 10, 2).unwrap_err();
            assert!(matches!(err, SpecError::BadEdit(_)), "{bad:?}: {err}");
        }
    }
}

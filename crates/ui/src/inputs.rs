//! # The page's controls, read and checked
//!
//! Every number a person types is read here and refused with a message when it is out of
//! range (a control's own limits can be typed past). Plain Rust: the page's views call these,
//! and the tests run natively.

/// The guidance scales of the Sample view's sweep.
pub const SWEEP: [f64; 5] = [0.0, 0.5, 1.0, 2.0, 4.0];
/// The most digits the page samples at once.
pub const MAX_COUNT: usize = 64;
/// The largest guidance scale the page offers, for class and text models alike (one constant,
/// used by every slider and check; the samplers themselves accept up to
/// `digitlab_diffusion::pipeline::MAX_GUIDANCE`, 20, which the CLI allows). Past 8 the shipped
/// models' digits only saturate.
pub const MAX_W: f64 = 8.0;
/// The NCSN view's guidance limit: Langevin dynamics with a guided score diverge sooner.
pub const MAX_W_NCSN: f64 = 4.0;

/// A whole number typed into a control, refused with a message outside `lo..=hi`.
pub fn whole_number(name: &str, text: &str, lo: usize, hi: usize) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or(format!(
            "{name} must be a whole number from {lo} to {hi}, got {text:?}"
        ))
}

/// A typed number that must be finite and `> 0` (learning rates, step sizes, noise levels).
pub fn positive_number(name: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or(format!("{name} must be a number > 0, got {text:?}"))
}

/// The diffusion samplers the page offers (DDIM with eta 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    Ddpm,
    Ddim,
    /// DPM-Solver++ (2M).
    DpmPp,
}

/// A checked request of the Sample view.
#[derive(Clone, Debug)]
pub struct SampleParams {
    pub class: Option<usize>,
    pub guidance: f64,
    pub sampler: Sampler,
    pub steps: usize,
    pub count: usize,
    pub seed: u64,
}

impl SampleParams {
    /// Refuses out-of-range values with a message; `train_steps` is the model's T.
    pub fn parse(
        digit: &str,
        guidance: f64,
        sampler: &str,
        steps: &str,
        count: &str,
        seed: &str,
        train_steps: usize,
    ) -> Result<Self, String> {
        let class = match digit {
            "none" => None,
            d => Some(
                d.parse::<usize>()
                    .ok()
                    .filter(|&c| c < 10)
                    .ok_or(format!("digit must be 0-9 or unconditional, got {d:?}"))?,
            ),
        };
        if !guidance.is_finite() || !(0.0..=MAX_W).contains(&guidance) {
            return Err(format!(
                "guidance w must be in [0, {MAX_W}], got {guidance}"
            ));
        }
        let sampler = match sampler {
            "ddpm" => Sampler::Ddpm,
            "ddim" => Sampler::Ddim,
            "dpm++" => Sampler::DpmPp,
            s => return Err(format!("unknown sampler {s:?}")),
        };
        let steps = whole_number("steps", steps, 1, train_steps)?;
        let count = whole_number("samples", count, 1, MAX_COUNT)?;
        let seed = seed
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("seed must be a whole number >= 0, got {seed:?}"))?;
        Ok(Self {
            class,
            guidance,
            sampler,
            steps,
            count,
            seed,
        })
    }
}

/// A checked request of the NCSN view: annealed Langevin dynamics on MNIST.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LangevinParams {
    pub class: Option<usize>,
    pub sigma_max: f64,
    pub levels: usize,
    pub per_level: usize,
    pub step_size: f64,
    pub guidance: f64,
    pub count: usize,
    pub seed: u64,
}

impl LangevinParams {
    /// `budget` is `"calls"` (then `amount` is the total of network calls, split evenly over
    /// the levels) or `"per-level"` (updates per level).
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        digit: &str,
        levels: &str,
        budget: &str,
        amount: &str,
        step_size: &str,
        sigma_max: &str,
        guidance: f64,
        count: &str,
        seed: &str,
    ) -> Result<Self, String> {
        let class = match digit {
            "none" => None,
            d => Some(whole_number("the digit", d, 0, 9)?),
        };
        let levels = whole_number("levels", levels, 1, 1000)?;
        let per_level = if budget == "calls" {
            let calls = whole_number("network calls", amount, levels, 100_000)?;
            calls / levels
        } else {
            whole_number("updates per level", amount, 1, 10_000)?
        };
        let step_size = step_size
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or(format!(
                "the step size must be a number > 0, got {step_size:?}"
            ))?;
        let sigma_max = positive_number("sigma_max", sigma_max)?;
        Ok(Self {
            class,
            sigma_max,
            levels,
            per_level,
            step_size,
            guidance,
            count: whole_number("samples", count, 1, MAX_COUNT)?,
            seed: whole_number("the seed", seed, 0, u32::MAX as usize)? as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        digit: &str,
        w: f64,
        steps: &str,
        count: &str,
        seed: &str,
    ) -> Result<SampleParams, String> {
        SampleParams::parse(digit, w, "ddim", steps, count, seed, 1000)
    }

    #[test]
    fn refuses_out_of_range_inputs() {
        assert!(parse("3", 2.0, "20", "4", "1").is_ok());
        assert!(parse("none", 0.0, "1000", "64", "0").is_ok());
        assert!(parse("10", 2.0, "20", "4", "1").is_err());
        assert!(parse("3", 8.5, "20", "4", "1").is_err());
        assert!(parse("3", f64::NAN, "20", "4", "1").is_err());
        assert!(parse("3", 2.0, "0", "4", "1").is_err());
        assert!(parse("3", 2.0, "1001", "4", "1").is_err());
        assert!(parse("3", 2.0, "20", "65", "1").is_err());
        assert!(parse("3", 2.0, "20", "4", "-1").is_err());
        assert!(parse("3", 2.0, "2.5", "4", "1").is_err());
        let dpm = SampleParams::parse("3", 2.0, "dpm++", "15", "4", "1", 1000).unwrap();
        assert_eq!(dpm.sampler, Sampler::DpmPp);
        assert!(SampleParams::parse("3", 2.0, "euler", "15", "4", "1", 1000).is_err());
    }

    #[test]
    fn the_budget_sets_the_updates_per_level() {
        let r =
            LangevinParams::parse("3", "40", "calls", "240", "8e-5", "2", 0.0, "4", "1").unwrap();
        assert_eq!((r.levels, r.per_level, r.class), (40, 6, Some(3)));
        let r = LangevinParams::parse("none", "80", "per-level", "3", "1e-4", "2", 1.0, "2", "0")
            .unwrap();
        assert_eq!((r.levels, r.per_level, r.class), (80, 3, None));
        assert!(
            LangevinParams::parse("3", "80", "calls", "40", "8e-5", "2", 0.0, "4", "1")
                .unwrap_err()
                .contains("network calls")
        );
        assert!(
            LangevinParams::parse("3", "3", "calls", "30", "-1", "2", 0.0, "4", "1")
                .unwrap_err()
                .contains("step size")
        );
        assert!(
            LangevinParams::parse("12", "3", "calls", "30", "1e-4", "2", 0.0, "4", "1").is_err()
        );
    }
}

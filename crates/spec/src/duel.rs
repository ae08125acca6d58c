//! # The 1-D GAN duel's settings and reports
//!
//! The questions' Q2 set-up (`p_data = N(theta0, eps^2)` against a generator
//! `g(z) = theta + eps z`) as data: which objective, the step sizes, the seed; and what one
//! iteration reports. `digitlab_toys::duel` trains it (see its doc for the objectives); the
//! page's Divergences view sets it and plots the reports without Burn.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Minimax,
    NonSaturating,
    Q2,
    WganClip,
    WganGp,
    WganLp,
}

impl Objective {
    pub const ALL: [Objective; 6] = [
        Objective::Minimax,
        Objective::NonSaturating,
        Objective::Q2,
        Objective::WganClip,
        Objective::WganGp,
        Objective::WganLp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Objective::Minimax => "minimax",
            Objective::NonSaturating => "non-saturating",
            Objective::Q2 => "q2",
            Objective::WganClip => "wgan-clip",
            Objective::WganGp => "wgan-gp",
            Objective::WganLp => "wgan-lp",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|o| o.name()).collect();
                format!("unknown objective `{s}`; one of {}", names.join(", "))
            })
    }

    pub fn is_wgan(self) -> bool {
        matches!(
            self,
            Objective::WganClip | Objective::WganGp | Objective::WganLp
        )
    }
}

/// Everything a run depends on; equal configs give equal runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuelConfig {
    pub objective: Objective,
    pub theta0: f64,
    pub theta_start: f64,
    pub eps: f64,
    /// Learning rate of `theta` (plain gradient descent).
    pub lr_generator: f64,
    /// Learning rate of the discriminator or critic (Adam).
    pub lr_critic: f64,
    /// Discriminator or critic steps per generator step.
    pub critic_steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// Weight clipping bound of `wgan-clip`.
    pub clip: f64,
    /// Penalty weight of `wgan-gp`.
    pub gp_lambda: f64,
    pub seed: u64,
}

impl DuelConfig {
    /// The defaults of the page: narrow Gaussians (`eps = 0.05`) three units apart.
    pub fn new(objective: Objective) -> Self {
        Self {
            objective,
            theta0: 0.0,
            theta_start: 3.0,
            eps: 0.05,
            lr_generator: 0.02,
            lr_critic: 5e-3,
            critic_steps: 5,
            batch: 64,
            hidden: 32,
            clip: 0.1,
            gp_lambda: 10.0,
            seed: 0,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        let finite = [
            ("theta0", self.theta0),
            ("theta start", self.theta_start),
            ("eps", self.eps),
            ("generator learning rate", self.lr_generator),
            ("critic learning rate", self.lr_critic),
            ("clip", self.clip),
            ("gradient-penalty weight", self.gp_lambda),
        ];
        if let Some((name, v)) = finite.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("{name} must be a finite number, got {v}"));
        }
        if self.eps <= 0.0 {
            return Err(format!("eps must be > 0, got {}", self.eps));
        }
        for (name, v) in [
            ("generator learning rate", self.lr_generator),
            ("critic learning rate", self.lr_critic),
            ("clip", self.clip),
        ] {
            if v <= 0.0 {
                return Err(format!("{name} must be > 0, got {v}"));
            }
        }
        if self.gp_lambda < 0.0 {
            return Err(format!(
                "the gradient-penalty weight must be >= 0, got {}",
                self.gp_lambda
            ));
        }
        for (name, v, max) in [
            ("critic steps", self.critic_steps, 100),
            ("batch", self.batch, 4096),
            ("hidden units", self.hidden, 512),
        ] {
            if v == 0 || v > max {
                return Err(format!("{name} must be between 1 and {max}, got {v}"));
            }
        }
        Ok(())
    }
}

/// What one iteration did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Generator steps taken so far (1 after the first call to `digitlab_toys::duel::Duel::step`).
    pub iteration: usize,
    /// `theta` after this iteration's step.
    pub theta: f64,
    /// `dL_G/dtheta` that the step used (before it).
    pub grad_theta: f64,
    /// The discriminator's cross-entropy, or for a WGAN the critic's estimate of W1,
    /// `E[f(real)] - E[f(fake)]`, at its last step.
    pub critic_value: f64,
}

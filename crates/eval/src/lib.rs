//! # DigitLab evaluation
//!
//! How good are generated digits? Three numbers, all from the evaluation classifier (trained on
//! the training split only, so it never saw the held-out digits either):
//!
//! - **accuracy**: the share of digits generated for class `c` that the classifier labels `c`
//!   (overall and per class);
//! - **confidence**: the classifier's mean top probability, a proxy for how clean digits are;
//! - **Fréchet distance** between Gaussians fitted to the classifier's penultimate features of
//!   generated and held-out digits (FID's formula with an MNIST classifier instead of
//!   Inception), printed beside the real-vs-real floor: a training subsample of the same size
//!   against the held-out set.
//!
//! For an unconditional generator (a VAE or GAN) the class histogram replaces accuracy: **mode
//! coverage** counts the digits that get a fair share of the samples ([`MODE_SHARE`]).

pub mod frechet;
pub mod judge;

pub use frechet::{FeatureStats, frechet_distance};
pub use judge::{Judgement, MODE_SHARE, judge};

//! # DigitLab's page workers
//!
//! Two dedicated Web Workers that the page (`web/`) starts and speaks to in the messages of
//! [`protocol`] (`web/common`):
//!
//! - the model worker ([`model`], `bin/worker.rs`): starts WebGPU (`navigator.gpu` exists in
//!   workers) or Burn's CPU backend ([`backend`]), fetches and checks the weights and holds the
//!   loaded models ([`lab`]), runs the sampling loops and the bench ([`bench`]);
//! - the toys' worker ([`toys`], `bin/toys.rs`): the Divergences duel's and the Score view's
//!   in-page training, with Burn's autodiff; started the first time a view trains a toy.
//!
//! They run exactly the Burn modules that `digitlab train` trained (the workspace's model
//! crates). All of Burn lives on this side: the page's own wasm draws its first screen without
//! loading or initialising any of it.

pub mod backend;
pub mod bench;
pub mod lab;
pub mod model;
pub mod toys;

pub use digitlab_web_common::{fetch, protocol, ticks};

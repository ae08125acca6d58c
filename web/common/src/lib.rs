//! # What the page and its workers share
//!
//! The page (`web/`: Leptos, the views, no Burn) and its two workers (`web/worker/`: Burn, the
//! models, the toys) are separate wasm binaries that meet here:
//!
//! - [`protocol`]: every message between them (serde, sent by `gloo-worker`).
//! - [`fetch`]: files fetched with progress (the worker's weights, the page's texts).
//! - [`ticks`]: yielding to the browser between steps of work, and timing.
//!
//! Nothing here links Burn or Leptos: the page's wasm must stay free of Burn (its static
//! constructors delay the first paint; README, Size), and the workers need no interface.

pub mod fetch;
pub mod protocol;
pub mod ticks;

//! # The page's logic, without Burn or a browser
//!
//! What the page computes for its interface, apart from the models and the DOM, so that it is
//! tested natively and the page's interface never needs Burn to do it:
//!
//! - [`inputs`]: the controls' values read and checked (digit, guidance, steps, Langevin
//!   budget), with the messages shown for out-of-range values.
//! - [`plot`]: line plots laid out as marks, rendered as SVG by the page.
//! - [`grid`]: digits laid out as the CLI's PNG grids.
//! - [`log`]: training logs (`metrics.jsonl`) read as curves.
//! - [`command`]: the `digitlab` command line that redraws a picture of the page natively.
//! - [`timeline`]: the frames of a run, kept to scrub after it.

pub mod command;
pub mod grid;
pub mod inputs;
pub mod log;
pub mod plot;
pub mod timeline;

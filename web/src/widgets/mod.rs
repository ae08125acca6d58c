//! # Widgets: what every view draws with
//!
//! - [`canvas`]: grids of digits painted on a canvas (the layout is `digitlab_ui::grid`'s).
//! - [`plot`]: the plots `digitlab_ui::plot` lays out, rendered as SVG.
//! - [`explain`]: the explanations (typeset at build time) and the labels' formulas.
//! - [`command`]: the `digitlab` line that redraws a picture natively, with Copy.
//! - [`timeline`]: scrubbing a finished run's steps.

pub mod canvas;
pub mod command;
pub mod explain;
pub mod plot;
pub mod timeline;

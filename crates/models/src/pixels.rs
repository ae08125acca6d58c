//! # Pixel ranges
//!
//! The maps between stored bytes and the models' `[-1, 1]` live in `digitlab_data::pixels`
//! (they need no Burn, so the page's burn-free half uses them too); re-exported here where the
//! models' users have always found them.

pub use digitlab_data::pixels::{bytes_to_unit, unit_to_bytes};

//! # The views: one file per tab
//!
//! Each view is a Leptos component that takes the shared [`crate::state::Ui`], reads its
//! controls through `digitlab_ui::inputs`, asks a worker through [`crate::client`] and draws
//! with [`crate::widgets`]. A new model family adds one file here.

pub mod bench;
pub mod compare;
pub mod divergence;
pub mod duel;
pub mod edit;
pub mod forward;
pub mod gan;
pub mod latent;
pub mod ncsn;
pub mod sampling;
pub mod score;
pub mod text;
pub mod vae;

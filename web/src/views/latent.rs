//! # Latent-variable models: the page's end
//!
//! The VAE and GAN views have the model worker fetch their shipped weights the first time they
//! open (the page samples digits without them), and send it their decoding and encoding
//! ([`LatentOp`]): one forward pass for a whole batch and one read, in the worker.

use crate::client;
use crate::loaders::load_model;
use crate::protocol::{LatentOp, Reply, Request, Slot};
use crate::state::Ui;

/// The GAN generators the page shows side by side.
pub const LATENT_MODELS_GAN: [&str; 3] = ["dcgan", "wgan-gp", "wgan-sn"];

/// Has the worker fetch `weights/<name>.json` and its weights, unless it has that model
/// already. Returns a line for the view.
pub async fn load(ui: Ui, name: &str) -> Result<String, String> {
    load_model(ui, Slot::Latent(name.into()))
        .await
        .map(|m| m.info)
        .map_err(|e| format!("{name}: {e}"))
}

/// Labels of a `Prior` op's digits, or why not.
pub type Labels = Option<Result<Vec<(usize, f32)>, String>>;

/// Runs `op` with the model `name`: the values (digits or latents) and, for `Prior`, the
/// classifier's labels.
pub async fn run(name: &str, op: LatentOp) -> Result<(Vec<f32>, Labels), String> {
    let model = name.to_string();
    match client::call(|job| Request::Latent { job, model, op }, |_| {}).await? {
        Reply::Values { values, labels, .. } => Ok((values, labels)),
        other => Err(client::unexpected(other)),
    }
}

/// Decodes latents `z` (`[n, latent]` flattened) to digits.
pub async fn decode(name: &str, z: Vec<f32>) -> Result<Vec<f32>, String> {
    run(name, LatentOp::Decode { z }).await.map(|(v, _)| v)
}

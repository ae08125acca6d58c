//! # Latent-variable models in the page: loading and decoding
//!
//! The VAE and GAN views fetch their shipped weights the first time they open (the page
//! samples digits without them). A model joins the lab as the lab is by then, like the score
//! network. Decoding is one forward pass for a whole batch and one read at the end.

use burn::prelude::*;
use digitlab_diffusion::NoiseSource;
use leptos::prelude::*;

use crate::app::Ui;
use crate::lab::{LatentModel, fetch_shipped};

/// The GAN generators the page shows side by side.
pub const LATENT_MODELS_GAN: [&str; 3] = ["dcgan", "wgan-gp", "wgan-sn"];

/// Fetches `weights/<name>.json` and its weights and adds the model to the lab, unless one of
/// that name is there already. Returns a line for the view.
pub async fn load(ui: Ui, name: &str) -> Result<String, String> {
    if let Some(m) = ui
        .lab
        .with_value(|l| l.as_ref().and_then(|l| l.latent(name).cloned()))
    {
        return Ok(describe(&m));
    }
    let (card, bytes) = fetch_shipped(&format!("{name}.json"), |_, _| {}).await?;
    let mut lab = ui.lab.get_value().ok_or("the backend is not ready yet")?;
    let model =
        LatentModel::load(name, card, bytes, &lab.device).map_err(|e| format!("{name}: {e}"))?;
    let line = describe(&model);
    if lab.latent(name).is_none() {
        lab.latents.push(model);
        ui.lab.set_value(Some(lab));
    }
    Ok(line)
}

pub fn describe(m: &LatentModel) -> String {
    let t = &m.card.training;
    format!(
        "{} (latent {}): {} steps, {:.0} epochs, batch {}, {:.0} s on {}, {} weights",
        m.card.weights,
        m.latent(),
        t.steps,
        t.epochs,
        t.batch_size,
        t.seconds,
        t.backend,
        m.card.stored_as()
    )
}

/// The model called `name`, if loaded.
pub fn model(ui: Ui, name: &str) -> Result<LatentModel, String> {
    ui.lab
        .with_value(|l| l.as_ref().and_then(|l| l.latent(name).cloned()))
        .ok_or_else(|| format!("the {name} model is not loaded"))
}

/// `count` latents of `seed`, the same as `digitlab sample --seed` draws.
pub fn noise(seed: u64, count: usize, latent: usize, device: &Device) -> Tensor<2> {
    NoiseSource::new(seed, count).latent(latent, device)
}

/// Rows of `values` (`n x latent`) as a tensor.
pub fn latents(values: Vec<f32>, latent: usize, device: &Device) -> Tensor<2> {
    let n = values.len() / latent.max(1);
    Tensor::from_data(TensorData::new(values, [n, latent]), device)
}

/// Reads a tensor back (the one read of a run).
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data_async()
        .await
        .map_err(|e| format!("reading from the device: {e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// Decodes `z` and reads the digits back.
pub async fn decode(m: &LatentModel, z: Tensor<2>) -> Result<Vec<f32>, String> {
    read(m.decode(z)).await
}

//! # The classifier and the autoencoder: `digitlab eval` of a `classifier` or `autoencoder` card
//!
//! Neither generates digits: the classifier is measured by its accuracy on the held-out digits,
//! the autoencoder by how well it reconstructs them through its mean latent.

use anyhow::Result;
use burn::prelude::*;
use digitlab_data::Split;

use crate::args::EvalArgs;
use crate::cards::CardFile;
use crate::evaluate::{digits, images_of};

pub fn eval_classifier(card: &CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let classifier = card.load_classifier(device)?;
    let test = digits(&args.data, Split::Test)?;
    crate::train::data::check_labels(&test, 10)?;
    let j = digitlab_eval::judge(&classifier, images_of(&test, test.len(), device), 250);
    let expected: Vec<usize> = test.labels.iter().map(|&l| l as usize).collect();
    let result = serde_json::json!({
        "accuracy": j.accuracy(&expected),
        "per_class": j.per_class_accuracy(&expected, 10),
        "confidence": j.mean_confidence(),
        "held_out_images": test.len(),
    });
    if args.json {
        println!("{result}");
    } else {
        eprintln!(
            "held-out accuracy {:.2} % on {} digits",
            j.accuracy(&expected) * 100.0,
            test.len()
        );
    }
    Ok(())
}

pub fn eval_autoencoder(card: &CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let (model, scale) = card.load_autoencoder(device)?;
    let test = digits(&args.data, Split::Test)?;
    let r = crate::train::autoencoder::reconstruction(&model, images_of(&test, test.len(), device));
    let out = serde_json::json!({
        "held_out_reconstruction": r,
        "held_out_digits": test.len(),
        "latent_shape": model.latent_shape(),
        "latent_scale": scale,
    });
    if args.json {
        println!("{out}");
    } else {
        eprintln!(
            "held-out reconstruction of {} digits: mean |error| {:.4}, rmse {:.4} (pixels in [0, 1]), {:.1} nats per digit; latent {:?}, scale {scale:.4}",
            test.len(),
            r.mean_abs_error,
            r.rmse,
            r.nll,
            model.latent_shape()
        );
    }
    Ok(())
}

//! # Judging generated digits, and storing what was measured
//!
//! Every generator (DDPM, NCSN, VAE, GAN, text model) is evaluated the same way: digits are
//! generated in batches (batch `b` seeded `seed + 7919 b`), the classifier judges them, and
//! their features are compared with the held-out digits' by the Fréchet distance, whose floor
//! is that of real training digits of the same number. [`Reference`] holds the classifier and
//! the held-out statistics; [`Reference::judge_batches`] is the one loop; [`Judged::fields`]
//! the keys every evaluation reports. Each family adds only what is its own (levels, ELBO,
//! attributes).
//!
//! `--update-card` stores a run's results in the card under an [`EvalKey`]: the settings of the
//! command without the card's path, and the backend. Re-running the same settings on the same
//! backend replaces the entry; another backend adds one.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use digitlab_data::{Dataset, Split};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::cards::CardFile;

/// What generated digits are compared with: the classifier, the held-out digits' features,
/// and the real-vs-real floor of the Fréchet distance (a training subsample of the same size).
pub struct Reference {
    pub classifier: digitlab_models::Classifier,
    pub test_len: usize,
    pub stats: digitlab_eval::FeatureStats,
    pub frechet_floor: f64,
}

/// Images of a data set as a tensor `[n, 1, rows, cols]` in `[-1, 1]` (the first `n`).
pub fn images_of(data: &Dataset, n: usize, device: &Device) -> Tensor<4> {
    let px = data.rows * data.cols;
    let vals = digitlab_models::pixels::bytes_to_unit(&data.images[..n * px]);
    Tensor::<4>::from_data(TensorData::new(vals, [n, 1, data.rows, data.cols]), device)
}

/// A split of `data` for judging: the models and the classifier take 28x28 digits, so any other
/// size is refused here rather than inside a layer.
pub fn digits(data: &Path, split: Split) -> Result<Dataset> {
    let d = Dataset::load(data, split)?;
    if (d.rows, d.cols) != (28, 28) {
        bail!(
            "the models judge 28x28 digits, {} holds {}x{} images",
            data.display(),
            d.rows,
            d.cols
        );
    }
    Ok(d)
}

/// The most digits one evaluation generates per setting.
pub const MAX_SAMPLES: usize = 100_000;

impl Reference {
    pub fn new(data: &Path, classifier: &Path, samples: usize, device: &Device) -> Result<Self> {
        if !(2..=MAX_SAMPLES).contains(&samples) {
            bail!(
                "--samples must be 2 to {MAX_SAMPLES} (a covariance needs two digits), got {samples}"
            );
        }
        let classifier = CardFile::read(classifier)?.load_classifier(device)?;
        let test = digits(data, Split::Test)?;
        let train = digits(data, Split::Train)?;
        let reference =
            digitlab_eval::judge(&classifier, images_of(&test, test.len(), device), 250);
        let stats = digitlab_eval::FeatureStats::new(&reference.features, reference.feature_dim);
        let floor = digitlab_eval::judge(
            &classifier,
            images_of(&train, samples.min(train.len()), device),
            250,
        );
        let frechet_floor = digitlab_eval::frechet_distance(
            &digitlab_eval::FeatureStats::new(&floor.features, floor.feature_dim),
            &stats,
        );
        Ok(Self {
            classifier,
            test_len: test.len(),
            stats,
            frechet_floor,
        })
    }

    /// Generates `samples` digits in batches of `batch` (`generate(b, first, n)`: batch `b`,
    /// digits `first..first + n`, `[n, 1, 28, 28]` in `[-1, 1]`), judges them and measures the
    /// Fréchet distance. `label` names the setting in the progress line (`None`: quiet). A
    /// model that generated a non-finite value is refused, not scored.
    pub fn judge_batches(
        &self,
        samples: usize,
        batch: usize,
        label: Option<&str>,
        mut generate: impl FnMut(usize, usize, usize) -> Result<Tensor<4>>,
    ) -> Result<Judged> {
        let batch = batch.clamp(1, samples.max(1));
        let started = Instant::now();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let mut images = Vec::new();
        let mut first = 0;
        for b in 0.. {
            if first >= samples {
                break;
            }
            let n = batch.min(samples - first);
            let out = generate(b, first, n)?;
            // Waiting for the batch here also makes the time measured the sampling's.
            let total: f32 = out.clone().sum().into_scalar();
            if !total.is_finite() {
                bail!(
                    "the model generated values that are not finite numbers (digits {first} to {}): its weights or settings are broken; nothing was measured",
                    first + n - 1
                );
            }
            images.push(out);
            first += n;
            if let (Some(label), true) = (label, terminal) {
                eprint!("\r{label}: {first} / {samples} digits");
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let judgement = digitlab_eval::judge(&self.classifier, Tensor::cat(images, 0), 250);
        let stats = digitlab_eval::FeatureStats::new(&judgement.features, judgement.feature_dim);
        let frechet = digitlab_eval::frechet_distance(&stats, &self.stats);
        if !frechet.is_finite() {
            bail!("the Fréchet distance came out {frechet}: nothing was measured");
        }
        Ok(Judged {
            judgement,
            frechet,
            seconds,
            samples,
        })
    }
}

/// Generated digits as the classifier and the Fréchet distance saw them.
pub struct Judged {
    pub judgement: digitlab_eval::Judgement,
    pub frechet: f64,
    pub seconds: f64,
    pub samples: usize,
}

impl Judged {
    /// The keys every evaluation reports: confidence, class histogram, modes covered, Fréchet
    /// distance with its floor and reference, time, backend; with `expected` classes, the
    /// accuracy overall and per class.
    pub fn fields(
        &self,
        reference: &Reference,
        expected: Option<&[usize]>,
        n_classes: usize,
        backend: Backend,
    ) -> serde_json::Value {
        let j = &self.judgement;
        let mut out = serde_json::json!({
            "samples": self.samples,
            "confidence": j.mean_confidence(),
            "histogram": j.histogram(n_classes),
            "modes_covered": j.modes_covered(n_classes, digitlab_eval::MODE_SHARE),
            "frechet": self.frechet,
            "frechet_floor": reference.frechet_floor,
            "frechet_reference": format!("{} held-out digits", reference.test_len),
            "seconds": self.seconds,
            "ms_per_digit": self.ms_per_digit(),
            "backend": backend.name(),
        });
        if let Some(expected) = expected {
            out["accuracy"] = j.accuracy(expected).into();
            out["per_class"] = j.per_class_accuracy(expected, n_classes).into();
        }
        out
    }

    /// One line for people: accuracy (with `expected` classes), confidence, Fréchet distance
    /// against its floor, time per digit.
    pub fn summary(&self, reference: &Reference, expected: Option<&[usize]>) -> String {
        let j = &self.judgement;
        format!(
            "{}confidence {:.3} | Fréchet {:.2} (floor {:.2}) | {:.1} ms/digit",
            expected.map_or(String::new(), |e| format!(
                "accuracy {:.2} % | ",
                j.accuracy(e) * 100.0
            )),
            j.mean_confidence(),
            self.frechet,
            reference.frechet_floor,
            self.ms_per_digit()
        )
    }

    pub fn ms_per_digit(&self) -> f64 {
        self.seconds * 1000.0 / self.samples.max(1) as f64
    }
}

/// `eval --json`'s output: one result as itself, several as `{"sweep": [...]}` (always a sweep
/// for a family that sweeps by nature, `sweep`).
pub fn print_json(results: &[serde_json::Value], sweep: bool) {
    match results {
        [one] if !sweep => println!("{one}"),
        _ => println!("{}", serde_json::json!({ "sweep": results })),
    }
}

/// Adds `more`'s keys to the JSON object `base`.
pub fn extend(base: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(obj), serde_json::Value::Object(more)) = (base.as_object_mut(), more) {
        obj.extend(more);
    }
}

/// What identifies a stored evaluation: its settings (the command's options after `--model`)
/// and the backend. The card's path is not part of it: the same card evaluated from another
/// folder is the same evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalKey {
    pub backend: String,
    pub settings: String,
}

impl EvalKey {
    pub fn new(backend: Backend, settings: impl Into<String>) -> Self {
        Self {
            backend: backend.flag().into(),
            settings: settings.into(),
        }
    }

    /// The command that measured it, on the card at `model`.
    pub fn command(&self, model: &Path) -> String {
        format!(
            "digitlab eval --model {} --backend {} {}",
            model.display(),
            self.backend,
            self.settings
        )
    }

    /// The key of an entry stored before keys existed, read from its command: the options
    /// after `--model <card>` less `--backend <b>` (absent: flex, the default).
    pub fn of_command(command: &str) -> Self {
        let words: Vec<&str> = command.split_whitespace().collect();
        let (mut backend, mut rest) = ("flex".to_string(), Vec::new());
        let mut i = 0;
        while i < words.len() {
            match words[i] {
                "digitlab" | "eval" => {}
                "--model" => i += 1,
                "--backend" => {
                    backend = words.get(i + 1).copied().unwrap_or("flex").into();
                    i += 1;
                }
                w => rest.push(w),
            }
            i += 1;
        }
        Self {
            backend,
            settings: rest.join(" "),
        }
    }
}

/// Adds an evaluation to a card's metrics, keyed by [`EvalKey`]: an entry with the same key
/// (the same settings on the same backend) is replaced, every other kept. The weights' sha256
/// is stored with it: the results belong to those weights.
pub fn store_evaluation(
    card: &mut CardFile,
    key: EvalKey,
    results: Vec<serde_json::Value>,
) -> Result<()> {
    let mut runs: Vec<serde_json::Value> = card
        .card
        .metrics
        .get("evaluations")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    runs.retain(|r| {
        let stored = serde_json::from_value::<EvalKey>(r["key"].clone())
            .unwrap_or_else(|_| EvalKey::of_command(r["command"].as_str().unwrap_or("")));
        stored != key
    });
    runs.push(serde_json::json!({
        "command": key.command(&card.path),
        "key": key,
        "weights_sha256": card.card.sha256,
        "results": results,
    }));
    card.card.metrics = serde_json::json!({ "evaluations": runs });
    card.save()?;
    eprintln!("stored the metrics in {}", card.path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_entry_is_keyed_by_its_settings_and_backend_not_its_path() {
        let a = EvalKey::of_command(
            "digitlab eval --model /tmp/A/text-ddpm.json --samples 400 --guidance 0,3 --sampler ddim --steps 50 --seed 1",
        );
        let b = EvalKey::of_command(
            "digitlab eval --model public/weights/text-pixel.json --samples 400 --guidance 0,3 --sampler ddim --steps 50 --seed 1",
        );
        assert_eq!(a, b);
        assert_eq!(a.backend, "flex");
        let gpu = EvalKey::of_command(
            "digitlab eval --model public/weights/ddpm-cfg.json --backend wgpu --samples 1000 --seed 1",
        );
        assert_eq!(gpu, EvalKey::new(Backend::Wgpu, "--samples 1000 --seed 1"));
        assert_ne!(gpu.settings, a.settings);
        assert_eq!(
            gpu.command(Path::new("x.json")),
            "digitlab eval --model x.json --backend wgpu --samples 1000 --seed 1"
        );
    }
}

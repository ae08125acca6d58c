//! # Judging digits with the classifier

use burn::prelude::*;
use burn::tensor::activation::softmax;
use digitlab_models::Classifier;
use serde::Serialize;

/// What the classifier says about a set of digits.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    /// Predicted class of each digit.
    pub predicted: Vec<usize>,
    /// Top probability of each digit.
    pub confidence: Vec<f32>,
    /// Penultimate features, `len * feature_dim` values.
    #[serde(skip)]
    pub features: Vec<f32>,
    pub feature_dim: usize,
}

impl Judgement {
    /// Share of digits whose prediction equals `expected` (same order).
    pub fn accuracy(&self, expected: &[usize]) -> f64 {
        assert_eq!(expected.len(), self.predicted.len());
        let hits = self
            .predicted
            .iter()
            .zip(expected)
            .filter(|(p, e)| p == e)
            .count();
        hits as f64 / expected.len().max(1) as f64
    }

    /// Accuracy within each class `0..n_classes` (`NaN` for a class with no digit).
    pub fn per_class_accuracy(&self, expected: &[usize], n_classes: usize) -> Vec<f64> {
        (0..n_classes)
            .map(|c| {
                let (mut n, mut hits) = (0usize, 0usize);
                for (p, &e) in self.predicted.iter().zip(expected) {
                    if e == c {
                        n += 1;
                        hits += usize::from(*p == c);
                    }
                }
                if n == 0 {
                    f64::NAN
                } else {
                    hits as f64 / n as f64
                }
            })
            .collect()
    }

    /// How many digits the classifier assigns to each class (mode coverage).
    pub fn histogram(&self, n_classes: usize) -> Vec<usize> {
        let mut h = vec![0; n_classes];
        for &p in &self.predicted {
            h[p] += 1;
        }
        h
    }

    /// Classes that received at least `min_share` of the digits (e.g. 0.025: a quarter of a
    /// fair tenth): a generator that dropped a mode scores below `n_classes`.
    pub fn modes_covered(&self, n_classes: usize, min_share: f64) -> usize {
        let n = self.predicted.len().max(1) as f64;
        self.histogram(n_classes)
            .iter()
            .filter(|&&c| c as f64 / n >= min_share)
            .count()
    }

    pub fn mean_confidence(&self) -> f64 {
        self.confidence.iter().map(|&c| c as f64).sum::<f64>() / self.confidence.len().max(1) as f64
    }
}

/// Classifies `images` (`[n, 1, 28, 28]` in `[-1, 1]`) in batches of `batch`.
pub fn judge(classifier: &Classifier, images: Tensor<4>, batch: usize) -> Judgement {
    let n = images.dims()[0];
    let mut out = Judgement {
        predicted: Vec::new(),
        confidence: Vec::new(),
        features: Vec::new(),
        feature_dim: 0,
    };
    for start in (0..n).step_by(batch.max(1)) {
        let len = batch.min(n - start);
        let x = images.clone().narrow(0, start, len);
        let features = classifier.features(x);
        let probs = softmax(classifier.logits_from_features(features.clone()), 1);
        out.feature_dim = features.dims()[1];
        out.features.extend(
            features
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 features"),
        );
        let probs: Vec<f32> = probs.into_data().try_to_vec().expect("f32 probabilities");
        let k = probs.len() / len;
        for row in probs.chunks(k) {
            let (arg, &max) = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("classes");
            out.predicted.push(arg);
            out.confidence.push(max);
        }
    }
    out
}

/// The share a class needs for [`Judgement::modes_covered`] in DigitLab's reports: a quarter of
/// the tenth that a generator covering all digits evenly would give it.
pub const MODE_SHARE: f64 = 0.025;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_and_modes_covered() {
        // 40 digits: six classes with 6 each, one with 3 (7.5 %), one with 1 (2.5 %), none
        // of the last two.
        let mut predicted = Vec::new();
        for c in 0..6 {
            predicted.extend([c; 6]);
        }
        predicted.extend([6; 3]);
        predicted.push(7);
        let j = Judgement {
            confidence: vec![1.0; predicted.len()],
            predicted,
            features: Vec::new(),
            feature_dim: 0,
        };
        assert_eq!(j.histogram(10), vec![6, 6, 6, 6, 6, 6, 3, 1, 0, 0]);
        assert_eq!(j.modes_covered(10, MODE_SHARE), 8);
        assert_eq!(j.modes_covered(10, 0.05), 7);
    }
}

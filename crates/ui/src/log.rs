//! # Training logs
//!
//! A run's `metrics.jsonl` (one JSON object per logged step, written by `digitlab train`) read
//! back as curves.

/// `(step, value)` of `key` in a JSONL training log.
pub fn curve(log: &str, key: &str) -> Vec<(f64, f64)> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["step"].as_f64()?, v[key].as_f64()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_skip_lines_without_the_key() {
        let log = "{\"step\":1,\"w_estimate\":3.5}\n{\"step\":2}\nnot json\n{\"step\":3,\"w_estimate\":1.0}";
        assert_eq!(curve(log, "w_estimate"), vec![(1.0, 3.5), (3.0, 1.0)]);
    }
}

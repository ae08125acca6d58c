//! # Pixel ranges
//!
//! Stored digits are bytes in `0..=255`; every model here works in `[-1, 1]` (the range DDPM's
//! Gaussian noise is scaled to). These two maps are the only conversions between them.

/// `0..=255` to `[-1, 1]`.
pub fn bytes_to_unit(bytes: &[u8]) -> Vec<f32> {
    bytes.iter().map(|&b| b as f32 / 127.5 - 1.0).collect()
}

/// `[-1, 1]` to `0..=255`, clamping values outside the range (and NaN to 0).
pub fn unit_to_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_and_out_of_range_clamps() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unit_to_bytes(&bytes_to_unit(&all)), all);
        assert_eq!(unit_to_bytes(&[-3.0, 3.0, f32::NAN]), vec![0, 255, 0]);
    }
}

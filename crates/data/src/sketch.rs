//! # Synthetic sketches
//!
//! A hand-drawn look for a stored digit, to measure how a diffusion model finishes sketches
//! (SDEdit) without asking people to draw a thousand of them: the digit is binarised (a pen has
//! no grey), its stroke thinned or thickened by one pixel (a 3x3 cross erosion or dilation) or
//! kept, and it is shifted by up to two pixels each way. All three choices come from the seed,
//! so a sketch set is the same on every machine.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// How a sketch's stroke differs from its digit's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Thinner,
    Same,
    Thicker,
}

/// The seed of the sketch of digit `index` in a set made with `seed`: `digitlab data sketches`
/// and `digitlab eval-edit sdedit` make the same set.
pub fn sketch_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(index as u64)
}

/// The sketch of one `rows x cols` digit (bytes, 0 = background) for `seed`.
pub fn sketch(digit: &[u8], rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    assert_eq!(digit.len(), rows * cols, "one rows x cols digit");
    let mut rng = StdRng::seed_from_u64(seed);
    let stroke = match rng.random_range(0..3) {
        0 => Stroke::Thinner,
        1 => Stroke::Same,
        _ => Stroke::Thicker,
    };
    let (dx, dy) = (rng.random_range(-2..=2), rng.random_range(-2..=2));
    let ink: Vec<bool> = digit.iter().map(|&v| v >= 128).collect();
    let ink = match stroke {
        Stroke::Same => ink,
        Stroke::Thicker => cross(&ink, rows, cols, true),
        Stroke::Thinner => {
            // Erosion can erase a thin digit: keep the stroke when it would lose most of it.
            let thin = cross(&ink, rows, cols, false);
            let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
            if count(&thin) * 3 >= count(&ink) {
                thin
            } else {
                ink
            }
        }
    };
    let mut out = vec![0u8; rows * cols];
    for y in 0..rows {
        for x in 0..cols {
            let (sy, sx) = (y as i64 - dy, x as i64 - dx);
            if (0..rows as i64).contains(&sy)
                && (0..cols as i64).contains(&sx)
                && ink[sy as usize * cols + sx as usize]
            {
                out[y * cols + x] = 255;
            }
        }
    }
    out
}

/// Dilation (`grow`) or erosion by the 3x3 cross: a pixel and its four neighbours.
fn cross(ink: &[bool], rows: usize, cols: usize, grow: bool) -> Vec<bool> {
    let at = |y: i64, x: i64| {
        (0..rows as i64).contains(&y)
            && (0..cols as i64).contains(&x)
            && ink[y as usize * cols + x as usize]
    };
    (0..rows * cols)
        .map(|i| {
            let (y, x) = ((i / cols) as i64, (i % cols) as i64);
            let around = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)].map(|(a, b)| at(y + a, x + b));
            if grow {
                around.iter().any(|&b| b)
            } else {
                around.iter().all(|&b| b)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 9-pixel-wide vertical bar in a 28x28 frame.
    fn bar() -> Vec<u8> {
        (0..28 * 28)
            .map(|i| {
                if (10..19).contains(&(i % 28)) && (4..24).contains(&(i / 28)) {
                    200
                } else {
                    30
                }
            })
            .collect()
    }

    #[test]
    fn sketches_are_pen_strokes_moved_a_little_and_seeded() {
        let digit = bar();
        let ink = digit.iter().filter(|&&v| v >= 128).count();
        let mut strokes = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let s = sketch(&digit, 28, 28, seed);
            assert_eq!(s, sketch(&digit, 28, 28, seed), "same seed, same sketch");
            assert!(s.iter().all(|&v| v == 0 || v == 255), "binarised");
            let n = s.iter().filter(|&&v| v == 255).count();
            // Thinner, the same or thicker by one pixel round the bar (shifted within frame).
            strokes.insert(n.cmp(&ink));
            let first = s.iter().position(|&v| v == 255).unwrap();
            let (y, x) = (first / 28, first % 28);
            assert!(
                (1..=7).contains(&y) && (7..=13).contains(&x),
                "moved at most 2 + 1: {y},{x}"
            );
        }
        assert_eq!(strokes.len(), 3, "all three strokes occur");
    }

    #[test]
    fn a_stroke_that_erosion_would_erase_is_kept() {
        // A 1-pixel line: erosion would remove it all.
        let line: Vec<u8> = (0..28 * 28)
            .map(|i| if i % 28 == 14 { 255 } else { 0 })
            .collect();
        for seed in 0..20 {
            assert!(
                sketch(&line, 28, 28, seed)
                    .iter()
                    .filter(|&&v| v == 255)
                    .count()
                    >= 20
            );
        }
    }
}

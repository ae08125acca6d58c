//! # What is measured on a digit
//!
//! On a `side x side` grey image (bytes, ink bright on black, as MNIST):
//!
//! - **ink**: the ink mass, `sum(v) / 255`, in pixels of full ink; and **thickness**, the ink
//!   mass per row of the bounding box (`ink / height`). Ink mass alone mixes width with size (a
//!   tall thin 1 holds as much ink as a short thick one); per row, a bar `w` pixels wide measures
//!   `w` whatever its height, so "thick" means a wide stroke.
//! - **slant**: the shear of the ink, `-mu11 / mu02`, from the central second moments of the
//!   intensity (`mu11 = sum v (x - x0)(y - y0)`, `mu02 = sum v (y - y0)^2`): the change in x per
//!   unit of height, positive when the digit leans right (its top further right than its
//!   bottom; image rows grow downwards, hence the sign).
//! - **height** and **area** of the bounding box of the pixels of at least [`INK_THRESHOLD`].
//!   MNIST's digits were scaled so that their larger side is 20 pixels, so most are 20 rows high:
//!   the size that varies is the box's area (a narrow 1 against a wide 0, a cramped 4 against a
//!   sprawling one).

use serde::{Deserialize, Serialize};

/// A pixel at least this bright counts as ink for the bounding box.
pub const INK_THRESHOLD: u8 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    pub ink: f64,
    pub thickness: f64,
    pub slant: f64,
    pub height: f64,
    pub area: f64,
}

/// The attributes of one image (`side * side` bytes). A blank image measures zero everywhere.
pub fn measure(image: &[u8], side: usize) -> Attributes {
    assert_eq!(image.len(), side * side, "a {side}x{side} image");
    let (mut mass, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &v) in image.iter().enumerate() {
        let (x, y, w) = ((i % side) as f64, (i / side) as f64, v as f64);
        mass += w;
        sx += w * x;
        sy += w * y;
    }
    if mass == 0.0 {
        return Attributes {
            ink: 0.0,
            thickness: 0.0,
            slant: 0.0,
            height: 0.0,
            area: 0.0,
        };
    }
    let (x0, y0) = (sx / mass, sy / mass);
    let (mut mu11, mut mu02) = (0.0, 0.0);
    for (i, &v) in image.iter().enumerate() {
        let (dx, dy, w) = ((i % side) as f64 - x0, (i / side) as f64 - y0, v as f64);
        mu11 += w * dx * dy;
        mu02 += w * dy * dy;
    }
    let rows: Vec<usize> = (0..side)
        .filter(|&r| {
            image[r * side..(r + 1) * side]
                .iter()
                .any(|&v| v >= INK_THRESHOLD)
        })
        .collect();
    let cols: Vec<usize> = (0..side)
        .filter(|&c| (0..side).any(|r| image[r * side + c] >= INK_THRESHOLD))
        .collect();
    let extent = |v: &[usize]| match (v.first(), v.last()) {
        (Some(a), Some(b)) => (b - a + 1) as f64,
        _ => 0.0,
    };
    let height = extent(&rows);
    let area = height * extent(&cols);
    Attributes {
        ink: mass / 255.0,
        thickness: if height > 0.0 {
            mass / 255.0 / height
        } else {
            0.0
        },
        slant: if mu02 > 0.0 { -mu11 / mu02 } else { 0.0 },
        height,
        area,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 28x28 image with a bar from row `top` to `bottom` (inclusive), `width` pixels wide,
    /// centred at column 14 on the middle row and sheared by `shear` columns per row (positive:
    /// leaning right).
    pub fn bar(top: usize, bottom: usize, width: usize, shear: f64) -> Vec<u8> {
        let mut img = vec![0u8; 28 * 28];
        let mid = (top + bottom) as f64 / 2.0;
        for y in top..=bottom {
            let centre = 14.0 - shear * (y as f64 - mid);
            for k in 0..width {
                let x = (centre - width as f64 / 2.0 + k as f64).round() as i64;
                if (0..28).contains(&x) {
                    img[y * 28 + x as usize] = 255;
                }
            }
        }
        img
    }

    #[test]
    fn thicker_strokes_have_more_ink() {
        let (thin, thick) = (
            measure(&bar(5, 22, 1, 0.0), 28),
            measure(&bar(5, 22, 3, 0.0), 28),
        );
        assert_eq!((thin.ink, thin.thickness), (18.0, 1.0));
        assert_eq!((thick.ink, thick.thickness), (54.0, 3.0));
        // A short thick bar and a tall thin one hold the same ink, not the same thickness.
        let (short, tall) = (
            measure(&bar(10, 17, 3, 0.0), 28),
            measure(&bar(2, 25, 1, 0.0), 28),
        );
        assert_eq!(short.ink, tall.ink);
        assert!(short.thickness > 2.0 * tall.thickness);
    }

    #[test]
    fn slant_has_the_sign_and_size_of_the_shear() {
        assert!(measure(&bar(4, 23, 2, 0.0), 28).slant.abs() < 1e-9);
        let right = measure(&bar(4, 23, 2, 0.3), 28).slant;
        let left = measure(&bar(4, 23, 2, -0.3), 28).slant;
        // Rounding to whole pixels blurs the shear a little.
        assert!((right - 0.3).abs() < 0.05, "{right}");
        assert!((left + 0.3).abs() < 0.05, "{left}");
    }

    #[test]
    fn height_is_the_bounding_box() {
        let box8 = measure(&bar(10, 17, 2, 0.0), 28);
        assert_eq!((box8.height, box8.area), (8.0, 16.0));
        assert_eq!(measure(&bar(2, 25, 2, 0.0), 28).height, 24.0);
        let blank = measure(&[0u8; 784], 28);
        assert_eq!(
            (blank.ink, blank.thickness, blank.slant, blank.height),
            (0.0, 0.0, 0.0, 0.0)
        );
    }
}

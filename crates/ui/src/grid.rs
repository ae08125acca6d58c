//! # Grids of digits
//!
//! The layout of `digitlab sample`'s PNG (2-pixel gutters of grey 40, `ceil(sqrt(n))`
//! columns) as grey levels, one value per image pixel: the page paints exactly these bytes,
//! so its "Save PNG" and the CLI's file can be compared pixel by pixel.

use digitlab_data::pixels::unit_to_bytes;

pub const GUTTER: usize = 2;
pub const BACKGROUND: u8 = 40;

pub fn columns(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).max(1)
}

/// Grey levels of a grid of `n` images of `side x side` (values in `[-1, 1]`).
pub fn grid_bytes(values: &[f32], n: usize, side: usize) -> (usize, usize, Vec<u8>) {
    grid_bytes_in(values, n, side, columns(n))
}

/// [`grid_bytes`] with `cols` columns (a strip: `cols = n`).
pub fn grid_bytes_in(
    values: &[f32],
    n: usize,
    side: usize,
    cols: usize,
) -> (usize, usize, Vec<u8>) {
    let bytes = unit_to_bytes(values);
    let cols = cols.max(1).min(n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let (w, h) = (
        cols * (side + GUTTER) + GUTTER,
        rows * (side + GUTTER) + GUTTER,
    );
    let mut out = vec![BACKGROUND; w * h];
    for i in 0..n {
        let (gx, gy) = (i % cols, i / cols);
        for y in 0..side {
            for x in 0..side {
                out[(GUTTER + gy * (side + GUTTER) + y) * w + GUTTER + gx * (side + GUTTER) + x] =
                    bytes[i * side * side + y * side + x];
            }
        }
    }
    (w, h, out)
}

/// The text alternative of a grid of digits: what it shows and, once the classifier has read
/// them, its labels (`labels` as the page shows them, comma-separated), so a screen reader
/// hears what a sighted visitor sees.
pub fn alt_text(what: &str, labels: &str) -> String {
    let labels: Vec<&str> = labels
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match labels.len() {
        0 => what.to_string(),
        n => format!(
            "{what}: {n} digit{}, read by the classifier as {}",
            if n == 1 { "" } else { "s" },
            labels.join(", ")
        ),
    }
}

/// Values in any range to `[-1, 1]` for drawing (each map of `per` values scaled to its own min
/// and max). The attention maps of the Text view: their raw values have no fixed range.
pub fn normalise(values: &[f32], per: usize) -> Vec<f32> {
    values
        .chunks(per.max(1))
        .flat_map(|m| {
            let lo = m.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = (hi - lo).max(1e-6);
            m.iter().map(move |v| (v - lo) / span * 2.0 - 1.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_grid_is_described_by_its_classifier_labels() {
        use super::alt_text;
        assert_eq!(alt_text("generated digits", ""), "generated digits");
        assert_eq!(
            alt_text("generated digits", "3,3,8"),
            "generated digits: 3 digits, read by the classifier as 3, 3, 8"
        );
        assert_eq!(
            alt_text("x", "7"),
            "x: 1 digit, read by the classifier as 7"
        );
    }

    use super::*;

    #[test]
    fn grid_layout_matches_the_cli() {
        // 5 images -> 3 columns, 2 rows; 28 + 2 per cell plus the outer gutter.
        let values = vec![1.0f32; 5 * 28 * 28];
        let (w, h, grey) = grid_bytes(&values, 5, 28);
        assert_eq!((w, h), (3 * 30 + 2, 2 * 30 + 2));
        assert_eq!(grey[0], BACKGROUND);
        assert_eq!(grey[2 * w + 2], 255);
        // the sixth cell is empty
        assert_eq!(grey[(2 + 30 + 5) * w + 2 + 60 + 5], BACKGROUND);
    }

    #[test]
    fn normalise_scales_each_map_to_its_own_range() {
        let v = normalise(&[0.0, 5.0, 10.0, -2.0, -2.0, -1.0], 3);
        assert_eq!(v, vec![-1.0, 0.0, 1.0, -1.0, -1.0, 1.0]);
        // A flat map stays finite.
        assert!(normalise(&[3.0, 3.0], 2).iter().all(|x| x.is_finite()));
    }
}

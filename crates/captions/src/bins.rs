//! # From measures to words
//!
//! Thickness and size (the bounding box's area) are cut into three bins at their tertiles on
//! the training set, **per class** (a thick 1 holds less ink per row than a thin 8, and a 1's box
//! is always narrower than a 0's), so that each word describes about a third of each digit.
//! Slant is cut at fixed shears, [`UPRIGHT`] either side of zero, because its words have a
//! meaning of their own: MNIST's digits mostly lean right (the median shear is about 0.12), and a
//! tertile cut would call a perfectly upright digit "left-slanted". The cut points travel with the model
//! that was trained on the captions, so the page describes and checks digits with the same
//! words.

use serde::{Deserialize, Serialize};

use crate::measure::Attributes;

/// A digit is upright when its shear (x per unit of height) is within this of zero: about 6
/// degrees.
pub const UPRIGHT: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Thickness {
    Thin,
    Regular,
    Thick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slant {
    Left,
    Upright,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Size {
    Small,
    Medium,
    Large,
}

/// A digit and its attributes in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Described {
    pub digit: u8,
    pub thickness: Thickness,
    pub slant: Slant,
    pub size: Size,
}

/// The two cut points (lower and upper tertile) of each measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    /// Per class: thickness (ink per row).
    pub thickness: Vec<[f64; 2]>,
    /// Per class: bounding-box area.
    pub area: Vec<[f64; 2]>,
    /// All classes: slant (fixed at `[-UPRIGHT, UPRIGHT]`).
    pub slant: [f64; 2],
}

/// The lower and upper tertiles of `values` (which must not be empty).
fn tertiles(mut values: Vec<f64>) -> [f64; 2] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    [at(1.0 / 3.0), at(2.0 / 3.0)]
}

/// 0, 1 or 2: below the first cut, between, or above the second.
fn bin(v: f64, [lo, hi]: [f64; 2]) -> usize {
    if v < lo {
        0
    } else if v <= hi {
        1
    } else {
        2
    }
}

impl Bins {
    /// Cut points from the measures of a training set and its labels (`n_classes` classes, each
    /// present at least once).
    pub fn fit(attributes: &[Attributes], labels: &[u8], n_classes: usize) -> Result<Self, String> {
        if attributes.len() != labels.len() || attributes.is_empty() {
            return Err(format!(
                "{} measures for {} labels",
                attributes.len(),
                labels.len()
            ));
        }
        let per_class = |f: &dyn Fn(&Attributes) -> f64| -> Result<Vec<[f64; 2]>, String> {
            (0..n_classes)
                .map(|c| {
                    let v: Vec<f64> = attributes
                        .iter()
                        .zip(labels)
                        .filter(|(_, l)| **l as usize == c)
                        .map(|(a, _)| f(a))
                        .collect();
                    if v.is_empty() {
                        Err(format!("no digit of class {c} to fit its bins"))
                    } else {
                        Ok(tertiles(v))
                    }
                })
                .collect()
        };
        Ok(Self {
            thickness: per_class(&|a| a.thickness)?,
            area: per_class(&|a| a.area)?,
            slant: [-UPRIGHT, UPRIGHT],
        })
    }

    /// The words for a digit of class `digit` with these measures.
    pub fn describe(&self, digit: u8, a: &Attributes) -> Described {
        let c = (digit as usize).min(self.thickness.len() - 1);
        Described {
            digit,
            thickness: [Thickness::Thin, Thickness::Regular, Thickness::Thick]
                [bin(a.thickness, self.thickness[c])],
            slant: [Slant::Left, Slant::Upright, Slant::Right][bin(a.slant, self.slant)],
            size: [Size::Small, Size::Medium, Size::Large][bin(a.area, self.area[c])],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{measure, tests::bar};

    #[test]
    fn tertiles_split_a_set_in_thirds_and_describe_synthetic_bars() {
        // Upright bars of class 0 in three widths and three heights.
        let mut attrs = Vec::new();
        for width in [1, 2, 3] {
            for (top, bottom) in [(8, 19), (5, 22), (2, 25)] {
                attrs.push(measure(&bar(top, bottom, width, 0.0), 28));
            }
        }
        let labels = vec![0u8; attrs.len()];
        let bins = Bins::fit(&attrs, &labels, 2).unwrap_err();
        assert!(bins.contains("class 1"), "every class needs digits: {bins}");
        let bins = Bins::fit(&attrs, &labels, 1).unwrap();
        let words = |top, bottom, width, shear| {
            let d = bins.describe(0, &measure(&bar(top, bottom, width, shear), 28));
            (d.thickness, d.slant, d.size)
        };
        assert_eq!(
            words(2, 25, 3, 0.0),
            (Thickness::Thick, Slant::Upright, Size::Large)
        );
        assert_eq!(
            words(8, 19, 1, 0.0),
            (Thickness::Thin, Slant::Upright, Size::Small)
        );
        assert_eq!(
            words(5, 22, 2, 0.0),
            (Thickness::Regular, Slant::Upright, Size::Medium)
        );
        // Slant has fixed cuts: a shear of 0.3 either way leans, 0.05 does not.
        assert_eq!(words(5, 22, 2, 0.3).1, Slant::Right);
        assert_eq!(words(5, 22, 2, -0.3).1, Slant::Left);
        assert_eq!(words(5, 22, 2, 0.05).1, Slant::Upright);
    }
}

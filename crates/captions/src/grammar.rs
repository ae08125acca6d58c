//! # Captions from words
//!
//! `a [size,] [thickness,] [slant] <digit>`: each attribute is mentioned or left out, and the
//! digit is written as an English word, a numeral or its Persian name (the questions' original
//! language), so that a text model meets every combination. Which ones a caption uses is
//! decided by a `variant` number (a training step draws it), so captions are reproducible.

use crate::bins::{Described, Size, Slant, Thickness};

pub use digitlab_data::names::{ENGLISH, PERSIAN};

/// How the digit is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Numeral,
    Persian,
}

impl Language {
    fn name(self, digit: u8) -> String {
        let d = digit as usize % 10;
        match self {
            Language::English => ENGLISH[d].into(),
            Language::Numeral => d.to_string(),
            Language::Persian => PERSIAN[d].into(),
        }
    }
}

fn size_word(s: Size) -> &'static str {
    match s {
        Size::Small => "small",
        Size::Medium => "medium",
        Size::Large => "large",
    }
}

fn thickness_word(t: Thickness) -> &'static str {
    match t {
        Thickness::Thin => "thin",
        Thickness::Regular => "regular",
        Thickness::Thick => "thick",
    }
}

fn slant_word(s: Slant) -> &'static str {
    match s {
        Slant::Left => "left-slanted",
        Slant::Upright => "upright",
        Slant::Right => "right-slanted",
    }
}

/// The caption of `d` in form `variant`: bits 0, 1 and 2 mention size, thickness and slant;
/// `(variant >> 3) % 3` picks English, numeral or Persian for the digit.
pub fn caption(d: &Described, variant: u64) -> String {
    let language =
        [Language::English, Language::Numeral, Language::Persian][((variant >> 3) % 3) as usize];
    let mut words: Vec<&str> = Vec::new();
    if variant & 1 != 0 {
        words.push(size_word(d.size));
    }
    if variant & 2 != 0 {
        words.push(thickness_word(d.thickness));
    }
    if variant & 4 != 0 {
        words.push(slant_word(d.slant));
    }
    let name = language.name(d.digit);
    let first = words.first().copied().unwrap_or(&name);
    // "an eight", "an upright one", "an 8"
    let article = if first.starts_with(['a', 'e', 'i', 'o', 'u', '8']) || first == "11" {
        "an"
    } else {
        "a"
    };
    let adjectives = words.join(", ");
    if adjectives.is_empty() {
        format!("{article} {name}")
    } else {
        format!("{article} {adjectives} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seven() -> Described {
        Described {
            digit: 7,
            thickness: Thickness::Thick,
            slant: Slant::Right,
            size: Size::Large,
        }
    }

    #[test]
    fn every_variant_says_only_what_was_measured() {
        assert_eq!(caption(&seven(), 0), "a seven");
        assert_eq!(caption(&seven(), 2), "a thick seven");
        assert_eq!(caption(&seven(), 7), "a large, thick, right-slanted seven");
        assert_eq!(caption(&seven(), 8 + 2), "a thick 7");
        assert_eq!(caption(&seven(), 16 + 4), "a right-slanted هفت");
        let eight = Described {
            digit: 8,
            slant: Slant::Upright,
            ..seven()
        };
        assert_eq!(caption(&eight, 0), "an eight");
        assert_eq!(caption(&eight, 8), "an 8");
        assert_eq!(caption(&eight, 4), "an upright eight");
        // All 24 forms differ.
        let all: std::collections::HashSet<String> =
            (0..24).map(|v| caption(&seven(), v)).collect();
        assert_eq!(all.len(), 24);
    }
}

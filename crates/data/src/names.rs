//! # The digits' names
//!
//! Each digit written as an English word and as its Persian name (the questions' original
//! language): the captions of the text models use both, and the page names the digits in its
//! Persian locale with the same words.

pub const ENGLISH: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
pub const PERSIAN: [&str; 10] = [
    "صفر", "یک", "دو", "سه", "چهار", "پنج", "شش", "هفت", "هشت", "نه",
];

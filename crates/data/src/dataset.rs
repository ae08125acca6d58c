//! # Datasets on disk
//!
//! A folder holds up to two splits named as in LeCun's MNIST: `train-*` and `t10k-*` (here the
//! held-out split), each an images file (rank 3) and a labels file (rank 1), raw or `.gz`.
//! Fashion-MNIST and the full MNIST use the same names, so `--data DIR` accepts either.

use std::path::{Path, PathBuf};

use crate::DataError;
use crate::idx::{self, IdxArray};

/// Which half of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    /// Held out from training: used for evaluation only.
    Test,
}

impl Split {
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Images and labels of one split, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `len * rows * cols` bytes, row-major, 0 = background.
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.images[i * n..(i + 1) * n]
    }

    /// Largest label + 1.
    pub fn n_classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }

    /// Loads `split` from `dir`.
    pub fn load(dir: &Path, split: Split) -> Result<Self, DataError> {
        if !dir.is_dir() {
            return Err(DataError::MissingFolder(dir.display().to_string()));
        }
        let images_path = find(dir, split, "images", 3)?;
        let labels_path = find(dir, split, "labels", 1)?;
        let images = idx::read_rank(&images_path, Some(3))?;
        let labels = idx::read_rank(&labels_path, Some(1))?;
        let name = |p: &Path| p.display().to_string();
        if images.shape.len() != 3 {
            return Err(DataError::Invalid {
                path: name(&images_path),
                message: format!(
                    "expected a rank-3 image array, got shape {:?}",
                    images.shape
                ),
            });
        }
        if labels.shape.len() != 1 {
            return Err(DataError::Invalid {
                path: name(&labels_path),
                message: format!(
                    "expected a rank-1 label array, got shape {:?}",
                    labels.shape
                ),
            });
        }
        if images.shape[0] != labels.shape[0] {
            return Err(DataError::CountMismatch {
                images: name(&images_path),
                labels: name(&labels_path),
                n_images: images.shape[0],
                n_labels: labels.shape[0],
            });
        }
        Ok(Self {
            rows: images.shape[1],
            cols: images.shape[2],
            images: images.data,
            labels: labels.data,
        })
    }

    /// Writes `split` into `dir` (raw IDX, atomically per file).
    pub fn save(&self, dir: &Path, split: Split) -> Result<(), DataError> {
        std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let p = split.prefix();
        idx::write(
            &dir.join(format!("{p}-images-idx3-ubyte")),
            &IdxArray {
                shape: vec![self.len(), self.rows, self.cols],
                data: self.images.clone(),
            },
        )?;
        idx::write(
            &dir.join(format!("{p}-labels-idx1-ubyte")),
            &IdxArray {
                shape: vec![self.len()],
                data: self.labels.clone(),
            },
        )
    }
}

/// Finds `<prefix>-<what>-idx<rank>-ubyte` (also with `.` instead of the last `-`, and `.gz`).
fn find(dir: &Path, split: Split, what: &str, rank: usize) -> Result<PathBuf, DataError> {
    let p = split.prefix();
    let candidates: Vec<String> = [
        format!("{p}-{what}-idx{rank}-ubyte"),
        format!("{p}-{what}.idx{rank}-ubyte"),
    ]
    .into_iter()
    .flat_map(|n| [n.clone(), format!("{n}.gz")])
    .collect();
    candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::MissingFile {
            what: format!("{} {what}", p),
            dir: dir.display().to_string(),
            candidates: candidates.join(", "),
        })
}

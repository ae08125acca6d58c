//! # IDX files
//!
//! The format of LeCun's MNIST files: a big-endian header (`0x00 0x00 type ndim`, then `ndim`
//! 32-bit sizes) followed by the data. Only unsigned bytes (type `0x08`) are used by digit
//! datasets: rank 1 for labels, rank 3 for images. Files ending in `.gz` are gzip streams.
//!
//! Written by hand (the format is a dozen lines) rather than through a crate: the ones on
//! crates.io are unmaintained and report a truncated file as a panic, not an error.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;

use crate::DataError;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads an IDX file (gzip when the name ends in `.gz`) and checks its header against its size.
pub fn read(path: &Path) -> Result<IdxArray, DataError> {
    read_rank(path, None)
}

/// [`read`], refusing any rank but `rank` by its magic number before the sizes are compared (a
/// labels header on an images file is named as such, not reported as trailing bytes).
pub fn read_rank(path: &Path, rank: Option<usize>) -> Result<IdxArray, DataError> {
    let raw = fs::read(path).map_err(io_err(path))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::Invalid {
                path: path.display().to_string(),
                message: format!("bad gzip stream: {e}"),
            })?;
        out
    } else {
        raw
    };
    let name = path.display().to_string();
    if let (Some(rank), Some(&found)) = (rank, bytes.get(3))
        && bytes.len() >= 4
        && bytes[..3] == [0, 0, 0x08]
        && found as usize != rank
    {
        return Err(DataError::WrongRank {
            path: name,
            magic: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            expected: 0x0800 | rank as u32,
        });
    }
    parse(&bytes, &name)
}

/// Parses IDX bytes; `name` appears in errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<IdxArray, DataError> {
    let truncated = |expected| DataError::Truncated {
        path: name.to_string(),
        expected,
        actual: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(truncated(4));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let rank = bytes[3] as usize;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || !(1..=4).contains(&rank) {
        return Err(DataError::BadMagic {
            path: name.to_string(),
            magic,
        });
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(truncated(header));
    }
    let shape: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(len) = len.and_then(|l| l.checked_add(header)) else {
        return Err(DataError::Invalid {
            path: name.to_string(),
            message: format!("shape {shape:?} is too large"),
        });
    };
    if bytes.len() < len {
        return Err(DataError::Truncated {
            path: name.to_string(),
            expected: len - header,
            actual: bytes.len() - header,
        });
    }
    if bytes.len() > len {
        return Err(DataError::TrailingBytes {
            path: name.to_string(),
            found: bytes.len() - len,
        });
    }
    Ok(IdxArray {
        shape,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes an array as IDX bytes.
pub fn encode(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.shape.len() as u8];
    for &d in &array.shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

/// Writes an IDX file atomically: a temporary file in the same folder, then a rename, so a
/// crash never leaves a half-written dataset.
pub fn write(path: &Path, array: &IdxArray) -> Result<(), DataError> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut file = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&encode(array)).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, path).map_err(io_err(path))
    })();
    // A failed write (a full disk, a folder in the way) leaves neither the target nor the
    // temporary file. Written by hand rather than with `tempfile`, which this crate, also
    // built for the page, does not depend on.
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdxArray {
        IdxArray {
            shape: vec![2, 2, 3],
            data: (0..12).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let a = sample();
        assert_eq!(parse(&encode(&a), "x").unwrap(), a);
    }

    #[test]
    fn each_malformed_file_gets_its_error() {
        let good = encode(&sample());
        assert!(matches!(
            parse(&good[..2], "x"),
            Err(DataError::Truncated { .. })
        ));
        let mut bad = good.clone();
        bad[2] = 0x0D; // float data
        assert!(matches!(parse(&bad, "x"), Err(DataError::BadMagic { .. })));
        assert!(matches!(
            parse(&good[..good.len() - 1], "x"),
            Err(DataError::Truncated {
                expected: 12,
                actual: 11,
                ..
            })
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            parse(&long, "x"),
            Err(DataError::TrailingBytes { found: 1, .. })
        ));
        let mut huge = good;
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        huge[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&huge, "x").is_err());
    }
}

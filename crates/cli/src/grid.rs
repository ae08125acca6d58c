//! # Image grids
//!
//! Digits as PNG: a grid of `[n, 1, h, w]` samples in `[-1, 1]`, with a 2-pixel gutter.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use digitlab_models::pixels::unit_to_bytes;
use image::{GrayImage, ImageFormat};

use crate::files;

const GUTTER: u32 = 2;

/// Lays out `images` (`[n, 1, h, w]`) in rows of `columns`.
pub fn grid(images: &Tensor<4>, columns: usize) -> GrayImage {
    let [n, _, h, w] = images.dims();
    let bytes = unit_to_bytes(
        &images
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 images"),
    );
    let columns = columns.clamp(1, n.max(1));
    let rows = n.div_ceil(columns);
    let (h, w) = (h as u32, w as u32);
    let mut img = GrayImage::from_pixel(
        columns as u32 * (w + GUTTER) + GUTTER,
        rows as u32 * (h + GUTTER) + GUTTER,
        image::Luma([40]),
    );
    for i in 0..n {
        let (gx, gy) = ((i % columns) as u32, (i / columns) as u32);
        for y in 0..h {
            for x in 0..w {
                let v = bytes[i * (h * w) as usize + (y * w + x) as usize];
                img.put_pixel(
                    GUTTER + gx * (w + GUTTER) + x,
                    GUTTER + gy * (h + GUTTER) + y,
                    image::Luma([v]),
                );
            }
        }
    }
    img
}

/// Writes a PNG atomically.
pub fn save_png(img: &GrayImage, path: &Path) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, ImageFormat::Png)
        .context("encoding PNG")?;
    files::write_atomic(path, bytes.get_ref())
}

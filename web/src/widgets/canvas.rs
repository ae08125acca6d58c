//! # Drawing digits
//!
//! The grid has the layout of `digitlab sample`'s PNG (2-pixel gutters of grey 40,
//! `ceil(sqrt(n))` columns), drawn at 1 canvas pixel per image pixel and scaled up by CSS,
//! so the canvas holds exactly the PNG's pixels: the page's "Save PNG" and the CLI's file can
//! be compared pixel by pixel.

use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement, ImageData};

pub use digitlab_ui::grid::{grid_bytes, grid_bytes_in};

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

/// Paints grey levels into the canvas, resizing it to `w x h`.
pub fn paint_grey(canvas: &HtmlCanvasElement, w: usize, h: usize, grey: &[u8]) {
    if canvas.width() != w as u32 || canvas.height() != h as u32 {
        canvas.set_width(w as u32);
        canvas.set_height(h as u32);
        crisp_width(canvas, w);
    }
    let mut rgba = Vec::with_capacity(grey.len() * 4);
    for &g in grey {
        rgba.extend_from_slice(&[g, g, g, 255]);
    }
    if let (Some(ctx), Ok(img)) = (
        context(canvas),
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w as u32, h as u32),
    ) {
        let _ = ctx.put_image_data(&img, 0.0, 0.0);
    }
}

pub fn paint_grid(canvas: &HtmlCanvasElement, values: &[f32], n: usize, side: usize) {
    let (w, h, grey) = grid_bytes(values, n, side);
    paint_grey(canvas, w, h, &grey);
}

/// Gives a digit grid the largest CSS width that is a whole multiple of its `w` pixels within
/// the width its class asks for (a grid 384 px, `small` 160 px), so every image pixel covers
/// the same number of screen pixels and the digits stay crisp. Strips and the VAE's plane keep
/// their stylesheet sizes.
fn crisp_width(canvas: &HtmlCanvasElement, w: usize) {
    let class = canvas.class_name();
    let classes: Vec<&str> = class.split_whitespace().collect();
    if !classes.contains(&"digits") || classes.contains(&"strip") || classes.contains(&"manifold") {
        return;
    }
    let target = if classes.contains(&"small") { 160 } else { 384 };
    let k = (target / w.max(1)).max(1);
    let _ = canvas
        .style()
        .set_property("width", &format!("{}px", k * w));
}

/// `n` images in one row.
pub fn paint_strip(canvas: &HtmlCanvasElement, values: &[f32], n: usize, side: usize) {
    let (w, h, grey) = grid_bytes_in(values, n, side, n);
    paint_grey(canvas, w, h, &grey);
}

/// Draws the picture at `url` (a PNG beside the page) into the canvas, pixel for pixel: the
/// browser decodes it, so the page needs no PNG decoder of its own.
pub async fn paint_url(canvas: &HtmlCanvasElement, url: &str) -> Result<(), String> {
    let img = HtmlImageElement::new().map_err(|e| format!("{e:?}"))?;
    img.set_src(url);
    JsFuture::from(img.decode())
        .await
        .map_err(|_| format!("{url} did not load"))?;
    canvas.set_width(img.natural_width());
    canvas.set_height(img.natural_height());
    crisp_width(canvas, img.natural_width() as usize);
    let ctx = context(canvas).ok_or("no 2-D context")?;
    ctx.draw_image_with_html_image_element(&img, 0.0, 0.0)
        .map_err(|e| format!("{e:?}"))
}

/// Offers `grey` (`w x h`, one byte per pixel) as a PNG download, drawn on a canvas that is
/// never shown (the Edit view's mask, which the page shows as a red overlay instead).
pub fn save_grey(w: usize, h: usize, grey: &[u8], name: &str) -> Result<(), String> {
    let canvas: HtmlCanvasElement = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?
        .create_element("canvas")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "no canvas")?;
    canvas.set_width(w as u32);
    canvas.set_height(h as u32);
    paint_grey(&canvas, w, h, grey);
    save_png(&canvas, name)
}

/// Offers the canvas as a PNG download.
pub fn save_png(canvas: &HtmlCanvasElement, name: &str) -> Result<(), String> {
    let url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|e| format!("{e:?}"))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    Ok(())
}

//! # Line plots on a canvas
//!
//! Just enough for the schedule curves: a few series over a shared x range, optional log-10
//! y axis, a vertical marker. Written here rather than pulled from a plotting crate because
//! plotters' canvas backend would add its own web-sys surface for three curves.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

pub struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub points: &'a [(f64, f64)],
}

pub struct Plot<'a> {
    pub title: &'a str,
    pub log_y: bool,
    pub marker_x: Option<f64>,
    pub series: Vec<Series<'a>>,
    /// Draw only this y range; values outside are clamped to its edge and the plot says so
    /// (an infinite or exploding curve is shown clipped, never as a broken line).
    pub y_range: Option<(f64, f64)>,
    pub x_label: &'a str,
}

pub fn draw(canvas: &HtmlCanvasElement, plot: &Plot) {
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (left, right, top, bottom) = (48.0, 8.0, 20.0, 22.0);
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, w, h);
    let mut clipped = false;
    let clamp = |y: f64| match plot.y_range {
        Some((lo, hi)) => y.clamp(lo, hi),
        None => y,
    };
    for s in &plot.series {
        for &(_, y) in s.points {
            if let Some((lo, hi)) = plot.y_range
                && (y > hi || y < lo || y.is_infinite())
            {
                clipped = true;
            }
        }
    }
    let ty = |y: f64| {
        let y = clamp(y);
        if plot.log_y { y.max(1e-12).log10() } else { y }
    };
    let pts = plot.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        let y = ty(y);
        if !y.is_finite() {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if let Some((lo, hi)) = plot.y_range
        && !plot.log_y
    {
        (y0, y1) = (lo, hi); // a fixed axis: curves beyond it are clamped and labelled
    }
    if x0 >= x1 || y0 > y1 {
        return;
    }
    if y0 == y1 {
        y1 = y0 + 1.0;
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| top + (1.0 - (ty(y) - y0) / (y1 - y0)) * (h - top - bottom);
    ctx.set_stroke_style_str("#999");
    ctx.set_line_width(1.0);
    ctx.stroke_rect(left, top, w - left - right, h - top - bottom);
    ctx.set_fill_style_str("#222");
    ctx.set_font("12px sans-serif");
    let _ = ctx.fill_text(plot.title, left, 14.0);
    if clipped {
        ctx.set_fill_style_str("#b00");
        let _ = ctx.fill_text(
            "(clipped: values beyond the axis)",
            left + 8.0 + ctx.measure_text(plot.title).map_or(100.0, |m| m.width()),
            14.0,
        );
        ctx.set_fill_style_str("#222");
    }
    let fmt = |v: f64| {
        if plot.log_y {
            format!("1e{v:.0}")
        } else if v.abs() < 0.01 && v != 0.0 {
            format!("{v:.0e}")
        } else {
            format!("{v:.2}")
        }
    };
    let _ = ctx.fill_text(&fmt(y1), 2.0, top + 10.0);
    let _ = ctx.fill_text(&fmt(y0), 2.0, h - bottom);
    let fx = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let _ = ctx.fill_text(&fx(x0), left, h - 6.0);
    let _ = ctx.fill_text(
        &format!("{} = {}", plot.x_label, fx(x1)),
        w - right - 80.0,
        h - 6.0,
    );
    for (k, s) in plot.series.iter().enumerate() {
        ctx.set_stroke_style_str(s.color);
        ctx.set_line_width(1.5);
        ctx.begin_path();
        let mut started = false;
        for &(x, y) in s.points {
            if !ty(y).is_finite() {
                started = false;
                continue;
            }
            if started {
                ctx.line_to(px(x), py(y));
            } else {
                ctx.move_to(px(x), py(y));
                started = true;
            }
        }
        ctx.stroke();
        ctx.set_fill_style_str(s.color);
        let _ = ctx.fill_text(s.label, w - right - 140.0, top + 14.0 + 14.0 * k as f64);
    }
    if let Some(m) = plot.marker_x {
        ctx.set_stroke_style_str("#d33");
        ctx.begin_path();
        ctx.move_to(px(m), top);
        ctx.line_to(px(m), h - bottom);
        ctx.stroke();
    }
}

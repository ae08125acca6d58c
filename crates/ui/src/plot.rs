//! # Line plots, laid out
//!
//! Just enough for the page's curves: a few series over a shared x range, an optional log-10
//! y axis, a vertical marker, and a fixed y range beyond which curves are clamped *and
//! labelled* (an infinite or exploding divergence is drawn at the axis edge with "clipped",
//! never as a broken line). [`layout`] turns a [`Plot`] into a [`Drawing`]: plain marks in
//! pixel coordinates, which the page renders as SVG (its `Chart` component).
//!
//! Laid out here rather than by a plotting crate: plotters with its canvas backend would bring
//! a second drawing stack and its own `web-sys` surface for a handful of polylines, and SVG
//! stays crisp at any zoom and can be inspected in the DOM.

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
    /// Draw only this y range; values outside are clamped to its edge and the plot says so.
    pub y_range: Option<(f64, f64)>,
    pub x_label: &'a str,
}

/// One thing to draw, in pixels of a `WIDTH x HEIGHT` view box.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// An SVG `points` list.
    Line {
        points: String,
        color: String,
        width: f64,
    },
    Text {
        x: f64,
        y: f64,
        text: String,
        color: String,
        end: bool,
    },
    Frame {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
}

/// A laid-out plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawing {
    pub marks: Vec<Mark>,
    /// The plot clamped some values to its y range.
    pub clipped: bool,
}

pub const WIDTH: f64 = 340.0;
pub const HEIGHT: f64 = 200.0;

fn text(x: f64, y: f64, s: impl Into<String>, color: &str, end: bool) -> Mark {
    Mark::Text {
        x,
        y,
        text: s.into(),
        color: color.into(),
        end,
    }
}

/// A label's runs of text, each `true` when it is a subscript: `p_data` is `p` then `data`
/// lowered, `x_{t-1}` is `x` then `t-1` (a run after `_` ends at the first character that is
/// not a letter or digit). The page draws them as SVG `<tspan>`s, so a series name reads as
/// notation rather than TeX.
pub fn subscripts(label: &str) -> Vec<(String, bool)> {
    let mut runs: Vec<(String, bool)> = Vec::new();
    let mut push = |s: &str, sub: bool| {
        if !s.is_empty() {
            runs.push((s.to_string(), sub));
        }
    };
    let mut rest = label;
    while let Some(i) = rest.find('_') {
        push(&rest[..i], false);
        let after = &rest[i + 1..];
        let (sub, next) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            (&braced[..end], braced.get(end + 1..).unwrap_or(""))
        } else {
            let end = after
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        push(sub, true);
        rest = next;
    }
    push(rest, false);
    runs
}

/// Decimals enough to tell `lo` from `hi` apart.
fn tick(v: f64, span: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let decimals = if span > 0.0 {
        (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    format!("{v:.decimals$}")
}

pub fn layout(plot: &Plot) -> Drawing {
    let (w, h) = (WIDTH, HEIGHT);
    let (left, right, top, bottom) = (48.0, 8.0, 20.0, 22.0);
    let clamp = |y: f64| match plot.y_range {
        Some((lo, hi)) => y.clamp(lo, hi),
        None => y,
    };
    let clipped = plot.y_range.is_some_and(|(lo, hi)| {
        plot.series
            .iter()
            .flat_map(|s| s.points.iter())
            .any(|&(_, y)| y > hi || y < lo || y.is_infinite())
    });
    let ty = |y: f64| {
        let y = clamp(y);
        if plot.log_y { y.max(1e-12).log10() } else { y }
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in plot.series.iter().flat_map(|s| s.points.iter()) {
        let y = ty(y);
        if !y.is_finite() || !x.is_finite() {
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
    let mut marks = vec![Mark::Frame {
        x: left,
        y: top,
        w: w - left - right,
        h: h - top - bottom,
    }];
    marks.push(text(left, 14.0, plot.title, "#222", false));
    if clipped {
        marks.push(text(
            w - right,
            14.0,
            "clipped: values beyond the axis",
            "#b00",
            true,
        ));
    }
    if x0 >= x1 || y0 > y1 {
        return Drawing { marks, clipped };
    }
    if y0 == y1 {
        y1 = y0 + 1.0;
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| top + (1.0 - (ty(y) - y0) / (y1 - y0)) * (h - top - bottom);
    let ylab = |v: f64| {
        if plot.log_y {
            format!("1e{v:.0}")
        } else {
            tick(v, y1 - y0)
        }
    };
    marks.push(text(left - 4.0, top + 10.0, ylab(y1), "#222", true));
    marks.push(text(left - 4.0, h - bottom, ylab(y0), "#222", true));
    marks.push(text(left, h - 6.0, tick(x0, x1 - x0), "#222", false));
    marks.push(text(
        w - right,
        h - 6.0,
        format!("{} = {}", plot.x_label, tick(x1, x1 - x0)),
        "#222",
        true,
    ));
    for (k, s) in plot.series.iter().enumerate() {
        // A non-finite value (log of 0, NaN) ends one polyline and the next finite one starts
        // another.
        let mut run = String::new();
        let flush = |run: &mut String, marks: &mut Vec<Mark>| {
            if !run.is_empty() {
                marks.push(Mark::Line {
                    points: std::mem::take(run),
                    color: s.color.into(),
                    width: 1.5,
                });
            }
        };
        for &(x, y) in s.points {
            if !ty(y).is_finite() || !x.is_finite() {
                flush(&mut run, &mut marks);
                continue;
            }
            run.push_str(&format!("{:.1},{:.1} ", px(x), py(y)));
        }
        flush(&mut run, &mut marks);
        marks.push(text(
            w - right - 4.0,
            top + 14.0 + 14.0 * k as f64,
            s.label,
            s.color,
            true,
        ));
    }
    if let Some(m) = plot.marker_x
        && m.is_finite()
    {
        let x = px(m.clamp(x0, x1));
        marks.push(Mark::Line {
            points: format!("{x:.1},{top:.1} {x:.1},{:.1}", h - bottom),
            color: "#d33".into(),
            width: 1.0,
        });
    }
    Drawing { marks, clipped }
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_split_into_subscripts() {
        use super::subscripts;
        let s = |v: &[(&str, bool)]| {
            v.iter()
                .map(|(t, b)| (t.to_string(), *b))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            subscripts("KL(p_g||p_data)"),
            s(&[
                ("KL(p", false),
                ("g", true),
                ("||p", false),
                ("data", true),
                (")", false)
            ])
        );
        assert_eq!(
            subscripts("x_{t-1} end"),
            s(&[("x", false), ("t-1", true), (" end", false)])
        );
        assert_eq!(subscripts("theta"), s(&[("theta", false)]));
        assert_eq!(subscripts(""), s(&[]));
    }

    use super::*;

    #[test]
    fn values_beyond_the_range_are_clamped_and_labelled() {
        let pts = [(0.0, 0.5), (1.0, f64::INFINITY), (2.0, 10.0)];
        let d = layout(&Plot {
            title: "t",
            log_y: false,
            marker_x: None,
            series: vec![Series {
                label: "s",
                color: "#000",
                points: &pts,
            }],
            y_range: Some((0.0, 4.0)),
            x_label: "x",
        });
        assert!(d.clipped);
        let lines: Vec<_> = d
            .marks
            .iter()
            .filter(|m| matches!(m, Mark::Line { .. }))
            .collect();
        assert_eq!(lines.len(), 1, "one unbroken line: {lines:?}");
    }
}

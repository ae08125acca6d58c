//! # `p_g = N(theta, eps^2)` against `p_data = N(theta0, eps^2)`
//!
//! All four divergences depend on `d = |theta - theta0| / eps` only (they are invariant under
//! a shift and a common scaling), so Jensen-Shannon is integrated once, in standard units:
//! with `P = N(0, 1)`, `Q = N(d, 1)` and `M = (P + Q) / 2`, both halves of JS are equal and
//!
//! ```text
//! JS(d) = log 2 - E_{z ~ N(0,1)}[ softplus(d z - d^2/2) ],
//! dJS/dd = -E_{z ~ N(0,1)}[ sigmoid(d z - d^2/2) (z - d) ],
//! ```
//!
//! since `log q(z) - log p(z) = d z - d^2/2`. The softplus form never overflows: at
//! `eps = 1e-4` and `|theta - theta0| = 1` (`d = 1e4`) the integrand is exactly 0 and JS is
//! exactly `log 2`, with derivative 0.

use serde::Serialize;

use crate::quadrature::{normal_expectation, sigmoid, softplus};

/// An input the formulas have no answer for.
#[derive(Debug, Clone, PartialEq)]
pub enum BadInput {
    Eps(f64),
    Theta(f64),
}

impl std::error::Error for BadInput {}

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadInput::Eps(e) => write!(f, "eps must be a finite number > 0, got {e}"),
            BadInput::Theta(t) => write!(f, "theta and theta0 must be finite, got {t}"),
        }
    }
}

/// The divergences and their derivatives in `theta` at one `theta`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub theta: f64,
    /// `KL(p_g || p_data)`
    pub kl_g_data: f64,
    /// `KL(p_data || p_g)` (equal to the other for equal variances)
    pub kl_data_g: f64,
    pub js: f64,
    pub w1: f64,
    pub d_kl_g_data: f64,
    pub d_kl_data_g: f64,
    pub d_js: f64,
    pub d_w1: f64,
}

/// Jensen-Shannon divergence (natural log) between `N(0,1)` and `N(d,1)`, `d >= 0`.
pub fn js_standard(d: f64) -> f64 {
    let d = d.abs();
    if d == 0.0 {
        return 0.0; // identical distributions (the quadrature would leave ~1e-15)
    }
    (std::f64::consts::LN_2 - normal_expectation(|z| softplus(d * z - 0.5 * d * d))).max(0.0)
}

/// `dJS/dd` for [`js_standard`].
pub fn js_standard_derivative(d: f64) -> f64 {
    let d = d.abs();
    -normal_expectation(|z| sigmoid(d * z - 0.5 * d * d) * (z - d))
}

fn check(theta: f64, theta0: f64, eps: f64) -> Result<(), BadInput> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(BadInput::Eps(eps));
    }
    for t in [theta, theta0] {
        if !t.is_finite() {
            return Err(BadInput::Theta(t));
        }
    }
    Ok(())
}

pub fn point(theta: f64, theta0: f64, eps: f64) -> Result<Point, BadInput> {
    check(theta, theta0, eps)?;
    let delta = theta - theta0;
    let d = delta.abs() / eps;
    let kl = delta * delta / (2.0 * eps * eps);
    let d_kl = delta / (eps * eps);
    let sign = if delta > 0.0 {
        1.0
    } else if delta < 0.0 {
        -1.0
    } else {
        0.0
    };
    Ok(Point {
        theta,
        kl_g_data: kl,
        kl_data_g: kl,
        js: js_standard(d),
        w1: delta.abs(),
        d_kl_g_data: d_kl,
        d_kl_data_g: d_kl,
        // `+ 0.0` turns the -0.0 of a vanished gradient into 0.0.
        d_js: js_standard_derivative(d) * sign / eps + 0.0,
        d_w1: sign,
    })
}

/// The curves over `points` values of theta evenly spaced in `[lo, hi]`.
pub fn curves(
    theta0: f64,
    eps: f64,
    lo: f64,
    hi: f64,
    points: usize,
) -> Result<Vec<Point>, BadInput> {
    let n = points.max(2);
    (0..n)
        .map(|i| point(lo + (hi - lo) * i as f64 / (n - 1) as f64, theta0, eps))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::LN_2;

    /// JS integrated directly in x, independently of the softplus identity: trapezoid on a
    /// fine grid with log-sum-exp for the mixture.
    fn js_direct(d: f64) -> f64 {
        let logn =
            |x: f64, m: f64| -0.5 * (x - m) * (x - m) - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let (lo, hi, n) = (-14.0, d + 14.0, 200_000);
        let h = (hi - lo) / n as f64;
        let mut sum = 0.0;
        for i in 0..=n {
            let x = lo + i as f64 * h;
            let (lp, lq) = (logn(x, 0.0), logn(x, d));
            let lm = lp.max(lq) + ((lp - lp.max(lq)).exp() + (lq - lp.max(lq)).exp()).ln() - LN_2;
            let f = 0.5 * lp.exp() * (lp - lm) + 0.5 * lq.exp() * (lq - lm);
            sum += if i == 0 || i == n { 0.5 * f } else { f };
        }
        sum * h
    }

    #[test]
    fn kl_is_the_closed_form_in_both_directions() {
        let p = point(1.5, 0.5, 0.2).unwrap();
        assert!((p.kl_g_data - 1.0 / (2.0 * 0.04)).abs() < 1e-12);
        assert_eq!(p.kl_g_data, p.kl_data_g);
        assert!((p.d_kl_g_data - 1.0 / 0.04).abs() < 1e-9);
        assert_eq!(p.w1, 1.0);
        assert_eq!(p.d_w1, 1.0);
        assert_eq!(point(-1.0, 0.0, 0.2).unwrap().d_w1, -1.0);
    }

    #[test]
    fn js_matches_an_independent_integration() {
        for d in [0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0] {
            let (a, b) = (js_standard(d), js_direct(d));
            assert!((a - b).abs() < 1e-8, "d = {d}: {a} vs {b}");
        }
    }

    #[test]
    fn js_limits_small_and_large_separation() {
        assert_eq!(js_standard(0.0), 0.0);
        // For nearby Gaussians JS ~ KL / 4 = d^2 / 8.
        let d: f64 = 0.01;
        assert!((js_standard(d) / (d * d / 8.0) - 1.0).abs() < 1e-3);
        // Far apart: log 2, reached without NaN or overflow.
        let p = point(1.0, 0.0, 1e-4).unwrap();
        assert_eq!(p.js, LN_2);
        assert_eq!(p.d_js, 0.0);
        assert!(p.kl_g_data.is_finite() && p.kl_g_data > 1e7);
        assert!(p.d_kl_g_data > 1e7);
    }

    #[test]
    fn js_derivative_matches_finite_differences() {
        for (theta, eps) in [(0.3, 1.0), (1.0, 0.5), (-0.7, 0.4), (2.0, 0.3)] {
            let h = 1e-5;
            let fd = (point(theta + h, 0.0, eps).unwrap().js
                - point(theta - h, 0.0, eps).unwrap().js)
                / (2.0 * h);
            let an = point(theta, 0.0, eps).unwrap().d_js;
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + an.abs()),
                "theta {theta}, eps {eps}: {fd} vs {an}"
            );
        }
    }

    #[test]
    fn the_js_gradient_vanishes_as_eps_shrinks() {
        // At |theta - theta0| = 1 the gradient first grows while d = 1/eps is small (the
        // curve steepens), then vanishes once the Gaussians stop overlapping.
        let grad = |eps: f64| point(1.0, 0.0, eps).unwrap().d_js.abs();
        assert!(grad(0.5) > grad(1.0));
        let grads: Vec<f64> = [0.2, 0.1, 0.05, 0.03, 0.01]
            .iter()
            .map(|&e| grad(e))
            .collect();
        assert!(grads.windows(2).all(|w| w[1] <= w[0]), "{grads:?}");
        assert!(
            grads[1] < 1e-4 && grads[3] < 1e-90 && grads[4] == 0.0,
            "{grads:?}"
        );
    }

    #[test]
    fn refuses_bad_inputs() {
        assert!(point(0.0, 0.0, 0.0).is_err());
        assert!(point(0.0, 0.0, -1.0).is_err());
        assert!(point(f64::NAN, 0.0, 1.0).is_err());
        assert!(point(0.0, f64::INFINITY, 1.0).is_err());
    }
}

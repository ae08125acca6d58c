//! # Disjoint supports: the WGAN paper's example
//!
//! `Z ~ U[0, 1]`, `P_0` the law of `(0, Z)` and `P_theta` that of `(theta, Z)`: two vertical
//! segments in the plane. For `theta != 0` they do not overlap, so
//!
//! - `KL(P_theta || P_0) = KL(P_0 || P_theta) = +infinity` (a density ratio of 1/0 on a set of
//!   positive mass),
//! - `JS = log 2` (each point belongs to one distribution only: `m = p/2` there),
//! - `W1 = |theta|` (move every point horizontally by `theta`),
//!
//! and at `theta = 0` all three are 0. JS is flat, so its gradient is 0 everywhere but at 0;
//! only `W1` tells a generator which way to move.

use serde::Serialize;

use crate::Value;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub theta: f64,
    pub kl: Value,
    pub js: f64,
    pub w1: f64,
    /// Derivative of JS in theta (0 away from theta = 0, where JS jumps).
    pub d_js: f64,
    pub d_w1: f64,
}

pub fn point(theta: f64) -> Point {
    if theta == 0.0 {
        return Point {
            theta,
            kl: Value::Finite(0.0),
            js: 0.0,
            w1: 0.0,
            d_js: 0.0,
            d_w1: 0.0,
        };
    }
    Point {
        theta,
        kl: Value::Infinite,
        js: std::f64::consts::LN_2,
        w1: theta.abs(),
        d_js: 0.0,
        d_w1: theta.signum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_infinite_js_is_log2_w_is_the_distance() {
        let p = point(0.5);
        assert_eq!(p.kl, Value::Infinite);
        assert_eq!(p.kl.finite(), None);
        assert_eq!(p.js, std::f64::consts::LN_2);
        assert_eq!(p.w1, 0.5);
        assert_eq!(point(-2.0).d_w1, -1.0);
        let z = point(0.0);
        assert_eq!((z.kl, z.js, z.w1), (Value::Finite(0.0), 0.0, 0.0));
    }

    #[test]
    fn infinity_is_written_as_a_string_in_json() {
        let json = serde_json::to_string(&point(1.0)).unwrap();
        assert!(json.contains(r#""kl":"inf""#), "{json}");
        assert!(!json.contains("null"));
    }
}

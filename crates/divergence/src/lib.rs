//! # Divergences between two Gaussians, and between disjoint supports
//!
//! The questions' Q2: with `p_data = N(theta0, eps^2)` and `p_g = N(theta, eps^2)`, how do
//! KL, Jensen-Shannon and Wasserstein-1 (and their derivatives in `theta`) behave as
//! `eps -> 0`? Everything depends on `d = |theta - theta0| / eps`, the distance in standard
//! deviations:
//!
//! - `KL(p_g || p_data) = KL(p_data || p_g) = (theta - theta0)^2 / (2 eps^2) = d^2 / 2`, with
//!   derivative `(theta - theta0) / eps^2`: both blow up as `eps -> 0`.
//! - `JS` has no closed form: [`gaussian::js`] integrates it (see [`quadrature`]); it tends
//!   to `log 2` and its derivative to 0, the vanishing gradient that stalls a GAN.
//! - `W1 = |theta - theta0|`, derivative `sign(theta - theta0)`: independent of `eps`.
//!
//! [`disjoint`] is the WGAN paper's example (`P_0 = (0, Z)`, `P_theta = (theta, Z)`), where KL is
//! infinite: represented as [`Value::Infinite`], never as an overflowed float.

pub mod disjoint;
pub mod gaussian;
pub mod quadrature;

use serde::{Serialize, Serializer};

/// A divergence's value: finite, or `+infinity` (disjoint supports) kept as a case of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Finite(f64),
    Infinite,
}

impl Value {
    pub fn finite(self) -> Option<f64> {
        match self {
            Value::Finite(v) => Some(v),
            Value::Infinite => None,
        }
    }
}

/// JSON has no infinity: finite values are numbers, the infinite one is the string `"inf"`.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Finite(v) => s.serialize_f64(*v),
            Value::Infinite => s.serialize_str("inf"),
        }
    }
}

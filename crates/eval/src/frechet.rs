//! # Fréchet distance between feature Gaussians
//!
//! `d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})`
//! (Dowson & Landau 1982; Heusel et al. 2017 for FID). The matrix square roots are taken by
//! symmetric eigendecomposition (nalgebra), which stays real for the positive semi-definite
//! covariances here, unlike the general `sqrtm(S_1 S_2)` of the reference implementation.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of a set of feature vectors.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    pub count: usize,
}

impl FeatureStats {
    /// From `features`, `count * dim` values row-major. Needs at least two rows.
    pub fn new(features: &[f32], dim: usize) -> Self {
        assert!(
            dim > 0 && features.len().is_multiple_of(dim),
            "features must be whole rows"
        );
        let count = features.len() / dim;
        assert!(count >= 2, "a covariance needs at least two samples");
        let x = DMatrix::from_row_iterator(count, dim, features.iter().map(|&v| v as f64));
        let mean = x.row_mean().transpose();
        let centered = DMatrix::from_fn(count, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centered.transpose() * &centered / (count as f64 - 1.0);
        Self { mean, cov, count }
    }
}

/// Square root of a symmetric positive semi-definite matrix (negative round-off clipped).
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Fréchet distance `d^2` between two feature Gaussians.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    let diff = &a.mean - &b.mean;
    let sa = sqrt_psd(&a.cov);
    let inner = &sa * &b.cov * &sa;
    let cross = sqrt_psd(&inner).trace();
    (diff.dot(&diff) + a.cov.trace() + b.cov.trace() - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(mean: DVector<f64>, cov: DMatrix<f64>) -> FeatureStats {
        FeatureStats {
            mean,
            cov,
            count: 2,
        }
    }

    #[test]
    fn closed_forms() {
        // Identical Gaussians: 0.
        let c = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.5, 1.0]);
        let m = DVector::from_vec(vec![1.0, -1.0]);
        assert!(
            frechet_distance(&stats(m.clone(), c.clone()), &stats(m.clone(), c.clone())) < 1e-9
        );
        // Shifted mean only: |mu_1 - mu_2|^2.
        let shifted = DVector::from_vec(vec![4.0, 3.0]);
        let d = frechet_distance(&stats(m.clone(), c.clone()), &stats(shifted, c));
        assert!((d - 25.0).abs() < 1e-9, "{d}");
        // Commuting (diagonal) covariances: sum (sqrt(a_i) - sqrt(b_i))^2.
        let a = DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 9.0]));
        let b = DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 1.0]));
        let d = frechet_distance(&stats(m.clone(), a), &stats(m, b));
        assert!((d - (1.0 + 4.0)).abs() < 1e-9, "{d}");
    }

    #[test]
    fn stats_of_samples() {
        // Rows (0, 0), (2, 0), (0, 2), (2, 2): mean (1, 1), covariance 4/3 I.
        let s = FeatureStats::new(&[0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0], 2);
        assert_eq!(s.mean.as_slice(), &[1.0, 1.0]);
        assert!((s.cov[(0, 0)] - 4.0 / 3.0).abs() < 1e-12 && s.cov[(0, 1)].abs() < 1e-12);
    }
}

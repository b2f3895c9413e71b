//! The benchmark cases, shared by `benches/em_iteration.rs` and `examples/bench_gmm.rs` (which
//! writes the same data for the scikit-learn side of `cargo xtask bench`): seeded
//! Gaussian-mixture data and fixed initial parameters.

use elbo_distributions::DiagNormal;
use elbo_em::{Covariance, Covariances, GaussianGiven, GaussianMixture};
use ndarray::{Array1, Array2, Array3, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One benchmark case of the table.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Short name, used for file names and bench ids.
    pub name: &'static str,
    /// Rows.
    pub n: usize,
    /// Columns.
    pub d: usize,
    /// Components (of the data and of the model).
    pub k: usize,
    /// Covariance type of the model being fitted.
    pub covariance: Covariance,
    /// Seed of the data.
    pub seed: u64,
}

/// The three cases of the issue: 100k × 16 with K = 16 (full and diag) and 1M × 8 with K = 8.
pub const CASES: [Case; 3] = [
    Case {
        name: "n100k_d16_k16_full",
        n: 100_000,
        d: 16,
        k: 16,
        covariance: Covariance::Full,
        seed: 1,
    },
    Case {
        name: "n100k_d16_k16_diag",
        n: 100_000,
        d: 16,
        k: 16,
        covariance: Covariance::Diag,
        seed: 1,
    },
    Case {
        name: "n1m_d8_k8_diag",
        n: 1_000_000,
        d: 8,
        k: 8,
        covariance: Covariance::Diag,
        seed: 2,
    },
];

/// Samples `n` rows from a random mixture of `k` full-covariance Gaussians in `d` dimensions
/// (means N(0, 2²), covariances A Aᵀ/d + 0.3 I, weights uniform on [0.5, 1.5] normalised).
pub fn data(case: &Case) -> Array2<f64> {
    let (d, k) = (case.d, case.k);
    let mut rng = ChaCha8Rng::seed_from_u64(case.seed);
    let std = DiagNormal::standard(d).expect("d > 0");
    let mut weights = Array1::from_shape_fn(k, |_| rng.random_range(0.5..1.5));
    weights /= weights.sum();
    let means = std.sample_n(k, &mut rng) * 2.0;
    let mut covs = Array3::zeros((k, d, d));
    for c in 0..k {
        let a = std.sample_n(d, &mut rng);
        let mut cov = a.dot(&a.t()) / d as f64;
        for j in 0..d {
            cov[[j, j]] += 0.3;
        }
        covs.slice_mut(s![c, .., ..]).assign(&cov);
    }
    let truth = GaussianMixture::from_covariances(weights, means, Covariances::Full(covs))
        .expect("valid truth");
    truth.sample(case.n, &mut rng).0
}

/// Fixed initial parameters: uniform weights, means at the first `k` rows, and each
/// component's covariance the identity times the mean per-feature variance of the data.
pub fn start(case: &Case, x: &Array2<f64>) -> GaussianGiven {
    let (k, d) = (case.k, case.d);
    let weights = Array1::from_elem(k, 1.0 / k as f64);
    let means = x.slice(s![..k, ..]).to_owned();
    let var = x.var_axis(ndarray::Axis(0), 0.0).mean().expect("non-empty");
    let spread = match case.covariance {
        Covariance::Full => Covariances::Full(Array3::from_shape_fn((k, d, d), |(_, i, j)| {
            if i == j { var } else { 0.0 }
        })),
        Covariance::Tied => Covariances::Tied(Array2::eye(d) * var),
        Covariance::Diag => Covariances::Diag(Array2::from_elem((k, d), var)),
        Covariance::Spherical => Covariances::Spherical(Array1::from_elem(k, var)),
    };
    GaussianGiven::from_covariances(weights, means, spread)
}

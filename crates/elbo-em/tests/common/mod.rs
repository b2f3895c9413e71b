//! Helpers shared by the integration tests: seeded mixture data with known parameters, and an
//! independent reference for the mixture log-density (elbo-distributions' densities and
//! log-sum-exp, not elbo-em's kernels).

#![allow(dead_code)]

pub mod json;

use elbo_distributions::{LogDensity, MvNormal, log_sum_exp};
use elbo_em::{Covariances, GaussianMixture};
use ndarray::{Array1, Array2, Array3, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Three well-separated 2-d components with distinct full covariances.
pub fn separated_truth() -> GaussianMixture {
    let weights = Array1::from(vec![0.5, 0.3, 0.2]);
    let means = Array2::from_shape_vec((3, 2), vec![0.0, 0.0, 12.0, 2.0, -3.0, 14.0]).unwrap();
    let covs = Array3::from_shape_vec(
        (3, 2, 2),
        vec![1.0, 0.3, 0.3, 0.5, 0.6, -0.2, -0.2, 1.5, 2.0, 0.0, 0.0, 0.4],
    )
    .unwrap();
    GaussianMixture::from_covariances(weights, means, Covariances::Full(covs)).unwrap()
}

/// `n` rows from `truth`, with their labels.
pub fn sample(truth: &GaussianMixture, n: usize, seed: u64) -> (Array2<f64>, Array1<usize>) {
    truth.sample(n, &mut rng(seed))
}

/// ln p(x_i) under a mixture given by its parameters, computed row by row with
/// elbo-distributions' `MvNormal` and `log_sum_exp` (independent of elbo-em's E-step).
pub fn reference_log_density(model: &GaussianMixture, x: ArrayView2<'_, f64>) -> Array1<f64> {
    let d = model.n_features();
    let comps: Vec<MvNormal> = (0..model.n_components())
        .map(|k| {
            MvNormal::new(
                model.means().row(k).to_owned(),
                model.covariances().matrix(k, d),
            )
            .unwrap()
        })
        .collect();
    x.rows()
        .into_iter()
        .map(|row| {
            let terms: Vec<f64> = comps
                .iter()
                .zip(model.weights())
                .map(|(c, w)| w.ln() + c.ln_prob(row))
                .collect();
            log_sum_exp(&terms)
        })
        .collect()
}

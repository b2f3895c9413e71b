//! Synthetic mixtures with known truth, so experiments can show how close a fitted model gets
//! to the distribution that generated the data.
//!
//! Each generator takes its settings and a `seed`, draws the true parameters and then the
//! sample from a `ChaCha8Rng` (portable: same seed, same numbers on every platform), and
//! returns the sample with the parameters and the mean log-likelihood of the sample under
//! them, in nats. That log-likelihood is computed on the `f32` values stored in the data set,
//! the exact numbers a model will see.

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

pub use elbo_distributions::Covariance;

/// Settings of a synthetic Gaussian-mixture sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticGmm {
    /// Number of points N.
    pub n_samples: usize,
    /// Dimension d.
    pub n_features: usize,
    /// Number of components K.
    pub n_components: usize,
    /// Covariance shape of the true components.
    pub covariance: Covariance,
    /// Seed of everything random (parameters and sample).
    pub seed: u64,
}

/// The true parameters of a synthetic Gaussian mixture, and the sample's true log-likelihood.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmTruth {
    /// Mixing weights π, length K, summing to 1.
    pub weights: Array1<f64>,
    /// Means μ, K × d.
    pub means: Array2<f64>,
    /// Covariances Σ as full matrices, K × d × d, whatever the covariance type.
    pub covariances: Array3<f64>,
    /// The covariance type they were drawn with.
    pub covariance: Covariance,
    /// (1/N) Σ_n log p(x_n) under the true parameters, in nats.
    pub mean_log_likelihood: f64,
}

/// Settings of a synthetic Bernoulli-mixture sample (binary vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticBernoulli {
    /// Number of points N.
    pub n_samples: usize,
    /// Dimension d (number of binary pixels).
    pub n_features: usize,
    /// Number of components K.
    pub n_components: usize,
    /// Seed of everything random (parameters and sample).
    pub seed: u64,
}

/// The true parameters of a synthetic Bernoulli mixture, and the sample's true log-likelihood.
#[derive(Debug, Clone, PartialEq)]
pub struct BernoulliTruth {
    /// Mixing weights π, length K, summing to 1.
    pub weights: Array1<f64>,
    /// Pixel probabilities p, K × d, each in [0.05, 0.95].
    pub probs: Array2<f64>,
    /// (1/N) Σ_n log p(x_n) under the true parameters, in nats.
    pub mean_log_likelihood: f64,
}

fn check_sizes(n: usize, d: usize, k: usize) -> Result<()> {
    for (what, v) in [("n_samples", n), ("n_features", d), ("n_components", k)] {
        if v == 0 {
            return Err(DatasetError::invalid(what, "must be at least 1"));
        }
    }
    if n.checked_mul(d).is_none_or(|c| c > 1 << 31) {
        return Err(DatasetError::invalid(
            "n_samples x n_features",
            format!("{n} x {d} is too large to hold (at most 2^31 values)"),
        ));
    }
    Ok(())
}

/// Weights π_k ∝ 1 + U(0, 1): random, but no component gets less than half another's share.
fn draw_weights(k: usize, rng: &mut impl Rng) -> Array1<f64> {
    let raw = Array1::from_iter((0..k).map(|_| 1.0 + rng.random::<f64>()));
    let total = raw.sum();
    raw / total
}

/// Draws a component index from the weights by inverting the cumulative sum.
fn draw_component(weights: &Array1<f64>, rng: &mut impl Rng) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (k, &w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return k;
        }
    }
    weights.len() - 1
}

/// A random symmetric positive-definite matrix A Aᵀ / d + 0.25 I, A with N(0, 1) entries.
fn random_spd(d: usize, rng: &mut impl Rng) -> Array2<f64> {
    let a = Array2::from_shape_simple_fn((d, d), || StandardNormal.sample(rng));
    a.dot(&a.t()) / d as f64 + Array2::<f64>::eye(d) * 0.25
}

/// Lower Cholesky factor of a symmetric positive-definite matrix.
fn cholesky(s: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let d = s.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let mut sum = s[[i, j]];
            for p in 0..j {
                sum -= l[[i, p]] * l[[j, p]];
            }
            if i == j {
                if sum <= 0.0 {
                    return Err(DatasetError::invalid(
                        "covariance",
                        "not positive definite (internal error in the generator)",
                    ));
                }
                l[[i, i]] = sum.sqrt();
            } else {
                l[[i, j]] = sum / l[[j, j]];
            }
        }
    }
    Ok(l)
}

/// log N(x; μ, L Lᵀ) by forward substitution (`work` has length d).
fn ln_normal(
    x: ArrayView1<'_, f64>,
    mean: ArrayView1<'_, f64>,
    chol: &Array2<f64>,
    work: &mut [f64],
) -> f64 {
    let d = x.len();
    let mut quad = 0.0;
    let mut log_det = 0.0;
    for i in 0..d {
        let mut v = x[i] - mean[i];
        for j in 0..i {
            v -= chol[[i, j]] * work[j];
        }
        v /= chol[[i, i]];
        work[i] = v;
        quad += v * v;
        log_det += chol[[i, i]].ln();
    }
    -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + quad) - log_det
}

/// log Σ_k exp(a_k), stable.
fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Draws a Gaussian-mixture sample with random true parameters (means ~ N(0, 3² I); see
/// [`Covariance`] for the covariances), labelled by the component that generated each
/// point.
pub fn synthetic_gmm(config: &SyntheticGmm) -> Result<(Dataset, GmmTruth)> {
    let &SyntheticGmm {
        n_samples: n,
        n_features: d,
        n_components: k,
        covariance,
        seed,
    } = config;
    check_sizes(n, d, k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights = draw_weights(k, &mut rng);
    let means = Array2::from_shape_simple_fn((k, d), || {
        let v: f64 = StandardNormal.sample(&mut rng);
        3.0 * v
    });
    let mut covariances = Array3::<f64>::zeros((k, d, d));
    let tied = random_spd(d, &mut rng);
    for mut cov in covariances.outer_iter_mut() {
        match covariance {
            Covariance::Full => cov.assign(&random_spd(d, &mut rng)),
            Covariance::Tied => cov.assign(&tied),
            Covariance::Diag => {
                for j in 0..d {
                    cov[[j, j]] = rng.random_range(0.25..2.0);
                }
            }
            Covariance::Spherical => {
                let v = rng.random_range(0.25..2.0);
                cov.diag_mut().fill(v);
            }
        }
    }
    let chols = covariances
        .outer_iter()
        .map(cholesky)
        .collect::<Result<Vec<_>>>()?;

    let mut x = Array2::<f32>::zeros((n, d));
    let mut labels = Vec::with_capacity(n);
    let mut eps = vec![0.0f64; d];
    for mut row in x.outer_iter_mut() {
        let z = draw_component(&weights, &mut rng);
        labels.push(z);
        for e in &mut eps {
            *e = StandardNormal.sample(&mut rng);
        }
        let (l, mu) = (&chols[z], means.row(z));
        for i in 0..d {
            let dot: f64 = (0..=i).map(|j| l[[i, j]] * eps[j]).sum();
            row[i] = (mu[i] + dot) as f32;
        }
    }

    let mut work = vec![0.0; d];
    let mut terms = vec![0.0; k];
    let mut x64 = Array1::<f64>::zeros(d);
    let mut total = 0.0;
    for row in x.outer_iter() {
        x64.zip_mut_with(&row, |a, &b| *a = f64::from(b));
        for (c, t) in terms.iter_mut().enumerate() {
            *t = weights[c].ln() + ln_normal(x64.view(), means.row(c), &chols[c], &mut work);
        }
        total += log_sum_exp(&terms);
    }
    let mean_log_likelihood = total / n as f64;
    let dataset = Dataset::new("synthetic-gmm", x)
        .with_labels(labels)?
        .with_provenance(format!(
            "synthetic-gmm: N={n}, d={d}, K={k}, {covariance:?} covariance, seed {seed}"
        ));
    Ok((
        dataset,
        GmmTruth {
            weights,
            means,
            covariances,
            covariance,
            mean_log_likelihood,
        },
    ))
}

/// Draws a Bernoulli-mixture sample (values 0 or 1) with random true parameters
/// (p ~ U(0.05, 0.95)), labelled by the component that generated each point. When d is a
/// perfect square the rows are also marked as √d × √d images.
pub fn synthetic_bernoulli(config: &SyntheticBernoulli) -> Result<(Dataset, BernoulliTruth)> {
    let &SyntheticBernoulli {
        n_samples: n,
        n_features: d,
        n_components: k,
        seed,
    } = config;
    check_sizes(n, d, k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights = draw_weights(k, &mut rng);
    let probs = Array2::from_shape_simple_fn((k, d), || rng.random_range(0.05..0.95));
    let ln_p = probs.mapv(f64::ln);
    let ln_q = probs.mapv(|p| (1.0 - p).ln());

    let mut x = Array2::<f32>::zeros((n, d));
    let mut labels = Vec::with_capacity(n);
    let mut terms = vec![0.0; k];
    let mut total = 0.0;
    for mut row in x.outer_iter_mut() {
        let z = draw_component(&weights, &mut rng);
        labels.push(z);
        for (v, &p) in row.iter_mut().zip(probs.row(z)) {
            *v = if rng.random::<f64>() < p { 1.0 } else { 0.0 };
        }
        for (c, t) in terms.iter_mut().enumerate() {
            let ll: f64 = row
                .iter()
                .zip(ln_p.row(c).iter().zip(ln_q.row(c)))
                .map(|(&v, (&a, &b))| if v > 0.5 { a } else { b })
                .sum();
            *t = weights[c].ln() + ll;
        }
        total += log_sum_exp(&terms);
    }
    let mean_log_likelihood = total / n as f64;
    let side = (d as f64).sqrt().round() as usize;
    let mut dataset = Dataset::new("synthetic-bernoulli", x)
        .with_labels(labels)?
        .with_provenance(format!(
            "synthetic-bernoulli: N={n}, d={d}, K={k}, seed {seed}"
        ));
    if side * side == d {
        dataset = dataset.with_image_shape(side, side)?;
    }
    Ok((
        dataset,
        BernoulliTruth {
            weights,
            probs,
            mean_log_likelihood,
        },
    ))
}

//! Sampling at fixed seeds: moments within 5 standard errors, and goodness of fit at
//! significance 0.001 — Kolmogorov–Smirnov against statrs CDFs for continuous marginals,
//! χ² against statrs' χ² quantile for discrete ones (KS is not exact for discrete laws).

mod common;

use common::{ks_critical, ks_statistic, rng};
use elbo_distributions::{
    Bernoulli, Categorical, DiagNormal, Dirichlet, MvNormal, SphericalNormal, Wishart,
};
use ndarray::{Array1, Array2, Axis, array};
use statrs::distribution::{Beta, ChiSquared, ContinuousCDF, Normal};

const N: usize = 10_000;

#[track_caller]
fn assert_ks(samples: &[f64], cdf: impl Fn(f64) -> f64) {
    let d = ks_statistic(samples, cdf);
    let crit = ks_critical(samples.len());
    assert!(d < crit, "KS statistic {d} ≥ critical {crit}");
}

#[track_caller]
fn assert_mean_within_se(samples: &[f64], mean: f64, var: f64) {
    let m = samples.iter().sum::<f64>() / samples.len() as f64;
    let se = (var / samples.len() as f64).sqrt();
    assert!(
        (m - mean).abs() < 5.0 * se,
        "sample mean {m} vs {mean} (se {se})"
    );
}

#[test]
fn mv_normal_whitened_samples_are_standard_normal() {
    let mut r = rng(31);
    let mean = array![1.0, -2.0, 0.5];
    let cov = array![[2.0, 0.8, -0.3], [0.8, 1.0, 0.2], [-0.3, 0.2, 0.6]];
    let n = MvNormal::new(mean.clone(), cov.clone()).unwrap();
    let x = n.sample_n(N, &mut r);
    let std = Normal::new(0.0, 1.0).unwrap();
    // Pᵀ(x − μ) ~ N(0, I).
    let y = (&x - &mean).dot(&n.precision_cholesky());
    for col in y.columns() {
        assert_ks(&col.to_vec(), |v| std.cdf(v));
    }
    // Moments: mean within 5 SE; covariance entries within 5 SE.
    for j in 0..3 {
        assert_mean_within_se(&x.column(j).to_vec(), mean[j], cov[[j, j]]);
    }
    let c = &x - &x.mean_axis(Axis(0)).unwrap();
    let sample_cov = c.t().dot(&c) / (N as f64 - 1.0);
    for ((i, j), v) in sample_cov.indexed_iter() {
        let se = ((cov[[i, i]] * cov[[j, j]] + cov[[i, j]].powi(2)) / N as f64).sqrt();
        assert!((v - cov[[i, j]]).abs() < 5.0 * se, "cov[{i},{j}] {v}");
    }
    // One-at-a-time draws follow the same law.
    let single: Vec<f64> = (0..2000).map(|_| n.sample(&mut r)[0]).collect();
    let marginal = Normal::new(1.0, 2f64.sqrt()).unwrap();
    assert_ks(&single, |v| marginal.cdf(v));
}

#[test]
fn diag_and_spherical_normal_marginals() {
    let mut r = rng(32);
    let d = DiagNormal::new(array![3.0, -1.0], array![0.25, 9.0]).unwrap();
    let x = d.sample_n(N, &mut r);
    for (j, (m, v)) in [(3.0, 0.25), (-1.0, 9.0)].into_iter().enumerate() {
        let reference = Normal::new(m, f64::sqrt(v)).unwrap();
        assert_ks(&x.column(j).to_vec(), |t| reference.cdf(t));
        assert_mean_within_se(&x.column(j).to_vec(), m, v);
    }
    let one: Vec<f64> = (0..2000).map(|_| d.sample(&mut r)[1]).collect();
    let reference = Normal::new(-1.0, 3.0).unwrap();
    assert_ks(&one, |t| reference.cdf(t));

    let s = SphericalNormal::new(array![0.0, 5.0, -5.0], 4.0).unwrap();
    let x = s.sample_n(N, &mut r);
    for (j, m) in [0.0, 5.0, -5.0].into_iter().enumerate() {
        let reference = Normal::new(m, 2.0).unwrap();
        assert_ks(&x.column(j).to_vec(), |t| reference.cdf(t));
    }
    let one: Vec<f64> = (0..2000).map(|_| s.sample(&mut r)[2]).collect();
    let reference = Normal::new(-5.0, 2.0).unwrap();
    assert_ks(&one, |t| reference.cdf(t));
}

/// Pearson χ² statistic of observed counts against expected probabilities.
fn chi_square(counts: &[f64], probs: &[f64], n: f64) -> f64 {
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| (c - n * p).powi(2) / (n * p))
        .sum()
}

fn chi_square_critical(dof: f64) -> f64 {
    ChiSquared::new(dof).expect("dof > 0").inverse_cdf(0.999)
}

#[test]
fn bernoulli_frequencies() {
    let mut r = rng(33);
    let p = [0.05, 0.5, 0.8];
    let b = Bernoulli::from_probs(Array1::from(p.to_vec())).unwrap();
    let x = b.sample_n(N, &mut r);
    assert!(x.iter().all(|&v| v == 0.0 || v == 1.0));
    for (j, (&pj, col)) in p.iter().zip(x.columns()).enumerate() {
        let ones = col.sum();
        let stat = chi_square(&[ones, N as f64 - ones], &[pj, 1.0 - pj], N as f64);
        assert!(stat < chi_square_critical(1.0), "dim {j}: χ² {stat}");
        assert_mean_within_se(&col.to_vec(), pj, pj * (1.0 - pj));
    }
    let one: Vec<f64> = (0..4000).map(|_| b.sample(&mut r)[0]).collect();
    assert_mean_within_se(&one, 0.05, 0.05 * 0.95);
}

#[test]
fn categorical_frequencies() {
    let mut r = rng(34);
    let w = [0.1, 0.0, 0.5, 0.4];
    let c = Categorical::from_weights(Array1::from(w.to_vec())).unwrap();
    let idx = c.sample_n(N, &mut r);
    let mut counts = [0.0; 4];
    for &k in &idx {
        counts[k] += 1.0;
    }
    assert_eq!(counts[1], 0.0, "a zero-weight category was drawn");
    let stat = chi_square(
        &[counts[0], counts[2], counts[3]],
        &[0.1, 0.5, 0.4],
        N as f64,
    );
    assert!(stat < chi_square_critical(2.0), "χ² {stat}");
}

#[test]
fn dirichlet_marginals_are_betas() {
    let mut r = rng(35);
    // Includes concentrations below 1, which take the log-space path.
    for alpha in [array![2.0, 3.0, 0.5], array![0.1, 0.2, 0.3]] {
        let d = Dirichlet::new(alpha.clone()).unwrap();
        let x = d.sample_n(N, &mut r);
        for row in x.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12 && row.iter().all(|&v| v >= 0.0));
        }
        let a0 = alpha.sum();
        for k in 0..3 {
            let beta = Beta::new(alpha[k], a0 - alpha[k]).unwrap();
            assert_ks(&x.column(k).to_vec(), |t| beta.cdf(t));
            let m = alpha[k] / a0;
            assert_mean_within_se(&x.column(k).to_vec(), m, m * (1.0 - m) / (a0 + 1.0));
        }
    }
}

#[test]
fn wishart_diagonals_are_scaled_chi_squares() {
    let mut r = rng(36);
    let scale = array![[1.5, 0.4, 0.0], [0.4, 1.0, -0.3], [0.0, -0.3, 0.5]];
    let nu = 6.5;
    let w = Wishart::new(scale.clone(), nu).unwrap();
    let n = 4000;
    let draws: Vec<Array2<f64>> = (0..n).map(|_| w.sample(&mut r)).collect();
    let chi = ChiSquared::new(nu).unwrap();
    for i in 0..3 {
        // Λᵢᵢ / Wᵢᵢ ~ χ²(ν).
        let v: Vec<f64> = draws.iter().map(|m| m[[i, i]] / scale[[i, i]]).collect();
        assert_ks(&v, |t| chi.cdf(t));
    }
    let var = w.variance();
    for i in 0..3 {
        for j in 0..3 {
            let v: Vec<f64> = draws.iter().map(|m| m[[i, j]]).collect();
            assert_mean_within_se(&v, nu * scale[[i, j]], var[[i, j]]);
        }
    }
    assert!(
        draws
            .iter()
            .all(|m| (m - &m.t()).iter().all(|v| v.abs() < 1e-12))
    );
}

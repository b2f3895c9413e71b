//! Bernoulli and categorical log-probabilities against statrs, and their extremes.

mod common;

use common::assert_close;
use elbo_distributions::{Bernoulli, Categorical, LogDensity, logit};
use ndarray::{Array1, Array2, array, s};
use statrs::distribution::{Bernoulli as SBernoulli, Categorical as SCategorical, Discrete};
use statrs::statistics::Distribution;

#[test]
fn bernoulli_matches_statrs() {
    let p = array![0.1, 0.5, 0.93, 1e-4];
    let b = Bernoulli::from_probs(p.clone()).unwrap();
    let refs: Vec<SBernoulli> = p.iter().map(|&q| SBernoulli::new(q).unwrap()).collect();
    // All 16 binary vectors.
    let x = Array2::from_shape_fn((16, 4), |(i, j)| ((i >> j) & 1) as f64);
    let mut out = Array1::zeros(16);
    b.ln_prob_batch(x.view(), out.view_mut());
    for (row, &got) in x.rows().into_iter().zip(&out) {
        let want: f64 = row
            .iter()
            .zip(&refs)
            .map(|(&v, r)| r.ln_pmf(v as u64))
            .sum();
        assert_close(got, want, 1e-12);
        assert_close(b.ln_prob(row), want, 1e-12);
    }
    // Probabilities sum to one over the 16 outcomes.
    assert_close(out.mapv(f64::exp).sum(), 1.0, 1e-12);
    let h: f64 = refs.iter().map(|r| r.entropy().unwrap()).sum();
    assert_close(b.entropy(), h, 1e-12);
    for (m, q) in b.mean().iter().zip(&p) {
        assert_close(*m, *q, 1e-14);
    }
    assert_close(b.variance()[0], 0.09, 1e-14);
    assert_close(b.covariance()[[2, 2]], 0.93 * 0.07, 1e-13);
}

#[test]
fn bernoulli_logits_stay_finite_where_probabilities_round() {
    // σ(−800) underflows to 0, σ(800) rounds to 1; the logits keep ln p finite.
    let b = Bernoulli::from_logits(array![-800.0, 800.0]).unwrap();
    assert_close(b.ln_prob(array![1.0, 0.0].view()), -1600.0, 1e-15);
    assert_close(b.ln_prob(array![0.0, 1.0].view()), 0.0, 1e-15);
    assert!(b.entropy().is_finite());
    // Exact 0 and 1 become ∓∞ logits: certain outcomes score 0, impossible ones −∞, no NaN.
    let c = Bernoulli::from_probs(array![0.0, 1.0, 0.5]).unwrap();
    assert_eq!(c.logits()[0], f64::NEG_INFINITY);
    assert_close(c.ln_prob(array![0.0, 1.0, 1.0].view()), 0.5f64.ln(), 1e-15);
    assert_eq!(c.ln_prob(array![1.0, 1.0, 1.0].view()), f64::NEG_INFINITY);
    assert_eq!(c.ln_prob(array![0.0, 0.0, 1.0].view()), f64::NEG_INFINITY);
    let mut out = Array1::zeros(2);
    c.ln_prob_batch(
        array![[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]].view(),
        out.view_mut(),
    );
    assert_close(out[0], 0.5f64.ln(), 1e-15);
    assert_eq!(out[1], f64::NEG_INFINITY);
    assert_close(c.entropy(), 2f64.ln(), 1e-15);
}

#[test]
fn bernoulli_from_probs_equals_from_logits() {
    let p = array![0.2, 0.7];
    let a = Bernoulli::from_probs(p.clone()).unwrap();
    let b = Bernoulli::from_logits(p.mapv(logit)).unwrap();
    let x = array![1.0, 0.0];
    assert_close(a.ln_prob(x.view()), b.ln_prob(x.view()), 1e-15);
    assert_close(a.ln_prob(x.view()), 0.2f64.ln() + 0.3f64.ln(), 1e-14);
}

#[test]
fn categorical_matches_statrs() {
    let w = [1.0, 3.0, 0.5, 0.0, 2.0];
    let reference = SCategorical::new(&w).unwrap();
    let c = Categorical::from_weights(Array1::from(w.to_vec())).unwrap();
    let c2 =
        Categorical::from_ln_weights(Array1::from(w.to_vec()).mapv(|v| v.ln() + 700.0)).unwrap();
    let onehot = Array2::<f64>::eye(5);
    let mut out = Array1::zeros(5);
    c.ln_prob_batch(onehot.view(), out.view_mut());
    for k in 0..5 {
        let want = reference.ln_pmf(k as u64);
        assert_close(c.ln_prob_index(k), want, 1e-14);
        // The +700 shift costs ~700·ε of absolute precision.
        assert_close(c2.ln_prob_index(k), want, 1e-12);
        assert_close(out[k], want, 1e-14);
    }
    assert_eq!(out[3], f64::NEG_INFINITY);
    assert_eq!(c.ln_prob_index(99), f64::NEG_INFINITY);
    assert_close(c.entropy(), reference.entropy().unwrap(), 1e-13);
    // Soft assignment: Σ xₖ ln πₖ, with 0 · ln 0 = 0.
    let soft = array![0.25, 0.25, 0.5, 0.0, 0.0];
    let want = 0.25 * reference.ln_pmf(0) + 0.25 * reference.ln_pmf(1) + 0.5 * reference.ln_pmf(2);
    assert_close(c.ln_prob(soft.view()), want, 1e-14);
    assert_eq!(c.n_categories(), 5);
    // Strided rows.
    let wide = Array2::<f64>::eye(10);
    let mut o2 = Array1::zeros(5);
    c.ln_prob_batch(wide.slice(s![..;2, ..;2]), o2.view_mut());
    assert_eq!(o2, out);
    // Moments of the one-hot encoding.
    let p = c.probs();
    assert_close(c.covariance()[[0, 1]], -p[0] * p[1], 1e-15);
    assert_close(c.covariance()[[1, 1]], p[1] * (1.0 - p[1]), 1e-15);
}

//! Sufficient statistics: chunks merged equal one pass; estimates equal a two-pass weighted
//! reference computed here; MLE recovers the parameters that generated the data.

mod common;

use common::{assert_close, rng};
use elbo_distributions::{
    BernoulliStats, DiagGaussianStats, DistributionError, GaussianStats, LogDensity, MvNormal,
};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, array, s};
use rand::Rng;

/// Weighted mean and biased covariance by the textbook two-pass formula.
fn two_pass(x: ArrayView2<'_, f64>, w: ArrayView1<'_, f64>) -> (Array1<f64>, Array2<f64>) {
    let total = w.sum();
    let d = x.ncols();
    let mut mean = Array1::zeros(d);
    for (row, &wi) in x.rows().into_iter().zip(w) {
        mean.scaled_add(wi / total, &row);
    }
    let mut cov = Array2::zeros((d, d));
    for (row, &wi) in x.rows().into_iter().zip(w) {
        let c = &row - &mean;
        for i in 0..d {
            for j in 0..d {
                cov[[i, j]] += wi * c[i] * c[j] / total;
            }
        }
    }
    (mean, cov)
}

fn data(n: usize, d: usize, offset: f64, seed: u64) -> (Array2<f64>, Array1<f64>) {
    let mut r = rng(seed);
    let x = Array2::from_shape_fn((n, d), |(_, j)| {
        offset + (j as f64) + r.random_range(-1.0..1.0) * (1.0 + j as f64)
    });
    let w = Array1::from_shape_fn(n, |_| r.random_range(0.0..1.0));
    (x, w)
}

fn rel_close_arrays<'a>(
    a: impl IntoIterator<Item = &'a f64>,
    b: impl IntoIterator<Item = &'a f64>,
    tol: f64,
) {
    for (x, y) in a.into_iter().zip(b) {
        assert_close(*x, *y, tol);
    }
}

#[test]
fn gaussian_stats_match_two_pass_reference() {
    let (x, w) = data(1000, 4, 0.0, 1);
    let mut st = GaussianStats::new(4);
    st.push_batch(x.view(), w.view());
    let (mean, cov) = two_pass(x.view(), w.view());
    assert_close(st.total_weight(), w.sum(), 1e-13);
    rel_close_arrays(&st.mean(), &mean, 1e-12);
    rel_close_arrays(&st.covariance(0.0), &cov, 1e-12);
    let reg = st.covariance(0.25);
    for i in 0..4 {
        assert_close(reg[[i, i]], cov[[i, i]] + 0.25, 1e-12);
    }
}

#[test]
fn gaussian_stats_far_from_origin_keep_their_digits() {
    // Offset 1e8, spread ~1: E[x²] − μ² would lose all 16 digits; the shift keeps them.
    let (x, w) = data(2000, 3, 1e8, 2);
    let (mean, cov) = two_pass(x.view(), w.view());
    let mut st = GaussianStats::new(3);
    // Second chunk shifted by its own mean, then merged: still exact.
    let mut other = GaussianStats::new(3);
    st.push_batch(x.slice(s![..700, ..]), w.slice(s![..700]));
    other.push_batch(x.slice(s![700.., ..]), w.slice(s![700..]));
    st.merge(&other);
    rel_close_arrays(&st.mean(), &mean, 1e-14);
    rel_close_arrays(&st.covariance(0.0), &cov, 1e-9);
    let mut dg = DiagGaussianStats::new(3);
    dg.push_batch(x.view(), w.view());
    for j in 0..3 {
        assert_close(dg.variance(0.0)[j], cov[[j, j]], 1e-9);
    }
}

#[test]
fn merged_chunks_equal_one_pass() {
    let (x, w) = data(1500, 5, 50.0, 3);
    let xb = x.mapv(|v| if v.fract().abs() > 0.5 { 1.0 } else { 0.0 });
    let (mut g1, mut d1, mut b1) = (
        GaussianStats::new(5),
        DiagGaussianStats::new(5),
        BernoulliStats::new(5),
    );
    g1.push_batch(x.view(), w.view());
    d1.push_batch(x.view(), w.view());
    b1.push_batch(xb.view(), w.view());
    // Uneven chunks, each summarised separately, merged in a tree.
    let bounds = [0, 1, 300, 301, 900, 1500];
    let mut parts = Vec::new();
    for k in 0..bounds.len() - 1 {
        let (lo, hi) = (bounds[k], bounds[k + 1]);
        let (mut g, mut d, mut b) = (
            GaussianStats::new(5),
            DiagGaussianStats::new(5),
            BernoulliStats::new(5),
        );
        g.push_batch(x.slice(s![lo..hi, ..]), w.slice(s![lo..hi]));
        d.push_batch(x.slice(s![lo..hi, ..]), w.slice(s![lo..hi]));
        b.push_batch(xb.slice(s![lo..hi, ..]), w.slice(s![lo..hi]));
        parts.push((g, d, b));
    }
    let (mut g2, mut d2, mut b2) = (
        GaussianStats::new(5),
        DiagGaussianStats::new(5),
        BernoulliStats::new(5),
    );
    let (mut gl, mut dl, mut bl) = parts.remove(0);
    let (gr, dr, br) = parts.pop().unwrap();
    for (g, d, b) in &parts {
        g2.merge(g);
        d2.merge(d);
        b2.merge(b);
    }
    gl.merge(&g2);
    gl.merge(&gr);
    dl.merge(&d2);
    dl.merge(&dr);
    bl.merge(&b2);
    bl.merge(&br);
    assert_close(gl.total_weight(), g1.total_weight(), 1e-12);
    rel_close_arrays(&gl.mean(), &g1.mean(), 1e-12);
    rel_close_arrays(&gl.covariance(0.0), &g1.covariance(0.0), 1e-12);
    rel_close_arrays(&dl.mean(), &d1.mean(), 1e-12);
    rel_close_arrays(&dl.variance(0.0), &d1.variance(0.0), 1e-12);
    rel_close_arrays(&bl.probs(0.0), &b1.probs(0.0), 1e-12);
    // Merging into an empty accumulator copies; merging an empty one changes nothing.
    let mut e = GaussianStats::new(5);
    e.merge(&g1);
    e.merge(&GaussianStats::new(5));
    rel_close_arrays(&e.covariance(0.0), &g1.covariance(0.0), 0.0);
}

#[test]
fn integer_weights_equal_repeated_rows() {
    let x = array![[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]];
    let w = array![2.0, 0.0, 1.0];
    let rep = array![[1.0, 2.0], [1.0, 2.0], [0.0, 0.5]];
    let mut a = GaussianStats::new(2);
    a.push_batch(x.view(), w.view());
    let mut b = GaussianStats::new(2);
    b.push_batch(rep.view(), Array1::ones(3).view());
    rel_close_arrays(&a.mean(), &b.mean(), 1e-14);
    rel_close_arrays(&a.covariance(0.0), &b.covariance(0.0), 1e-14);
}

#[test]
fn mle_recovers_generating_parameters() {
    let mut r = rng(4);
    let mean = array![1.0, -2.0, 0.5];
    let cov = array![[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 0.5]];
    let truth = MvNormal::new(mean.clone(), cov.clone()).unwrap();
    let n = 20_000;
    let x = truth.sample_n(n, &mut r);
    let w = Array1::ones(n);
    let mut st = GaussianStats::new(3);
    st.push_batch(x.view(), w.view());
    let fit = st.mle(0.0).unwrap();
    // Standard error of a mean is √(Σᵢᵢ/n) ≤ 0.01; of a covariance entry ≤ √((ΣᵢᵢΣⱼⱼ+Σᵢⱼ²)/n) ≤ 0.02.
    for j in 0..3 {
        assert!((fit.mean()[j] - mean[j]).abs() < 5.0 * (cov[[j, j]] / n as f64).sqrt());
    }
    for ((i, j), v) in fit.covariance().indexed_iter() {
        let se = ((cov[[i, i]] * cov[[j, j]] + cov[[i, j]].powi(2)) / n as f64).sqrt();
        assert!((v - cov[[i, j]]).abs() < 5.0 * se, "cov[{i},{j}] = {v}");
    }
    // The fitted model scores the data about as well as the truth (average log-lik within 0.01).
    let (mut a, mut b) = (Array1::zeros(n), Array1::zeros(n));
    fit.ln_prob_batch(x.view(), a.view_mut());
    truth.ln_prob_batch(x.view(), b.view_mut());
    assert!(a.mean().unwrap() >= b.mean().unwrap());
    assert!(a.mean().unwrap() - b.mean().unwrap() < 0.01);

    // Diagonal and spherical fits of the same data.
    let mut dg = DiagGaussianStats::new(3);
    dg.push_batch(x.view(), w.view());
    let dfit = dg.mle(0.0).unwrap();
    for j in 0..3 {
        assert!(
            (dfit.variance()[j] - cov[[j, j]]).abs() < 5.0 * cov[[j, j]] * (2.0 / n as f64).sqrt()
        );
    }
    let sfit = dg.mle_spherical(0.0).unwrap();
    assert_close(sfit.variance(), (2.0 + 1.0 + 0.5) / 3.0, 0.03);

    // Bernoulli.
    let p = array![0.05, 0.5, 0.9];
    let bx = Array2::from_shape_fn(
        (n, 3),
        |(_, j)| if r.random::<f64>() < p[j] { 1.0 } else { 0.0 },
    );
    let mut bs = BernoulliStats::new(3);
    bs.push_batch(bx.view(), w.view());
    let bfit = bs.mle(1e-6).unwrap();
    for j in 0..3 {
        let se = (p[j] * (1.0 - p[j]) / n as f64).sqrt();
        assert!((bfit.probs()[j] - p[j]).abs() < 5.0 * se);
    }
}

#[test]
fn weighted_mle_selects_a_component() {
    // Two well-separated clusters; weights 1 on the first and 0 on the second recover the first.
    let mut r = rng(5);
    let a = MvNormal::new(array![0.0, 0.0], array![[1.0, 0.0], [0.0, 1.0]]).unwrap();
    let b = MvNormal::new(array![100.0, 100.0], array![[4.0, 0.0], [0.0, 4.0]]).unwrap();
    let x = ndarray::concatenate![Axis(0), a.sample_n(5000, &mut r), b.sample_n(5000, &mut r)];
    let w = Array1::from_shape_fn(10_000, |i| if i < 5000 { 1.0 } else { 0.0 });
    let mut st = GaussianStats::new(2);
    st.push_batch(x.view(), w.view());
    let fit = st.mle(0.0).unwrap();
    assert!(fit.mean().iter().all(|m| m.abs() < 0.1));
    assert!(
        fit.covariance()
            .diag()
            .iter()
            .all(|v| (v - 1.0).abs() < 0.1)
    );
}

#[test]
fn clear_and_reuse() {
    let (x, w) = data(600, 3, 5.0, 6);
    let mut st = GaussianStats::new(3);
    st.push_batch(x.view(), w.view());
    st.clear();
    assert_eq!(st.total_weight(), 0.0);
    st.push_batch(x.view(), w.view());
    let mut fresh = GaussianStats::new(3);
    fresh.push_batch(x.view(), w.view());
    rel_close_arrays(&st.covariance(0.0), &fresh.covariance(0.0), 0.0);
    let mut d = DiagGaussianStats::new(3);
    d.push_batch(x.view(), w.view());
    d.clear();
    assert_eq!(d.total_weight(), 0.0);
    let mut b = BernoulliStats::new(3);
    b.push_batch(x.view(), w.view());
    b.clear();
    assert_eq!(b.total_weight(), 0.0);
}

#[test]
fn empty_accumulators_refuse_to_estimate() {
    let st = GaussianStats::new(2);
    assert!(matches!(
        st.mle(1e-6),
        Err(DistributionError::NoWeight { .. })
    ));
    assert!(st.mean().iter().all(|v| v.is_nan()));
    // A batch of zero weights adds nothing.
    let mut d = DiagGaussianStats::new(2);
    d.push_batch(array![[1.0, 2.0]].view(), array![0.0].view());
    assert!(matches!(
        d.mle(1e-6),
        Err(DistributionError::NoWeight { .. })
    ));
    assert!(matches!(
        BernoulliStats::new(2).mle(1e-6),
        Err(DistributionError::NoWeight { .. })
    ));
    assert!(matches!(
        d.mle_spherical(1e-6),
        Err(DistributionError::NoWeight { .. })
    ));
}

#[test]
fn degenerate_data_need_regularisation() {
    // All points identical: the covariance is 0; mle(0) fails with an actionable error,
    // mle(reg) succeeds with covariance reg·I.
    let x = Array2::from_elem((10, 2), 3.0);
    let w = Array1::ones(10);
    let mut st = GaussianStats::new(2);
    st.push_batch(x.view(), w.view());
    let err = st.mle(0.0).unwrap_err();
    assert!(err.to_string().contains("reg"), "{err}");
    let fit = st.mle(1e-6).unwrap();
    assert_close(fit.covariance()[[0, 0]], 1e-6, 1e-9);
    let mut d = DiagGaussianStats::new(2);
    d.push_batch(x.view(), w.view());
    assert!(d.mle(0.0).is_err());
    assert!(d.mle(1e-6).is_ok());
    // Bernoulli: an all-ones column is clipped away from 1.
    let mut b = BernoulliStats::new(2);
    b.push_batch(Array2::ones((4, 2)).view(), Array1::ones(4).view());
    assert_eq!(b.probs(1e-3)[0], 1.0 - 1e-3);
    assert!(
        b.mle(1e-3)
            .unwrap()
            .ln_prob(array![0.0, 0.0].view())
            .is_finite()
    );
}

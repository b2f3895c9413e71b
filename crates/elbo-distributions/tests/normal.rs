//! Gaussian log-densities against statrs (univariate), hand-computed closed forms (2-D), and
//! each other (a diagonal `MvNormal` must equal `DiagNormal`).

mod common;

use common::{assert_close, rng};
use elbo_distributions::{DiagNormal, LogDensity, MvNormal, SphericalNormal, cholesky};
use ndarray::{Array1, Array2, array, s};
use rand::Rng;
use statrs::distribution::{Continuous, Normal};
use statrs::statistics::Distribution;

#[test]
fn univariate_matches_statrs() {
    for &(mu, var) in &[(0.0, 1.0), (3.5, 0.04), (-1e3, 2.5e5), (1e-3, 1e-8)] {
        let reference = Normal::new(mu, f64::sqrt(var)).unwrap();
        let mv = MvNormal::new(array![mu], array![[var]]).unwrap();
        let diag = DiagNormal::new(array![mu], array![var]).unwrap();
        let sph = SphericalNormal::new(array![mu], var).unwrap();
        for &z in &[-4.0, -0.3, 0.0, 1.0, 7.5] {
            let x = mu + z * var.sqrt();
            let want = reference.ln_pdf(x);
            assert_close(mv.ln_prob(array![x].view()), want, 1e-12);
            assert_close(diag.ln_prob(array![x].view()), want, 1e-12);
            assert_close(sph.ln_prob(array![x].view()), want, 1e-12);
        }
        let h = reference.entropy().unwrap();
        assert_close(mv.entropy(), h, 1e-12);
        assert_close(diag.entropy(), h, 1e-12);
        assert_close(sph.entropy(), h, 1e-12);
    }
}

/// Hand-computed 2-D case: Σ = [[a, b], [b, c]], Σ⁻¹ = [[c, −b], [−b, a]] / (ac − b²).
#[test]
fn bivariate_closed_form() {
    let (a, b, c) = (2.0, 0.6, 1.0);
    let mean = array![1.0, -1.0];
    let det = a * c - b * b;
    let n = MvNormal::new(mean.clone(), array![[a, b], [b, c]]).unwrap();
    for x in [array![0.5, 0.3], array![1.0, -1.0], array![-3.0, 4.0]] {
        let (u, v) = (x[0] - mean[0], x[1] - mean[1]);
        let quad = (c * u * u - 2.0 * b * u * v + a * v * v) / det;
        let want = -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln() - 0.5 * quad;
        assert_close(n.ln_prob(x.view()), want, 1e-13);
    }
    let two_pi_e = 2.0 * std::f64::consts::PI * std::f64::consts::E;
    assert_close(n.entropy(), 0.5 * (two_pi_e * two_pi_e * det).ln(), 1e-13);
    assert_close(n.ln_det_covariance(), det.ln(), 1e-13);
    // Covariance and precision round-trip.
    let cov = n.covariance();
    let prec = n.precision();
    let want_prec = array![[c, -b], [-b, a]] / det;
    for ((x, y), (p, q)) in cov
        .iter()
        .zip([a, b, b, c].iter())
        .zip(prec.iter().zip(want_prec.iter()))
    {
        assert_close(*x, *y, 1e-13);
        assert_close(*p, *q, 1e-13);
    }
}

fn random_spd(d: usize, rng: &mut impl Rng) -> Array2<f64> {
    let m = Array2::from_shape_fn((d, d), |_| rng.random_range(-1.0..1.0));
    m.dot(&m.t()) + Array2::<f64>::eye(d) * 0.5
}

#[test]
fn diagonal_mv_normal_equals_diag_normal() {
    let mut r = rng(11);
    let d = 7;
    let mean = Array1::from_shape_fn(d, |_| r.random_range(-5.0..5.0));
    let var = Array1::from_shape_fn(d, |_| r.random_range(0.1..4.0));
    let mv = MvNormal::new(mean.clone(), Array2::from_diag(&var)).unwrap();
    let diag = DiagNormal::new(mean.clone(), var).unwrap();
    let x = Array2::from_shape_fn((300, d), |_| r.random_range(-8.0..8.0));
    let (mut a, mut b) = (Array1::zeros(300), Array1::zeros(300));
    mv.ln_prob_batch(x.view(), a.view_mut());
    diag.ln_prob_batch(x.view(), b.view_mut());
    for (p, q) in a.iter().zip(&b) {
        assert_close(*p, *q, 1e-12);
    }
    assert_close(mv.entropy(), diag.entropy(), 1e-12);
    // And one shared variance equals SphericalNormal.
    let mv = MvNormal::new(mean.clone(), Array2::<f64>::eye(d) * 0.7).unwrap();
    let sph = SphericalNormal::new(mean, 0.7).unwrap();
    mv.ln_prob_batch(x.view(), a.view_mut());
    sph.ln_prob_batch(x.view(), b.view_mut());
    for (p, q) in a.iter().zip(&b) {
        assert_close(*p, *q, 1e-12);
    }
}

#[test]
fn batch_equals_single_rows_in_any_layout() {
    let mut r = rng(12);
    let d = 5;
    let mean = Array1::from_shape_fn(d, |_| r.random_range(-1.0..1.0));
    let mv = MvNormal::new(mean, random_spd(d, &mut r)).unwrap();
    // 600 rows cross the 256-row chunk boundary twice.
    let x = Array2::from_shape_fn((600, d), |_| r.random_range(-3.0..3.0));
    let want: Vec<f64> = x.rows().into_iter().map(|row| mv.ln_prob(row)).collect();
    let mut out = Array1::zeros(600);
    mv.ln_prob_batch(x.view(), out.view_mut());
    for (p, q) in out.iter().zip(&want) {
        assert_close(*p, *q, 1e-12);
    }
    // Column-major (transposed storage).
    let xt = x.t().to_owned();
    mv.ln_prob_batch(xt.t(), out.view_mut());
    for (p, q) in out.iter().zip(&want) {
        assert_close(*p, *q, 1e-12);
    }
    // Strided rows and columns, into a strided output.
    let big = Array2::from_shape_fn((1200, 2 * d), |(i, j)| {
        if i % 2 == 0 && j % 2 == 1 {
            x[[i / 2, j / 2]]
        } else {
            f64::NAN
        }
    });
    let mut out_big = Array1::from_elem(1200, f64::NAN);
    mv.ln_prob_batch(big.slice(s![..;2, 1..;2]), out_big.slice_mut(s![..;2]));
    for (p, q) in out_big.slice(s![..;2]).iter().zip(&want) {
        assert_close(*p, *q, 1e-12);
    }
    assert!(
        out_big.slice(s![1..;2]).iter().all(|v| v.is_nan()),
        "wrote outside `out`"
    );
    // Empty batch.
    mv.ln_prob_batch(Array2::zeros((0, d)).view(), Array1::zeros(0).view_mut());
}

#[test]
fn large_batch_runs_parallel_path_and_agrees() {
    let mut r = rng(13);
    let d = 16;
    let mean = Array1::from_shape_fn(d, |_| r.random_range(-1.0..1.0));
    let mv = MvNormal::new(mean, random_spd(d, &mut r)).unwrap();
    let n = 3000;
    let x = Array2::from_shape_fn((n, d), |_| r.random_range(-3.0..3.0));
    let mut out = Array1::zeros(n);
    mv.ln_prob_batch(x.view(), out.view_mut());
    for i in (0..n).step_by(97) {
        assert_close(out[i], mv.ln_prob(x.row(i)), 1e-12);
    }
}

#[test]
fn precision_cholesky_constructor_accepts_lower_and_upper() {
    let mut r = rng(14);
    let d = 4;
    let mean = Array1::from_shape_fn(d, |_| r.random_range(-1.0..1.0));
    let cov = random_spd(d, &mut r);
    let reference = MvNormal::new(mean.clone(), cov.clone()).unwrap();
    // Upper (the factor `new` stores) and the lower Cholesky of the precision matrix itself.
    let upper = reference.precision_cholesky().to_owned();
    let lower = cholesky(reference.precision().view(), 0.0)
        .unwrap()
        .into_factor();
    let from_upper = MvNormal::from_precision_cholesky(mean.clone(), upper).unwrap();
    let from_lower = MvNormal::from_precision_cholesky(mean, lower).unwrap();
    let x = Array2::from_shape_fn((20, d), |_| r.random_range(-3.0..3.0));
    for row in x.rows() {
        let want = reference.ln_prob(row);
        assert_close(from_upper.ln_prob(row), want, 1e-12);
        assert_close(from_lower.ln_prob(row), want, 1e-12);
    }
    for (a, b) in from_lower.covariance().iter().zip(cov.iter()) {
        assert_close(*a, *b, 1e-11);
    }
}

#[test]
fn jitter_is_reported_not_hidden() {
    let cov = array![[1.0, 1.0], [1.0, 1.0]];
    assert!(MvNormal::new(array![0.0, 0.0], cov.clone()).is_err());
    let n = MvNormal::new_with_jitter(array![0.0, 0.0], cov, 1e-6).unwrap();
    assert!(n.jitter() > 0.0 && n.jitter() <= 1e-6);
    assert!(n.ln_prob(array![0.1, 0.1].view()).is_finite());
    let ok = MvNormal::new(array![0.0], array![[2.0]]).unwrap();
    assert_eq!(ok.jitter(), 0.0);
}

#[test]
fn standard_diag_normal() {
    let n = DiagNormal::standard(3).unwrap();
    let want = -1.5 * (2.0 * std::f64::consts::PI).ln() - 0.5 * 3.0;
    assert_close(n.ln_prob(array![1.0, -1.0, 1.0].view()), want, 1e-14);
    assert_eq!(n.covariance(), Array2::<f64>::eye(3));
}

//! Closed-form KL divergences against Monte-Carlo estimates (tolerance: 5 standard errors of
//! the estimate), exact enumeration with statrs probabilities, and KL(p ‖ p) = 0.

mod common;

use common::{assert_close, rng};
use elbo_distributions::{
    Bernoulli, Categorical, DiagNormal, Dirichlet, DistributionError, LogDensity, MvNormal,
    kl_bernoulli, kl_categorical, kl_diag_normal, kl_diag_normal_standard, kl_dirichlet,
    kl_mv_normal, kl_mv_normal_standard, kl_standard_normal,
};
use ndarray::{Array1, Array2, array};
use statrs::distribution::{Bernoulli as SBernoulli, Categorical as SCategorical, Discrete};

/// Monte-Carlo KL: mean and standard error of ln p(x) − ln q(x) over rows x ~ p.
fn mc_kl(p: &impl LogDensity, q: &impl LogDensity, x: &Array2<f64>) -> (f64, f64) {
    let n = x.nrows();
    let (mut lp, mut lq) = (Array1::zeros(n), Array1::zeros(n));
    p.ln_prob_batch(x.view(), lp.view_mut());
    q.ln_prob_batch(x.view(), lq.view_mut());
    let diff = lp - lq;
    let mean = diff.mean().expect("non-empty sample");
    let sd = diff.std(1.0);
    (mean, sd / (n as f64).sqrt())
}

#[track_caller]
fn assert_within_se(closed: f64, (mc, se): (f64, f64)) {
    assert!(
        (closed - mc).abs() <= 5.0 * se + 1e-12,
        "closed form {closed} vs Monte Carlo {mc} ± {se}"
    );
}

const N: usize = 20_000;

#[test]
fn full_normals_match_monte_carlo() {
    let mut r = rng(21);
    let p = MvNormal::new(
        array![0.5, -1.0, 2.0],
        array![[1.5, 0.3, 0.1], [0.3, 0.8, -0.2], [0.1, -0.2, 1.1]],
    )
    .unwrap();
    let q = MvNormal::new(
        array![0.0, 0.0, 1.0],
        array![[2.0, -0.4, 0.0], [-0.4, 1.0, 0.3], [0.0, 0.3, 0.7]],
    )
    .unwrap();
    let x = p.sample_n(N, &mut r);
    let kl = kl_mv_normal(&p, &q).unwrap();
    assert!(kl > 0.1);
    assert_within_se(kl, mc_kl(&p, &q, &x));
    assert_eq!(kl_mv_normal(&p, &p).unwrap(), 0.0);
    // To the standard normal.
    let std3 = MvNormal::new(Array1::zeros(3), Array2::eye(3)).unwrap();
    assert_close(
        kl_mv_normal_standard(&p),
        kl_mv_normal(&p, &std3).unwrap(),
        1e-13,
    );
    assert_within_se(kl_mv_normal_standard(&p), mc_kl(&p, &std3, &x));
}

#[test]
fn diagonal_normals_match_monte_carlo_and_full() {
    let mut r = rng(22);
    let p = DiagNormal::new(array![1.0, -0.5], array![0.5, 2.0]).unwrap();
    let q = DiagNormal::new(array![0.0, 0.5], array![1.5, 0.7]).unwrap();
    let x = p.sample_n(N, &mut r);
    let kl = kl_diag_normal(&p, &q).unwrap();
    assert_within_se(kl, mc_kl(&p, &q, &x));
    let pf = MvNormal::new(array![1.0, -0.5], Array2::from_diag(&array![0.5, 2.0])).unwrap();
    let qf = MvNormal::new(array![0.0, 0.5], Array2::from_diag(&array![1.5, 0.7])).unwrap();
    assert_close(kl, kl_mv_normal(&pf, &qf).unwrap(), 1e-13);
    assert_eq!(kl_diag_normal(&q, &q).unwrap(), 0.0);
    // VAE formula ½ Σ (μ² + σ² − ln σ² − 1), by hand.
    let want = 0.5 * ((1.0 + 0.5 - 0.5f64.ln() - 1.0) + (0.25 + 2.0 - 2f64.ln() - 1.0));
    assert_close(kl_diag_normal_standard(&p), want, 1e-14);
    assert_close(kl_standard_normal(p.mean(), p.variance()), want, 1e-14);
    let std2 = DiagNormal::standard(2).unwrap();
    assert_within_se(kl_diag_normal_standard(&p), mc_kl(&p, &std2, &x));
    assert_eq!(kl_diag_normal_standard(&std2), 0.0);
}

#[test]
fn bernoulli_exact_and_monte_carlo() {
    let mut r = rng(23);
    let (pp, qp) = ([0.2, 0.9, 0.5], [0.4, 0.6, 0.01]);
    let p = Bernoulli::from_probs(Array1::from(pp.to_vec())).unwrap();
    let q = Bernoulli::from_probs(Array1::from(qp.to_vec())).unwrap();
    let kl = kl_bernoulli(&p, &q).unwrap();
    // Exact: sum over the 8 outcomes with statrs pmfs.
    let mut exact = 0.0;
    for i in 0..8u64 {
        let (mut lp, mut lq) = (0.0, 0.0);
        for j in 0..3 {
            let v = (i >> j) & 1;
            lp += SBernoulli::new(pp[j]).unwrap().ln_pmf(v);
            lq += SBernoulli::new(qp[j]).unwrap().ln_pmf(v);
        }
        exact += lp.exp() * (lp - lq);
    }
    assert_close(kl, exact, 1e-13);
    let x = p.sample_n(N, &mut r);
    assert_within_se(kl, mc_kl(&p, &q, &x));
    assert_eq!(kl_bernoulli(&p, &p).unwrap(), 0.0);
    // q certain where p is not: infinite.
    let certain = Bernoulli::from_probs(array![0.0, 0.9, 0.5]).unwrap();
    assert_eq!(kl_bernoulli(&p, &certain).unwrap(), f64::INFINITY);
    assert!(kl_bernoulli(&certain, &p).unwrap().is_finite());
}

#[test]
fn categorical_exact_and_monte_carlo() {
    let mut r = rng(24);
    let (pw, qw) = ([0.1, 0.6, 0.3, 0.0], [0.25, 0.25, 0.25, 0.25]);
    let p = Categorical::from_weights(Array1::from(pw.to_vec())).unwrap();
    let q = Categorical::from_weights(Array1::from(qw.to_vec())).unwrap();
    let (sp, sq) = (
        SCategorical::new(&pw).unwrap(),
        SCategorical::new(&qw).unwrap(),
    );
    let exact: f64 = (0..3u64)
        .map(|k| sp.pmf(k) * (sp.ln_pmf(k) - sq.ln_pmf(k)))
        .sum();
    let kl = kl_categorical(&p, &q).unwrap();
    assert_close(kl, exact, 1e-14);
    let idx = p.sample_n(N, &mut r);
    let x = Array2::from_shape_fn((N, 4), |(i, k)| if idx[i] == k { 1.0 } else { 0.0 });
    assert_within_se(kl, mc_kl(&p, &q, &x));
    assert_eq!(kl_categorical(&q, &q).unwrap(), 0.0);
    assert_eq!(kl_categorical(&q, &p).unwrap(), f64::INFINITY);
}

#[test]
fn dirichlet_matches_monte_carlo() {
    let mut r = rng(25);
    let p = Dirichlet::new(array![2.0, 0.9, 4.0]).unwrap();
    let q = Dirichlet::new(array![1.0, 1.0, 1.0]).unwrap();
    let x = p.sample_n(N, &mut r);
    let kl = kl_dirichlet(&p, &q).unwrap();
    assert_within_se(kl, mc_kl(&p, &q, &x));
    let kl2 = kl_dirichlet(&q, &p).unwrap();
    let y = q.sample_n(N, &mut r);
    assert_within_se(kl2, mc_kl(&q, &p, &y));
    assert_eq!(kl_dirichlet(&p, &p).unwrap(), 0.0);
}

#[test]
fn dimension_mismatch_is_an_error() {
    let a = DiagNormal::standard(2).unwrap();
    let b = DiagNormal::standard(3).unwrap();
    assert!(matches!(
        kl_diag_normal(&a, &b),
        Err(DistributionError::DimensionMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    let c = Categorical::from_weights(array![1.0, 1.0]).unwrap();
    let d = Categorical::from_weights(array![1.0, 1.0, 1.0]).unwrap();
    assert!(kl_categorical(&c, &d).is_err());
    let e = MvNormal::new(array![0.0], array![[1.0]]).unwrap();
    let f = MvNormal::new(array![0.0, 0.0], Array2::eye(2)).unwrap();
    assert!(kl_mv_normal(&e, &f).is_err());
    let g = Bernoulli::from_probs(array![0.5]).unwrap();
    let h = Bernoulli::from_probs(array![0.5, 0.5]).unwrap();
    assert!(kl_bernoulli(&g, &h).is_err());
    let i = Dirichlet::symmetric(1.0, 2).unwrap();
    let j = Dirichlet::symmetric(1.0, 3).unwrap();
    assert!(kl_dirichlet(&i, &j).is_err());
}

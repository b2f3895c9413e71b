//! Numerics against naive formulas where those are safe, statrs for special functions, and
//! hand-worked limits at ±∞, for huge and tiny values and for empty input.

mod common;

use common::assert_close;
use elbo_distributions::{
    DistributionError, cholesky, digamma, invert_lower_triangular, ln_gamma, ln_multigamma,
    log_sigmoid, log_sum_exp, log_sum_exp_rows, log1p_exp, logit, softplus,
};
use ndarray::{Array1, Array2, array, s};

#[test]
fn log_sum_exp_matches_naive_in_safe_range() {
    let xs = [-3.0, 0.5, 2.0, -1.25, 1.0];
    let naive = xs.iter().map(|x: &f64| x.exp()).sum::<f64>().ln();
    assert_close(log_sum_exp(&xs), naive, 1e-15);
}

#[test]
fn log_sum_exp_edge_cases() {
    assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
    assert_eq!(log_sum_exp(&[1.0, f64::INFINITY]), f64::INFINITY);
    assert!(log_sum_exp(&[1.0, f64::NAN]).is_nan());
    // Huge: naive exp overflows; ln(2 e^1000) = 1000 + ln 2.
    assert_close(log_sum_exp(&[1000.0, 1000.0]), 1000.0 + 2f64.ln(), 1e-15);
    assert_close(log_sum_exp(&[1e308, 0.0]), 1e308, 1e-15);
    // Tiny: naive exp underflows to 0 and gives -inf.
    assert_close(log_sum_exp(&[-1000.0, -1000.0]), -1000.0 + 2f64.ln(), 1e-15);
    // One finite among -inf.
    assert_eq!(log_sum_exp(&[f64::NEG_INFINITY, -5.0]), -5.0);
}

#[test]
fn log_sum_exp_rows_handles_layouts_and_empty() {
    let x = array![[1.0, 2.0, 3.0], [-1000.0, -1000.0, f64::NEG_INFINITY]];
    let mut out = Array1::zeros(2);
    log_sum_exp_rows(x.view(), out.view_mut());
    assert_close(out[0], log_sum_exp(&[1.0, 2.0, 3.0]), 1e-15);
    assert_close(out[1], -1000.0 + 2f64.ln(), 1e-15);
    // Transposed (column-major) and strided views give the same rows.
    let xt = x.t().to_owned();
    let mut out_t = Array1::zeros(2);
    log_sum_exp_rows(xt.t(), out_t.view_mut());
    assert_eq!(out, out_t);
    let wide = Array2::from_shape_fn(
        (2, 6),
        |(i, j)| if j % 2 == 0 { x[[i, j / 2]] } else { 9e9 },
    );
    let mut out_s = Array1::zeros(2);
    log_sum_exp_rows(wide.slice(s![.., ..;2]), out_s.view_mut());
    assert_eq!(out, out_s);
    // No columns: every row is an empty sum.
    let empty = Array2::<f64>::zeros((3, 0));
    let mut out_e = Array1::zeros(3);
    log_sum_exp_rows(empty.view(), out_e.view_mut());
    assert!(out_e.iter().all(|&v| v == f64::NEG_INFINITY));
    // No rows: nothing to do.
    log_sum_exp_rows(
        Array2::<f64>::zeros((0, 4)).view(),
        Array1::zeros(0).view_mut(),
    );
}

#[test]
#[should_panic(expected = "rows")]
fn log_sum_exp_rows_panics_on_wrong_buffer() {
    let x = Array2::<f64>::zeros((3, 2));
    log_sum_exp_rows(x.view(), Array1::zeros(2).view_mut());
}

#[test]
fn log1p_exp_and_friends() {
    // Safe range: naive formula.
    for &x in &[-30.0, -5.0, -0.1, 0.0, 0.7, 10.0, 17.0] {
        assert_close(log1p_exp(x), (1.0 + f64::exp(x)).ln(), 1e-14);
        assert_close(softplus(x), log1p_exp(x), 0.0);
        assert_close(log_sigmoid(x), (1.0 / (1.0 + (-x).exp())).ln(), 1e-14);
    }
    // Huge: ln(1 + e^x) = x + ln(1 + e^-x) ≈ x.
    assert_eq!(log1p_exp(800.0), 800.0);
    assert_close(log1p_exp(30.0), 30.0 + (-30f64).exp(), 1e-16);
    // Tiny: ln(1 + e^x) ≈ e^x with full relative precision, not 0.
    assert_close(log1p_exp(-50.0), (-50f64).exp(), 1e-15);
    assert_close(log1p_exp(-740.0), (-740f64).exp(), 1e-12);
    assert_eq!(log1p_exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(log1p_exp(f64::INFINITY), f64::INFINITY);
    assert!(log1p_exp(f64::NAN).is_nan());
    // log σ(−800) = −800 − ln(1 + e^−800) ≈ −800, finite where σ underflows.
    assert_eq!(log_sigmoid(-800.0), -800.0);
    assert_close(log_sigmoid(40.0), -(-40f64).exp(), 1e-15);
    assert_eq!(log_sigmoid(f64::NEG_INFINITY), f64::NEG_INFINITY);
    assert_eq!(log_sigmoid(f64::INFINITY), 0.0);
}

#[test]
fn logit_inverts_sigmoid() {
    // |l| ≤ 10: beyond, 1 − p itself carries the rounding of p (condition number 1/(1 − p)).
    for &l in &[-30.0, -3.0, -1e-3, 0.0, 2.5, 10.0] {
        let p = 1.0 / (1.0 + f64::exp(-l));
        assert_close(logit(p), l, 1e-9);
    }
    // Small p: logit ≈ ln p, with relative precision.
    assert_close(logit(1e-300), (1e-300f64).ln(), 1e-15);
    assert_eq!(logit(0.0), f64::NEG_INFINITY);
    assert_eq!(logit(1.0), f64::INFINITY);
    assert_eq!(logit(0.5), 0.0);
    assert!(logit(-0.1).is_nan() && logit(1.1).is_nan() && logit(f64::NAN).is_nan());
}

#[test]
fn special_functions_match_statrs() {
    for &x in &[1e-8, 0.03, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 55.5, 1e3, 1e6] {
        assert_close(ln_gamma(x), statrs::function::gamma::ln_gamma(x), 1e-13);
        assert_close(digamma(x), statrs::function::gamma::digamma(x), 1e-12);
    }
    assert_eq!(ln_gamma(0.0), f64::INFINITY);
    assert!(ln_gamma(-1.0).is_nan() && digamma(-1.0).is_nan());
    assert_eq!(digamma(0.0), f64::NEG_INFINITY);
    // Γ_2(a) = π^{1/2} Γ(a) Γ(a − 1/2), written out by hand.
    let a = 3.3;
    let expect = 0.5 * std::f64::consts::PI.ln()
        + statrs::function::gamma::ln_gamma(a)
        + statrs::function::gamma::ln_gamma(a - 0.5);
    assert_close(ln_multigamma(a, 2), expect, 1e-13);
    assert_close(
        ln_multigamma(a, 1),
        statrs::function::gamma::ln_gamma(a),
        1e-13,
    );
}

#[test]
fn cholesky_of_known_matrix() {
    // A = L Lᵀ with L = [[2,0,0],[1,3,0],[-1,0.5,1]].
    let l = array![[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [-1.0, 0.5, 1.0]];
    let a = l.dot(&l.t());
    let c = cholesky(a.view(), 0.0).unwrap();
    assert_eq!(c.jitter(), 0.0);
    for (x, y) in c.factor().iter().zip(l.iter()) {
        assert_close(*x, *y, 1e-14);
    }
    assert_close(c.ln_det(), (2.0f64 * 3.0 * 1.0).powi(2).ln(), 1e-14);
    assert_eq!(c.dim(), 3);
}

#[test]
fn cholesky_reports_jitter_for_semidefinite() {
    // Rank one: [[1,1],[1,1]] needs jitter; the factor reproduces A + jitter I.
    let a = array![[1.0, 1.0], [1.0, 1.0]];
    let c = cholesky(a.view(), 1e-3).unwrap();
    assert!(
        c.jitter() > 0.0 && c.jitter() <= 1e-3,
        "jitter {}",
        c.jitter()
    );
    let back = c.factor().dot(&c.factor().t());
    let target = &a + &(Array2::<f64>::eye(2) * c.jitter());
    for (x, y) in back.iter().zip(target.iter()) {
        assert_close(*x, *y, 1e-12);
    }
    // Without permission to jitter it is an error naming the pivot.
    match cholesky(a.view(), 0.0) {
        Err(DistributionError::NotPositiveDefinite { index, jitter, .. }) => {
            assert_eq!(index, 1);
            assert_eq!(jitter, 0.0);
        }
        other => panic!("expected NotPositiveDefinite, got {other:?}"),
    }
    // Indefinite: no jitter within the limit helps.
    let b = array![[1.0, 0.0], [0.0, -1.0]];
    assert!(matches!(
        cholesky(b.view(), 1e-2),
        Err(DistributionError::NotPositiveDefinite { jitter, .. }) if jitter == 1e-2
    ));
}

#[test]
fn cholesky_rejects_bad_input() {
    assert!(matches!(
        cholesky(Array2::<f64>::zeros((2, 3)).view(), 0.0),
        Err(DistributionError::NotSquare {
            rows: 2,
            cols: 3,
            ..
        })
    ));
    let a = array![[1.0, f64::NAN], [0.0, 1.0]];
    assert!(matches!(
        cholesky(a.view(), 0.0),
        Err(DistributionError::NonFinite { index: 1, .. })
    ));
}

#[test]
fn triangular_inverse() {
    let l = array![[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [-1.0, 0.5, 1.0]];
    let mut inv = Array2::zeros((3, 3));
    invert_lower_triangular(l.view(), inv.view_mut());
    let eye = l.dot(&inv);
    for ((i, j), v) in eye.indexed_iter() {
        assert_close(*v, if i == j { 1.0 } else { 0.0 }, 1e-15);
    }
    assert_eq!(inv[[0, 1]], 0.0);
}

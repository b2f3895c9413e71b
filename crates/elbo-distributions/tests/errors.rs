//! One test per constructor rule: the right variant, and a message that names the parameter
//! and the value.

use elbo_distributions::{
    Bernoulli, Categorical, DiagNormal, Dirichlet, DistributionError as E, MvNormal,
    SphericalNormal, Wishart,
};
use ndarray::{Array1, Array2, array};

/// The error's message mentions every needle.
#[track_caller]
fn says(err: &E, needles: &[&str]) {
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not mention {n:?}");
    }
}

#[test]
fn mv_normal_empty_mean() {
    let e = MvNormal::new(Array1::zeros(0), Array2::zeros((0, 0))).unwrap_err();
    assert!(matches!(e, E::Empty { name: "mean" }));
    says(&e, &["mean"]);
}

#[test]
fn mv_normal_non_finite_mean() {
    let e = MvNormal::new(array![0.0, f64::NAN], Array2::eye(2)).unwrap_err();
    assert!(matches!(
        e,
        E::NonFinite {
            name: "mean",
            index: 1,
            ..
        }
    ));
    says(&e, &["mean", "NaN", "1"]);
}

#[test]
fn mv_normal_non_finite_cov() {
    let e = MvNormal::new(array![0.0, 0.0], array![[1.0, 0.0], [0.0, f64::INFINITY]]).unwrap_err();
    assert!(matches!(
        e,
        E::NonFinite {
            name: "cov",
            index: 3,
            ..
        }
    ));
    says(&e, &["cov", "inf"]);
}

#[test]
fn mv_normal_non_square_cov() {
    let e = MvNormal::new(array![0.0, 0.0], Array2::zeros((2, 3))).unwrap_err();
    assert!(matches!(
        e,
        E::NotSquare {
            name: "cov",
            rows: 2,
            cols: 3
        }
    ));
    says(&e, &["cov", "2×3"]);
}

#[test]
fn mv_normal_dimension_mismatch() {
    let e = MvNormal::new(array![0.0, 0.0], Array2::eye(3)).unwrap_err();
    assert!(matches!(
        e,
        E::DimensionMismatch {
            name: "cov",
            expected: 2,
            found: 3
        }
    ));
    says(&e, &["cov", "3", "2"]);
}

#[test]
fn mv_normal_asymmetric_cov() {
    let e = MvNormal::new(array![0.0, 0.0], array![[1.0, 0.5], [0.2, 1.0]]).unwrap_err();
    assert!(matches!(
        e,
        E::NotSymmetric {
            name: "cov",
            row: 1,
            col: 0,
            ..
        }
    ));
    says(&e, &["cov", "0.2", "0.5"]);
}

#[test]
fn mv_normal_not_positive_definite() {
    let e = MvNormal::new(array![0.0, 0.0], array![[1.0, 2.0], [2.0, 1.0]]).unwrap_err();
    assert!(matches!(
        e,
        E::NotPositiveDefinite {
            name: "cov",
            index: 1,
            ..
        }
    ));
    says(&e, &["cov", "positive definite", "-3"]);
}

#[test]
fn mv_normal_precision_factor_not_triangular() {
    let e = MvNormal::from_precision_cholesky(array![0.0, 0.0], array![[1.0, 0.5], [0.5, 1.0]])
        .unwrap_err();
    assert!(matches!(
        e,
        E::NotTriangular {
            name: "prec_chol",
            ..
        }
    ));
    says(&e, &["prec_chol", "0.5"]);
}

#[test]
fn mv_normal_precision_factor_non_positive_diagonal() {
    let e = MvNormal::from_precision_cholesky(array![0.0, 0.0], array![[1.0, 0.0], [0.3, -2.0]])
        .unwrap_err();
    assert!(matches!(
        e,
        E::NonPositive {
            name: "prec_chol",
            index: 1,
            ..
        }
    ));
    says(&e, &["prec_chol", "-2"]);
}

#[test]
fn mv_normal_precision_factor_shape_and_values() {
    assert!(matches!(
        MvNormal::from_precision_cholesky(array![0.0], Array2::eye(2)),
        Err(E::DimensionMismatch {
            name: "prec_chol",
            ..
        })
    ));
    assert!(matches!(
        MvNormal::from_precision_cholesky(array![0.0], Array2::zeros((1, 2))),
        Err(E::NotSquare { .. })
    ));
    assert!(matches!(
        MvNormal::from_precision_cholesky(array![0.0], array![[f64::NAN]]),
        Err(E::NonFinite {
            name: "prec_chol",
            ..
        })
    ));
}

#[test]
fn diag_normal_negative_variance() {
    let e = DiagNormal::new(array![0.0, 0.0], array![1.0, -0.5]).unwrap_err();
    assert!(matches!(
        e,
        E::NonPositiveVariance {
            name: "var",
            index: 1,
            ..
        }
    ));
    says(&e, &["var", "-0.5"]);
    assert!(matches!(
        DiagNormal::new(array![0.0], array![0.0]),
        Err(E::NonPositiveVariance { .. })
    ));
}

#[test]
fn diag_normal_non_finite() {
    assert!(matches!(
        DiagNormal::new(array![0.0], array![f64::INFINITY]),
        Err(E::NonFinite { name: "var", .. })
    ));
    assert!(matches!(
        DiagNormal::new(array![f64::NEG_INFINITY], array![1.0]),
        Err(E::NonFinite { name: "mean", .. })
    ));
}

#[test]
fn diag_normal_dimension_mismatch_and_empty() {
    assert!(matches!(
        DiagNormal::new(array![0.0, 1.0], array![1.0]),
        Err(E::DimensionMismatch {
            name: "var",
            expected: 2,
            found: 1
        })
    ));
    assert!(matches!(
        DiagNormal::new(Array1::zeros(0), Array1::zeros(0)),
        Err(E::Empty { .. })
    ));
    assert!(DiagNormal::standard(0).is_err());
}

#[test]
fn spherical_normal_errors() {
    let e = SphericalNormal::new(array![0.0], -1.0).unwrap_err();
    assert!(matches!(e, E::NonPositiveVariance { name: "var", .. }));
    says(&e, &["var", "-1"]);
    assert!(matches!(
        SphericalNormal::new(array![0.0], f64::NAN),
        Err(E::NonFinite { name: "var", .. })
    ));
    assert!(matches!(
        SphericalNormal::new(array![f64::NAN], 1.0),
        Err(E::NonFinite { name: "mean", .. })
    ));
    assert!(matches!(
        SphericalNormal::new(Array1::zeros(0), 1.0),
        Err(E::Empty { .. })
    ));
}

#[test]
fn bernoulli_probability_out_of_range() {
    let e = Bernoulli::from_probs(array![0.5, 1.5]).unwrap_err();
    assert!(matches!(
        e,
        E::ProbabilityOutOfRange {
            name: "probs",
            index: 1,
            ..
        }
    ));
    says(&e, &["probs", "1.5", "[0, 1]"]);
    assert!(Bernoulli::from_probs(array![-1e-9]).is_err());
    assert!(Bernoulli::from_probs(array![f64::NAN]).is_err());
    assert!(matches!(
        Bernoulli::from_probs(Array1::zeros(0)),
        Err(E::Empty { .. })
    ));
}

#[test]
fn bernoulli_nan_logit() {
    let e = Bernoulli::from_logits(array![0.0, f64::NAN]).unwrap_err();
    assert!(matches!(
        e,
        E::NonFinite {
            name: "logits",
            index: 1,
            ..
        }
    ));
    says(&e, &["logits", "NaN"]);
    assert!(matches!(
        Bernoulli::from_logits(Array1::zeros(0)),
        Err(E::Empty { .. })
    ));
}

#[test]
fn categorical_negative_weight() {
    let e = Categorical::from_weights(array![1.0, -2.0]).unwrap_err();
    assert!(matches!(
        e,
        E::Negative {
            name: "weights",
            index: 1,
            ..
        }
    ));
    says(&e, &["weights", "-2"]);
}

#[test]
fn categorical_zero_total_and_non_finite() {
    assert!(matches!(
        Categorical::from_weights(array![0.0, 0.0]),
        Err(E::NoWeight { .. })
    ));
    assert!(matches!(
        Categorical::from_weights(array![1.0, f64::INFINITY]),
        Err(E::NonFinite {
            name: "weights",
            ..
        })
    ));
    assert!(matches!(
        Categorical::from_weights(Array1::zeros(0)),
        Err(E::Empty { .. })
    ));
}

#[test]
fn categorical_bad_log_weights() {
    assert!(matches!(
        Categorical::from_ln_weights(array![0.0, f64::NAN]),
        Err(E::NonFinite {
            name: "ln_weights",
            index: 1,
            ..
        })
    ));
    assert!(matches!(
        Categorical::from_ln_weights(array![0.0, f64::INFINITY]),
        Err(E::NonFinite { .. })
    ));
    assert!(matches!(
        Categorical::from_ln_weights(array![f64::NEG_INFINITY, f64::NEG_INFINITY]),
        Err(E::NoWeight { .. })
    ));
    assert!(matches!(
        Categorical::from_ln_weights(Array1::zeros(0)),
        Err(E::Empty { .. })
    ));
}

#[test]
fn dirichlet_non_positive_concentration() {
    let e = Dirichlet::new(array![1.0, 0.0]).unwrap_err();
    assert!(matches!(
        e,
        E::NonPositive {
            name: "alpha",
            index: 1,
            ..
        }
    ));
    says(&e, &["alpha", "> 0"]);
    assert!(matches!(
        Dirichlet::new(array![1.0, f64::NAN]),
        Err(E::NonFinite { .. })
    ));
    assert!(matches!(
        Dirichlet::new(array![1.0]),
        Err(E::DimensionMismatch { name: "alpha", .. })
    ));
}

#[test]
fn wishart_degrees_of_freedom() {
    let e = Wishart::new(Array2::eye(3), 2.0).unwrap_err();
    assert!(matches!(e, E::DegreesOfFreedom { .. }));
    says(&e, &["dof", "2"]);
    assert!(matches!(
        Wishart::new(Array2::eye(3), f64::NAN),
        Err(E::NonFinite { name: "dof", .. })
    ));
    assert!(Wishart::new(Array2::eye(3), 2.0001).is_ok());
}

#[test]
fn wishart_bad_scale() {
    assert!(matches!(
        Wishart::new(Array2::zeros((0, 0)), 3.0),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        Wishart::new(Array2::zeros((2, 3)), 3.0),
        Err(E::NotSquare { .. })
    ));
    assert!(matches!(
        Wishart::new(array![[1.0, 0.1], [0.0, 1.0]], 3.0),
        Err(E::NotSymmetric { name: "scale", .. })
    ));
    assert!(matches!(
        Wishart::new(array![[1.0, 0.0], [0.0, -1.0]], 3.0),
        Err(E::NotPositiveDefinite { name: "scale", .. })
    ));
    assert!(matches!(
        Wishart::new(array![[f64::NAN]], 3.0),
        Err(E::NonFinite { name: "scale", .. })
    ));
}

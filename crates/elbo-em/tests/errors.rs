//! Every typed error, each provoked on purpose; messages name the culprit and the fix.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{sample, separated_truth};
use elbo_em::{
    BernoulliMixture, Covariance, Covariances, EmError, GaussianGiven, GaussianMixture, Init,
};
use ndarray::{Array1, Array2, Array3, array};

fn data() -> Array2<f64> {
    sample(&separated_truth(), 60, 1).0
}

#[test]
fn empty_data() {
    let x = Array2::<f64>::zeros((0, 3));
    let err = GaussianMixture::params(1).fit(x.view()).unwrap_err();
    assert!(
        matches!(err, EmError::EmptyData { rows: 0, cols: 3 }),
        "{err}"
    );
    let x = Array2::<f64>::zeros((5, 0));
    assert!(matches!(
        GaussianMixture::params(1).fit(x.view()),
        Err(EmError::EmptyData { rows: 5, cols: 0 })
    ));
}

#[test]
fn nan_and_infinity_report_first_row_and_column() {
    let mut x = data();
    x[[7, 1]] = f64::NAN;
    x[[9, 0]] = f64::INFINITY;
    let err = GaussianMixture::params(2).fit(x.view()).unwrap_err();
    assert!(
        matches!(
            err,
            EmError::NonFinite {
                row: 7,
                column: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("row 7, column 1"), "{err}");
    x[[7, 1]] = 0.0;
    x[[9, 0]] = f64::NEG_INFINITY;
    let err = GaussianMixture::params(2).fit(x.view()).unwrap_err();
    assert!(
        matches!(err, EmError::NonFinite { row: 9, column: 0, value } if value == f64::NEG_INFINITY),
        "{err}"
    );
    // Also at prediction time.
    let model = GaussianMixture::params(2).fit(data().view()).unwrap().model;
    assert!(matches!(
        model.score_samples(x.view()),
        Err(EmError::NonFinite {
            row: 9,
            column: 0,
            ..
        })
    ));
}

#[test]
fn more_components_than_samples() {
    let x = data().slice(ndarray::s![..5, ..]).to_owned();
    let err = GaussianMixture::params(6).fit(x.view()).unwrap_err();
    assert!(
        matches!(
            err,
            EmError::TooFewSamples {
                n_components: 6,
                n_samples: 5
            }
        ),
        "{err}"
    );
    // Rows with zero weight do not count as samples.
    let w = array![1.0, 1.0, 0.0, 0.0, 1.0];
    let err = GaussianMixture::params(4)
        .fit_weighted(x.view(), w.view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::TooFewSamples {
                n_components: 4,
                n_samples: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn dimension_mismatch_at_predict_and_score() {
    let model = GaussianMixture::params(2).fit(data().view()).unwrap().model;
    let wide = Array2::<f64>::zeros((4, 3));
    for result in [
        model.predict(wide.view()).map(|_| ()),
        model.predict_proba(wide.view()).map(|_| ()),
        model.score_samples(wide.view()).map(|_| ()),
        model.score(wide.view()).map(|_| ()),
        model.bic(wide.view()).map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                EmError::DimensionMismatch {
                    expected: 2,
                    found: 3
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn non_binary_data_for_bernoulli() {
    let mut x = Array2::<f64>::zeros((10, 4));
    x[[3, 2]] = 1.0;
    x[[6, 1]] = 0.5;
    let err = BernoulliMixture::params(2).fit(x.view()).unwrap_err();
    assert!(
        matches!(err, EmError::NonBinary { row: 6, column: 1, value } if value == 0.5),
        "{err}"
    );
    assert!(err.to_string().contains("binarise"), "{err}");
    let x8 = Array2::<u8>::from_elem((4, 2), 2);
    assert!(matches!(
        BernoulliMixture::params(1).fit(x8.view()),
        Err(EmError::NonBinary {
            row: 0,
            column: 0,
            ..
        })
    ));
}

#[test]
fn covariance_not_positive_definite_suggests_reg_covar_or_diag() {
    // Points on a line: the full covariance is singular, and without regularisation it
    // cannot be factored.
    let x = Array2::from_shape_fn((20, 2), |(i, j)| i as f64 * (j + 1) as f64);
    let err = GaussianMixture::params(1)
        .reg_covar(0.0)
        .fit(x.view())
        .unwrap_err();
    assert!(
        matches!(err, EmError::NotPositiveDefinite { component: 0, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("reg_covar") && msg.contains("Covariance::Diag"),
        "{msg}"
    );
    // A constant column makes a diagonal variance zero.
    let mut y = data();
    y.column_mut(1).fill(3.0);
    let err = GaussianMixture::params(1)
        .covariance(Covariance::Diag)
        .reg_covar(0.0)
        .fit(y.view())
        .unwrap_err();
    assert!(matches!(err, EmError::NotPositiveDefinite { .. }), "{err}");
    // The default regulariser repairs both.
    assert!(GaussianMixture::params(1).fit(x.view()).is_ok());
}

#[test]
fn given_init_of_the_wrong_shape() {
    let x = data();
    let ok_weights = array![0.5, 0.5];
    let means = Array2::<f64>::zeros((2, 2));
    // Covariances of another type.
    let given = GaussianGiven::from_covariances(
        ok_weights.clone(),
        means.clone(),
        Covariances::Diag(Array2::ones((2, 2))),
    );
    let err = GaussianMixture::params(2)
        .init(Init::Given(given))
        .fit(x.view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::GivenShape {
                name: "covariances",
                ..
            }
        ),
        "{err}"
    );
    // Wrong number of components in the covariances.
    let given = GaussianGiven::from_covariances(
        ok_weights.clone(),
        means.clone(),
        Covariances::Full(Array3::zeros((3, 2, 2))),
    );
    let err = GaussianMixture::params(2)
        .init(Init::Given(given))
        .fit(x.view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::GivenShape {
                name: "covariances",
                ..
            }
        ),
        "{err}"
    );
    // Means with the wrong number of columns for the data.
    let eye = Array2::<f64>::eye(3)
        .broadcast((2, 3, 3))
        .unwrap()
        .to_owned();
    let given = GaussianGiven::from_covariances(
        ok_weights.clone(),
        Array2::zeros((2, 3)),
        Covariances::Full(eye),
    );
    let err = GaussianMixture::params(2)
        .init(Init::Given(given))
        .fit(x.view())
        .unwrap_err();
    assert!(
        matches!(err, EmError::GivenShape { name: "means", .. }),
        "{err}"
    );
    // Weights of the wrong length, or not summing to one.
    let eye2 = Array2::<f64>::eye(2)
        .broadcast((2, 2, 2))
        .unwrap()
        .to_owned();
    let given = GaussianGiven::from_covariances(
        array![1.0],
        means.clone(),
        Covariances::Full(eye2.clone()),
    );
    assert!(matches!(
        GaussianMixture::params(2)
            .init(Init::Given(given))
            .fit(x.view()),
        Err(EmError::GivenShape {
            name: "weights",
            ..
        })
    ));
    let given = GaussianGiven::from_covariances(
        array![0.5, 0.6],
        means.clone(),
        Covariances::Full(eye2.clone()),
    );
    assert!(matches!(
        GaussianMixture::params(2)
            .init(Init::Given(given))
            .fit(x.view()),
        Err(EmError::GivenValue {
            name: "weights",
            ..
        })
    ));
    // A precision that is not positive definite.
    let bad =
        Array3::from_shape_vec((2, 2, 2), vec![1.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
    let given = GaussianGiven::from_precisions(ok_weights, means, Covariances::Full(bad));
    assert!(matches!(
        GaussianMixture::params(2)
            .init(Init::Given(given))
            .fit(x.view()),
        Err(EmError::GivenValue {
            name: "precisions",
            ..
        })
    ));
}

/// One test per setting rule: each invalid value is an `InvalidParam` naming it.
#[test]
fn invalid_settings_are_named() {
    let cases: Vec<(&str, elbo_em::GaussianMixtureParams)> = vec![
        ("n_components", GaussianMixture::params(0)),
        ("tol", GaussianMixture::params(2).tol(-1.0)),
        ("tol", GaussianMixture::params(2).tol(f64::NAN)),
        ("reg_covar", GaussianMixture::params(2).reg_covar(-1e-6)),
        (
            "reg_covar",
            GaussianMixture::params(2).reg_covar(f64::INFINITY),
        ),
        ("n_init", GaussianMixture::params(2).n_init(0)),
    ];
    for (name, params) in cases {
        match params.check() {
            Err(EmError::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    for (name, params) in [
        ("clip", BernoulliMixture::params(2).clip(0.0)),
        ("clip", BernoulliMixture::params(2).clip(0.5)),
        ("n_components", BernoulliMixture::params(0)),
        ("tol", BernoulliMixture::params(1).tol(-0.1)),
        ("n_init", BernoulliMixture::params(1).n_init(0)),
    ] {
        match params.check() {
            Err(EmError::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
}

#[test]
fn invalid_sample_weights() {
    let x = data();
    let n = x.nrows();
    for w in [
        Array1::ones(n - 1),
        Array1::from_elem(n, -1.0),
        Array1::zeros(n),
        Array1::from_elem(n, f64::NAN),
    ] {
        let err = GaussianMixture::params(2)
            .fit_weighted(x.view(), w.view())
            .unwrap_err();
        assert!(matches!(err, EmError::SampleWeight { .. }), "{err}");
    }
}

#[test]
fn warm_start_of_another_shape() {
    let x = data();
    let model = GaussianMixture::params(2).fit(x.view()).unwrap().model;
    let err = GaussianMixture::params(3)
        .warm_start(model.clone())
        .check()
        .unwrap_err();
    assert!(matches!(err, EmError::WarmStart { .. }), "{err}");
    let err = GaussianMixture::params(2)
        .covariance(Covariance::Diag)
        .warm_start(model.clone())
        .check()
        .unwrap_err();
    assert!(matches!(err, EmError::WarmStart { .. }), "{err}");
    let wide = Array2::from_shape_fn((30, 3), |(i, j)| (i * j) as f64 % 7.0);
    let err = GaussianMixture::params(2)
        .warm_start(model)
        .fit(wide.view())
        .unwrap_err();
    assert!(matches!(err, EmError::WarmStart { .. }), "{err}");
}

#[test]
fn loading_rejects_bad_files() {
    let model = GaussianMixture::params(2).fit(data().view()).unwrap().model;
    let text = model.to_json().unwrap();
    // Another version.
    let err =
        GaussianMixture::from_json(&text.replace("\"version\": 1", "\"version\": 99")).unwrap_err();
    assert!(matches!(err, EmError::Format { version: 99, .. }), "{err}");
    // A Bernoulli file is not a Gaussian one.
    let bern = BernoulliMixture::from_probs(array![1.0], array![[0.5, 0.5]]).unwrap();
    let err = GaussianMixture::from_json(&bern.to_json().unwrap()).unwrap_err();
    assert!(
        matches!(err, EmError::Json(_) | EmError::Format { .. }),
        "{err}"
    );
    // Weights that do not sum to one are rejected when loading.
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["weights"]["data"][0] = serde_json::json!(0.9999);
    let err = GaussianMixture::from_json(&value.to_string()).unwrap_err();
    assert!(
        matches!(
            err,
            EmError::GivenValue {
                name: "weights",
                ..
            }
        ),
        "{err}"
    );
    // Garbage.
    assert!(matches!(
        GaussianMixture::from_json("{"),
        Err(EmError::Json(_))
    ));
    // A missing file names the path.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing").join("model.json");
    let err = GaussianMixture::load(&missing).unwrap_err();
    assert!(
        matches!(err, EmError::Io { .. }) && err.to_string().contains("model.json"),
        "{err}"
    );
}

//! elbo-em against scikit-learn 1.9.1's `GaussianMixture`, iteration by iteration.
//!
//! The fixtures in `tests/fixtures/` were written by `scripts/make_sklearn_fixtures.py`: the
//! data, scikit-learn's parameters right after its own initialisation, its `lower_bounds_`
//! and its final parameters and outputs. Each test starts elbo-em from the same parameters
//! (`Init::Given`) and demands every bound and every final parameter within 1e-8 relative.
//!
//! Relative error of an entry: `|a − b| ≤ 1e-8 · max(|b|, 1e-3 · max_j |b_j|)`, i.e. entries
//! that are tiny compared with the rest of their array (off-diagonal covariances near zero)
//! are compared at the array's scale instead of their own.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::json::{a1, a2, a3, as_dyn, fixture, kind};
use elbo_em::{Covariance, Covariances, GaussianGiven, GaussianMixture, Init};
use ndarray::{Array1, ArrayD};
use serde_json::Value;

const RTOL: f64 = 1e-8;

fn covariances(kind: Covariance, v: &Value) -> Covariances {
    match kind {
        Covariance::Full => Covariances::Full(a3(v)),
        Covariance::Tied => Covariances::Tied(a2(v)),
        Covariance::Diag => Covariances::Diag(a2(v)),
        Covariance::Spherical => Covariances::Spherical(a1(v)),
    }
}

/// Asserts `ours ≈ reference` entrywise in the relative sense described at the top.
#[track_caller]
fn assert_close(what: &str, ours: &ArrayD<f64>, reference: &ArrayD<f64>, rtol: f64) {
    assert_eq!(ours.shape(), reference.shape(), "{what}: shapes differ");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(reference.iter()).enumerate() {
        let tol = rtol * b.abs().max(1e-3 * scale);
        assert!(
            (a - b).abs() <= tol,
            "{what}[{i}]: ours {a:e}, scikit-learn {b:e}, |diff| {:e} > {tol:e}",
            (a - b).abs()
        );
    }
}

fn check_dataset(name: &str) {
    let doc = fixture(&format!("sklearn_gmm_{name}"));
    let x = a2(&doc["x"]);
    let head = x.slice(ndarray::s![..8, ..]).to_owned();
    for f in doc["fits"].as_array().unwrap() {
        let kind = kind(f["covariance_type"].as_str().unwrap());
        let what = format!("{name}/{kind}");
        let k = f["n_components"].as_u64().unwrap() as usize;
        let init = &f["init"];
        let given = GaussianGiven::from_covariances(
            a1(&init["weights"]),
            a2(&init["means"]),
            covariances(kind, &init["covariances"]),
        );
        let fit = GaussianMixture::params(k)
            .covariance(kind)
            .init(Init::Given(given))
            .tol(f["tol"].as_f64().unwrap())
            .reg_covar(f["reg_covar"].as_f64().unwrap())
            .max_iter(f["max_iter"].as_u64().unwrap() as usize)
            .fit(x.view())
            .unwrap_or_else(|e| panic!("{what}: {e}"));

        let bounds = a1(&f["lower_bounds"]);
        assert_eq!(
            fit.n_iter,
            f["n_iter"].as_u64().unwrap() as usize,
            "{what}: n_iter"
        );
        assert_eq!(
            fit.converged,
            f["converged"].as_bool().unwrap(),
            "{what}: converged"
        );
        assert_close(
            &format!("{what} lower_bounds"),
            &Array1::from(fit.lower_bounds.clone()).into_dyn(),
            &bounds.into_dyn(),
            RTOL,
        );

        let fin = &f["final"];
        let m = &fit.model;
        assert_close(
            &format!("{what} weights"),
            &m.weights().to_owned().into_dyn(),
            &a1(&fin["weights"]).into_dyn(),
            RTOL,
        );
        assert_close(
            &format!("{what} means"),
            &m.means().to_owned().into_dyn(),
            &a2(&fin["means"]).into_dyn(),
            RTOL,
        );
        assert_close(
            &format!("{what} covariances"),
            &as_dyn(m.covariances()),
            &as_dyn(&covariances(kind, &fin["covariances"])),
            RTOL,
        );
        assert_close(
            &format!("{what} precisions_cholesky"),
            &as_dyn(m.precisions_cholesky()),
            &as_dyn(&covariances(kind, &fin["precisions_cholesky"])),
            RTOL,
        );
        assert_close(
            &format!("{what} precisions"),
            &as_dyn(&m.precisions()),
            &as_dyn(&covariances(kind, &fin["precisions"])),
            RTOL,
        );

        // Outputs of the fitted model.
        assert_eq!(
            m.n_parameters(),
            f["n_parameters"].as_u64().unwrap() as usize,
            "{what}: n_parameters"
        );
        let scalar = |v: f64| Array1::from(vec![v]).into_dyn();
        assert_close(
            &format!("{what} score"),
            &scalar(m.score(x.view()).unwrap()),
            &scalar(f["score"].as_f64().unwrap()),
            RTOL,
        );
        assert_close(
            &format!("{what} bic"),
            &scalar(m.bic(x.view()).unwrap()),
            &scalar(f["bic"].as_f64().unwrap()),
            RTOL,
        );
        assert_close(
            &format!("{what} aic"),
            &scalar(m.aic(x.view()).unwrap()),
            &scalar(f["aic"].as_f64().unwrap()),
            RTOL,
        );
        assert_close(
            &format!("{what} score_samples"),
            &m.score_samples(head.view()).unwrap().into_dyn(),
            &a1(&f["score_samples_head"]).into_dyn(),
            RTOL,
        );
        // Responsibilities are compared absolutely: they are probabilities, and a tiny one
        // (1e-30) has no meaningful relative precision.
        let proba = m.predict_proba(head.view()).unwrap();
        let proba_ref = a2(&f["predict_proba_head"]);
        let worst = (&proba - &proba_ref)
            .iter()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(worst <= 1e-8, "{what}: predict_proba differs by {worst:e}");
        let labels: Vec<usize> = m.predict(head.view()).unwrap().to_vec();
        let labels_ref: Vec<usize> = f["predict_head"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(labels, labels_ref, "{what}: predict");

        // Building the model from scikit-learn's final precisions gives its factors back.
        let from_prec = GaussianMixture::from_precisions(
            a1(&fin["weights"]),
            a2(&fin["means"]),
            covariances(kind, &fin["precisions"]),
        )
        .unwrap();
        assert_close(
            &format!("{what} from_precisions factor"),
            &as_dyn(from_prec.precisions_cholesky()),
            &as_dyn(&covariances(kind, &fin["precisions_cholesky"])),
            1e-10,
        );
        assert_close(
            &format!("{what} from_precisions covariances"),
            &as_dyn(from_prec.covariances()),
            &as_dyn(&covariances(kind, &fin["covariances"])),
            1e-8,
        );
    }
}

#[test]
fn two_dimensions_three_components_kmeans_start() {
    check_dataset("d2_k3");
}

#[test]
fn four_dimensions_four_components_random_start() {
    check_dataset("d4_k4");
}

#[test]
fn data_far_from_origin() {
    check_dataset("d3_k2_offset");
}

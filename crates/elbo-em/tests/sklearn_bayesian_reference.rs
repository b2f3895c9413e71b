//! elbo-em's `BayesianGaussianMixture` against scikit-learn 1.9.1's, iteration by iteration.
//!
//! The fixtures `tests/fixtures/sklearn_bgmm_*.json` were written by
//! `scripts/make_sklearn_bgmm_fixtures.py`: the data, the responsibilities scikit-learn
//! initialised from, the priors it derived, every iteration's `_compute_lower_bound` and the
//! final variational parameters. Each fit here starts from the same responsibilities
//! (`Init::Given`) with default priors and must reproduce every bound within 1e-6 relative, the
//! number of iterations, and the final parameters within 1e-6 relative (entries tiny compared
//! with the rest of their array are compared at the array's scale, as in
//! `sklearn_reference.rs`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::json::{a1, a2, array, as_dyn, fixture, kind};
use elbo_em::{BayesianGaussianMixture, CovariancePrior, Init, WeightConcentration, WeightPrior};
use ndarray::{Array1, Array2, ArrayD, IxDyn};

const RTOL: f64 = 1e-6;

/// Largest relative error of `ours` against `reference` (the measure described at the top);
/// panics on a shape mismatch.
fn rel_error(what: &str, ours: &ArrayD<f64>, reference: &ArrayD<f64>) -> f64 {
    assert_eq!(ours.shape(), reference.shape(), "{what}: shapes differ");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(reference.iter())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3 * scale).max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

#[track_caller]
fn check(what: &str, ours: &ArrayD<f64>, reference: &ArrayD<f64>, worst: &mut f64) {
    let e = rel_error(what, ours, reference);
    assert!(e <= RTOL, "{what}: relative error {e:e} > {RTOL:e}");
    *worst = worst.max(e);
}

/// Worst relative errors of one data set: (lower bounds, final parameters).
fn check_dataset(name: &str) -> (f64, f64) {
    let doc = fixture(&format!("sklearn_bgmm_{name}"));
    let x = a2(&doc["x"]);
    let (n, k) = (x.nrows(), doc["n_components"].as_u64().unwrap() as usize);
    let mut resp = Array2::zeros((n, k));
    for t in doc["init_resp"].as_array().unwrap() {
        let t = t.as_array().unwrap();
        resp[[
            t[0].as_u64().unwrap() as usize,
            t[1].as_u64().unwrap() as usize,
        ]] = t[2].as_f64().unwrap();
    }
    let head = x.slice(ndarray::s![..8, ..]).to_owned();
    let (mut worst_bound, mut worst_param) = (0.0f64, 0.0f64);
    for f in doc["fits"].as_array().unwrap() {
        let kind = kind(f["covariance_type"].as_str().unwrap());
        let prior = match f["weight_concentration_prior_type"].as_str().unwrap() {
            "dirichlet_process" => WeightPrior::DirichletProcess,
            _ => WeightPrior::DirichletDistribution,
        };
        let what = format!("{name}/{kind}/{}", prior.name());
        let fit = BayesianGaussianMixture::params(k)
            .covariance(kind)
            .weight_concentration_prior_type(prior)
            .init(Init::Given(resp.clone()))
            .tol(f["tol"].as_f64().unwrap())
            .reg_covar(f["reg_covar"].as_f64().unwrap())
            .max_iter(f["max_iter"].as_u64().unwrap() as usize)
            .fit(x.view())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let m = &fit.model;

        // The priors scikit-learn derived from the data.
        let pr = &f["priors"];
        let p = m.priors();
        let scalar = |v: f64| Array1::from(vec![v]).into_dyn();
        let mut w = 0.0;
        check(
            &format!("{what} weight_concentration_prior"),
            &scalar(p.weight_concentration),
            &scalar(pr["weight_concentration_prior"].as_f64().unwrap()),
            &mut w,
        );
        check(
            &format!("{what} degrees_of_freedom_prior"),
            &scalar(p.degrees_of_freedom),
            &scalar(pr["degrees_of_freedom_prior"].as_f64().unwrap()),
            &mut w,
        );
        check(
            &format!("{what} mean_prior"),
            &p.mean.clone().into_dyn(),
            &a1(&pr["mean_prior"]).into_dyn(),
            &mut w,
        );
        let cov_prior = match &p.covariance {
            CovariancePrior::Matrix(a) => a.clone().into_dyn(),
            CovariancePrior::Diag(a) => a.clone().into_dyn(),
            CovariancePrior::Spherical(v) => ndarray::arr0(*v).into_dyn(),
        };
        check(
            &format!("{what} covariance_prior"),
            &cov_prior,
            &array(&pr["covariance_prior"]),
            &mut w,
        );

        let bounds = a1(&f["lower_bounds"]);
        // Each bound on its own scale (the trajectory spans orders of magnitude).
        for (t, (a, b)) in fit.lower_bounds.iter().zip(bounds.iter()).enumerate() {
            let e = (a - b).abs() / b.abs();
            assert!(
                e <= RTOL,
                "{what}: lower bound {t}: ours {a}, scikit-learn {b}, relative {e:e}"
            );
            worst_bound = worst_bound.max(e);
        }
        assert_eq!(
            fit.lower_bounds.len(),
            bounds.len(),
            "{what}: n_iter (ours {}, scikit-learn {}; last bounds {:?} vs {:?})",
            fit.lower_bounds.len(),
            bounds.len(),
            &fit.lower_bounds[fit.lower_bounds.len().saturating_sub(3)..],
            bounds.slice(ndarray::s![
                fit.lower_bounds.len().saturating_sub(3)..fit.lower_bounds.len() + 1
            ])
        );
        assert_eq!(
            fit.converged,
            f["converged"].as_bool().unwrap(),
            "{what}: converged"
        );

        let fin = &f["final"];
        match (m.weight_concentration(), &fin["weight_concentration"]) {
            (WeightConcentration::DirichletProcess { alpha, beta }, v) => {
                let v = v.as_array().unwrap();
                check(
                    &format!("{what} weight_concentration[0]"),
                    &alpha.clone().into_dyn(),
                    &a1(&v[0]).into_dyn(),
                    &mut worst_param,
                );
                check(
                    &format!("{what} weight_concentration[1]"),
                    &beta.clone().into_dyn(),
                    &a1(&v[1]).into_dyn(),
                    &mut worst_param,
                );
            }
            (WeightConcentration::Dirichlet(c), v) => check(
                &format!("{what} weight_concentration"),
                &c.clone().into_dyn(),
                &a1(v).into_dyn(),
                &mut worst_param,
            ),
        }
        let dof = m.degrees_of_freedom().to_owned().into_dyn();
        let dof_ref = array(&fin["degrees_of_freedom"]);
        let dof_ref = if dof_ref.ndim() == 0 {
            dof_ref.into_shape_with_order(IxDyn(&[1])).unwrap()
        } else {
            dof_ref
        };
        for (label, ours, reference) in [
            (
                "mean_precision",
                m.mean_precision().to_owned().into_dyn(),
                a1(&fin["mean_precision"]).into_dyn(),
            ),
            ("degrees_of_freedom", dof, dof_ref),
            (
                "weights",
                m.weights().to_owned().into_dyn(),
                a1(&fin["weights"]).into_dyn(),
            ),
            (
                "means",
                m.means().to_owned().into_dyn(),
                a2(&fin["means"]).into_dyn(),
            ),
            (
                "covariances",
                as_dyn(m.covariances()),
                array(&fin["covariances"]),
            ),
            (
                "precisions_cholesky",
                as_dyn(m.precisions_cholesky()),
                array(&fin["precisions_cholesky"]),
            ),
        ] {
            check(
                &format!("{what} {label}"),
                &ours,
                &reference,
                &mut worst_param,
            );
        }
        // Responsibilities are probabilities: compared absolutely.
        let proba = m.predict_proba(head.view()).unwrap();
        let proba_ref = a2(&f["predict_proba_head"]);
        let worst = (&proba - &proba_ref)
            .iter()
            .fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(worst <= 1e-6, "{what}: predict_proba differs by {worst:e}");
        let labels: Vec<usize> = m.predict(head.view()).unwrap().to_vec();
        let labels_ref: Vec<usize> = f["predict_head"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(labels, labels_ref, "{what}: predict");
    }
    (worst_bound, worst_param)
}

#[allow(clippy::print_stderr)] // the worst errors are worth seeing with --nocapture
fn report(name: &str, (bound, param): (f64, f64)) {
    eprintln!(
        "{name}: worst relative error of the lower bounds {bound:e}, of the parameters {param:e}"
    );
}

#[test]
fn two_dimensions_five_components_kmeans_start() {
    report("d2_k5", check_dataset("d2_k5"));
}

#[test]
fn three_dimensions_four_components_offset_random_from_data_start() {
    report("d3_k4_offset", check_dataset("d3_k4_offset"));
}

#[test]
fn four_dimensions_six_components_random_start() {
    report("d4_k6", check_dataset("d4_k6"));
}

//! Behaviour of Gaussian mixture fits: monotone bound, recovery of known mixtures, outputs,
//! persistence, reproducibility, sample weights, warm starts, restarts, model selection.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use approx::assert_relative_eq;
use common::{reference_log_density, rng, sample, separated_truth};
use elbo_em::{Covariance, Covariances, GaussianGiven, GaussianMixture, Init, select_model};
use ndarray::{Array1, Array2, Axis, concatenate, s};

/// Relative slack allowed on a decrease of the bound (floating-point noise).
const MONOTONE_RTOL: f64 = 1e-10;

fn assert_monotone(bounds: &[f64], what: &str) {
    for (i, w) in bounds.windows(2).enumerate() {
        assert!(
            w[1] >= w[0] - MONOTONE_RTOL * w[0].abs(),
            "{what}: bound decreased at iteration {}: {} -> {}",
            i + 1,
            w[0],
            w[1]
        );
    }
}

/// EM never decreases the bound, for every covariance type and initialisation.
#[test]
fn lower_bound_never_decreases() {
    let (x, _) = sample(&separated_truth(), 600, 1);
    // Overlapping data is where EM takes many small steps.
    let (y, _) = sample(&separated_truth(), 600, 2);
    let squeezed = &y * 0.15;
    for data in [&x, &squeezed] {
        for cov in Covariance::ALL {
            for init in [
                Init::KMeans,
                Init::KMeansPlusPlus,
                Init::Random,
                Init::RandomFromData,
            ] {
                let what = format!("{cov} {}", init.name());
                let fit = GaussianMixture::params(4)
                    .covariance(cov)
                    .init(init)
                    .tol(1e-9)
                    .max_iter(60)
                    // The regulariser makes the M-step a slightly penalised maximisation; keep
                    // it negligible so that the test checks EM itself.
                    .reg_covar(1e-12)
                    .seed(5)
                    .fit(data.view())
                    .unwrap();
                assert!(fit.n_iter >= 2, "{what}: only {} iterations", fit.n_iter);
                assert_monotone(&fit.lower_bounds, &what);
            }
        }
    }
}

/// On well-separated data, the fitted mean log-likelihood is within 0.01 nats of the mean
/// log-likelihood under the true parameters (an independent computation).
#[test]
fn fitted_likelihood_is_close_to_the_truth() {
    let truth = separated_truth();
    let (x, labels) = sample(&truth, 4000, 7);
    let truth_ll = reference_log_density(&truth, x.view()).mean().unwrap();
    let fit = GaussianMixture::params(3)
        .tol(1e-6)
        .seed(1)
        .fit(x.view())
        .unwrap();
    assert!(fit.converged);
    let fitted_ll = fit.model.score(x.view()).unwrap();
    assert!(
        (fitted_ll - truth_ll).abs() < 0.01,
        "fitted {fitted_ll}, truth {truth_ll}"
    );
    // The clusters are recovered up to relabelling.
    let pred = fit.model.predict(x.view()).unwrap();
    let mut agree = 0;
    for i in 0..x.nrows() {
        for j in (i + 1..x.nrows()).step_by(97) {
            if (pred[i] == pred[j]) == (labels[i] == labels[j]) {
                agree += 1;
            }
        }
    }
    let total: usize = (0..x.nrows())
        .map(|i| (i + 1..x.nrows()).step_by(97).count())
        .sum();
    assert!(
        agree as f64 / total as f64 > 0.999,
        "pair agreement {agree}/{total}"
    );
}

/// `score_samples` agrees with an independent per-row computation for every covariance type.
#[test]
fn score_samples_matches_reference_densities() {
    let (x, _) = sample(&separated_truth(), 300, 3);
    for cov in Covariance::ALL {
        let fit = GaussianMixture::params(3)
            .covariance(cov)
            .seed(2)
            .fit(x.view())
            .unwrap();
        let ours = fit.model.score_samples(x.view()).unwrap();
        let reference = reference_log_density(&fit.model, x.view());
        for (a, b) in ours.iter().zip(&reference) {
            assert_relative_eq!(*a, *b, max_relative = 1e-10, epsilon = 1e-10);
        }
    }
}

#[test]
fn predict_proba_rows_sum_to_one_and_agree_with_predict() {
    let (x, _) = sample(&separated_truth(), 500, 4);
    let squeezed = &x * 0.2;
    for cov in Covariance::ALL {
        let m = GaussianMixture::params(3)
            .covariance(cov)
            .seed(3)
            .fit(squeezed.view())
            .unwrap()
            .model;
        let proba = m.predict_proba(squeezed.view()).unwrap();
        let labels = m.predict(squeezed.view()).unwrap();
        for (row, &label) in proba.rows().into_iter().zip(&labels) {
            assert!(
                (row.sum() - 1.0).abs() < 1e-12,
                "{cov}: row sums to {}",
                row.sum()
            );
            assert!(row.iter().all(|p| (0.0..=1.0).contains(p)));
            let argmax = row
                .iter()
                .enumerate()
                .fold((0, -1.0), |b, (i, &p)| if p > b.1 { (i, p) } else { b })
                .0;
            assert_eq!(argmax, label);
        }
    }
}

/// save → load gives the same parameters and bit-identical predictions.
#[test]
fn save_and_load_round_trip() {
    let (x, _) = sample(&separated_truth(), 400, 5);
    let dir = tempfile::tempdir().unwrap();
    for cov in Covariance::ALL {
        let m = GaussianMixture::params(3)
            .covariance(cov)
            .seed(4)
            .fit(x.view())
            .unwrap()
            .model;
        let path = dir.path().join(format!("{cov}.json"));
        m.save(&path).unwrap();
        let loaded = GaussianMixture::load(&path).unwrap();
        assert_eq!(loaded, m, "{cov}: parameters differ after loading");
        assert_eq!(
            loaded.predict_proba(x.view()).unwrap(),
            m.predict_proba(x.view()).unwrap()
        );
        assert_eq!(
            loaded.score_samples(x.view()).unwrap(),
            m.score_samples(x.view()).unwrap()
        );
        let text = m.to_json().unwrap();
        assert!(text.contains("\"format\": \"elbo-em/gaussian-mixture\""));
        assert!(text.contains("\"version\": 1"));
    }
}

/// Same settings and seed, same data: bit-identical fits, whatever the restarts.
#[test]
fn same_seed_is_bit_identical() {
    let (x, _) = sample(&separated_truth(), 3000, 6);
    for init in [Init::KMeans, Init::Random] {
        let params = GaussianMixture::params(4)
            .init(init)
            .n_init(2)
            .seed(11)
            .tol(1e-8);
        let (a, b) = (params.fit(x.view()).unwrap(), params.fit(x.view()).unwrap());
        assert_eq!(a.model, b.model);
        assert_eq!(a.lower_bounds, b.lower_bounds);
        // One worker thread or the default pool: the same bits (the row partition and the
        // merge order do not depend on the number of threads).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let single = pool.install(|| params.fit(x.view()).unwrap());
        assert_eq!(single.model, a.model);
        assert_eq!(single.lower_bounds, a.lower_bounds);
        // Another seed gives another start.
        let c = params.clone().seed(12).fit(x.view()).unwrap();
        assert_ne!(c.init_lower_bounds, a.init_lower_bounds);
    }
}

/// Restarts draw fresh initialisations, and the best final bound wins.
#[test]
fn restarts_differ_and_best_wins() {
    let (x, _) = sample(&separated_truth(), 600, 8);
    let fit = GaussianMixture::params(5)
        .init(Init::Random)
        .n_init(4)
        .max_iter(5)
        .seed(3)
        .fit(x.view())
        .unwrap();
    assert_eq!(fit.init_lower_bounds.len(), 4);
    let best = fit
        .init_lower_bounds
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(fit.init_lower_bounds[fit.best_init], best);
    assert_eq!(fit.lower_bound, best);
    let mut distinct = fit.init_lower_bounds.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        4,
        "restarts were not independent: {:?}",
        fit.init_lower_bounds
    );
}

/// An integer sample weight is the same as repeating the row.
#[test]
fn sample_weights_equal_repeated_rows() {
    let (x, _) = sample(&separated_truth(), 200, 9);
    let weights = Array1::from_shape_fn(200, |i| (i % 3) as f64);
    let mut repeated = Vec::new();
    for (i, row) in x.rows().into_iter().enumerate() {
        for _ in 0..(i % 3) {
            repeated.push(row.to_owned());
        }
    }
    let views: Vec<_> = repeated
        .iter()
        .map(|r| r.view().insert_axis(Axis(0)))
        .collect();
    let xr = concatenate(Axis(0), &views).unwrap();
    let start = GaussianMixture::params(3)
        .seed(1)
        .max_iter(0)
        .fit(x.view())
        .unwrap()
        .model;
    for cov in Covariance::ALL {
        let given = GaussianGiven::from_covariances(
            start.weights().to_owned(),
            start.means().to_owned(),
            match cov {
                Covariance::Full => Covariances::Full(
                    Array2::<f64>::eye(2)
                        .broadcast((3, 2, 2))
                        .unwrap()
                        .to_owned(),
                ),
                Covariance::Tied => Covariances::Tied(Array2::eye(2)),
                Covariance::Diag => Covariances::Diag(Array2::ones((3, 2))),
                Covariance::Spherical => Covariances::Spherical(Array1::ones(3)),
            },
        );
        let params = GaussianMixture::params(3)
            .covariance(cov)
            .init(Init::Given(given))
            .tol(0.0)
            .max_iter(15);
        let a = params.fit_weighted(x.view(), weights.view()).unwrap();
        let b = params.fit(xr.view()).unwrap();
        for (p, q) in a.lower_bounds.iter().zip(&b.lower_bounds) {
            assert_relative_eq!(*p, *q, max_relative = 1e-10);
        }
        for (p, q) in a.model.means().iter().zip(b.model.means()) {
            assert_relative_eq!(*p, *q, max_relative = 1e-9, epsilon = 1e-12);
        }
    }
}

/// f32 input is converted exactly: the fit equals the fit on the same values as f64.
#[test]
fn f32_input_matches_f64_of_the_same_values() {
    let (x, _) = sample(&separated_truth(), 500, 10);
    let x32 = x.mapv(|v| v as f32);
    let x64 = x32.mapv(f64::from);
    let params = GaussianMixture::params(3).seed(2);
    let (a, b) = (
        params.fit(x32.view()).unwrap(),
        params.fit(x64.view()).unwrap(),
    );
    assert_eq!(a.model, b.model);
    assert_eq!(
        a.model.score(x32.view()).unwrap(),
        b.model.score(x64.view()).unwrap()
    );
    // A transposed (non-standard) view gives the same result as its standard copy.
    let t = x64.t().to_owned();
    let c = params.fit(t.t()).unwrap();
    assert_eq!(c.model, b.model);
}

/// A warm start continues exactly where the previous fit stopped.
#[test]
fn warm_start_continues_the_fit() {
    let (x, _) = sample(&separated_truth(), 500, 11);
    let squeezed = &x * 0.2;
    let params = GaussianMixture::params(3)
        .covariance(Covariance::Diag)
        .tol(0.0)
        .seed(4);
    let ten = params.clone().max_iter(10).fit(squeezed.view()).unwrap();
    let five = params.clone().max_iter(5).fit(squeezed.view()).unwrap();
    let more = params
        .clone()
        .max_iter(5)
        .warm_start(five.model)
        .fit(squeezed.view())
        .unwrap();
    assert_eq!(more.model, ten.model);
    assert_eq!(more.lower_bounds, ten.lower_bounds[5..].to_vec());
}

/// `max_iter = 0` returns the initial model, unconverged, without iterations.
#[test]
fn zero_iterations_return_the_initialisation() {
    let (x, _) = sample(&separated_truth(), 200, 12);
    let fit = GaussianMixture::params(3)
        .max_iter(0)
        .fit(x.view())
        .unwrap();
    assert_eq!(fit.n_iter, 0);
    assert!(!fit.converged);
    assert!(fit.lower_bounds.is_empty());
    assert_relative_eq!(fit.model.weights().sum(), 1.0, epsilon = 1e-12);
}

/// Samples follow the model: label frequencies match the weights, per-component moments the
/// parameters (tolerances of several standard errors for 20,000 draws).
#[test]
fn samples_follow_the_model() {
    let truth = separated_truth();
    let (x, labels) = truth.sample(20_000, &mut rng(13));
    for k in 0..3 {
        let rows: Vec<usize> = (0..x.nrows()).filter(|&i| labels[i] == k).collect();
        let share = rows.len() as f64 / x.nrows() as f64;
        assert!(
            (share - truth.weights()[k]).abs() < 0.015,
            "component {k}: share {share}"
        );
        let xk = x.select(Axis(0), &rows);
        let mean = xk.mean_axis(Axis(0)).unwrap();
        let cov = truth.covariances().matrix(k, 2);
        for j in 0..2 {
            let se = (cov[[j, j]] / rows.len() as f64).sqrt();
            assert!(
                (mean[j] - truth.means()[[k, j]]).abs() < 5.0 * se,
                "component {k} mean {j}"
            );
        }
        let centred = &xk - &mean;
        let emp = centred.t().dot(&centred) / rows.len() as f64;
        for (a, b) in emp.iter().zip(cov.iter()) {
            assert!((a - b).abs() < 0.1, "component {k}: covariance {a} vs {b}");
        }
    }
}

/// BIC model selection finds the three components of the separated mixture.
#[test]
fn bic_selection_finds_the_number_of_components() {
    let (x, _) = sample(&separated_truth(), 900, 14);
    let selection = select_model(
        x.view(),
        1..=5,
        &Covariance::ALL,
        &GaussianMixture::params(1).seed(0),
    )
    .unwrap();
    assert_eq!(selection.table.len(), 20);
    assert_eq!(selection.table[selection.best_row].n_components, 3);
    assert_eq!(selection.best.model.n_components(), 3);
    let best_bic = selection.table[selection.best_row].bic.unwrap();
    assert!(
        selection
            .table
            .iter()
            .all(|r| r.bic.is_none_or(|b| b >= best_bic))
    );
    assert_relative_eq!(best_bic, selection.best.model.bic(x.view()).unwrap());
    // A candidate with more components than rows fails alone; the others are still fitted.
    let small = x.slice(s![..4, ..]);
    let sel = select_model(
        small,
        [1, 6],
        &[Covariance::Spherical],
        &GaussianMixture::params(1).reg_covar(1e-3),
    )
    .unwrap();
    assert!(
        sel.table[1]
            .error
            .as_deref()
            .unwrap()
            .contains("exceeds the number of samples")
    );
    assert_eq!(sel.best.model.n_components(), 1);
}

/// The log joint agrees with an independent density (elbo-distributions' MvNormal) for every
/// covariance type, and its log-sum-exp is score_samples.
#[test]
fn log_joint_matches_independent_densities_and_score_samples() {
    use elbo_distributions::{LogDensity as _, MvNormal};
    let x = Array2::from_shape_fn((80, 2), |(i, j)| {
        ((i * 13 + j * 7) % 17) as f64 / 4.0 + if i % 2 == 0 { 5.0 } else { 0.0 }
    });
    for cov in Covariance::ALL {
        let fit = GaussianMixture::params(2)
            .covariance(cov)
            .seed(0)
            .fit(x.view())
            .unwrap();
        let m = &fit.model;
        let lj = m.log_joint(x.view()).unwrap();
        let ss = m.score_samples(x.view()).unwrap();
        for c in 0..2 {
            let sigma = match m.covariances() {
                Covariances::Full(c3) => c3.index_axis(Axis(0), c).to_owned(),
                Covariances::Tied(t) => t.clone(),
                Covariances::Diag(v) => Array2::from_diag(&v.row(c)),
                Covariances::Spherical(v) => Array2::eye(2) * v[c],
            };
            let normal = MvNormal::new(m.means().row(c).to_owned(), sigma).unwrap();
            for i in 0..x.nrows() {
                let want = normal.ln_prob(x.row(i)) + m.weights()[c].ln();
                assert!(
                    (lj[[i, c]] - want).abs() < 1e-9 * want.abs().max(1.0),
                    "{cov:?}"
                );
            }
        }
        for (row, s) in lj.rows().into_iter().zip(ss.iter()) {
            let mx = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
            assert!(
                (lse - s).abs() < 1e-9 * s.abs().max(1.0),
                "{cov:?}: {lse} vs {s}"
            );
        }
    }
}

/// The ELBO equals log p(x) under the exact posterior and falls strictly below it under any
/// other q, by the mean KL (here a uniform q).
#[test]
fn mixture_elbo_equals_log_likelihood_under_the_posterior() {
    let x = Array2::from_shape_fn((60, 6), |(i, j)| ((i * 7 + j * 3) % 5 < 2) as u8 as f64);
    let fit = elbo_em::BernoulliMixture::params(3)
        .seed(1)
        .fit(x.view())
        .unwrap();
    let post = fit.model.predict_proba(x.view()).unwrap();
    let elbo = fit.model.elbo(x.view(), post.view()).unwrap();
    let ll = fit.model.score(x.view()).unwrap();
    assert!((elbo - ll).abs() < 1e-9, "{elbo} vs {ll}");
    let uniform = Array2::from_elem((60, 3), 1.0 / 3.0);
    let worse = fit.model.elbo(x.view(), uniform.view()).unwrap();
    // KL(uniform ‖ posterior) averaged over rows, computed directly.
    let kl: f64 = post
        .rows()
        .into_iter()
        .map(|p| {
            p.iter()
                .map(|&pk| (1.0f64 / 3.0) * ((1.0f64 / 3.0) / pk).ln())
                .sum::<f64>()
        })
        .sum::<f64>()
        / 60.0;
    // Observed 5e-14 (60 rows, K = 3): the identity holds to round-off.
    assert!((ll - worse - kl).abs() < 1e-12, "{ll} − {worse} vs KL {kl}");
    assert!(kl > 1e-3);
}

/// The observer of `fit_observed` sees every iteration's bound (the same as the fit's trace)
/// and stops the fit when it breaks, for each family that has one.
#[test]
fn observer_sees_every_iteration_and_can_stop_the_fit() {
    use elbo_em::{BayesianGaussianMixture, EmError, Progress};
    use std::ops::ControlFlow;

    // Overlapping components, so that EM takes many small steps.
    let (x, _) = sample(&separated_truth(), 600, 4);
    let x = &x * 0.15;
    let params = GaussianMixture::params(4)
        .covariance(Covariance::Diag)
        .n_init(2)
        .tol(1e-10)
        .check()
        .unwrap();
    let plain = params.fit(x.view()).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let observed = params
        .fit_observed(x.view(), None, &mut |p: &Progress| {
            seen.push(*p);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(observed.lower_bounds, plain.lower_bounds);
    let best: Vec<f64> = seen
        .iter()
        .filter(|p| p.run == plain.best_init)
        .map(|p| p.lower_bound)
        .collect();
    assert_eq!(best, plain.lower_bounds);
    assert_eq!(seen.iter().map(|p| p.run).max(), Some(1));

    let mut stop_at_3 = |p: &Progress| {
        if p.iteration == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    match params.fit_observed(x.view(), None, &mut stop_at_3) {
        Err(EmError::Interrupted {
            run: 0,
            iteration: 3,
        }) => {}
        other => panic!("expected an interruption at iteration 3, got {other:?}"),
    }
    let bayes = BayesianGaussianMixture::params(4)
        .tol(1e-10)
        .check()
        .unwrap();
    match bayes.fit_observed(x.view(), &mut stop_at_3) {
        Err(EmError::Interrupted { iteration: 3, .. }) => {}
        other => panic!("expected an interruption at iteration 3, got {other:?}"),
    }
    // scikit-learn's score_samples of the variational model normalises its responsibilities.
    let model = bayes.fit(x.view()).unwrap().model;
    let scores = model.score_samples(x.view()).unwrap();
    assert!(scores.iter().all(|v| v.is_finite()));
}

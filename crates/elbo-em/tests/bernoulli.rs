//! Bernoulli mixtures: densities against a direct formula, the closed form for one component,
//! recovery of a known mixture, monotone bound, clipping, persistence.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use approx::assert_relative_eq;
use common::rng;
use elbo_em::{BernoulliGiven, BernoulliMixture, Init};
use ndarray::{Array1, Array2, Axis, array};

/// Four well-separated binary prototypes in 24 dimensions.
fn truth() -> BernoulliMixture {
    let probs = Array2::from_shape_fn((4, 24), |(k, j)| if j / 6 == k { 0.9 } else { 0.08 });
    BernoulliMixture::from_probs(array![0.4, 0.3, 0.2, 0.1], probs).unwrap()
}

/// ln p(x) by the definition, row by row, in plain loops (independent of the GEMM kernel).
fn direct_log_density(m: &BernoulliMixture, x: &Array2<f64>) -> Array1<f64> {
    x.rows()
        .into_iter()
        .map(|row| {
            let terms: Vec<f64> = (0..m.n_components())
                .map(|k| {
                    let mut t = m.weights()[k].ln();
                    for (&v, &p) in row.iter().zip(m.probs().row(k)) {
                        t += if v == 1.0 { p.ln() } else { (1.0 - p).ln() };
                    }
                    t
                })
                .collect();
            let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
        })
        .collect()
}

#[test]
fn score_samples_matches_the_definition() {
    let m = truth();
    let (x, _) = m.sample(300, &mut rng(1));
    let ours = m.score_samples(x.view()).unwrap();
    for (a, b) in ours.iter().zip(&direct_log_density(&m, &x)) {
        assert_relative_eq!(*a, *b, max_relative = 1e-12);
    }
    let proba = m.predict_proba(x.view()).unwrap();
    for row in proba.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-12);
    }
}

/// One component: the MLE is the column means (clipped), reached in one M-step.
#[test]
fn one_component_is_the_clipped_column_mean() {
    let (x, _) = truth().sample(500, &mut rng(2));
    let mut x = x;
    x.column_mut(0).fill(1.0); // a column that is always on must be clipped below 1
    let clip = 1e-3;
    let fit = BernoulliMixture::params(1)
        .clip(clip)
        .fit(x.view())
        .unwrap();
    let means = x.mean_axis(Axis(0)).unwrap();
    for (p, m) in fit.model.probs().row(0).iter().zip(&means) {
        assert_relative_eq!(*p, m.clamp(clip, 1.0 - clip), max_relative = 1e-12);
    }
    assert_relative_eq!(fit.model.probs()[[0, 0]], 1.0 - clip);
    assert!(fit.converged);
}

#[test]
fn recovers_a_separated_mixture() {
    let t = truth();
    let (x, _) = t.sample(3000, &mut rng(3));
    let truth_ll = direct_log_density(&t, &x).mean().unwrap();
    let fit = BernoulliMixture::params(4)
        .n_init(2)
        .tol(1e-8)
        .seed(1)
        .fit(x.view())
        .unwrap();
    let ll = fit.model.score(x.view()).unwrap();
    // The MLE beats the truth on its own training data by about p / (2N) = 99 / 6000 ≈ 0.017
    // nats (the usual optimism of a fitted likelihood); more than 0.03 away would be a bug.
    assert!(
        (ll - truth_ll).abs() < 0.03,
        "fitted {ll}, truth {truth_ll}"
    );
    // Each true prototype has a fitted component close to it.
    for k in 0..4 {
        let best = (0..4)
            .map(|c| {
                (&fit.model.probs().row(c) - &t.probs().row(k))
                    .mapv(f64::abs)
                    .sum()
                    / 24.0
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            best < 0.03,
            "prototype {k} not recovered (mean abs error {best})"
        );
    }
    for w in fit.lower_bounds.windows(2) {
        assert!(w[1] >= w[0] - 1e-10 * w[0].abs(), "bound decreased");
    }
}

#[test]
fn u8_input_and_persistence() {
    let (x, _) = truth().sample(400, &mut rng(4));
    let x8 = x.mapv(|v| v as u8);
    let params = BernoulliMixture::params(3)
        .init(Init::RandomFromData)
        .seed(9);
    let (a, b) = (
        params.fit(x.view()).unwrap(),
        params.fit(x8.view()).unwrap(),
    );
    assert_eq!(a.model, b.model);
    let loaded = BernoulliMixture::from_json(&a.model.to_json().unwrap()).unwrap();
    assert_eq!(loaded, a.model);
    assert_eq!(
        loaded.predict(x8.view()).unwrap(),
        a.model.predict(x.view()).unwrap()
    );
}

#[test]
fn given_start_is_clipped_and_used() {
    let (x, _) = truth().sample(200, &mut rng(5));
    let given = BernoulliGiven {
        weights: array![0.5, 0.5],
        probs: Array2::from_shape_fn((2, 24), |(k, j)| if (j + k) % 2 == 0 { 1.0 } else { 0.0 }),
    };
    let fit = BernoulliMixture::params(2)
        .init(Init::Given(given))
        .max_iter(0)
        .clip(0.01)
        .fit(x.view())
        .unwrap();
    assert!(fit.model.probs().iter().all(|&p| p == 0.01 || p == 0.99));
}

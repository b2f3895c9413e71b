//! The EM family: exact, Monte Carlo, generalized and online EM, in memory and streamed, and
//! the trace of the ELBO and its gap (theory §2–4).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::convert::Infallible;

use elbo_datasets::{SyntheticGmm, synthetic_gmm};
use elbo_em::{
    BernoulliMixture, Covariance, EmError, Fit, GaussianMixture, Init, IterationTrace, Strategy,
};
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;

const KINDS: [Covariance; 4] = [
    Covariance::Full,
    Covariance::Tied,
    Covariance::Diag,
    Covariance::Spherical,
];

/// The synthetic-gmm data set of elbo-datasets: N = 3000, d = 2, K = 3, full covariances.
fn synthetic() -> (Array2<f64>, f64) {
    let (ds, truth) = synthetic_gmm(&SyntheticGmm {
        n_samples: 3000,
        n_features: 2,
        n_components: 3,
        covariance: Covariance::Full,
        seed: 3,
    })
    .unwrap();
    (ds.features().mapv(f64::from), truth.mean_log_likelihood)
}

/// Overlapping 3-d data from the shared well-separated truth plus noise, so that EM needs
/// many iterations.
fn overlapping(n: usize, seed: u64) -> Array2<f64> {
    let (x, _) = common::sample(&common::separated_truth(), n, seed);
    let x = x.mapv(|v| v / 4.0);
    let extra = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 37 % 101) as f64) / 50.0);
    ndarray::concatenate(Axis(1), &[x.view(), extra.view()]).unwrap()
}

/// Binary rows from three prototypes with flips.
fn binary(n: usize) -> Array2<f64> {
    let mut rng = common::rng(5);
    let protos = [
        [1, 1, 1, 0, 0, 0, 1, 0],
        [0, 0, 1, 1, 1, 0, 0, 1],
        [1, 0, 0, 0, 1, 1, 1, 1],
    ];
    Array2::from_shape_fn((n, 8), |(i, j)| {
        let flip = rand::Rng::random::<f64>(&mut rng) < 0.15;
        let v = protos[i % 3][j] == 1;
        f64::from(u8::from(v != flip))
    })
}

/// The log-likelihood after each iteration never falls below the one before it.
fn assert_monotone(fit_bounds: &[f64], trace: &[IterationTrace], what: &str) {
    for w in fit_bounds.windows(2) {
        assert!(
            w[1] >= w[0] - 1e-10 * w[0].abs(),
            "{what}: bound fell from {} to {}",
            w[0],
            w[1]
        );
    }
    for (t, it) in trace.iter().enumerate() {
        let (before, after) = (
            it.after_e_step.log_likelihood,
            it.after_m_step.log_likelihood,
        );
        assert!(
            after >= before - 1e-10 * before.abs(),
            "{what}: iteration {t} lowered ln p from {before} to {after}"
        );
    }
}

#[test]
fn exact_em_closes_the_gap_at_every_e_step() {
    let x = overlapping(1500, 1);
    for kind in KINDS {
        let fit = GaussianMixture::params(4)
            .covariance(kind)
            .init(Init::Random)
            .tol(0.0)
            .max_iter(25)
            .seed(2)
            .fit(x.view())
            .unwrap();
        assert_eq!(fit.trace.len(), fit.n_iter, "{kind:?}");
        for (t, it) in fit.trace.iter().enumerate() {
            let gap = it.after_e_step.gap();
            assert!(gap.abs() < 1e-9, "{kind:?} iteration {t}: gap {gap:e}");
            // The entry after the E-step is the fit's lower bound of that iteration.
            assert_eq!(it.after_e_step.log_likelihood, fit.lower_bounds[t]);
            // The M-step raises the ELBO; the log-likelihood rises at least as much (gap ≥ 0).
            assert!(
                it.after_m_step.elbo >= it.after_e_step.elbo - 1e-12,
                "{kind:?} {t}"
            );
            assert!(it.after_m_step.gap() >= -1e-9, "{kind:?} {t}");
        }
        // Each iteration's log-likelihood after the M-step is the next one's before it.
        for w in fit.trace.windows(2) {
            let (a, b) = (
                w[0].after_m_step.log_likelihood,
                w[1].after_e_step.log_likelihood,
            );
            assert!((a - b).abs() <= 1e-12 * a.abs(), "{kind:?}: {a} vs {b}");
        }
        assert_monotone(&fit.lower_bounds, &fit.trace, &format!("exact {kind:?}"));
        // The last after-M log-likelihood is the final model's score.
        let last = fit.trace.last().unwrap().after_m_step.log_likelihood;
        let score = fit.model.score(x.view()).unwrap();
        assert!(
            (last - score).abs() < 1e-10 * score.abs(),
            "{kind:?}: {last} vs {score}"
        );
    }
}

#[test]
fn exact_bernoulli_em_closes_the_gap_too() {
    let x = binary(900);
    let fit = BernoulliMixture::params(3)
        .init(Init::Random)
        .tol(0.0)
        .max_iter(20)
        .seed(1)
        .fit(x.view())
        .unwrap();
    assert_eq!(fit.trace.len(), 20);
    for (t, it) in fit.trace.iter().enumerate() {
        assert!(
            it.after_e_step.gap().abs() < 1e-9,
            "iteration {t}: {:e}",
            it.after_e_step.gap()
        );
    }
    assert_monotone(&fit.lower_bounds, &fit.trace, "bernoulli exact");
}

#[test]
fn generalized_em_never_lowers_the_likelihood_and_reaches_exact_em() {
    let x = overlapping(1500, 4);
    for kind in KINDS {
        let base = GaussianMixture::params(4)
            .covariance(kind)
            .init(Init::Random)
            .seed(3);
        let exact = base.clone().tol(1e-10).max_iter(500).fit(x.view()).unwrap();
        let gem = base
            .clone()
            .strategy(Strategy::Generalized { step: 0.5 })
            .tol(1e-10)
            .max_iter(2000)
            .fit(x.view())
            .unwrap();
        assert_monotone(
            &gem.lower_bounds,
            &gem.trace,
            &format!("generalized {kind:?}"),
        );
        // The exact M-step maximises the ELBO over θ; the damped one only improves it.
        let (e0, g0) = (&exact.trace[0], &gem.trace[0]);
        assert_eq!(e0.after_e_step, g0.after_e_step, "{kind:?}: same start");
        assert!(
            g0.after_m_step.elbo < e0.after_m_step.elbo
                && g0.after_m_step.elbo > g0.after_e_step.elbo,
            "{kind:?}: {g0:?} vs {e0:?}"
        );
        // The posterior is still exact, so the gap after each E-step still closes.
        for it in &gem.trace {
            assert!(it.after_e_step.gap().abs() < 1e-9);
        }
    }
    // From a good start both climb to the same maximum.
    let (xs, _) = synthetic();
    for kind in KINDS {
        let base = GaussianMixture::params(3)
            .covariance(kind)
            .init(Init::KMeansPlusPlus)
            .seed(3);
        let exact = base
            .clone()
            .tol(1e-10)
            .max_iter(1000)
            .fit(xs.view())
            .unwrap();
        let gem = base
            .strategy(Strategy::Generalized { step: 0.5 })
            .tol(1e-10)
            .max_iter(3000)
            .fit(xs.view())
            .unwrap();
        let (a, b) = (gem.lower_bound, exact.lower_bound);
        assert!(
            (a - b).abs() < 1e-6 * b.abs(),
            "{kind:?}: generalized {a} vs exact {b}"
        );
    }
    let xb = binary(900);
    let gem = BernoulliMixture::params(3)
        .strategy(Strategy::Generalized { step: 0.3 })
        .init(Init::Random)
        .tol(0.0)
        .max_iter(60)
        .fit(xb.view())
        .unwrap();
    assert_monotone(&gem.lower_bounds, &gem.trace, "generalized bernoulli");
}

#[test]
fn monte_carlo_em_matches_exact_em_on_synthetic_gmm() {
    let (x, _truth) = synthetic();
    let base = GaussianMixture::params(3)
        .init(Init::KMeansPlusPlus)
        .seed(0);
    let exact = base.clone().fit(x.view()).unwrap();
    let exact_ll = exact.model.score(x.view()).unwrap();
    for samples in [1, 10] {
        let mc = base
            .clone()
            .strategy(Strategy::MonteCarlo { samples })
            .tol(0.0)
            .max_iter(40)
            .fit(x.view())
            .unwrap();
        let mc_ll = mc.model.score(x.view()).unwrap();
        assert!(
            (mc_ll - exact_ll).abs() < 0.05,
            "{samples} draws: Monte Carlo EM {mc_ll} vs exact EM {exact_ll}"
        );
        // The sampled q is not the posterior: the gap after the E-step, KL(q̃ ‖ p(z | x)),
        // is never negative and is positive overall.
        let mut total_gap = 0.0;
        for (t, it) in mc.trace.iter().enumerate() {
            let gap = it.after_e_step.gap();
            let scale = it.after_e_step.log_likelihood.abs().max(1.0);
            assert!(
                gap >= -1e-9 * scale,
                "{samples} draws, iteration {t}: {gap:e}"
            );
            total_gap += gap;
        }
        assert!(total_gap > 1e-6, "{samples} draws: total gap {total_gap:e}");
    }
    // Seeded: the same seed draws the same assignments.
    let run = || {
        base.clone()
            .strategy(Strategy::MonteCarlo { samples: 1 })
            .max_iter(5)
            .fit(x.view())
            .unwrap()
            .lower_bounds
    };
    assert_eq!(run(), run());
}

/// Rows of `x` in a seeded random order.
fn shuffled(x: &Array2<f64>, seed: u64) -> Array2<f64> {
    let mut idx: Vec<usize> = (0..x.nrows()).collect();
    idx.shuffle(&mut common::rng(seed));
    x.select(Axis(0), &idx)
}

#[test]
fn online_em_comes_within_half_a_percent_of_batch_em() {
    let (x, _) = synthetic();
    let base = GaussianMixture::params(3)
        .covariance(Covariance::Full)
        .init(Init::KMeansPlusPlus)
        .seed(1);
    let batch = base.clone().fit(x.view()).unwrap();
    let batch_ll = batch.model.score(x.view()).unwrap();
    let online = base
        .clone()
        .strategy(Strategy::Online {
            batch_size: 200,
            decay: 0.6,
        })
        .max_iter(10)
        .fit(x.view())
        .unwrap();
    let online_ll = online.model.score(x.view()).unwrap();
    assert!(
        (online_ll - batch_ll).abs() < 0.005 * batch_ll.abs(),
        "in memory: online {online_ll} vs batch {batch_ll}"
    );
    // Over shuffled chunks of a stream, in stream order.
    let xs = shuffled(&x, 9);
    let streamed = base
        .clone()
        .strategy(Strategy::Online {
            batch_size: 250,
            decay: 0.7,
        })
        .max_iter(10)
        .fit_stream(|| {
            xs.axis_chunks_iter(Axis(0), 500)
                .map(|c| Ok::<_, Infallible>(c.to_owned()))
        })
        .unwrap();
    let streamed_ll = streamed.model.score(x.view()).unwrap();
    assert!(
        (streamed_ll - batch_ll).abs() < 0.005 * batch_ll.abs(),
        "streamed: online {streamed_ll} vs batch {batch_ll}"
    );
    assert!(!streamed.trace.is_empty());
}

/// A fit from the same given start over chunks equals the fit in memory: the statistics merge.
#[test]
fn a_stream_of_chunks_fits_what_the_whole_array_fits() {
    let x = overlapping(2000, 7);
    for kind in KINDS {
        let start = GaussianMixture::params(3)
            .covariance(kind)
            .init(Init::Random)
            .max_iter(0)
            .fit(x.view())
            .unwrap()
            .model;
        let params = GaussianMixture::params(3)
            .covariance(kind)
            .warm_start(start)
            .tol(0.0)
            .max_iter(15);
        let whole: Fit<GaussianMixture> = params.fit(x.view()).unwrap();
        for chunk in [1, 333, 2000] {
            let streamed = params
                .fit_stream(|| {
                    x.axis_chunks_iter(Axis(0), chunk)
                        .map(|c| Ok::<_, Infallible>(c.to_owned()))
                })
                .unwrap();
            for (t, (a, b)) in whole
                .lower_bounds
                .iter()
                .zip(&streamed.lower_bounds)
                .enumerate()
            {
                assert!(
                    (a - b).abs() <= 1e-10 * a.abs(),
                    "{kind:?} chunks of {chunk}, iteration {t}: {a} vs {b}"
                );
            }
            assert_eq!(streamed.trace.len(), 15);
            for (a, b) in whole
                .model
                .means()
                .iter()
                .zip(streamed.model.means().iter())
            {
                assert!((a - b).abs() < 1e-8 * a.abs().max(1.0), "{kind:?} means");
            }
        }
    }
}

#[test]
fn strategy_settings_are_checked_one_rule_each() {
    let x = overlapping(100, 1);
    let bad = [
        (Strategy::MonteCarlo { samples: 0 }, "strategy.samples"),
        (Strategy::Generalized { step: 0.0 }, "strategy.step"),
        (Strategy::Generalized { step: 1.5 }, "strategy.step"),
        (Strategy::Generalized { step: f64::NAN }, "strategy.step"),
        (
            Strategy::Online {
                batch_size: 0,
                decay: 0.6,
            },
            "strategy.batch_size",
        ),
        (
            Strategy::Online {
                batch_size: 10,
                decay: 0.5,
            },
            "strategy.decay",
        ),
        (
            Strategy::Online {
                batch_size: 10,
                decay: 1.2,
            },
            "strategy.decay",
        ),
    ];
    for (strategy, field) in bad {
        let err = GaussianMixture::params(2)
            .strategy(strategy)
            .fit(x.view())
            .unwrap_err();
        assert!(
            matches!(&err, EmError::InvalidParam { name, .. } if *name == field),
            "{strategy:?}: {err}"
        );
        let err = BernoulliMixture::params(2)
            .strategy(strategy)
            .check()
            .unwrap_err();
        assert!(matches!(&err, EmError::InvalidParam { name, .. } if *name == field));
    }
}

#[derive(Debug)]
struct DiskFull;
impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "read error: disk on fire")
    }
}
impl std::error::Error for DiskFull {}

#[test]
fn stream_errors_name_the_chunk() {
    let x = overlapping(600, 2);
    let params = GaussianMixture::params(2);
    // A chunk with other columns.
    let err = params
        .fit_stream(|| {
            let a = x.slice(ndarray::s![..300, ..]).to_owned();
            let b = x.slice(ndarray::s![300.., ..2]).to_owned();
            [Ok::<_, Infallible>(a), Ok(b)]
        })
        .unwrap_err();
    assert!(
        matches!(err, EmError::StreamChunk { chunk: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("columns"), "{err}");
    // A failing source.
    let err = params
        .fit_stream(|| {
            [
                Ok(x.slice(ndarray::s![..300, ..]).to_owned()),
                Err(DiskFull),
            ]
        })
        .unwrap_err();
    assert!(matches!(err, EmError::Stream { chunk: 1, .. }), "{err}");
    assert!(err.to_string().contains("disk on fire"), "{err}");
    // A non-finite value in a later chunk.
    let mut y = x.clone();
    y[[450, 1]] = f64::NAN;
    let err = params
        .fit_stream(|| {
            y.axis_chunks_iter(Axis(0), 300)
                .map(|c| Ok::<_, Infallible>(c.to_owned()))
        })
        .unwrap_err();
    assert!(
        matches!(err, EmError::StreamChunk { chunk: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("row 150"), "{err}");
    // Passes that disagree on the rows.
    let mut calls = 0;
    let err = params
        .fit_stream(|| {
            calls += 1;
            let n = if calls <= 2 { 600 } else { 500 };
            [Ok::<_, Infallible>(
                x.slice(ndarray::s![..n, ..]).to_owned(),
            )]
        })
        .unwrap_err();
    assert!(matches!(err, EmError::StreamChunk { .. }), "{err}");
    // Nothing at all.
    let err = params
        .fit_stream(std::iter::empty::<Result<Array2<f64>, Infallible>>)
        .unwrap_err();
    assert!(matches!(err, EmError::EmptyData { .. }), "{err}");
}

#[test]
fn a_bernoulli_stream_fits_what_the_whole_array_fits() {
    let x = binary(1200);
    let start = BernoulliMixture::params(3)
        .init(Init::Random)
        .max_iter(0)
        .fit(x.view())
        .unwrap()
        .model;
    let params = BernoulliMixture::params(3)
        .warm_start(start)
        .tol(0.0)
        .max_iter(12);
    let whole = params.fit(x.view()).unwrap();
    let streamed = params
        .fit_stream(|| {
            x.axis_chunks_iter(Axis(0), 250)
                .map(|c| Ok::<_, Infallible>(c.to_owned()))
        })
        .unwrap();
    for (a, b) in whole.lower_bounds.iter().zip(&streamed.lower_bounds) {
        assert!((a - b).abs() <= 1e-10 * a.abs(), "{a} vs {b}");
    }
    // A non-binary value in a later chunk names the chunk.
    let mut y = x.clone();
    y[[700, 3]] = 0.5;
    let err = BernoulliMixture::params(3)
        .fit_stream(|| {
            y.axis_chunks_iter(Axis(0), 250)
                .map(|c| Ok::<_, Infallible>(c.to_owned()))
        })
        .unwrap_err();
    assert!(
        matches!(err, EmError::StreamChunk { chunk: 2, .. }),
        "{err}"
    );
}

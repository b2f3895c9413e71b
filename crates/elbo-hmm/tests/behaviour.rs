//! Behaviour beyond parity: EM's monotonicity and its ELBO trace, forward = backward, "log" =
//! "scaling", recovery of a known transition matrix, errors that name their value, the
//! degenerate cases, persistence, streaming, restarts.

use elbo_hmm::{
    AnyHmm, CategoricalHmm, ChunkedSequences, Covariance, Covariances, DecodeAlgorithm,
    GaussianHmm, GmmHmm, HmmError, Implementation,
};
use ndarray::{Array1, Array2, Array3, Axis, array, concatenate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn truth3() -> GaussianHmm {
    GaussianHmm::from_parts(
        array![0.6, 0.3, 0.1],
        array![[0.90, 0.07, 0.03], [0.05, 0.85, 0.10], [0.10, 0.10, 0.80]],
        array![[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]],
        Covariances::Full(
            Array3::from_shape_vec(
                (3, 2, 2),
                vec![1.0, 0.3, 0.3, 1.0, 0.8, 0.0, 0.0, 1.2, 1.0, -0.2, -0.2, 0.7],
            )
            .expect("shape"),
        ),
    )
    .expect("valid model")
}

/// `n_seq` sequences of `len` steps from `model`, stacked, and their lengths.
fn draw(
    model: &GaussianHmm,
    n_seq: usize,
    len: usize,
    seed: u64,
) -> (Array2<f64>, Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = Vec::new();
    let mut states = Vec::new();
    for _ in 0..n_seq {
        let (x, z) = model.sample(len, &mut rng, None);
        parts.push(x);
        states.extend(z);
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    (
        concatenate(Axis(0), &views).expect("same width"),
        vec![len; n_seq],
        states,
    )
}

#[test]
fn log_likelihood_never_decreases_and_the_elbo_sits_between_iterations() {
    let (x, lengths, _) = draw(&truth3(), 6, 120, 1);
    for kind in Covariance::ALL {
        for imp in [Implementation::Log, Implementation::Scaling] {
            // No covariance prior: each M-step maximises Q, so EM's guarantee holds exactly.
            let fit = GaussianHmm::params(3)
                .covariance_type(kind)
                .covars_prior(0.0, 1.0)
                .n_iter(40)
                .tol(0.0)
                .implementation(imp)
                .seed(3)
                .fit(x.view(), Some(&lengths))
                .expect("fit");
            let lls = &fit.log_likelihoods;
            assert!(lls.len() >= 10, "{kind:?}: {} iterations", lls.len());
            for w in lls.windows(2) {
                assert!(
                    w[1] >= w[0] - 1e-9 * w[0].abs(),
                    "{kind:?} {imp:?}: {} then {}",
                    w[0],
                    w[1]
                );
            }
            for (t, it) in fit.trace.iter().enumerate() {
                assert_eq!(
                    it.elbo_after_e_step, it.log_likelihood,
                    "gap 0 after the E-step"
                );
                let after_m = it.elbo_after_m_step.expect("Gaussian Q from statistics");
                let slack = 1e-9 * it.log_likelihood.abs();
                assert!(
                    after_m >= it.log_likelihood - slack,
                    "{kind:?}: M-step lowered the ELBO"
                );
                if let Some(next) = fit.trace.get(t + 1) {
                    assert!(
                        next.log_likelihood >= after_m - slack,
                        "{kind:?}: ELBO above log p"
                    );
                }
            }
        }
    }
}

#[test]
fn categorical_log_likelihood_never_decreases() {
    let truth = CategoricalHmm::from_parts(
        array![0.5, 0.5],
        array![[0.8, 0.2], [0.3, 0.7]],
        array![[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],
    )
    .expect("model");
    let (x, _) = truth.sample(2000, &mut ChaCha8Rng::seed_from_u64(4), None);
    let fit = CategoricalHmm::params(2)
        .n_iter(60)
        .tol(0.0)
        .seed(1)
        .fit(x.view(), None)
        .expect("fit");
    for w in fit.log_likelihoods.windows(2) {
        assert!(w[1] >= w[0] - 1e-9 * w[0].abs());
    }
    for it in &fit.trace {
        assert!(
            it.elbo_after_m_step.expect("categorical Q")
                >= it.log_likelihood - 1e-9 * it.log_likelihood.abs()
        );
    }
}

#[test]
fn forward_and_backward_give_the_same_log_likelihood() {
    let model = truth3();
    let (x, lengths, _) = draw(&model, 4, 500, 2);
    for imp in [Implementation::Log, Implementation::Scaling] {
        let f = model
            .score_with(x.view(), Some(&lengths), imp)
            .expect("forward");
        let b = model
            .score_backward(x.view(), Some(&lengths), imp)
            .expect("backward");
        assert!(
            (f - b).abs() <= 1e-12 * f.abs(),
            "{imp:?}: forward {f}, backward {b}"
        );
    }
}

#[test]
fn log_and_scaling_agree_to_1e_10() {
    let model = truth3();
    let (x, lengths, _) = draw(&model, 3, 400, 5);
    let (lp_log, g_log) = model
        .score_samples_with(x.view(), Some(&lengths), Implementation::Log)
        .expect("log");
    let (lp_sc, g_sc) = model
        .score_samples_with(x.view(), Some(&lengths), Implementation::Scaling)
        .expect("scaling");
    assert!((lp_log - lp_sc).abs() <= 1e-10 * lp_log.abs());
    let worst = (&g_log - &g_sc).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(worst <= 1e-10, "posteriors differ by {worst:e}");
    // Whole fits from the same start.
    let fits: Vec<_> = [Implementation::Log, Implementation::Scaling]
        .into_iter()
        .map(|imp| {
            GaussianHmm::params(3)
                .covariance_type(Covariance::Full)
                .n_iter(15)
                .tol(0.0)
                .implementation(imp)
                .seed(9)
                .fit(x.view(), Some(&lengths))
                .expect("fit")
        })
        .collect();
    for (a, b) in fits[0].log_likelihoods.iter().zip(&fits[1].log_likelihoods) {
        assert!((a - b).abs() <= 1e-10 * a.abs(), "{a} vs {b}");
    }
    let (ma, mb) = (&fits[0].model, &fits[1].model);
    for (a, b) in ma.transmat().iter().zip(mb.transmat().iter()) {
        assert!((a - b).abs() <= 1e-10, "transmat {a} vs {b}");
    }
    for (a, b) in ma
        .emission()
        .means()
        .iter()
        .zip(mb.emission().means().iter())
    {
        assert!(
            (a - b).abs() <= 1e-10 * a.abs().max(1.0),
            "means {a} vs {b}"
        );
    }
}

#[test]
fn recovers_a_known_transition_matrix() {
    // 20 sequences × 500 steps: ≈ 3,300 transitions out of each state, so each estimated
    // probability has a standard error ≤ 0.007; the tolerance is 0.02 (≈ 3 standard errors; observed: 0.006).
    let truth = truth3();
    let (x, lengths, states) = draw(&truth, 20, 500, 11);
    let fit = GaussianHmm::params(3)
        .covariance_type(Covariance::Full)
        .n_iter(200)
        .tol(1e-6)
        .n_init(3)
        .seed(0)
        .fit(x.view(), Some(&lengths))
        .expect("fit");
    assert!(fit.converged);
    // Match fitted states to true ones by their means.
    let means = fit.model.emission().means();
    let perm: Vec<usize> = (0..3)
        .map(|t| {
            let target = truth.emission().means().row(t).to_owned();
            (0..3)
                .min_by(|&a, &b| {
                    let da = (&means.row(a) - &target).mapv(|v| v * v).sum();
                    let db = (&means.row(b) - &target).mapv(|v| v * v).sum();
                    da.total_cmp(&db)
                })
                .expect("3 states")
        })
        .collect();
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![0, 1, 2], "one fitted state per true state");
    let a = fit.model.transmat();
    let mut worst = 0.0f64;
    for i in 0..3 {
        for j in 0..3 {
            worst = worst.max((a[[perm[i], perm[j]]] - truth.transmat()[[i, j]]).abs());
        }
    }
    println!("largest transition-matrix error: {worst:.4}");
    assert!(worst <= 0.02, "transition matrix off by {worst}");
    // And the Viterbi path finds the true states almost everywhere.
    let decoded = fit.model.predict(x.view(), Some(&lengths)).expect("decode");
    let agree = decoded
        .iter()
        .zip(&states)
        .filter(|(d, s)| **d == perm[**s])
        .count();
    assert!(
        agree as f64 >= 0.97 * states.len() as f64,
        "{agree} of {}",
        states.len()
    );
}

#[test]
fn bad_lengths_are_errors_naming_the_value() {
    let x = Array2::<f64>::zeros((10, 1));
    let p = || GaussianHmm::params(2);
    match p().fit(x.view(), Some(&[4, 5])) {
        Err(HmmError::LengthsSum { sum: 9, rows: 10 }) => {}
        other => panic!("expected LengthsSum, got {other:?}"),
    }
    let err = p()
        .fit(x.view(), Some(&[4, 0, 6]))
        .expect_err("zero length");
    assert!(matches!(err, HmmError::ZeroLength { index: 1 }));
    assert!(err.to_string().contains("lengths[1] is 0"), "{err}");
    let err = p().fit(x.view(), Some(&[3, 3, 3])).expect_err("short");
    assert!(
        err.to_string().contains("sum to 9") && err.to_string().contains("10 rows"),
        "{err}"
    );
    let mut bad = x.clone();
    bad[[7, 0]] = f64::NAN;
    assert!(matches!(
        p().fit(bad.view(), None),
        Err(HmmError::NonFiniteData { row: 7, col: 0, .. })
    ));
}

#[test]
fn invalid_settings_name_the_setting() {
    let x = Array2::<f64>::zeros((10, 1));
    let cases: Vec<(elbo_hmm::HmmParams<elbo_hmm::GaussianEmission>, &str)> = vec![
        (GaussianHmm::params(0), "n_components"),
        (GaussianHmm::params(2).tol(-1.0), "tol"),
        (GaussianHmm::params(2).n_init(0), "n_init"),
        (GaussianHmm::params(2).params("stx"), "params"),
        (GaussianHmm::params(2).init_params("e"), "init_params"),
        (GaussianHmm::params(2).min_covar(-1.0), "min_covar"),
        (
            GaussianHmm::params(2).startprob_prior_vec(array![1.0, 1.0, 1.0]),
            "startprob_prior",
        ),
    ];
    for (p, name) in cases {
        match p.fit(x.view(), None) {
            Err(HmmError::InvalidParam { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidParam, got {other:?}"),
        }
    }
    let cat = Array2::from_shape_vec((3, 1), vec![0.0, 1.5, 2.0]).expect("shape");
    assert!(matches!(
        CategoricalHmm::params(2).fit(cat.view(), None),
        Err(HmmError::BadSymbol { row: 1, .. })
    ));
    // A given model whose covariance type disagrees with the settings.
    assert!(matches!(
        GaussianHmm::params(3)
            .init_params("")
            .given(truth3())
            .fit(Array2::zeros((10, 2)).view(), None),
        Err(HmmError::Given {
            name: "covars_",
            ..
        })
    ));
    let model = truth3();
    assert!(matches!(
        model.score(Array2::zeros((4, 3)).view(), None),
        Err(HmmError::Dimension {
            expected: 2,
            got: 3
        })
    ));
}

#[test]
fn a_state_that_loses_all_its_mass_keeps_its_parameters() {
    let (x, lengths, _) = draw(&truth3(), 4, 200, 21);
    // State 2 sits a million units away: its posterior is exactly 0 everywhere, and no
    // transition out of it is ever observed (its transition row would be all zeros).
    let start = GaussianHmm::from_parts(
        array![0.5, 0.4, 0.1],
        array![[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
        array![[0.0, 0.0], [4.0, 1.0], [1e6, 1e6]],
        Covariances::Diag(array![[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
    )
    .expect("start");
    let fit = GaussianHmm::params(3)
        .covariance_type(Covariance::Diag)
        .init_params("")
        .given(start.clone())
        .n_iter(5)
        .fit(x.view(), Some(&lengths))
        .expect("recovered, not an error");
    let m = &fit.model;
    assert!(m.emission().means().iter().all(|v| v.is_finite()));
    assert_eq!(m.emission().means().row(2), start.emission().means().row(2));
    assert_eq!(m.transmat().row(2), start.transmat().row(2));
    assert!(m.transmat().iter().all(|v| v.is_finite()));
    assert_eq!(m.startprob()[2], 0.0);
}

#[test]
fn a_singular_covariance_gets_min_covar_or_a_typed_error() {
    // Every row on the line y = 2x: each state's full covariance is singular.
    let t: Array1<f64> = Array1::linspace(-3.0, 3.0, 120).mapv(|v: f64| v + 0.1 * (7.0 * v).sin());
    let x = ndarray::stack(Axis(1), &[t.view(), (2.0 * &t).view()]).expect("stack");
    let p = || {
        GaussianHmm::params(2)
            .covariance_type(Covariance::Full)
            .covars_prior(0.0, 1.0)
            .n_iter(5)
            .seed(1)
    };
    let fit = p()
        .min_covar(1e-3)
        .fit(x.view(), None)
        .expect("recovered with min_covar");
    if let Covariances::Full(c) = fit.model.emission().covars() {
        assert!(c.iter().all(|v| v.is_finite()));
        for k in 0..2 {
            let m = c.index_axis(Axis(0), k);
            let det = m[[0, 0]] * m[[1, 1]] - m[[0, 1]] * m[[1, 0]];
            assert!(
                det > 0.0,
                "state {k} covariance is positive definite after recovery"
            );
        }
    } else {
        panic!("full covariances expected");
    }
    match p().min_covar(0.0).fit(x.view(), None) {
        Err(HmmError::NotPositiveDefinite { .. }) => {}
        Err(HmmError::Distribution(_)) => {}
        other => panic!("expected NotPositiveDefinite, got {other:?}"),
    }
}

#[test]
fn an_impossible_sequence_is_a_typed_error() {
    let model = CategoricalHmm::from_parts(
        array![1.0, 0.0],
        array![[0.5, 0.5], [0.5, 0.5]],
        array![[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]],
    )
    .expect("model");
    let x = Array2::from_shape_vec((5, 1), vec![0.0, 1.0, 0.0, 2.0, 1.0]).expect("shape");
    assert!(matches!(
        model.score_samples(x.view(), Some(&[3, 2])),
        Err(HmmError::ZeroProbability { sequence: 1 })
    ));
    assert_eq!(
        model.score(x.view(), Some(&[3, 2])).expect("score"),
        f64::NEG_INFINITY
    );
}

#[test]
fn models_round_trip_through_versioned_json() {
    let model = truth3();
    let json = model.to_json().expect("json");
    assert!(json.contains("\"format\": \"elbo-hmm\"") && json.contains("\"version\": 1"));
    assert_eq!(GaussianHmm::from_json(&json).expect("load"), model);
    assert!(matches!(AnyHmm::from_json(&json).expect("any"), AnyHmm::Gaussian(m) if m == model));
    assert!(matches!(
        CategoricalHmm::from_json(&json),
        Err(HmmError::Format(_))
    ));
    let future = json.replace("\"version\": 1", "\"version\": 99");
    assert!(matches!(
        GaussianHmm::from_json(&future),
        Err(HmmError::Format(_))
    ));
    // A saved model whose transition rows do not sum to 1 is refused.
    let broken = json.replacen("0.9", "0.95", 1);
    assert!(GaussianHmm::from_json(&broken).is_err());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.json");
    model.save(&path).expect("save");
    assert_eq!(GaussianHmm::load(&path).expect("load"), model);
}

#[test]
fn fit_stream_equals_fit_on_the_same_sequences() {
    let (x, lengths, _) = draw(&truth3(), 9, 80, 31);
    let start = truth3();
    let params = GaussianHmm::params(3)
        .covariance_type(Covariance::Full)
        .init_params("")
        .given(start)
        .n_iter(8)
        .tol(0.0)
        .check()
        .expect("valid");
    let whole = params.fit(x.view(), Some(&lengths)).expect("fit");
    let mut source = ChunkedSequences::new(x.view(), &lengths, 2).expect("chunks");
    let streamed = params.fit_stream(&mut source).expect("fit_stream");
    for (a, b) in whole.log_likelihoods.iter().zip(&streamed.log_likelihoods) {
        assert!((a - b).abs() <= 1e-12 * a.abs(), "{a} vs {b}");
    }
    for (a, b) in whole
        .model
        .transmat()
        .iter()
        .zip(streamed.model.transmat().iter())
    {
        assert!((a - b).abs() <= 1e-12);
    }
}

#[test]
fn restarts_keep_the_best_and_seeds_reproduce() {
    let (x, lengths, _) = draw(&truth3(), 3, 150, 41);
    let fit = |seed| {
        GaussianHmm::params(3)
            .covariance_type(Covariance::Diag)
            .n_init(4)
            .n_iter(30)
            .seed(seed)
            .fit(x.view(), Some(&lengths))
            .expect("fit")
    };
    let a = fit(5);
    assert_eq!(a.init_log_likelihoods.len(), 4);
    let best = a
        .init_log_likelihoods
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(a.init_log_likelihoods[a.best_init], best);
    let b = fit(5);
    assert_eq!(a.model, b.model, "same seed, same model, bit for bit");
    assert_eq!(a.log_likelihoods, b.log_likelihoods);
}

#[test]
fn decoding_sampling_and_criteria() {
    let model = truth3();
    let (x, states) = model.sample(300, &mut ChaCha8Rng::seed_from_u64(8), None);
    assert_eq!(x.dim(), (300, 2));
    assert!(states.iter().all(|&s| s < 3));
    let (vit_lp, vit) = model
        .decode(x.view(), None, DecodeAlgorithm::Viterbi)
        .expect("viterbi");
    let (_, map) = model
        .decode(x.view(), None, DecodeAlgorithm::Map)
        .expect("map");
    let score = model.score(x.view(), None).expect("score");
    assert!(
        vit_lp <= score,
        "a single path cannot be more probable than all of them"
    );
    assert_eq!(vit.len(), 300);
    assert!(vit.iter().zip(&map).filter(|(a, b)| a == b).count() > 250);
    // 2 + 6 transition and start parameters, 6 means, 9 covariance entries.
    assert_eq!(model.n_free_parameters(), 23);
    let bic = model.bic(x.view(), None).expect("bic");
    assert!((bic - (-2.0 * score + 23.0 * 300f64.ln())).abs() < 1e-9 * bic.abs());
    let (_, after) = model.sample(5, &mut ChaCha8Rng::seed_from_u64(1), Some(2));
    assert_eq!(after[0], 2);
}

#[test]
fn gmm_hmm_fits_from_its_own_initialisation() {
    let (x, lengths, _) = draw(&truth3(), 4, 150, 51);
    for kind in Covariance::ALL {
        let fit = GmmHmm::params(2)
            .n_mix(2)
            .covariance_type(kind)
            .n_iter(20)
            .seed(2)
            .fit(x.view(), Some(&lengths))
            .expect("fit");
        assert!(fit.log_likelihoods.iter().all(|v| v.is_finite()));
        assert!(
            fit.log_likelihoods.last() > fit.log_likelihoods.first(),
            "{kind:?}"
        );
        let json = fit.model.to_json().expect("json");
        assert_eq!(GmmHmm::from_json(&json).expect("load"), fit.model);
    }
}

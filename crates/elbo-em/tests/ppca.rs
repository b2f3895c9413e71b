//! Probabilistic PCA: the closed form against scikit-learn 1.9.1, EM against the closed form,
//! the model's density, posterior and samples against dense references, and every error.
//!
//! The scikit-learn fixture was written by `scripts/make_ppca_fixtures.py`. scikit-learn's
//! `PCA` is PPCA fitted with the covariance divided by `N − 1`; the maximum-likelihood `S`
//! divides by `N`. So its `explained_variance_` and `noise_variance_` are ours times
//! `N/(N − 1)`, and its model is exactly our fit to the data stretched about their mean by
//! `√(N/(N − 1))` (which multiplies `S` by `N/(N − 1)`). Both statements are tested to 1e-9.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::PathBuf;

use common::rng;
use elbo_distributions::{
    LogDensity, MvNormal, cholesky, invert_lower_triangular, symmetric_eigen,
};
use elbo_em::{EmError, PpcaMethod, ProbabilisticPca};
use ndarray::{Array1, Array2, ArrayView2, Axis, array, s};
use rand::Rng;
use rand_distr::StandardNormal;
use serde_json::Value;

const SKLEARN_RTOL: f64 = 1e-9;

fn fixture() -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "sklearn_ppca_d6_q2.json",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn a1(v: &Value) -> Array1<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn a2(v: &Value) -> Array2<f64> {
    let rows: Vec<Array1<f64>> = v.as_array().unwrap().iter().map(a1).collect();
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_fn((n, d), |(i, j)| rows[i][j])
}

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Largest relative error of `got` against `want`, entries compared at the array's scale when
/// they are tiny next to it.
fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1e-3 * scale).max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// The orthogonal projector onto the span of the columns of `b` (modified Gram–Schmidt).
fn projector(b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut q = b.to_owned();
    for j in 0..q.ncols() {
        for i in 0..j {
            let (qi, qj) = (q.column(i).to_owned(), q.column(j).to_owned());
            let r = qi.dot(&qj);
            q.column_mut(j).scaled_add(-r, &qi);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt();
        q.column_mut(j).mapv_inplace(|v| v / norm);
    }
    q.dot(&q.t())
}

/// Mean and covariance (divided by N) with plain loops, independent of the crate's GEMMs.
fn naive_moments(x: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
    let (n, d) = x.dim();
    let mean = x.sum_axis(Axis(0)) / n as f64;
    let mut s = Array2::zeros((d, d));
    for row in x.rows() {
        for i in 0..d {
            for j in 0..d {
                s[[i, j]] += (row[i] - mean[i]) * (row[j] - mean[j]);
            }
        }
    }
    (mean, s / n as f64)
}

/// A known PPCA in 8 dimensions with 3 latent ones.
fn truth() -> ProbabilisticPca {
    let mut r = rng(5);
    let scales = [3.0, 2.0, 1.2];
    let w = Array2::from_shape_fn((8, 3), |(_, j)| {
        scales[j] * r.sample::<f64, _>(StandardNormal)
    });
    let mean = Array1::from_shape_fn(8, |i| i as f64 - 3.5);
    ProbabilisticPca::from_components(mean, w, 0.25).unwrap()
}

fn data(n: usize, seed: u64) -> Array2<f64> {
    truth().sample(n, &mut rng(seed)).0
}

fn closed_form(x: &Array2<f64>, q: usize) -> elbo_em::PpcaFit {
    ProbabilisticPca::params(q).fit(x.view()).unwrap()
}

fn em(x: &Array2<f64>, q: usize, seed: u64) -> elbo_em::PpcaFit {
    ProbabilisticPca::params(q)
        .method(PpcaMethod::Em)
        .tol(1e-12)
        .max_iter(20_000)
        .seed(seed)
        .fit(x.view())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Against scikit-learn.

#[test]
fn closed_form_matches_scikit_learn() {
    let f = fixture();
    let x = a2(&f["x"]);
    let n = x.nrows() as f64;
    let q = f["n_components"].as_u64().unwrap() as usize;
    let unbias = n / (n - 1.0);
    let fit = closed_form(&x, q);
    let m = &fit.model;
    assert!(fit.converged && fit.n_iter == 0 && fit.lower_bounds.is_empty());

    // Estimates: ours (divided by N) times N/(N − 1) are scikit-learn's.
    let noise = f["noise_variance"].as_f64().unwrap();
    assert!(rel(m.noise_variance() * unbias, noise) < SKLEARN_RTOL);
    let ev = (&m.explained_variance() * unbias).to_vec();
    let e = rel_err(&ev, a1(&f["explained_variance"]).as_slice().unwrap());
    assert!(e < SKLEARN_RTOL, "explained variance: {e:e}");
    let e = rel_err(
        m.mean().as_slice().unwrap(),
        a1(&f["mean"]).as_slice().unwrap(),
    );
    assert!(e < SKLEARN_RTOL, "mean: {e:e}");
    // The principal subspace: span W = span of scikit-learn's components_ (rows).
    let sk_components = a2(&f["components"]);
    let gap = max_abs(&(projector(m.components()) - projector(sk_components.t())));
    assert!(gap < 1e-9, "projector distance {gap:e}");

    // The model: our fit to the stretched data is scikit-learn's, density for density.
    let c = unbias.sqrt();
    let stretched = (&x - &m.mean()) * c + m.mean();
    let model = closed_form(&stretched, q).model;
    let e = rel_err(
        model.covariance().as_slice().unwrap(),
        a2(&f["covariance"]).as_slice().unwrap(),
    );
    assert!(e < SKLEARN_RTOL, "covariance: {e:e}");
    let head = a1(&f["score_samples_head"]);
    let ours = model.score_samples(x.slice(s![..head.len(), ..])).unwrap();
    let e = rel_err(ours.as_slice().unwrap(), head.as_slice().unwrap());
    assert!(e < SKLEARN_RTOL, "score_samples: {e:e}");
    let score = f["score"].as_f64().unwrap();
    assert!(rel(model.score(x.view()).unwrap(), score) < SKLEARN_RTOL);
}

#[test]
fn score_samples_match_scikit_learn_for_its_parameters() {
    // W from scikit-learn's attributes: components_ᵀ (explained_variance_ − σ²)^{1/2}.
    let f = fixture();
    let x = a2(&f["x"]);
    let noise = f["noise_variance"].as_f64().unwrap();
    let ev = a1(&f["explained_variance"]);
    let mut w = a2(&f["components"]).reversed_axes();
    for (mut col, l) in w.columns_mut().into_iter().zip(&ev) {
        col *= (l - noise).sqrt();
    }
    let model = ProbabilisticPca::from_components(a1(&f["mean"]), w, noise).unwrap();
    let head = a1(&f["score_samples_head"]);
    let ours = model.score_samples(x.slice(s![..head.len(), ..])).unwrap();
    let e = rel_err(ours.as_slice().unwrap(), head.as_slice().unwrap());
    assert!(e < SKLEARN_RTOL, "score_samples: {e:e}");
    let e = rel_err(
        model.explained_variance().as_slice().unwrap(),
        ev.as_slice().unwrap(),
    );
    assert!(e < SKLEARN_RTOL, "explained variance: {e:e}");
}

// ---------------------------------------------------------------------------------------------
// The closed form is PCA.

#[test]
fn ml_solution_is_the_principal_subspace_and_the_mean_discarded_eigenvalue() {
    let x = data(2_000, 1);
    let q = 3;
    let m = closed_form(&x, q).model;
    let (mean, cov) = naive_moments(&x);
    let e = rel_err(m.mean().as_slice().unwrap(), mean.as_slice().unwrap());
    assert!(e < 1e-12, "mean: {e:e}");
    let (values, vectors) = symmetric_eigen(cov.view()).unwrap().into_parts();
    // The decomposition really is one of S.
    let residual = max_abs(&(cov.dot(&vectors) - &vectors * &values));
    assert!(residual < 1e-12 * values[0], "S U − U Λ = {residual:e}");
    let discarded = values.slice(s![q..]).mean().unwrap();
    assert!(rel(m.noise_variance(), discarded) < 1e-12);
    let e = rel_err(
        m.explained_variance().as_slice().unwrap(),
        values.slice(s![..q]).as_slice().unwrap(),
    );
    assert!(e < 1e-12, "explained variance: {e:e}");
    let u = vectors.slice(s![.., ..q]);
    let gap = max_abs(&(projector(m.components()) - projector(u)));
    assert!(gap < 1e-10, "‖P_W − P_U‖ = {gap:e}");
    // W has orthogonal columns with ‖w_j‖² = λ_j − σ².
    let gram = m.components().t().dot(&m.components());
    let want = Array2::from_diag(&(&values.slice(s![..q]) - m.noise_variance()));
    assert!(max_abs(&(gram - want)) < 1e-10 * values[0]);
}

// ---------------------------------------------------------------------------------------------
// EM.

#[test]
fn em_converges_to_the_closed_form() {
    for (x, q) in [(data(2_000, 2), 3), (a2(&fixture()["x"]), 2)] {
        let exact = closed_form(&x, q);
        let fit = em(&x, q, 0);
        assert!(fit.converged, "{} iterations", fit.n_iter);
        let (ll, best) = (fit.log_likelihood, exact.log_likelihood);
        assert!(rel(ll, best) < 1e-6, "EM {ll} vs closed form {best}");
        // The closed form is the global maximum.
        assert!(
            ll <= best + 1e-12 * best.abs(),
            "EM {ll} above the maximum {best}"
        );
        assert!(rel(fit.model.noise_variance(), exact.model.noise_variance()) < 1e-6);
        let gap =
            max_abs(&(projector(fit.model.components()) - projector(exact.model.components())));
        assert!(gap < 1e-6, "‖P_W(EM) − P_W(closed form)‖ = {gap:e}");
        // Rotated to the canonical form, EM's W is the closed form's. The log-likelihood is
        // flat to second order about its maximum, so within the subspace W converges only as
        // the square root of the log-likelihood (1e-12 there is ~1e-5 here).
        let w = exact.model.components().to_owned();
        let e = max_abs(&(&fit.model.components() - &w)) / max_abs(&w);
        assert!(e < 1e-4, "W: {e:e}");
        let e = rel_err(
            fit.model.explained_variance().as_slice().unwrap(),
            exact.model.explained_variance().as_slice().unwrap(),
        );
        assert!(e < 1e-4, "explained variance: {e:e}");
    }
}

#[test]
fn em_trace_never_decreases() {
    let x = a2(&fixture()["x"]);
    for seed in 0..4 {
        let fit = em(&x, 2, seed);
        let b = &fit.lower_bounds;
        assert!(b.len() > 5, "only {} iterations", b.len());
        for (t, pair) in b.windows(2).enumerate() {
            assert!(
                pair[1] >= pair[0] - 1e-10 * pair[0].abs(),
                "seed {seed}: bound fell at iteration {t}: {} -> {}",
                pair[0],
                pair[1]
            );
        }
        let last = b[b.len() - 1];
        assert!(fit.log_likelihood >= last - 1e-10 * last.abs());
        assert_eq!(fit.n_iter, b.len());
    }
}

#[test]
fn em_is_reproducible_per_seed() {
    let x = data(500, 3);
    let (a, b, c) = (em(&x, 2, 7), em(&x, 2, 7), em(&x, 2, 8));
    assert_eq!(a.lower_bounds, b.lower_bounds);
    assert_eq!(a.model, b.model);
    assert_ne!(
        a.lower_bounds[0], c.lower_bounds[0],
        "seeds 7 and 8 started alike"
    );
    assert!(rel(a.log_likelihood, c.log_likelihood) < 1e-9);
}

#[test]
fn em_that_runs_out_of_iterations_is_not_an_error() {
    let x = data(500, 4);
    let fit = ProbabilisticPca::params(3)
        .method(PpcaMethod::Em)
        .tol(0.0)
        .max_iter(3)
        .fit(x.view())
        .unwrap();
    assert!(!fit.converged);
    assert_eq!((fit.n_iter, fit.lower_bounds.len()), (3, 3));
}

// ---------------------------------------------------------------------------------------------
// The model.

#[test]
fn score_samples_match_a_dense_gaussian() {
    let x = data(1_000, 6); // several chunks of rows
    let fit = closed_form(&x, 3);
    let m = &fit.model;
    let dense = MvNormal::new(m.mean().to_owned(), m.covariance()).unwrap();
    let want: Vec<f64> = x.rows().into_iter().map(|r| dense.ln_prob(r)).collect();
    let got = m.score_samples(x.view()).unwrap();
    let e = rel_err(got.as_slice().unwrap(), &want);
    assert!(e < 1e-10, "{e:e}");
    // The fit's log-likelihood is the mean density of its training rows.
    assert!(rel(m.score(x.view()).unwrap(), fit.log_likelihood) < 1e-12);
    let aic = m.aic(x.view()).unwrap();
    let want_aic = -2.0 * fit.log_likelihood * 1000.0 + 2.0 * m.n_parameters() as f64;
    assert!(rel(aic, want_aic) < 1e-12);
    let bic = m.bic(x.view()).unwrap();
    let want_bic = -2.0 * fit.log_likelihood * 1000.0 + m.n_parameters() as f64 * 1000f64.ln();
    assert!(rel(bic, want_bic) < 1e-12);
}

#[test]
fn transform_is_the_posterior_mean() {
    // E[z | x] = M⁻¹Wᵀ(x − μ) = WᵀC⁻¹(x − μ); the latter with a dense inverse of C.
    let x = data(300, 7);
    let m = truth();
    let chol = cholesky(m.covariance().view(), 0.0).unwrap();
    let mut l_inv = Array2::zeros((8, 8));
    invert_lower_triangular(chol.factor(), l_inv.view_mut());
    let c_inv = l_inv.t().dot(&l_inv);
    let want = (&x - &m.mean()).dot(&c_inv).dot(&m.components());
    let got = m.transform(x.view()).unwrap();
    assert_eq!(got.dim(), (300, 3));
    let e = max_abs(&(got - &want)) / max_abs(&want);
    assert!(e < 1e-12, "{e:e}");
}

#[test]
fn inverse_transform_gives_the_conditional_mean() {
    let m = truth();
    let z = array![[1.0, -0.5, 2.0], [0.0, 0.0, 0.0]];
    let x = m.inverse_transform(z.view()).unwrap();
    let want = z.dot(&m.components().t()) + m.mean();
    assert_eq!(x, want);
    assert_eq!(x.row(1), m.mean());
    // Without noise the posterior mean recovers the latent exactly.
    let sharp =
        ProbabilisticPca::from_components(m.mean().to_owned(), m.components().to_owned(), 1e-12)
            .unwrap();
    let back = sharp.transform(x.view()).unwrap();
    assert!(max_abs(&(back - &z)) < 1e-9);
}

#[test]
fn samples_follow_the_model() {
    let m = truth();
    let n = 100_000;
    let (x, z) = m.sample(n, &mut rng(11));
    assert_eq!((x.dim(), z.dim()), ((n, 8), (n, 3)));
    let (mean, cov) = naive_moments(&x);
    let c = m.covariance();
    let scale = max_abs(&c);
    assert!(max_abs(&(&cov - &c)) < 0.02 * scale, "{cov}\nvs\n{c}");
    let mean_err = (&mean - &m.mean())
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    assert!(mean_err < 0.05, "{mean}");
    let (_, zz) = naive_moments(&z);
    assert!(max_abs(&(zz - Array2::<f64>::eye(3))) < 0.02);
    // Same seed, same bits.
    assert_eq!(m.sample(10, &mut rng(11)).0, x.slice(s![..10, ..]));
}

#[test]
fn n_parameters_count_w_up_to_a_rotation() {
    // d q + 1 + d − q(q − 1)/2 (Tipping & Bishop 1999; PRML §12.2).
    let x = a2(&fixture()["x"]);
    assert_eq!(closed_form(&x, 2).model.n_parameters(), 6 * 2 + 1 + 6 - 1);
    assert_eq!(closed_form(&x, 1).model.n_parameters(), 6 + 1 + 6);
    assert_eq!(closed_form(&x, 5).model.n_parameters(), 6 * 5 + 1 + 6 - 10);
}

#[test]
fn f32_u8_and_strided_input_match_f64() {
    let x = data(400, 8).mapv(|v| (v * 10.0 + 128.0).clamp(0.0, 255.0).round());
    let reference = closed_form(&x, 2).model;
    let bytes = x.mapv(|v| v as u8);
    assert_eq!(
        ProbabilisticPca::params(2).fit(bytes.view()).unwrap().model,
        reference
    );
    let floats = x.mapv(|v| v as f32);
    assert_eq!(
        ProbabilisticPca::params(2)
            .fit(floats.view())
            .unwrap()
            .model,
        reference
    );
    let transposed = x.t().to_owned();
    assert_eq!(
        ProbabilisticPca::params(2)
            .fit(transposed.t())
            .unwrap()
            .model,
        reference
    );
    assert_eq!(
        reference.score_samples(bytes.view()).unwrap(),
        reference.score_samples(x.view()).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Errors: one test per rule; messages are one line and say what to do.

fn small() -> Array2<f64> {
    data(50, 9)
}

fn one_line(err: &EmError) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn n_components_zero_is_rejected() {
    let err = ProbabilisticPca::params(0).check().unwrap_err();
    assert!(
        matches!(
            err,
            EmError::InvalidParam {
                name: "n_components",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at least 1"), "{err}");
    one_line(&err);
}

#[test]
fn max_iter_zero_is_rejected() {
    let err = ProbabilisticPca::params(2).max_iter(0).check().unwrap_err();
    assert!(
        matches!(
            err,
            EmError::InvalidParam {
                name: "max_iter",
                ..
            }
        ),
        "{err}"
    );
    one_line(&err);
}

#[test]
fn negative_or_nan_tol_is_rejected() {
    for tol in [-1e-3, f64::NAN, f64::INFINITY] {
        let err = ProbabilisticPca::params(2)
            .tol(tol)
            .fit(small().view())
            .unwrap_err();
        assert!(
            matches!(err, EmError::InvalidParam { name: "tol", .. }),
            "{err}"
        );
        one_line(&err);
    }
}

#[test]
fn n_components_must_be_below_the_number_of_columns() {
    for q in [8, 9] {
        let err = ProbabilisticPca::params(q).fit(small().view()).unwrap_err();
        let expected = matches!(
            err,
            EmError::PpcaTooFewFeatures { n_components, n_features: 8 } if n_components == q
        );
        assert!(expected, "{err}");
        assert!(
            err.to_string().contains("n_components < n_features"),
            "{err}"
        );
        one_line(&err);
    }
    let column = Array2::<f64>::ones((10, 1));
    assert!(matches!(
        ProbabilisticPca::params(1).fit(column.view()),
        Err(EmError::PpcaTooFewFeatures { n_features: 1, .. })
    ));
}

#[test]
fn too_few_rows_are_rejected() {
    let x = small();
    let err = ProbabilisticPca::params(3)
        .fit(x.slice(s![..4, ..]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::PpcaTooFewRows {
                n_components: 3,
                n_samples: 4,
                needed: 5
            }
        ),
        "{err}"
    );
    one_line(&err);
    assert!(
        ProbabilisticPca::params(3)
            .fit(x.slice(s![..5, ..]))
            .is_ok()
    );
}

#[test]
fn empty_data_is_rejected() {
    let err = ProbabilisticPca::params(1)
        .fit(Array2::<f64>::zeros((0, 4)).view())
        .unwrap_err();
    assert!(
        matches!(err, EmError::EmptyData { rows: 0, cols: 4 }),
        "{err}"
    );
    one_line(&err);
}

#[test]
fn non_finite_data_is_rejected() {
    let mut x = small();
    x[[7, 2]] = f64::NAN;
    for method in [PpcaMethod::ClosedForm, PpcaMethod::Em] {
        let err = ProbabilisticPca::params(2)
            .method(method)
            .fit(x.view())
            .unwrap_err();
        assert!(
            matches!(
                err,
                EmError::NonFinite {
                    row: 7,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
        one_line(&err);
    }
}

#[test]
fn data_in_a_q_dimensional_subspace_have_no_noise_variance() {
    // Rows on a plane in 5 dimensions: σ² = 0, for both methods.
    let mut r = rng(12);
    let z = Array2::from_shape_fn((40, 2), |_| r.sample::<f64, _>(StandardNormal));
    let basis = array![[1.0, 0.0, 2.0, 0.0, 1.0], [0.0, 1.0, -1.0, 3.0, 0.0]];
    let x = z.dot(&basis);
    for method in [PpcaMethod::ClosedForm, PpcaMethod::Em] {
        let err = ProbabilisticPca::params(2)
            .method(method)
            .fit(x.view())
            .unwrap_err();
        assert!(
            matches!(
                err,
                EmError::ZeroNoiseVariance {
                    n_components: 2,
                    ..
                }
            ),
            "{method:?}: {err}"
        );
        assert!(err.to_string().contains("fewer components"), "{err}");
        one_line(&err);
    }
    // Constant data too.
    let err = ProbabilisticPca::params(1)
        .fit(Array2::<f64>::ones((10, 3)).view())
        .unwrap_err();
    assert!(matches!(err, EmError::ZeroNoiseVariance { .. }), "{err}");
}

#[test]
fn data_of_the_wrong_width_are_rejected_by_the_model() {
    let m = truth();
    let x = Array2::<f64>::zeros((3, 7));
    for err in [
        m.score_samples(x.view()).unwrap_err(),
        m.transform(x.view()).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                EmError::DimensionMismatch {
                    expected: 8,
                    found: 7
                }
            ),
            "{err}"
        );
        one_line(&err);
    }
    let mut x = Array2::<f64>::zeros((3, 8));
    x[[1, 4]] = f64::INFINITY;
    assert!(matches!(
        m.score(x.view()),
        Err(EmError::NonFinite {
            row: 1,
            column: 4,
            ..
        })
    ));
    assert!(matches!(
        m.score(Array2::<f64>::zeros((0, 8)).view()),
        Err(EmError::EmptyData { .. })
    ));
}

#[test]
fn latents_of_the_wrong_width_are_rejected() {
    let err = truth()
        .inverse_transform(Array2::zeros((2, 2)).view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::LatentDimensionMismatch {
                expected: 3,
                found: 2
            }
        ),
        "{err}"
    );
    one_line(&err);
    let mut z = Array2::zeros((2, 3));
    z[[0, 1]] = f64::NAN;
    assert!(matches!(
        truth().inverse_transform(z.view()),
        Err(EmError::NonFinite {
            row: 0,
            column: 1,
            ..
        })
    ));
}

#[test]
fn from_components_rejects_inconsistent_shapes() {
    let mean = Array1::zeros(4);
    for w in [
        Array2::zeros((3, 2)),
        Array2::zeros((4, 0)),
        Array2::zeros((4, 4)),
    ] {
        let err = ProbabilisticPca::from_components(mean.clone(), w, 1.0).unwrap_err();
        assert!(
            matches!(
                err,
                EmError::GivenShape {
                    name: "components",
                    ..
                }
            ),
            "{err}"
        );
        one_line(&err);
    }
}

#[test]
fn from_components_rejects_bad_values() {
    let (mean, w) = (Array1::zeros(4), Array2::ones((4, 2)));
    for noise in [0.0, -1.0, f64::NAN] {
        let err = ProbabilisticPca::from_components(mean.clone(), w.clone(), noise).unwrap_err();
        assert!(
            matches!(
                err,
                EmError::GivenValue {
                    name: "noise_variance",
                    ..
                }
            ),
            "{err}"
        );
        one_line(&err);
    }
    let mut bad = w.clone();
    bad[[2, 1]] = f64::INFINITY;
    assert!(matches!(
        ProbabilisticPca::from_components(mean.clone(), bad, 1.0),
        Err(EmError::GivenValue {
            name: "components",
            ..
        })
    ));
    let mut bad_mean = mean;
    bad_mean[0] = f64::NAN;
    assert!(matches!(
        ProbabilisticPca::from_components(bad_mean, w, 1.0),
        Err(EmError::GivenValue { name: "mean", .. })
    ));
}

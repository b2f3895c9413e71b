//! The variational Bayesian Gaussian mixture on its own terms: the complete ELBO against the
//! closed-form evidence, pruning of unused components, monotone bounds, the fused
//! point-estimate log-likelihood, and one test per parameter rule.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::{sample, separated_truth};
use elbo_distributions::{cholesky, ln_multigamma};
use elbo_em::{BayesianGaussianMixture, Covariance, CovariancePrior, EmError, Init, WeightPrior};
use ndarray::{Array1, Array2, Axis, array};

fn data() -> Array2<f64> {
    sample(&separated_truth(), 300, 7).0
}

/// ln p(X) of the Normal–Wishart model `Λ ~ W(Ψ₀⁻¹, ν₀)`, `μ | Λ ~ N(m₀, (β₀Λ)⁻¹)`,
/// `x_n ~ N(μ, Λ⁻¹)` (Murphy 2007, "Conjugate Bayesian analysis of the Gaussian
/// distribution", §8, eq. 266 with κ = β): `π^{−Nd/2} Γ_d(ν_N/2)/Γ_d(ν₀/2)
/// |Ψ₀|^{ν₀/2} / |Ψ_N|^{ν_N/2} (β₀/β_N)^{d/2}`.
fn log_evidence(
    x: &Array2<f64>,
    m0: &Array1<f64>,
    beta0: f64,
    nu0: f64,
    psi0: &Array2<f64>,
) -> f64 {
    let (n, d) = x.dim();
    let nf = n as f64;
    let mean = x.mean_axis(Axis(0)).unwrap();
    let mut s = Array2::<f64>::zeros((d, d));
    for row in x.rows() {
        let y = &row - &mean;
        for a in 0..d {
            for b in 0..d {
                s[[a, b]] += y[a] * y[b];
            }
        }
    }
    let (beta_n, nu_n) = (beta0 + nf, nu0 + nf);
    let dm = &mean - m0;
    let mut psi_n = psi0 + &s;
    for a in 0..d {
        for b in 0..d {
            psi_n[[a, b]] += beta0 * nf / beta_n * dm[a] * dm[b];
        }
    }
    let ln_det = |m: &Array2<f64>| cholesky(m.view(), 0.0).unwrap().ln_det();
    -0.5 * nf * d as f64 * std::f64::consts::PI.ln() + ln_multigamma(0.5 * nu_n, d)
        - ln_multigamma(0.5 * nu0, d)
        + 0.5 * nu0 * ln_det(psi0)
        - 0.5 * nu_n * ln_det(&psi_n)
        + 0.5 * d as f64 * (beta0 / beta_n).ln()
}

/// With one component mean field is exact: the complete ELBO is the evidence, for default
/// priors (from the data) and for given ones.
#[test]
fn one_component_elbo_is_the_closed_form_evidence() {
    let x = data();
    let n = x.nrows() as f64;
    let mean = x.mean_axis(Axis(0)).unwrap();
    let cov = {
        let y = &x - &mean;
        y.t().dot(&y) / (n - 1.0)
    };
    let cases = [
        (mean.clone(), 1.0, 2.0, cov.clone(), false),
        (
            array![1.0, -2.0],
            0.3,
            4.5,
            array![[2.0, 0.4], [0.4, 0.7]],
            true,
        ),
    ];
    for (m0, beta0, nu0, psi0, given) in cases {
        let mut params = BayesianGaussianMixture::params(1)
            .covariance(Covariance::Full)
            .weight_concentration_prior_type(WeightPrior::DirichletDistribution)
            .reg_covar(0.0)
            .tol(0.0)
            .max_iter(4);
        if given {
            params = params
                .mean_prior(m0.clone())
                .mean_precision_prior(beta0)
                .degrees_of_freedom_prior(nu0)
                .covariance_prior(CovariancePrior::Matrix(psi0.clone()));
        }
        let fit = params.fit(x.view()).unwrap();
        let expected = log_evidence(&x, &m0, beta0, nu0, &psi0);
        let trace = &fit.model.trace().elbo;
        assert_eq!(trace.len(), 4);
        for (t, elbo) in trace.iter().enumerate() {
            let ours = elbo * n;
            let rel = ((ours - expected) / expected).abs();
            assert!(
                rel <= 1e-8,
                "given priors {given}, iteration {t}: ELBO {ours} vs ln p(X) {expected} (relative {rel:e})"
            );
        }
    }
}

/// ln p(X) of the Normal–Gamma model behind the diag (`spherical = false`: one precision per
/// feature, `λ_j ~ Gamma(ν₀/2, Ψ₀ⱼ/2)`) and spherical (one precision,
/// `λ ~ Gamma(dν₀/2, dΨ₀/2)`) types, with `μ | λ ~ N(m₀, (β₀λ)⁻¹ I)`:
/// `Γ(a_N)/Γ(a₀) b₀^{a₀}/b_N^{a_N} (β₀/β_N)^{n/2} (2π)^{−Nn/2}` per independent block of `n`
/// features.
fn log_evidence_gamma(
    x: &Array2<f64>,
    m0: &Array1<f64>,
    beta0: f64,
    nu0: f64,
    psi0: &Array1<f64>,
    spherical: bool,
) -> f64 {
    use elbo_distributions::ln_gamma;
    let (n, d) = x.dim();
    let nf = n as f64;
    let mean = x.mean_axis(Axis(0)).unwrap();
    let beta_n = beta0 + nf;
    // Per feature: ½ (S_j + β₀ N / β_N (x̄_j − m₀ⱼ)²).
    let half: Vec<f64> = (0..d)
        .map(|j| {
            let s: f64 = x.column(j).iter().map(|v| (v - mean[j]).powi(2)).sum();
            0.5 * (s + beta0 * nf / beta_n * (mean[j] - m0[j]).powi(2))
        })
        .collect();
    let block = |a0: f64, b0: f64, extra: f64, width: f64| {
        let a_n = a0 + 0.5 * nf * width;
        let b_n = b0 + extra;
        ln_gamma(a_n) - ln_gamma(a0) + a0 * b0.ln() - a_n * b_n.ln()
            + 0.5 * width * (beta0 / beta_n).ln()
            - 0.5 * nf * width * (2.0 * std::f64::consts::PI).ln()
    };
    if spherical {
        let df = d as f64;
        block(0.5 * df * nu0, 0.5 * df * psi0[0], half.iter().sum(), df)
    } else {
        (0..d)
            .map(|j| block(0.5 * nu0, 0.5 * psi0[j], half[j], 1.0))
            .sum()
    }
}

/// The same with one component for the other covariance types: tied is full when K = 1, and
/// diag and spherical are exact for their Normal–Gamma models.
#[test]
fn one_component_elbo_is_the_closed_form_evidence_for_every_type() {
    let x = sample(&separated_truth(), 250, 5).0;
    let n = x.nrows() as f64;
    let (m0, beta0, nu0) = (array![0.5, 1.5], 0.7, 3.0);
    for kind in [Covariance::Tied, Covariance::Diag, Covariance::Spherical] {
        let (prior, expected) = match kind {
            Covariance::Tied => {
                let psi = array![[1.5, -0.2], [-0.2, 0.9]];
                let e = log_evidence(&x, &m0, beta0, nu0, &psi);
                (CovariancePrior::Matrix(psi), e)
            }
            Covariance::Diag => {
                let psi = array![1.5, 0.9];
                let e = log_evidence_gamma(&x, &m0, beta0, nu0, &psi, false);
                (CovariancePrior::Diag(psi), e)
            }
            _ => {
                let e = log_evidence_gamma(&x, &m0, beta0, nu0, &array![1.2], true);
                (CovariancePrior::Spherical(1.2), e)
            }
        };
        let fit = BayesianGaussianMixture::params(1)
            .covariance(kind)
            .weight_concentration_prior_type(WeightPrior::DirichletDistribution)
            .mean_prior(m0.clone())
            .mean_precision_prior(beta0)
            .degrees_of_freedom_prior(nu0)
            .covariance_prior(prior)
            .reg_covar(0.0)
            .tol(0.0)
            .max_iter(3)
            .fit(x.view())
            .unwrap();
        for elbo in &fit.model.trace().elbo {
            let rel = ((elbo * n - expected) / expected).abs();
            assert!(
                rel <= 1e-8,
                "{kind}: ELBO {} vs ln p(X) {expected} (relative {rel:e})",
                elbo * n
            );
        }
    }
}

/// Ten components on three well-separated groups: all but three are switched off.
#[test]
fn unused_components_are_pruned() {
    let x = sample(&separated_truth(), 600, 3).0;
    for prior in [
        WeightPrior::DirichletProcess,
        WeightPrior::DirichletDistribution,
    ] {
        let fit = BayesianGaussianMixture::params(10)
            .weight_concentration_prior_type(prior)
            .max_iter(1000)
            .tol(1e-6)
            .seed(1)
            .fit(x.view())
            .unwrap();
        let m = &fit.model;
        assert!(fit.converged, "{prior:?}");
        assert_eq!(
            m.n_effective_components(1e-2),
            3,
            "{prior:?}: weights {}",
            m.weights()
        );
        let mut w = m.weights().to_vec();
        w.sort_by(|a, b| b.total_cmp(a));
        assert!(w[3] < 1e-2, "{prior:?}: weights {w:?}");
        // The kept components are the truth's (weights 0.5, 0.3, 0.2).
        for (ours, truth) in w[..3].iter().zip([0.5, 0.3, 0.2]) {
            assert!((ours - truth).abs() < 0.06, "{prior:?}: weights {w:?}");
        }
    }
}

/// scikit-learn's bound never decreases; the complete ELBO never decreases where the updates
/// are exact coordinate ascent (full covariances).
#[test]
fn bounds_never_decrease() {
    let x = sample(&separated_truth(), 400, 11).0;
    for kind in Covariance::ALL {
        for prior in [
            WeightPrior::DirichletProcess,
            WeightPrior::DirichletDistribution,
        ] {
            let fit = BayesianGaussianMixture::params(6)
                .covariance(kind)
                .weight_concentration_prior_type(prior)
                .init(Init::Random)
                .max_iter(200)
                .tol(1e-9)
                .fit(x.view())
                .unwrap();
            let b = &fit.lower_bounds;
            assert!(b.len() > 5, "{kind} {prior:?}: {} iterations", b.len());
            for (t, w) in b.windows(2).enumerate() {
                assert!(
                    w[1] >= w[0] - 1e-10 * w[0].abs(),
                    "{kind} {prior:?}: lower bound fell at {t}: {} -> {}",
                    w[0],
                    w[1]
                );
            }
            let e = &fit.model.trace().elbo;
            assert_eq!(e.len(), b.len());
            if kind == Covariance::Full {
                for (t, w) in e.windows(2).enumerate() {
                    assert!(
                        w[1] >= w[0] - 1e-10 * w[0].abs(),
                        "{kind} {prior:?}: ELBO fell at {t}: {} -> {}",
                        w[0],
                        w[1]
                    );
                }
            }
            // The bound is below the point estimate's log-likelihood at convergence here
            // (the ELBO pays for the parameters' uncertainty).
            let (elbo, ll) = (
                e[e.len() - 1],
                fit.model.trace().log_likelihood[e.len() - 1],
            );
            assert!(
                elbo < ll,
                "{kind} {prior:?}: ELBO {elbo} vs log-likelihood {ll}"
            );
        }
    }
}

/// The trace's log-likelihood (computed inside the E-step) is the point-estimate mixture's
/// mean log-likelihood, as `GaussianMixture::score` computes it separately.
#[test]
fn trace_log_likelihood_is_the_point_estimate_score() {
    let x = data();
    for kind in Covariance::ALL {
        let params = |iters| {
            BayesianGaussianMixture::params(4)
                .covariance(kind)
                .tol(0.0)
                .max_iter(iters)
        };
        let before = params(3).fit(x.view()).unwrap();
        let after = params(4).fit(x.view()).unwrap();
        let score = before.model.to_gaussian_mixture().score(x.view()).unwrap();
        let traced = after.model.trace().log_likelihood[3];
        assert!(
            (score - traced).abs() <= 1e-10 * score.abs(),
            "{kind}: score {score} vs traced {traced}"
        );
        let labels = after.model.predict(x.view()).unwrap();
        let proba = after.model.predict_proba(x.view()).unwrap();
        for (row, l) in proba.rows().into_iter().zip(labels.iter()) {
            assert!((row.sum() - 1.0).abs() < 1e-12);
            assert!(row.iter().all(|p| *p <= row[*l]));
        }
    }
}

/// f32 and u8 input fit like the same numbers in f64.
#[test]
fn other_element_types_fit_the_same() {
    let x = data().mapv(|v| (v * 4.0).round() / 4.0);
    let params = BayesianGaussianMixture::params(3).max_iter(20);
    let a = params.fit(x.view()).unwrap();
    let b = params.fit(x.mapv(|v| v as f32).view()).unwrap();
    assert_eq!(a.lower_bounds, b.lower_bounds);
    let shifted = x.mapv(|v| (v + 10.0) * 4.0);
    assert!(shifted.iter().all(|v| (0.0..=255.0).contains(v)));
    let c = params.fit(shifted.mapv(|v| v as u8).view()).unwrap();
    let d = params.fit(shifted.view()).unwrap();
    assert_eq!(c.lower_bounds, d.lower_bounds);
}

// ---- one test per parameter rule ----

#[track_caller]
fn invalid(err: EmError, field: &str) {
    match &err {
        EmError::InvalidParam { name, .. } => assert_eq!(*name, field, "{err}"),
        other => panic!("expected InvalidParam for {field}, got {other}"),
    }
    assert!(err.to_string().contains(field), "{err}");
}

#[track_caller]
fn given_value(err: EmError, field: &str) {
    assert!(
        matches!(&err, EmError::GivenValue { name, .. } if *name == field),
        "{err}"
    );
}

#[track_caller]
fn given_shape(err: EmError, field: &str) {
    assert!(
        matches!(&err, EmError::GivenShape { name, .. } if *name == field),
        "{err}"
    );
}

#[test]
fn n_components_must_be_positive() {
    invalid(
        BayesianGaussianMixture::params(0).check().unwrap_err(),
        "n_components",
    );
}

#[test]
fn tol_must_be_non_negative() {
    invalid(
        BayesianGaussianMixture::params(2)
            .tol(-1.0)
            .check()
            .unwrap_err(),
        "tol",
    );
}

#[test]
fn n_init_must_be_positive() {
    invalid(
        BayesianGaussianMixture::params(2)
            .n_init(0)
            .check()
            .unwrap_err(),
        "n_init",
    );
}

#[test]
fn reg_covar_must_be_non_negative() {
    invalid(
        BayesianGaussianMixture::params(2)
            .reg_covar(f64::NAN)
            .check()
            .unwrap_err(),
        "reg_covar",
    );
}

#[test]
fn weight_concentration_prior_must_be_positive() {
    invalid(
        BayesianGaussianMixture::params(2)
            .weight_concentration_prior(0.0)
            .check()
            .unwrap_err(),
        "weight_concentration_prior",
    );
}

#[test]
fn mean_precision_prior_must_be_positive() {
    invalid(
        BayesianGaussianMixture::params(2)
            .mean_precision_prior(-0.5)
            .check()
            .unwrap_err(),
        "mean_precision_prior",
    );
}

#[test]
fn degrees_of_freedom_prior_must_be_positive() {
    invalid(
        BayesianGaussianMixture::params(2)
            .degrees_of_freedom_prior(f64::INFINITY)
            .check()
            .unwrap_err(),
        "degrees_of_freedom_prior",
    );
}

#[test]
fn degrees_of_freedom_prior_must_exceed_dimension_minus_one() {
    // d = 2: ν₀ must be > 1.
    let err = BayesianGaussianMixture::params(2)
        .degrees_of_freedom_prior(1.0)
        .fit(data().view())
        .unwrap_err();
    invalid(err, "degrees_of_freedom_prior");
    assert!(
        BayesianGaussianMixture::params(2)
            .degrees_of_freedom_prior(1.5)
            .max_iter(2)
            .fit(data().view())
            .is_ok()
    );
}

#[test]
fn mean_prior_must_not_be_empty() {
    invalid(
        BayesianGaussianMixture::params(2)
            .mean_prior(Array1::zeros(0))
            .check()
            .unwrap_err(),
        "mean_prior",
    );
}

#[test]
fn mean_prior_must_be_finite() {
    let err = BayesianGaussianMixture::params(2)
        .mean_prior(array![0.0, f64::NAN])
        .check()
        .unwrap_err();
    given_value(err, "mean_prior");
}

#[test]
fn mean_prior_must_match_the_dimension() {
    let err = BayesianGaussianMixture::params(2)
        .mean_prior(array![0.0, 1.0, 2.0])
        .fit(data().view())
        .unwrap_err();
    given_shape(err, "mean_prior");
}

#[test]
fn covariance_prior_must_fit_the_covariance_type() {
    let err = BayesianGaussianMixture::params(2)
        .covariance(Covariance::Diag)
        .covariance_prior(CovariancePrior::Spherical(1.0))
        .check()
        .unwrap_err();
    given_shape(err, "covariance_prior");
}

#[test]
fn covariance_prior_must_be_finite() {
    let err = BayesianGaussianMixture::params(2)
        .covariance_prior(CovariancePrior::Matrix(array![
            [1.0, 0.0],
            [0.0, f64::INFINITY]
        ]))
        .check()
        .unwrap_err();
    given_value(err, "covariance_prior");
}

#[test]
fn covariance_prior_variances_must_be_positive() {
    let err = BayesianGaussianMixture::params(2)
        .covariance(Covariance::Diag)
        .covariance_prior(CovariancePrior::Diag(array![1.0, 0.0]))
        .check()
        .unwrap_err();
    given_value(err, "covariance_prior");
}

#[test]
fn covariance_prior_matrix_must_be_positive_definite() {
    let err = BayesianGaussianMixture::params(2)
        .covariance_prior(CovariancePrior::Matrix(array![[1.0, 2.0], [2.0, 1.0]]))
        .fit(data().view())
        .unwrap_err();
    given_value(err, "covariance_prior");
}

#[test]
fn covariance_prior_must_match_the_dimension() {
    let err = BayesianGaussianMixture::params(2)
        .covariance(Covariance::Diag)
        .covariance_prior(CovariancePrior::Diag(array![1.0, 2.0, 3.0]))
        .fit(data().view())
        .unwrap_err();
    given_shape(err, "covariance_prior");
}

#[test]
fn given_responsibilities_need_one_column_per_component() {
    let err = BayesianGaussianMixture::params(3)
        .init(Init::Given(Array2::from_elem((300, 2), 0.5)))
        .check()
        .unwrap_err();
    given_shape(err, "responsibilities");
}

#[test]
fn given_responsibilities_must_be_non_negative() {
    let mut resp = Array2::from_elem((300, 2), 0.5);
    resp[[4, 1]] = -0.1;
    let err = BayesianGaussianMixture::params(2)
        .init(Init::Given(resp))
        .check()
        .unwrap_err();
    given_value(err, "responsibilities");
}

#[test]
fn given_responsibilities_need_one_row_per_sample() {
    let err = BayesianGaussianMixture::params(2)
        .init(Init::Given(Array2::from_elem((10, 2), 0.5)))
        .fit(data().view())
        .unwrap_err();
    given_shape(err, "responsibilities");
}

#[test]
fn more_components_than_samples() {
    let x = data().slice_move(ndarray::s![..4, ..]);
    let err = BayesianGaussianMixture::params(5)
        .fit(x.view())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmError::TooFewSamples {
                n_components: 5,
                n_samples: 4
            }
        ),
        "{err}"
    );
}

#[test]
fn default_covariance_prior_needs_two_rows() {
    let x = array![[1.0, 2.0]];
    let err = BayesianGaussianMixture::params(1)
        .fit(x.view())
        .unwrap_err();
    given_value(err, "covariance_prior");
}

/// Saving and loading gives the same model back, bit for bit; a corrupted file is refused.
#[test]
fn saved_models_load_identically() {
    let x = data();
    for kind in Covariance::ALL {
        for prior in [
            WeightPrior::DirichletProcess,
            WeightPrior::DirichletDistribution,
        ] {
            let fit = BayesianGaussianMixture::params(3)
                .covariance(kind)
                .weight_concentration_prior_type(prior)
                .max_iter(10)
                .fit(x.view())
                .unwrap();
            let text = fit.model.to_json().unwrap();
            let loaded = BayesianGaussianMixture::from_json(&text).unwrap();
            assert_eq!(loaded, fit.model, "{kind} {prior:?}");
            assert_eq!(
                loaded.predict_proba(x.view()).unwrap(),
                fit.model.predict_proba(x.view()).unwrap()
            );
        }
    }
    let fit = BayesianGaussianMixture::params(2)
        .max_iter(5)
        .fit(x.view())
        .unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&fit.model.to_json().unwrap()).unwrap();
    doc["mean_precision"] = serde_json::json!({"v": 1, "dim": [1], "data": [1.0]});
    let err = BayesianGaussianMixture::from_json(&doc.to_string()).unwrap_err();
    assert!(err.to_string().contains("mean_precision"), "{err}");
}

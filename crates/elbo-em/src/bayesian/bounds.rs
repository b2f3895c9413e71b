//! The expectations and normalisers of the variational Bayesian mixture: `E[ln π_k]`, the
//! Wishart expectation terms of the E-step, scikit-learn's lower bound (constants dropped) and
//! the complete ELBO's parameter terms (every constant kept).
//!
//! Notation: `Λ̄_k = P_k P_kᵀ` is the expected precision (`P_k` the stored upper-triangular
//! precision Cholesky factor), `ν_k` the degrees of freedom, `β_k` the mean precision, so the
//! Wishart posterior is `W(Λ | W_k = Λ̄_k / ν_k, ν_k)`; the prior is `W(Λ | Ψ₀⁻¹, ν₀)` and
//! `μ_k | Λ_k ~ N(m₀, (β₀ Λ_k)⁻¹)`.

use elbo_distributions::{cholesky, digamma, ln_gamma, ln_multigamma};
use ndarray::{Array1, ArrayView1, Axis};

use super::{BayesianGaussianMixture, CovariancePrior, WeightConcentration};
use crate::error::EmError;
use crate::params::Covariances;

const LN_2: f64 = std::f64::consts::LN_2;

/// Σ_{i<d} ψ((ν − i)/2).
fn sum_digamma(nu: f64, d: usize) -> f64 {
    (0..d).map(|i| digamma(0.5 * (nu - i as f64))).sum()
}

/// Σ_{i<d} ln Γ((ν − i)/2).
fn sum_ln_gamma(nu: f64, d: usize) -> f64 {
    (0..d).map(|i| ln_gamma(0.5 * (nu - i as f64))).sum()
}

/// ln B(a, b).
fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

impl BayesianGaussianMixture {
    /// Degrees of freedom of component `k` (tied: the shared value).
    pub(crate) fn dof(&self, k: usize) -> f64 {
        self.degrees_of_freedom[k.min(self.degrees_of_freedom.len() - 1)]
    }

    /// ln |P_k| of every component (tied: one entry per component, all equal).
    pub(crate) fn ln_det_factors(&self) -> Array1<f64> {
        let (k, d) = (self.n_components(), self.n_features());
        match &self.precisions_cholesky {
            Covariances::Full(p) => p
                .outer_iter()
                .map(|pk| pk.diag().iter().map(|v| v.ln()).sum())
                .collect(),
            Covariances::Tied(p) => Array1::from_elem(k, p.diag().iter().map(|v| v.ln()).sum()),
            Covariances::Diag(p) => p.map_axis(Axis(1), |r| r.iter().map(|v| v.ln()).sum()),
            Covariances::Spherical(p) => p.mapv(|v| d as f64 * v.ln()),
        }
    }

    /// E[ln π_k] under the weights' posterior, `[K]`.
    pub(crate) fn expected_ln_weights(&self) -> Array1<f64> {
        match &self.weight_concentration {
            WeightConcentration::DirichletProcess { alpha, beta } => {
                let mut out = Array1::zeros(alpha.len());
                let mut before = 0.0;
                for (k, (a, b)) in alpha.iter().zip(beta.iter()).enumerate() {
                    let ds = digamma(a + b);
                    out[k] = digamma(*a) - ds + before;
                    before += digamma(*b) - ds;
                }
                out
            }
            WeightConcentration::Dirichlet(c) => {
                let ds = digamma(c.sum());
                c.mapv(|v| digamma(v) - ds)
            }
        }
    }

    /// What the E-step adds to `ln N(x; m_k, Λ̄_k⁻¹)` to get `E[ln N(x; μ_k, Λ_k⁻¹)]` (as
    /// scikit-learn): `½ (d ln 2 + Σ_{i<d} ψ((ν_k − i)/2) − d ln ν_k − d / β_k)`.
    pub(crate) fn expected_log_density_shift(&self) -> Array1<f64> {
        let d = self.n_features();
        let df = d as f64;
        Array1::from_shape_fn(self.n_components(), |k| {
            let nu = self.dof(k);
            0.5 * (df * LN_2 + sum_digamma(nu, d) - df * nu.ln() - df / self.mean_precision[k])
        })
    }

    /// scikit-learn's `_compute_lower_bound` (additive constants dropped), given the
    /// responsibilities' `Σ r ln r`.
    pub(crate) fn sklearn_lower_bound(&self, sum_r_ln_r: f64) -> f64 {
        let (k, d) = (self.n_components(), self.n_features());
        let df = d as f64;
        let ln_det = self.ln_det_factors();
        let wishart_norm = |c: usize| {
            let nu = self.dof(c);
            let ldc = ln_det[c] - 0.5 * df * nu.ln();
            -(nu * ldc + nu * df * 0.5 * LN_2 + sum_ln_gamma(nu, d))
        };
        let log_wishart: f64 = match &self.precisions_cholesky {
            Covariances::Tied(_) => k as f64 * wishart_norm(0),
            _ => (0..k).map(wishart_norm).sum(),
        };
        let log_norm_weight = match &self.weight_concentration {
            WeightConcentration::DirichletProcess { alpha, beta } => -alpha
                .iter()
                .zip(beta.iter())
                .map(|(a, b)| ln_beta(*a, *b))
                .sum::<f64>(),
            WeightConcentration::Dirichlet(c) => {
                ln_gamma(c.sum()) - c.iter().map(|v| ln_gamma(*v)).sum::<f64>()
            }
        };
        -sum_r_ln_r
            - log_wishart
            - log_norm_weight
            - 0.5 * df * self.mean_precision.iter().map(|b| b.ln()).sum::<f64>()
    }

    /// `δ_k = E[ln |Λ_k|] − (scikit-learn's E-step value)`: zero for full and tied, where the
    /// E-step's Wishart expectation is exact; for diag and spherical the exact expectation
    /// under the Gamma posteriors the M-step computes.
    pub(crate) fn ln_det_correction(&self) -> Array1<f64> {
        let d = self.n_features();
        let df = d as f64;
        Array1::from_shape_fn(self.n_components(), |k| {
            let nu = self.dof(k);
            match &self.precisions_cholesky {
                Covariances::Full(_) | Covariances::Tied(_) => 0.0,
                Covariances::Diag(_) => df * digamma(0.5 * nu) - sum_digamma(nu, d),
                Covariances::Spherical(_) => {
                    df * digamma(0.5 * df * nu) - df * df.ln() - sum_digamma(nu, d)
                }
            }
        })
    }

    /// `KL(q(π) ‖ p(π)) + Σ_k KL(q(μ_k, Λ_k) ‖ p(μ_k, Λ_k))` with every constant: the terms
    /// of the complete ELBO that do not involve the data.
    pub(crate) fn parameters_kl(&self) -> Result<f64, EmError> {
        let (k, d) = (self.n_components(), self.n_features());
        let df = d as f64;
        let pr = &self.priors;
        let (a0, b0, nu0) = (
            pr.weight_concentration,
            pr.mean_precision,
            pr.degrees_of_freedom,
        );
        let weights = match &self.weight_concentration {
            WeightConcentration::DirichletProcess { alpha, beta } => alpha
                .iter()
                .zip(beta.iter())
                .map(|(&a, &b)| {
                    let dab = digamma(a + b);
                    -a0.ln() - ln_beta(a, b)
                        + (a - 1.0) * digamma(a)
                        + (b - a0) * digamma(b)
                        + (1.0 + a0 - a - b) * dab
                })
                .sum::<f64>(),
            WeightConcentration::Dirichlet(c) => {
                let sum = c.sum();
                let ds = digamma(sum);
                ln_gamma(sum)
                    - c.iter().map(|v| ln_gamma(*v)).sum::<f64>()
                    - ln_gamma(k as f64 * a0)
                    + k as f64 * ln_gamma(a0)
                    + c.iter().map(|v| (v - a0) * (digamma(*v) - ds)).sum::<f64>()
            }
        };
        let ln_det = self.ln_det_factors();
        // KL of the means given the precisions, averaged over q(Λ_k).
        let mut kl = weights;
        for c in 0..k {
            let beta = self.mean_precision[c];
            let diff = &self.means.row(c) - &pr.mean;
            let q = self.mahalanobis(c, diff.view());
            kl += 0.5 * (df * b0 / beta - df + df * (beta / b0).ln() + b0 * q);
        }
        match (&self.precisions_cholesky, &pr.covariance) {
            (Covariances::Full(_) | Covariances::Tied(_), CovariancePrior::Matrix(psi)) => {
                let psi_chol = cholesky(psi.view(), 0.0).map_err(|e| EmError::GivenValue {
                    name: "covariance_prior",
                    reason: format!("the prior covariance is not positive definite ({e})"),
                })?;
                let ln_det_psi = psi_chol.ln_det();
                let ln_b0 =
                    0.5 * nu0 * ln_det_psi - 0.5 * nu0 * df * LN_2 - ln_multigamma(0.5 * nu0, d);
                let wishart = |c: usize, p: ndarray::ArrayView2<'_, f64>| {
                    let nu = self.dof(c);
                    let ln_det_w = 2.0 * ln_det[c] - df * nu.ln();
                    let ln_b =
                        -0.5 * nu * ln_det_w - 0.5 * nu * df * LN_2 - ln_multigamma(0.5 * nu, d);
                    let e_ln_det = sum_digamma(nu, d) + df * LN_2 + ln_det_w;
                    // tr(Ψ₀ Λ̄) = Σ_j p_jᵀ Ψ₀ p_j over the columns of P.
                    let tr: f64 = p
                        .columns()
                        .into_iter()
                        .map(|col| col.dot(&psi.dot(&col)))
                        .sum();
                    ln_b - ln_b0 + 0.5 * (nu - nu0) * e_ln_det - 0.5 * nu * df + 0.5 * tr
                };
                match &self.precisions_cholesky {
                    Covariances::Full(p) => {
                        for c in 0..k {
                            kl += wishart(c, p.index_axis(Axis(0), c));
                        }
                    }
                    Covariances::Tied(p) => kl += wishart(0, p.view()),
                    _ => unreachable!("matched above"),
                }
            }
            (Covariances::Diag(p), CovariancePrior::Diag(psi)) => {
                for c in 0..k {
                    let nu = self.dof(c);
                    for j in 0..d {
                        let lam = p[[c, j]] * p[[c, j]];
                        kl += gamma_kl(0.5 * nu, 0.5 * nu / lam, 0.5 * nu0, 0.5 * psi[j]);
                    }
                }
            }
            (Covariances::Spherical(p), CovariancePrior::Spherical(psi)) => {
                for c in 0..k {
                    let nu = self.dof(c);
                    let lam = p[c] * p[c];
                    kl += gamma_kl(
                        0.5 * df * nu,
                        0.5 * df * nu / lam,
                        0.5 * df * nu0,
                        0.5 * df * psi,
                    );
                }
            }
            _ => unreachable!("the prior's layout is checked against the covariance type"),
        }
        Ok(kl)
    }

    /// `vᵀ Λ̄_c v`.
    fn mahalanobis(&self, c: usize, v: ArrayView1<'_, f64>) -> f64 {
        match &self.precisions_cholesky {
            Covariances::Full(p) => {
                let u = p.index_axis(Axis(0), c).t().dot(&v);
                u.dot(&u)
            }
            Covariances::Tied(p) => {
                let u = p.t().dot(&v);
                u.dot(&u)
            }
            Covariances::Diag(p) => p
                .row(c)
                .iter()
                .zip(v.iter())
                .map(|(p, v)| p * p * v * v)
                .sum(),
            Covariances::Spherical(p) => p[c] * p[c] * v.dot(&v),
        }
    }
}

/// KL(Gamma(a, rate b) ‖ Gamma(a₀, rate b₀)).
fn gamma_kl(a: f64, b: f64, a0: f64, b0: f64) -> f64 {
    (a - a0) * digamma(a) - ln_gamma(a) + ln_gamma(a0) + a0 * (b.ln() - b0.ln()) + a * (b0 - b) / b
}

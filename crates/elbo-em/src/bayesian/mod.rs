//! The variational Bayesian Gaussian mixture (Bishop, PRML §10.2; scikit-learn's
//! `BayesianGaussianMixture`): mean-field variational EM on a mixture with a Dirichlet or
//! (truncated) Dirichlet-process prior on the weights and a Normal–Wishart prior on each
//! component's mean and precision.
//!
//! The posterior over the latent labels and the parameters is approximated by
//! `q(Z) q(π) Π_k q(μ_k, Λ_k)`; the E-step updates `q(Z)` (responsibilities from the expected
//! log-weights and expected log-densities), the M-step updates the parameters' posteriors in
//! closed form. Components the data do not need get weights near zero, so `K` is an upper
//! bound and [`BayesianGaussianMixture::n_effective_components`] counts the ones in use.

mod bounds;
mod fit;
mod params;

pub use fit::BayesianEm;
pub use params::{
    BayesianGaussianMixtureParams, BayesianInit, CovariancePrior,
    ValidBayesianGaussianMixtureParams, WeightPrior,
};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::data::{Element, prepare_for_model};
use crate::engine::{Output, evaluate};
use crate::error::EmError;
use crate::gaussian::GaussianMixture;
use crate::params::{Covariance, Covariances, check_finite_values, check_weights};

use fit::BayesKernel;

/// The posterior over the mixing weights (scikit-learn's `weight_concentration_`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightConcentration {
    /// Stick-breaking: `q(v_k) = Beta(alpha_k, beta_k)` for the fraction `v_k` of the
    /// remaining stick that component `k` takes (`alpha_k = 1 + N_k`,
    /// `beta_k = α₀ + Σ_{j>k} N_j`).
    DirichletProcess {
        /// First Beta parameters, `[K]`.
        alpha: Array1<f64>,
        /// Second Beta parameters, `[K]`.
        beta: Array1<f64>,
    },
    /// `q(π) = Dir(concentration)`, `concentration_k = α₀ + N_k`.
    Dirichlet(Array1<f64>),
}

/// The priors a fit used, with the data-dependent defaults resolved (scikit-learn's
/// `weight_concentration_prior_`, `mean_precision_prior_`, `mean_prior_`,
/// `degrees_of_freedom_prior_`, `covariance_prior_`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priors {
    /// α₀.
    pub weight_concentration: f64,
    /// β₀.
    pub mean_precision: f64,
    /// m₀, `[d]`.
    pub mean: Array1<f64>,
    /// ν₀.
    pub degrees_of_freedom: f64,
    /// Ψ₀ (the inverse scale of the Wishart prior).
    pub covariance: CovariancePrior,
}

/// Per-iteration report of the variational fit, both per sample, in nats.
///
/// Entry `t` is evaluated at the E-step of iteration `t + 1`: the responsibilities have just
/// been updated under the parameters' posteriors of the previous M-step (or of the
/// initialisation for `t = 0`).
///
/// - `elbo`: the **complete** evidence lower bound `(E_q[ln p(X, Z, π, μ, Λ)] − E_q[ln q]) / N`
///   with every constant (Dirichlet or Beta normalisers, Normal–Wishart / Normal–Gamma
///   normalisers, the Gaussian `2π` terms). It is a genuine lower bound on `ln p(X) / N`,
///   the log marginal likelihood of the Bayesian model (with a Dirichlet-process prior: of the
///   infinite mixture, the components beyond `K` keeping their prior). Mean-field variational
///   EM does not close the gap `KL(q ‖ p(Z, θ | X))`, so unlike EM's bound it stays below the
///   evidence at convergence. For `full` covariances the updates are exact coordinate ascent,
///   so the trace never decreases (up to the effect of `reg_covar`). For the other types the
///   model behind the bound is: tied, one Wishart precision shared by all components; diag,
///   independent Gamma(ν₀/2, Ψ₀ⱼ/2) precisions per feature; spherical, one
///   Gamma(dν₀/2, dΨ₀/2) precision per component. scikit-learn's updates are not exact
///   coordinate ascent for those (its E-step uses Wishart expectations for diag and
///   spherical, its tied M-step splits the data `K` ways), so their trace may dip slightly.
/// - `log_likelihood`: the mean log-likelihood `(1/N) Σ_n ln Σ_k π̂_k N(x_n; μ̂_k, Σ̂_k)` of the
///   point-estimate mixture of the same iteration ([`BayesianGaussianMixture::to_gaussian_mixture`]):
///   a number comparable with a maximum-likelihood Gaussian mixture, but not a bound on
///   anything Bayesian.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VariationalTrace {
    /// Complete ELBO per sample, one entry per iteration.
    pub elbo: Vec<f64>,
    /// Mean log-likelihood of the point-estimate mixture, one entry per iteration.
    pub log_likelihood: Vec<f64>,
}

/// A fitted variational Bayesian Gaussian mixture.
///
/// Holds scikit-learn's fitted attributes under its names: the variational posteriors
/// ([`weight_concentration`](Self::weight_concentration), [`mean_precision`](Self::mean_precision),
/// [`degrees_of_freedom`](Self::degrees_of_freedom), [`means`](Self::means),
/// [`covariances`](Self::covariances) — the Wishart scale normalised by the degrees of freedom,
/// i.e. the inverse of the expected precision — and
/// [`precisions_cholesky`](Self::precisions_cholesky)), the point-estimate
/// [`weights`](Self::weights), and the report of the fit ([`trace`](Self::trace)).
/// Settings live in a different type, [`BayesianGaussianMixtureParams`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "crate::persist::SavedBayesian",
    into = "crate::persist::SavedBayesian"
)]
pub struct BayesianGaussianMixture {
    pub(crate) kind: Covariance,
    pub(crate) prior_type: WeightPrior,
    pub(crate) priors: Priors,
    pub(crate) weight_concentration: WeightConcentration,
    pub(crate) mean_precision: Array1<f64>,
    pub(crate) degrees_of_freedom: Array1<f64>,
    pub(crate) means: Array2<f64>,
    pub(crate) covariances: Covariances,
    pub(crate) precisions_cholesky: Covariances,
    pub(crate) weights: Array1<f64>,
    pub(crate) trace: VariationalTrace,
}

impl BayesianGaussianMixture {
    /// Settings for fitting at most `n_components` components (scikit-learn's defaults).
    pub fn params(n_components: usize) -> BayesianGaussianMixtureParams {
        BayesianGaussianMixtureParams::new(n_components)
    }

    /// Covariance type.
    pub fn covariance_type(&self) -> Covariance {
        self.kind
    }

    /// Prior type of the weights.
    pub fn weight_concentration_prior_type(&self) -> WeightPrior {
        self.prior_type
    }

    /// The priors the fit used (defaults resolved from the data).
    pub fn priors(&self) -> &Priors {
        &self.priors
    }

    /// Number of components `K`.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// Dimension `d` of the data.
    pub fn n_features(&self) -> usize {
        self.means.ncols()
    }

    /// Posterior over the weights.
    pub fn weight_concentration(&self) -> &WeightConcentration {
        &self.weight_concentration
    }

    /// β_k = β₀ + N_k, `[K]`: the precision of each mean's posterior relative to Λ_k.
    pub fn mean_precision(&self) -> ArrayView1<'_, f64> {
        self.mean_precision.view()
    }

    /// ν_k = ν₀ + N_k, `[K]` (tied: one entry, ν₀ + N/K, as scikit-learn).
    pub fn degrees_of_freedom(&self) -> ArrayView1<'_, f64> {
        self.degrees_of_freedom.view()
    }

    /// Posterior means of the component means, `[K, d]`.
    pub fn means(&self) -> ArrayView2<'_, f64> {
        self.means.view()
    }

    /// Covariances `(ν_k W_k)⁻¹` in the layout of the covariance type.
    pub fn covariances(&self) -> &Covariances {
        &self.covariances
    }

    /// Upper-triangular Cholesky factors of `ν_k W_k` (the expected precisions).
    pub fn precisions_cholesky(&self) -> &Covariances {
        &self.precisions_cholesky
    }

    /// Point estimates of the weights (scikit-learn's `weights_`): the posterior means
    /// `E[π_k]`, normalised to sum to 1.
    pub fn weights(&self) -> ArrayView1<'_, f64> {
        self.weights.view()
    }

    /// The per-iteration complete ELBO and point-estimate log-likelihood of the fit.
    pub fn trace(&self) -> &VariationalTrace {
        &self.trace
    }

    /// Number of components whose weight exceeds `threshold` (e.g. `1e-2`).
    pub fn n_effective_components(&self, threshold: f64) -> usize {
        self.weights.iter().filter(|w| **w > threshold).count()
    }

    /// The point-estimate Gaussian mixture (`weights`, `means`, `covariances`), to score
    /// held-out data as a likelihood in nats or to sample from.
    pub fn to_gaussian_mixture(&self) -> GaussianMixture {
        GaussianMixture {
            kind: self.kind,
            weights: self.weights.clone(),
            means: self.means.clone(),
            covariances: self.covariances.clone(),
            precisions_cholesky: self.precisions_cholesky.clone(),
        }
    }

    /// Responsibilities `q(z = k | x_i)`, `[N, K]`, as scikit-learn's `predict_proba`: from
    /// `E[ln π_k] + E[ln N(x_i; μ_k, Λ_k⁻¹)]`.
    ///
    /// # Errors
    /// [`EmError::DimensionMismatch`] for the wrong number of columns, [`EmError::NonFinite`]
    /// for NaN or ±∞.
    pub fn predict_proba<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        evaluate(
            &BayesKernel::for_model(self),
            x.view(),
            Output::Proba(out.view_mut()),
        );
        Ok(out)
    }

    /// Checks that the arrays fit together (shapes, finiteness, positivity), as a loaded
    /// model must; the precision factors are then recomputed from the covariances.
    pub(crate) fn validate(&self) -> Result<(), EmError> {
        let k = self.weights.len();
        if k == 0 {
            return Err(EmError::param("n_components", 0, "must be at least 1"));
        }
        check_weights(self.weights.view(), k)?;
        let d = self.means.ncols();
        if self.means.nrows() != k || d == 0 {
            return Err(EmError::shape(
                "means",
                &[k, d.max(1)],
                self.means.shape(),
                "give one row of means per component",
            ));
        }
        check_finite_values("means", self.means.iter().copied())?;
        let positive = |name: &'static str, v: &Array1<f64>, len: usize, floor: f64| {
            if v.len() != len {
                return Err(EmError::shape(
                    name,
                    &[len],
                    v.shape(),
                    "one entry per component (tied: one)",
                ));
            }
            match v.iter().find(|x| !(x.is_finite() && **x > floor)) {
                Some(x) => Err(EmError::GivenValue {
                    name,
                    reason: format!("an entry is {x}; entries must be finite and > {floor}"),
                }),
                None => Ok(()),
            }
        };
        positive("mean_precision", &self.mean_precision, k, 0.0)?;
        let n_dof = if self.kind == Covariance::Tied { 1 } else { k };
        positive(
            "degrees_of_freedom",
            &self.degrees_of_freedom,
            n_dof,
            d as f64 - 1.0,
        )?;
        match (&self.weight_concentration, self.prior_type) {
            (
                WeightConcentration::DirichletProcess { alpha, beta },
                WeightPrior::DirichletProcess,
            ) => {
                positive("weight_concentration", alpha, k, 0.0)?;
                positive("weight_concentration", beta, k, 0.0)?;
            }
            (WeightConcentration::Dirichlet(c), WeightPrior::DirichletDistribution) => {
                positive("weight_concentration", c, k, 0.0)?;
            }
            _ => {
                return Err(EmError::GivenValue {
                    name: "weight_concentration",
                    reason: format!(
                        "it does not match the prior type {}",
                        self.prior_type.name()
                    ),
                });
            }
        }
        let expected = Covariances::expected_shape(self.kind, k, d);
        if self.covariances.kind() != self.kind || self.covariances.shape() != expected {
            return Err(EmError::GivenShape {
                name: "covariances",
                expected: format!("{} {expected:?}", self.kind),
                found: format!("{} {:?}", self.covariances.kind(), self.covariances.shape()),
                hint: "use the layout of the covariance type: full [K,d,d], tied [d,d], diag [K,d], spherical [K]",
            });
        }
        check_finite_values("covariances", self.covariances.values())?;
        let pr = &self.priors;
        let prior_ok = pr.mean.len() == d
            && pr.weight_concentration > 0.0
            && pr.mean_precision > 0.0
            && pr.degrees_of_freedom > d as f64 - 1.0
            && match (&pr.covariance, self.kind) {
                (CovariancePrior::Matrix(a), Covariance::Full | Covariance::Tied) => {
                    a.dim() == (d, d)
                }
                (CovariancePrior::Diag(a), Covariance::Diag) => a.len() == d,
                (CovariancePrior::Spherical(_), Covariance::Spherical) => true,
                _ => false,
            };
        if !prior_ok {
            return Err(EmError::GivenValue {
                name: "priors",
                reason: "the priors do not fit the model's dimension and covariance type"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// scikit-learn's `score_samples` for this model: per row, the log-sum-exp over components
    /// of `E[ln π_k] + E[ln N(x_i; μ_k, Λ_k⁻¹)]`, `[N]`. This normalises the responsibilities;
    /// it is not a density (for held-out nats, score the point estimate,
    /// [`to_gaussian_mixture`](Self::to_gaussian_mixture)).
    ///
    /// # Errors
    /// As [`BayesianGaussianMixture::predict_proba`].
    pub fn score_samples<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &BayesKernel::for_model(self),
            x.view(),
            Output::LnProb(out.view_mut()),
        );
        Ok(out)
    }

    /// The component of highest responsibility of each row, `[N]`.
    ///
    /// # Errors
    /// As [`BayesianGaussianMixture::predict_proba`].
    pub fn predict<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<usize>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &BayesKernel::for_model(self),
            x.view(),
            Output::Label(out.view_mut()),
        );
        Ok(out)
    }
}

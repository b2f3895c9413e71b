//! The fitted Gaussian mixture: parameters, prediction, scoring, sampling, information criteria.

mod family;
mod fit;
pub use fit::GaussianEm;
pub(crate) mod kernel;
mod linalg;

use elbo_distributions::{Categorical, DiagNormal, MvNormal, SphericalNormal};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::Rng;

use crate::data::{Element, prepare_for_model};
use crate::engine::{Output, evaluate};
use crate::error::EmError;
use crate::params::{
    Covariance, Covariances, GaussianMixtureParams, check_finite_values, check_weights,
};

use kernel::GaussKernel;
pub(crate) use linalg::{covariances_from_precisions, precisions_cholesky_from_covariances};

/// A fitted (or user-built) Gaussian mixture `p(x) = Σ_k π_k N(x; μ_k, Σ_k)`.
///
/// Holds scikit-learn's attributes under its names: `weights`, `means`, `covariances`,
/// `precisions_cholesky` (upper-triangular `P_k` with `P_k P_kᵀ = Σ_k⁻¹`, so that
/// `‖P_kᵀ (x − μ_k)‖²` is the Mahalanobis distance). Settings live in a different type,
/// [`GaussianMixtureParams`]: a model is only ever the result of a fit or of validated arrays.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(
    try_from = "crate::persist::SavedGaussian",
    into = "crate::persist::SavedGaussian"
)]
pub struct GaussianMixture {
    pub(crate) kind: Covariance,
    pub(crate) weights: Array1<f64>,
    pub(crate) means: Array2<f64>,
    pub(crate) covariances: Covariances,
    pub(crate) precisions_cholesky: Covariances,
}

impl GaussianMixture {
    /// Settings for fitting a mixture of `n_components` Gaussians (scikit-learn's defaults).
    pub fn params(n_components: usize) -> GaussianMixtureParams {
        GaussianMixtureParams::new(n_components)
    }

    /// A model from weights `[K]`, means `[K, d]` and covariances in the layout of their type.
    ///
    /// # Errors
    /// [`EmError::GivenShape`] / [`EmError::GivenValue`] for inconsistent or invalid arrays,
    /// [`EmError::NotPositiveDefinite`] if a covariance cannot be factored.
    pub fn from_covariances(
        weights: Array1<f64>,
        means: Array2<f64>,
        covariances: Covariances,
    ) -> Result<Self, EmError> {
        check_model_arrays(&weights, &means, &covariances, "covariances")?;
        let precisions_cholesky = precisions_cholesky_from_covariances(&covariances, 0.0)?;
        Ok(Self {
            kind: covariances.kind(),
            weights,
            means,
            covariances,
            precisions_cholesky,
        })
    }

    /// A model from weights, means and precisions (inverse covariances).
    ///
    /// # Errors
    /// As [`GaussianMixture::from_covariances`]; a precision that is not positive definite is
    /// a [`EmError::GivenValue`].
    pub fn from_precisions(
        weights: Array1<f64>,
        means: Array2<f64>,
        precisions: Covariances,
    ) -> Result<Self, EmError> {
        check_model_arrays(&weights, &means, &precisions, "precisions")?;
        let (covariances, precisions_cholesky) = covariances_from_precisions(&precisions)?;
        Ok(Self {
            kind: precisions.kind(),
            weights,
            means,
            covariances,
            precisions_cholesky,
        })
    }

    /// Covariance type.
    pub fn covariance_type(&self) -> Covariance {
        self.kind
    }

    /// Number of components `K`.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// Dimension `d` of the data.
    pub fn n_features(&self) -> usize {
        self.means.ncols()
    }

    /// Mixing weights π, `[K]`.
    pub fn weights(&self) -> ArrayView1<'_, f64> {
        self.weights.view()
    }

    /// Component means μ, `[K, d]`.
    pub fn means(&self) -> ArrayView2<'_, f64> {
        self.means.view()
    }

    /// Covariances in the layout of the covariance type.
    pub fn covariances(&self) -> &Covariances {
        &self.covariances
    }

    /// Upper-triangular Cholesky factors of the precisions, in the layout of the type.
    pub fn precisions_cholesky(&self) -> &Covariances {
        &self.precisions_cholesky
    }

    /// Precisions Σ⁻¹ = P Pᵀ, in the layout of the type.
    pub fn precisions(&self) -> Covariances {
        match &self.precisions_cholesky {
            Covariances::Full(p) => {
                let mut out = p.clone();
                for (mut o, pk) in out.outer_iter_mut().zip(p.outer_iter()) {
                    o.assign(&pk.dot(&pk.t()));
                }
                Covariances::Full(out)
            }
            Covariances::Tied(p) => Covariances::Tied(p.dot(&p.t())),
            Covariances::Diag(p) => Covariances::Diag(p.mapv(|v| v * v)),
            Covariances::Spherical(p) => Covariances::Spherical(p.mapv(|v| v * v)),
        }
    }

    /// Number of free parameters: `K − 1` weights, `K d` means and the covariances.
    pub fn n_parameters(&self) -> usize {
        let (k, d) = (self.n_components(), self.n_features());
        self.kind.n_parameters(k, d) + k * d + k - 1
    }

    /// The log joint ln π_k + ln p(x_i | z = k), `[N, K]` (scikit-learn's weighted
    /// log-probability): what the E-step normalises.
    ///
    /// # Errors
    /// As [`Self::predict_proba`].
    pub fn log_joint<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        evaluate(
            &GaussKernel::for_model(self),
            x.view(),
            Output::LogJoint(out.view_mut()),
        );
        Ok(out)
    }

    /// Mean ELBO per row, E_q[ln p(x, z)] + H(q), under the responsibilities `q` (`[N, K]`,
    /// rows summing to 1): equal to [`Self::score`] when `q` is the exact posterior, below it
    /// otherwise, by the mean KL(q ‖ p(z | x)).
    ///
    /// # Errors
    /// As [`Self::predict_proba`]; [`EmError::DimensionMismatch`] when `q` is not `[N, K]`.
    pub fn elbo<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        q: ArrayView2<'_, f64>,
    ) -> Result<f64, EmError> {
        crate::bound::mixture_elbo(self.log_joint(x)?.view(), q)
    }

    /// Posterior probabilities `p(z = k | x_i)`, `[N, K]`; each row sums to 1.
    ///
    /// # Errors
    /// [`EmError::DimensionMismatch`] if `x` has the wrong number of columns,
    /// [`EmError::NonFinite`] if it holds NaN or ±∞.
    pub fn predict_proba<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        evaluate(
            &GaussKernel::for_model(self),
            x.view(),
            Output::Proba(out.view_mut()),
        );
        Ok(out)
    }

    /// Most probable component of each row, `[N]`.
    ///
    /// # Errors
    /// As [`GaussianMixture::predict_proba`].
    pub fn predict<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<usize>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &GaussKernel::for_model(self),
            x.view(),
            Output::Label(out.view_mut()),
        );
        Ok(out)
    }

    /// Log-density ln p(x_i) of each row, in nats, `[N]`.
    ///
    /// # Errors
    /// As [`GaussianMixture::predict_proba`].
    pub fn score_samples<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &GaussKernel::for_model(self),
            x.view(),
            Output::LnProb(out.view_mut()),
        );
        Ok(out)
    }

    /// Mean log-density per row (scikit-learn's `score`).
    ///
    /// # Errors
    /// As [`GaussianMixture::predict_proba`], and [`EmError::EmptyData`] for no rows.
    pub fn score<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let s = self.score_samples(x)?;
        s.mean().ok_or(EmError::EmptyData {
            rows: 0,
            cols: self.n_features(),
        })
    }

    /// Bayesian information criterion on `x`: `−2 ln L + p ln N` (lower is better).
    ///
    /// # Errors
    /// As [`GaussianMixture::score`].
    pub fn bic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + self.n_parameters() as f64 * n.ln())
    }

    /// Akaike information criterion on `x`: `−2 ln L + 2p` (lower is better).
    ///
    /// # Errors
    /// As [`GaussianMixture::score`].
    pub fn aic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + 2.0 * self.n_parameters() as f64)
    }

    /// Draws `n` samples; returns them `[n, d]` with the component each came from `[n]`.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> (Array2<f64>, Array1<usize>) {
        let d = self.n_features();
        let mut x = Array2::zeros((n, d));
        let mut labels = Array1::zeros(n);
        // Models are validated when built, so these constructors succeed; were one to fail,
        // its rows would stay at zero rather than the call panicking.
        let Ok(choose) = Categorical::from_weights(self.weights.clone()) else {
            return (x, labels);
        };
        let components: Vec<Option<Component>> = (0..self.n_components())
            .map(|k| {
                let mean = self.means.row(k).to_owned();
                match &self.covariances {
                    Covariances::Full(_) | Covariances::Tied(_) => {
                        MvNormal::new(mean, self.covariances.matrix(k, d))
                            .ok()
                            .map(Component::Full)
                    }
                    Covariances::Diag(v) => DiagNormal::new(mean, v.row(k).to_owned())
                        .ok()
                        .map(Component::Diag),
                    Covariances::Spherical(v) => SphericalNormal::new(mean, v[k])
                        .ok()
                        .map(Component::Spherical),
                }
            })
            .collect();
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let k = choose.sample(rng);
            labels[i] = k;
            match components.get(k) {
                Some(Some(Component::Full(c))) => row.assign(&c.sample(rng)),
                Some(Some(Component::Diag(c))) => row.assign(&c.sample(rng)),
                Some(Some(Component::Spherical(c))) => row.assign(&c.sample(rng)),
                _ => {}
            }
        }
        (x, labels)
    }
}

/// One component as a distribution to sample from.
enum Component {
    Full(MvNormal),
    Diag(DiagNormal),
    Spherical(SphericalNormal),
}

/// Shapes and values of model arrays (weights, means, covariance-shaped array).
fn check_model_arrays(
    weights: &Array1<f64>,
    means: &Array2<f64>,
    spread: &Covariances,
    name: &'static str,
) -> Result<(), EmError> {
    let k = weights.len();
    if k == 0 {
        return Err(EmError::param("n_components", 0, "must be at least 1"));
    }
    check_weights(weights.view(), k)?;
    let d = means.ncols();
    if means.nrows() != k || d == 0 {
        return Err(EmError::shape(
            "means",
            &[k, d.max(1)],
            means.shape(),
            "give one row of means per component",
        ));
    }
    check_finite_values("means", means.iter().copied())?;
    let expected = Covariances::expected_shape(spread.kind(), k, d);
    if spread.shape() != expected {
        return Err(EmError::shape(
            name,
            &expected,
            &spread.shape(),
            "use the layout of the covariance type: full [K,d,d], tied [d,d], diag [K,d], spherical [K]",
        ));
    }
    check_finite_values(name, spread.values())
}

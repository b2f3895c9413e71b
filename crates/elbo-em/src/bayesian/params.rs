//! Settings of a variational Bayesian Gaussian mixture fit: an unchecked builder and its
//! validated form, with scikit-learn's `BayesianGaussianMixture` names and defaults.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::EmError;
use crate::params::{Common, Covariance, Init, check_finite_values};

/// The prior on the mixing weights (scikit-learn's `weight_concentration_prior_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightPrior {
    /// A Dirichlet process, truncated at `K` components, in its stick-breaking form: stick
    /// fractions `v_k ~ Beta(1, α₀)`, `π_k = v_k Π_{j<k} (1 − v_j)` (`"dirichlet_process"`).
    #[default]
    #[serde(alias = "dirichlet-process")]
    DirichletProcess,
    /// A symmetric Dirichlet distribution `π ~ Dir(α₀, …, α₀)` (`"dirichlet_distribution"`).
    #[serde(alias = "dirichlet-distribution")]
    DirichletDistribution,
}

impl std::fmt::Display for WeightPrior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WeightPrior {
    type Err = elbo_distributions::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let table = [
            ("dirichlet_process", WeightPrior::DirichletProcess),
            ("dirichlet_distribution", WeightPrior::DirichletDistribution),
        ];
        elbo_distributions::parse_name(
            "weight prior",
            s,
            &table,
            &["dirichlet_process", "dirichlet_distribution"],
        )
    }
}

impl WeightPrior {
    /// scikit-learn's name of the prior type.
    pub fn name(self) -> &'static str {
        match self {
            WeightPrior::DirichletProcess => "dirichlet_process",
            WeightPrior::DirichletDistribution => "dirichlet_distribution",
        }
    }
}

/// A user-given prior on the covariances (scikit-learn's `covariance_prior`): the inverse
/// scale `Ψ₀ = W₀⁻¹` of the Wishart prior on the precision, in the layout of the type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovariancePrior {
    /// `[d, d]`, symmetric positive definite (full and tied covariances).
    Matrix(Array2<f64>),
    /// `[d]`, positive (diag covariances).
    Diag(Array1<f64>),
    /// One positive number (spherical covariances).
    Spherical(f64),
}

impl CovariancePrior {
    /// The covariance types this prior fits.
    fn fits(&self, kind: Covariance) -> bool {
        matches!(
            (self, kind),
            (
                CovariancePrior::Matrix(_),
                Covariance::Full | Covariance::Tied
            ) | (CovariancePrior::Diag(_), Covariance::Diag)
                | (CovariancePrior::Spherical(_), Covariance::Spherical)
        )
    }

    /// All entries.
    fn values(&self) -> Vec<f64> {
        match self {
            CovariancePrior::Matrix(a) => a.iter().copied().collect(),
            CovariancePrior::Diag(a) => a.to_vec(),
            CovariancePrior::Spherical(v) => vec![*v],
        }
    }
}

/// Where variational EM starts. `Given` holds the initial responsibilities `[N, K]` (rows of
/// non-negative numbers; scikit-learn's `_initialize(X, resp)`), e.g. to replay a reference fit.
pub type BayesianInit = Init<Array2<f64>>;

/// Unchecked settings of a [`crate::BayesianGaussianMixture`] fit; build with
/// [`crate::BayesianGaussianMixture::params`].
///
/// Defaults are scikit-learn's: `covariance = Full`, `weight_concentration_prior_type =
/// DirichletProcess`, `weight_concentration_prior = 1/K`, `mean_precision_prior = 1`,
/// `mean_prior` = the data mean, `degrees_of_freedom_prior = d`, `covariance_prior` = the
/// empirical covariance (full, tied), per-feature variances (diag) or their mean (spherical),
/// all with `ddof = 1`; `tol = 1e-3`, `reg_covar = 1e-6`, `max_iter = 100`, `n_init = 1`,
/// `init = KMeans`, `seed = 0`. Nothing is validated until [`check`](Self::check) or `fit`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BayesianGaussianMixtureParams {
    #[serde(flatten)]
    pub(crate) common: Common,
    pub(crate) covariance: Covariance,
    pub(crate) weight_concentration_prior_type: WeightPrior,
    pub(crate) weight_concentration_prior: Option<f64>,
    pub(crate) mean_precision_prior: Option<f64>,
    pub(crate) mean_prior: Option<Array1<f64>>,
    pub(crate) degrees_of_freedom_prior: Option<f64>,
    pub(crate) covariance_prior: Option<CovariancePrior>,
    pub(crate) reg_covar: f64,
    pub(crate) init: BayesianInit,
}

impl Default for BayesianGaussianMixtureParams {
    fn default() -> Self {
        Self::new(1)
    }
}

impl BayesianGaussianMixtureParams {
    crate::params::common_setters!();

    /// Settings with scikit-learn's defaults and (at most) `n_components` components.
    pub fn new(n_components: usize) -> Self {
        Self {
            common: Common::new(n_components),
            covariance: Covariance::Full,
            weight_concentration_prior_type: WeightPrior::DirichletProcess,
            weight_concentration_prior: None,
            mean_precision_prior: None,
            mean_prior: None,
            degrees_of_freedom_prior: None,
            covariance_prior: None,
            reg_covar: 1e-6,
            init: Init::KMeans,
        }
    }

    /// Covariance type (default `Full`).
    pub fn covariance(mut self, covariance: Covariance) -> Self {
        self.covariance = covariance;
        self
    }

    /// Prior on the weights (default `DirichletProcess`).
    pub fn weight_concentration_prior_type(mut self, prior: WeightPrior) -> Self {
        self.weight_concentration_prior_type = prior;
        self
    }

    /// Concentration α₀ of the weight prior (> 0; default 1/K). Small values favour few
    /// components.
    pub fn weight_concentration_prior(mut self, alpha: f64) -> Self {
        self.weight_concentration_prior = Some(alpha);
        self
    }

    /// Precision β₀ of the prior on the means, relative to the component precision (> 0;
    /// default 1).
    pub fn mean_precision_prior(mut self, beta: f64) -> Self {
        self.mean_precision_prior = Some(beta);
        self
    }

    /// Prior mean m₀, `[d]` (default the data mean).
    pub fn mean_prior(mut self, mean: Array1<f64>) -> Self {
        self.mean_prior = Some(mean);
        self
    }

    /// Degrees of freedom ν₀ of the Wishart prior (> d − 1; default d).
    pub fn degrees_of_freedom_prior(mut self, nu: f64) -> Self {
        self.degrees_of_freedom_prior = Some(nu);
        self
    }

    /// Prior on the covariances, `Ψ₀` (default from the data, see the type's docs).
    pub fn covariance_prior(mut self, prior: CovariancePrior) -> Self {
        self.covariance_prior = Some(prior);
        self
    }

    /// Added to the diagonals of the components' sample covariances (default 1e-6, ≥ 0).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// How to initialise (default `KMeans`; `Given` takes responsibilities `[N, K]`).
    pub fn init(mut self, init: BayesianInit) -> Self {
        self.init = init;
        self
    }

    /// Validates the settings (those that depend on the data, such as the length of
    /// `mean_prior` or `degrees_of_freedom_prior > d − 1`, are checked by the fit).
    ///
    /// # Errors
    /// One [`EmError::InvalidParam`] per rule, naming the setting; [`EmError::GivenShape`] /
    /// [`EmError::GivenValue`] for a covariance prior or given responsibilities that cannot be
    /// right whatever the data.
    pub fn check(self) -> Result<ValidBayesianGaussianMixtureParams, EmError> {
        self.common.check()?;
        if !(self.reg_covar.is_finite() && self.reg_covar >= 0.0) {
            return Err(EmError::param(
                "reg_covar",
                self.reg_covar,
                "must be a finite number >= 0 (e.g. 1e-6)",
            ));
        }
        let positive = |name: &'static str, v: Option<f64>, allowed: &'static str| match v {
            Some(v) if !(v.is_finite() && v > 0.0) => Err(EmError::param(name, v, allowed)),
            _ => Ok(()),
        };
        positive(
            "weight_concentration_prior",
            self.weight_concentration_prior,
            "must be a finite number > 0 (default 1/n_components)",
        )?;
        positive(
            "mean_precision_prior",
            self.mean_precision_prior,
            "must be a finite number > 0 (default 1)",
        )?;
        positive(
            "degrees_of_freedom_prior",
            self.degrees_of_freedom_prior,
            "must be a finite number > n_features - 1 (default n_features)",
        )?;
        if let Some(m) = &self.mean_prior {
            if m.is_empty() {
                return Err(EmError::param(
                    "mean_prior",
                    "[]",
                    "must have one entry per feature",
                ));
            }
            check_finite_values("mean_prior", m.iter().copied())?;
        }
        if let Some(c) = &self.covariance_prior {
            if !c.fits(self.covariance) {
                return Err(EmError::GivenShape {
                    name: "covariance_prior",
                    expected: format!("the layout of {} covariances", self.covariance),
                    found: format!("{c:?}"),
                    hint: "use CovariancePrior::Matrix for full and tied, Diag for diag, Spherical for spherical",
                });
            }
            check_finite_values("covariance_prior", c.values().into_iter())?;
            let bad = match c {
                CovariancePrior::Matrix(_) => None,
                CovariancePrior::Diag(v) => v.iter().copied().find(|v| *v <= 0.0),
                CovariancePrior::Spherical(v) => Some(*v).filter(|v| *v <= 0.0),
            };
            if let Some(v) = bad {
                return Err(EmError::GivenValue {
                    name: "covariance_prior",
                    reason: format!("a variance is {v}; prior variances must be positive"),
                });
            }
        }
        if let Init::Given(resp) = &self.init {
            if resp.ncols() != self.common.n_components {
                return Err(EmError::shape(
                    "responsibilities",
                    &[resp.nrows(), self.common.n_components],
                    resp.shape(),
                    "give one column of initial responsibilities per component",
                ));
            }
            if let Some((i, v)) = resp
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(EmError::GivenValue {
                    name: "responsibilities",
                    reason: format!(
                        "entry {i} (row-major) is {v}; responsibilities must be finite and >= 0"
                    ),
                });
            }
        }
        Ok(ValidBayesianGaussianMixtureParams(self))
    }
}

/// Validated settings of a [`crate::BayesianGaussianMixture`] fit.
#[derive(Clone, Debug)]
pub struct ValidBayesianGaussianMixtureParams(pub(crate) BayesianGaussianMixtureParams);

impl ValidBayesianGaussianMixtureParams {
    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.0.common.n_components
    }
    /// Covariance type.
    pub fn covariance(&self) -> Covariance {
        self.0.covariance
    }
    /// Prior on the weights.
    pub fn weight_concentration_prior_type(&self) -> WeightPrior {
        self.0.weight_concentration_prior_type
    }
    /// Convergence tolerance on the (total) lower bound.
    pub fn tol(&self) -> f64 {
        self.0.common.tol
    }
    /// Diagonal regulariser of the sample covariances.
    pub fn reg_covar(&self) -> f64 {
        self.0.reg_covar
    }
    /// Maximum iterations per initialisation.
    pub fn max_iter(&self) -> usize {
        self.0.common.max_iter
    }
    /// Number of initialisations.
    pub fn n_init(&self) -> usize {
        self.0.common.n_init
    }
    /// Initialisation method.
    pub fn init(&self) -> &BayesianInit {
        &self.0.init
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.common.seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_deserialise_with_scikit_learn_names() {
        let p: BayesianGaussianMixtureParams = serde_json::from_str(
            r#"{"n_components": 4, "covariance": "diag", "tol": 1e-4,
                "weight_concentration_prior_type": "dirichlet_distribution",
                "weight_concentration_prior": 0.01, "init": "random_from_data"}"#,
        )
        .unwrap();
        let v = p.check().unwrap();
        assert_eq!(
            (v.n_components(), v.covariance(), v.tol(), v.reg_covar()),
            (4, Covariance::Diag, 1e-4, 1e-6)
        );
        assert_eq!(
            v.weight_concentration_prior_type(),
            WeightPrior::DirichletDistribution
        );
        assert_eq!(v.init(), &Init::RandomFromData);
        assert_eq!(v.0.weight_concentration_prior, Some(0.01));
        let d: BayesianGaussianMixtureParams = serde_json::from_str("{}").unwrap();
        assert_eq!(
            d.weight_concentration_prior_type,
            WeightPrior::DirichletProcess
        );
        assert_eq!((d.common.max_iter, d.common.n_init), (100, 1));
    }
}

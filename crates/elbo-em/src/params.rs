//! Settings of a Gaussian mixture fit: an unchecked builder and its validated form.
//!
//! Names and defaults follow scikit-learn's `GaussianMixture` so that its users find their way:
//! `n_components = 1`, `covariance = Full`, `tol = 1e-3`, `reg_covar = 1e-6`, `max_iter = 100`,
//! `n_init = 1`, `init = KMeans`.

use ndarray::{Array1, Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::error::EmError;
use crate::gaussian::GaussianMixture;

pub use elbo_distributions::Covariance;

/// Covariance-shaped arrays, in scikit-learn's layouts: `Full` is `[K, d, d]`, `Tied` is
/// `[d, d]`, `Diag` is `[K, d]` (variances), `Spherical` is `[K]` (one variance each).
///
/// The same type holds covariances, precisions and precision Cholesky factors, which share
/// these shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Covariances {
    /// `[K, d, d]`: one matrix per component.
    Full(Array3<f64>),
    /// `[d, d]`: one matrix shared by all components.
    Tied(Array2<f64>),
    /// `[K, d]`: one diagonal per component.
    Diag(Array2<f64>),
    /// `[K]`: one scalar per component.
    Spherical(Array1<f64>),
}

impl Covariances {
    /// Which covariance type these arrays belong to.
    pub fn kind(&self) -> Covariance {
        match self {
            Covariances::Full(_) => Covariance::Full,
            Covariances::Tied(_) => Covariance::Tied,
            Covariances::Diag(_) => Covariance::Diag,
            Covariances::Spherical(_) => Covariance::Spherical,
        }
    }

    /// The array's shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Covariances::Full(a) => a.shape().to_vec(),
            Covariances::Tied(a) | Covariances::Diag(a) => a.shape().to_vec(),
            Covariances::Spherical(a) => a.shape().to_vec(),
        }
    }

    /// The shape this type must have for `k` components in `d` dimensions.
    pub fn expected_shape(kind: Covariance, k: usize, d: usize) -> Vec<usize> {
        match kind {
            Covariance::Full => vec![k, d, d],
            Covariance::Tied => vec![d, d],
            Covariance::Diag => vec![k, d],
            Covariance::Spherical => vec![k],
        }
    }

    /// The full `d × d` matrix of component `k` (diagonal types expanded).
    ///
    /// # Panics
    /// If `k` is out of range (a caller bug: `k < n_components`).
    pub fn matrix(&self, k: usize, d: usize) -> Array2<f64> {
        match self {
            Covariances::Full(a) => a.index_axis(ndarray::Axis(0), k).to_owned(),
            Covariances::Tied(a) => a.clone(),
            Covariances::Diag(a) => Array2::from_diag(&a.row(k)),
            Covariances::Spherical(a) => Array2::eye(d) * a[k],
        }
    }

    /// All entries, to check them for finiteness.
    pub(crate) fn values(&self) -> Box<dyn Iterator<Item = f64> + '_> {
        match self {
            Covariances::Full(a) => Box::new(a.iter().copied()),
            Covariances::Tied(a) | Covariances::Diag(a) => Box::new(a.iter().copied()),
            Covariances::Spherical(a) => Box::new(a.iter().copied()),
        }
    }
}

/// How EM picks its starting point when no parameters are given: the part of [`Init`] that a
/// name says (presets, the command line). Converts into any [`Init`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InitMethod {
    /// k-means (scikit-learn's default): k-means++ seeding, then Lloyd iterations.
    #[default]
    #[serde(rename = "kmeans", alias = "k-means", alias = "k_means")]
    KMeans,
    /// The k-means++ seeds only (scikit-learn's `"k-means++"`): cheaper, and the first bound
    /// sits far below the rest because each component starts from one point.
    #[serde(rename = "kmeans++", alias = "k-means++", alias = "k_means_plus_plus")]
    KMeansPlusPlus,
    /// Uniform random responsibilities (`"random"`).
    #[serde(rename = "random")]
    Random,
    /// `K` distinct random rows as the starting components (`"random_from_data"`).
    #[serde(rename = "random-from-data", alias = "random_from_data")]
    RandomFromData,
}

impl InitMethod {
    /// Every method.
    pub const ALL: [InitMethod; 4] = [
        InitMethod::KMeans,
        InitMethod::KMeansPlusPlus,
        InitMethod::Random,
        InitMethod::RandomFromData,
    ];

    /// The accepted words, for messages and `--help`.
    pub const NAMES: [&'static str; 4] = ["kmeans", "kmeans++", "random", "random-from-data"];

    /// The preset's and the command line's word for it.
    pub fn name(self) -> &'static str {
        match self {
            InitMethod::KMeans => "kmeans",
            InitMethod::KMeansPlusPlus => "kmeans++",
            InitMethod::Random => "random",
            InitMethod::RandomFromData => "random-from-data",
        }
    }
}

impl std::fmt::Display for InitMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for InitMethod {
    type Err = elbo_distributions::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut table: Vec<(&'static str, InitMethod)> =
            InitMethod::ALL.iter().map(|&m| (m.name(), m)).collect();
        // scikit-learn's spellings too.
        table.extend([
            ("k-means", InitMethod::KMeans),
            ("k-means++", InitMethod::KMeansPlusPlus),
        ]);
        elbo_distributions::parse_name("initialisation", s, &table, &InitMethod::NAMES)
    }
}

impl<G> From<InitMethod> for Init<G> {
    fn from(m: InitMethod) -> Self {
        match m {
            InitMethod::KMeans => Init::KMeans,
            InitMethod::KMeansPlusPlus => Init::KMeansPlusPlus,
            InitMethod::Random => Init::Random,
            InitMethod::RandomFromData => Init::RandomFromData,
        }
    }
}

/// Where EM starts (scikit-learn's `init_params`, plus user-given parameters).
///
/// Every start except `Given` draws from the fit's seed; with `n_init > 1` each restart draws
/// from its own stream of that seed, so restarts really differ.
/// `G` is the type of user-given parameters: [`GaussianGiven`] for Gaussian mixtures,
/// [`crate::BernoulliGiven`] for Bernoulli mixtures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init<G = GaussianGiven> {
    /// Responsibilities from the labels of k-means (k-means++ seeding, then Lloyd iterations).
    #[default]
    #[serde(alias = "kmeans")]
    KMeans,
    /// Responsibilities one-hot on the k-means++ seeds only (as scikit-learn's `"k-means++"`).
    #[serde(alias = "k-means++")]
    KMeansPlusPlus,
    /// Uniform random responsibilities, normalised per row (scikit-learn's `"random"`).
    Random,
    /// Responsibilities one-hot on `K` distinct rows drawn at random (`"random_from_data"`).
    RandomFromData,
    /// Start from these parameters (scikit-learn's `weights_init`, `means_init`, `precisions_init`).
    Given(G),
}

impl<G> Init<G> {
    /// The name used in messages and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Init::KMeans => "kmeans",
            Init::KMeansPlusPlus => "k-means++",
            Init::Random => "random",
            Init::RandomFromData => "random_from_data",
            Init::Given(_) => "given",
        }
    }
}

/// How the spread of user-given Gaussian components is specified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GivenSpread {
    /// Covariances, in the layout of the covariance type.
    Covariances(Covariances),
    /// Precisions (inverse covariances), in the layout of the covariance type.
    Precisions(Covariances),
}

/// User-given initial parameters of a Gaussian mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianGiven {
    /// Mixing weights, `[K]`, non-negative, summing to 1.
    pub weights: Array1<f64>,
    /// Means, `[K, d]`.
    pub means: Array2<f64>,
    /// Covariances or precisions.
    pub spread: GivenSpread,
}

impl GaussianGiven {
    /// Start from weights, means and covariances.
    pub fn from_covariances(
        weights: Array1<f64>,
        means: Array2<f64>,
        covariances: Covariances,
    ) -> Self {
        Self {
            weights,
            means,
            spread: GivenSpread::Covariances(covariances),
        }
    }

    /// Start from weights, means and precisions (scikit-learn's `precisions_init`).
    pub fn from_precisions(
        weights: Array1<f64>,
        means: Array2<f64>,
        precisions: Covariances,
    ) -> Self {
        Self {
            weights,
            means,
            spread: GivenSpread::Precisions(precisions),
        }
    }

    /// Checks the shapes against `k` components of type `kind` (the dimension comes from the
    /// means) and the values for finiteness and weights for being a distribution.
    pub(crate) fn check(&self, k: usize, kind: Covariance) -> Result<(), EmError> {
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
        let (name, arrays) = match &self.spread {
            GivenSpread::Covariances(c) => ("covariances", c),
            GivenSpread::Precisions(p) => ("precisions", p),
        };
        let expected = Covariances::expected_shape(kind, k, d);
        if arrays.kind() != kind || arrays.shape() != expected {
            return Err(EmError::GivenShape {
                name,
                expected: format!("{kind} {expected:?}"),
                found: format!("{} {:?}", arrays.kind(), arrays.shape()),
                hint: "use the layout of the covariance type: full [K,d,d], tied [d,d], diag [K,d], spherical [K]",
            });
        }
        check_finite_values(name, arrays.values())
    }
}

/// Checks mixing weights: `k` of them, each in [0, 1], summing to 1 within 1e-6.
pub(crate) fn check_weights(w: ndarray::ArrayView1<'_, f64>, k: usize) -> Result<(), EmError> {
    if w.len() != k {
        return Err(EmError::shape(
            "weights",
            &[k],
            w.shape(),
            "give one weight per component",
        ));
    }
    if let Some((i, v)) = w
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(EmError::GivenValue {
            name: "weights",
            reason: format!("weight {i} is {v}; each weight must lie in [0, 1]"),
        });
    }
    let total = w.sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(EmError::GivenValue {
            name: "weights",
            reason: format!("the weights sum to {total}; they must sum to 1"),
        });
    }
    Ok(())
}

/// Checks that all values are finite, naming the first offender by flat index.
pub(crate) fn check_finite_values(
    name: &'static str,
    values: impl Iterator<Item = f64>,
) -> Result<(), EmError> {
    for (i, v) in values.enumerate() {
        if !v.is_finite() {
            return Err(EmError::GivenValue {
                name,
                reason: format!("entry {i} (row-major) is {v}; every entry must be finite"),
            });
        }
    }
    Ok(())
}

/// The setters of the settings every mixture builder shares (held in its `common` field),
/// written once: `n_components`, `tol`, `max_iter`, `n_init`, `seed`, and with `strategy`
/// also the EM family member.
macro_rules! common_setters {
    () => {
        /// Number of mixture components `K` (≥ 1, ≤ number of samples).
        pub fn n_components(mut self, k: usize) -> Self {
            self.common.n_components = k;
            self
        }

        /// Stop when the per-sample lower bound changes by less than this (default 1e-3, ≥ 0).
        pub fn tol(mut self, tol: f64) -> Self {
            self.common.tol = tol;
            self
        }

        /// Maximum EM iterations per initialisation (default 100; 0 returns the initial model).
        pub fn max_iter(mut self, max_iter: usize) -> Self {
            self.common.max_iter = max_iter;
            self
        }

        /// Number of initialisations; the one with the best final bound wins (default 1, ≥ 1).
        /// A `Given` init or a warm start runs once.
        pub fn n_init(mut self, n_init: usize) -> Self {
            self.common.n_init = n_init;
            self
        }

        /// Seed of all randomness of the fit (default 0). Same seed, same data: same bits.
        pub fn seed(mut self, seed: u64) -> Self {
            self.common.seed = seed;
            self
        }
    };
    (strategy) => {
        $crate::params::common_setters!();

        /// Which member of the EM family fits (default [`Strategy::Exact`](crate::Strategy)).
        pub fn strategy(mut self, strategy: crate::strategy::Strategy) -> Self {
            self.common.strategy = strategy;
            self
        }
    };
}
pub(crate) use common_setters;

/// Settings shared by both mixture families (scikit-learn's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Common {
    pub n_components: usize,
    pub tol: f64,
    pub max_iter: usize,
    pub n_init: usize,
    pub seed: u64,
    pub strategy: crate::strategy::Strategy,
}

impl Default for Common {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Common {
    pub(crate) fn new(n_components: usize) -> Self {
        Self {
            n_components,
            tol: 1e-3,
            max_iter: 100,
            n_init: 1,
            seed: 0,
            strategy: crate::strategy::Strategy::Exact,
        }
    }

    pub(crate) fn check(&self) -> Result<(), EmError> {
        if self.n_components == 0 {
            return Err(EmError::param(
                "n_components",
                self.n_components,
                "must be at least 1",
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(EmError::param(
                "tol",
                self.tol,
                "must be a finite number >= 0 (e.g. 1e-3)",
            ));
        }
        if self.n_init == 0 {
            return Err(EmError::param("n_init", self.n_init, "must be at least 1"));
        }
        self.strategy.check()
    }
}

/// Unchecked settings of a [`GaussianMixture`] fit; build with [`GaussianMixture::params`].
///
/// Nothing is validated until [`check`](Self::check) or [`fit`](Self::fit), which return an
/// [`EmError::InvalidParam`] naming the first bad setting. Also deserialisable (e.g. from a
/// preset file) with scikit-learn's field names; missing fields take the defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GaussianMixtureParams {
    #[serde(flatten)]
    pub(crate) common: Common,
    pub(crate) covariance: Covariance,
    pub(crate) reg_covar: f64,
    pub(crate) init: Init,
    #[serde(skip)]
    pub(crate) warm_start: Option<Box<GaussianMixture>>,
}

impl GaussianMixtureParams {
    common_setters!(strategy);

    /// Settings with scikit-learn's defaults and `n_components` components.
    pub fn new(n_components: usize) -> Self {
        Self {
            common: Common::new(n_components),
            covariance: Covariance::Full,
            reg_covar: 1e-6,
            init: Init::KMeans,
            warm_start: None,
        }
    }

    /// Covariance type (default `Full`).
    pub fn covariance(mut self, covariance: Covariance) -> Self {
        self.covariance = covariance;
        self
    }

    /// Added to the covariance diagonals so they stay positive definite (default 1e-6, ≥ 0).
    pub fn reg_covar(mut self, reg_covar: f64) -> Self {
        self.reg_covar = reg_covar;
        self
    }

    /// How to initialise (default `KMeans`).
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Continue from a fitted model instead of initialising (scikit-learn's `warm_start`):
    /// one run, starting from its parameters; `init` and `n_init` are ignored.
    pub fn warm_start(mut self, model: GaussianMixture) -> Self {
        self.warm_start = Some(Box::new(model));
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<ValidGaussianMixtureParams, EmError> {
        self.common.check()?;
        if !(self.reg_covar.is_finite() && self.reg_covar >= 0.0) {
            return Err(EmError::param(
                "reg_covar",
                self.reg_covar,
                "must be a finite number >= 0 (e.g. 1e-6)",
            ));
        }
        if let Init::Given(given) = &self.init {
            given.check(self.common.n_components, self.covariance)?;
        }
        if let Some(model) = &self.warm_start {
            if model.n_components() != self.common.n_components {
                return Err(EmError::WarmStart {
                    reason: format!(
                        "the model has {} components but n_components = {}",
                        model.n_components(),
                        self.common.n_components
                    ),
                });
            }
            if model.covariance_type() != self.covariance {
                return Err(EmError::WarmStart {
                    reason: format!(
                        "the model has {} covariances but covariance = {}",
                        model.covariance_type(),
                        self.covariance
                    ),
                });
            }
        }
        Ok(ValidGaussianMixtureParams(self))
    }
}

impl Default for GaussianMixtureParams {
    fn default() -> Self {
        Self::new(1)
    }
}

/// Validated settings of a [`GaussianMixture`] fit (made by [`GaussianMixtureParams::check`]).
#[derive(Clone, Debug)]
pub struct ValidGaussianMixtureParams(pub(crate) GaussianMixtureParams);

impl ValidGaussianMixtureParams {
    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.0.common.n_components
    }
    /// Covariance type.
    pub fn covariance(&self) -> Covariance {
        self.0.covariance
    }
    /// Convergence tolerance on the per-sample bound.
    pub fn tol(&self) -> f64 {
        self.0.common.tol
    }
    /// Diagonal regulariser of the covariances.
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
    pub fn init(&self) -> &Init {
        &self.0.init
    }
    /// Model to continue from, if any.
    pub fn warm_start(&self) -> Option<&GaussianMixture> {
        self.0.warm_start.as_deref()
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.common.seed
    }
    /// EM strategy.
    pub fn strategy(&self) -> crate::strategy::Strategy {
        self.0.common.strategy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_deserialise_with_defaults() {
        let p: GaussianMixtureParams = serde_json::from_str(
            r#"{"n_components": 3, "covariance": "diag", "tol": 1e-4, "init": "k-means++"}"#,
        )
        .unwrap();
        let v = p.check().unwrap();
        assert_eq!(
            (v.n_components(), v.covariance(), v.tol()),
            (3, Covariance::Diag, 1e-4)
        );
        assert_eq!(
            (v.reg_covar(), v.max_iter(), v.n_init(), v.seed()),
            (1e-6, 100, 1, 0)
        );
        assert_eq!(v.init(), &Init::KMeansPlusPlus);
        let bad: GaussianMixtureParams =
            serde_json::from_str(r#"{"n_components": 2, "reg_covar": -1.0}"#).unwrap();
        assert!(matches!(
            bad.check(),
            Err(EmError::InvalidParam {
                name: "reg_covar",
                ..
            })
        ));
    }
}

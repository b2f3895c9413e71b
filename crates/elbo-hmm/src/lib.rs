//! Hidden Markov models fitted by Baum–Welch (EM on sequences), usable on their own (no
//! libtorch), with hmmlearn 0.3.3's names, defaults and numbers.
//!
//! ```
//! use elbo_hmm::{Covariance, GaussianHmm};
//! use ndarray::Array2;
//! use rand::SeedableRng;
//!
//! // Two regimes that alternate: draw 400 steps from a known model, fit a fresh one.
//! let truth = GaussianHmm::from_parts(
//!     ndarray::array![0.5, 0.5],
//!     ndarray::array![[0.9, 0.1], [0.2, 0.8]],
//!     ndarray::array![[0.0], [5.0]],
//!     elbo_hmm::Covariances::Diag(ndarray::array![[1.0], [1.0]]),
//! )?;
//! let (x, states) = truth.sample(400, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), None);
//! let fit = GaussianHmm::params(2)
//!     .covariance_type(Covariance::Diag)
//!     .n_iter(50)
//!     .seed(0)
//!     .fit(x.view(), None)?;
//! let decoded = fit.model.predict(x.view(), None)?;
//! let agree = decoded.iter().zip(&states).filter(|(a, b)| a == b).count();
//! assert!(agree.max(400 - agree) > 390); // the labels may come out swapped
//! assert!(fit.log_likelihoods.windows(2).all(|w| w[1] >= w[0] - 1e-9));
//! # Ok::<(), elbo_hmm::HmmError>(())
//! ```
//!
//! - **Models**: [`GaussianHmm`] (full, tied, diag, spherical covariances), [`CategoricalHmm`]
//!   (symbols `0..M` in one column), [`GmmHmm`] (a Gaussian mixture per state) — hmmlearn's
//!   `GaussianHMM`, `CategoricalHMM`, `GMMHMM` — all [`Hmm`] over an [`Emission`].
//! - **Settings**: an unchecked builder [`HmmParams`] (`n_components`, `n_iter`, `tol`,
//!   `params` / `init_params` letters, `startprob_prior`, `transmat_prior`, `implementation`
//!   `"log"` / `"scaling"`, `n_init`, `seed`, and each emission's own: `covariance_type`,
//!   `min_covar`, `means_prior`, …) checked into [`ValidHmmParams`]; the fit returns an
//!   [`HmmFit`] holding a different type, the model.
//! - **Data**: rows of an `ArrayView2<f64>`, cut into sequences by `lengths` (which must be
//!   positive and sum to the row count: errors name the value). The E-step runs the
//!   sequences' forward–backward passes in parallel blocks (rayon) and the emission
//!   statistics over row blocks in parallel; results do not depend on the thread count.
//! - **Trace**: [`HmmFit::log_likelihoods`] is hmmlearn's `monitor_.history`;
//!   [`HmmFit::trace`] adds the ELBO after each E-step (= log p, gap 0) and after each M-step.
//! - **Inference**: [`Hmm::score`], [`Hmm::score_samples`], [`Hmm::decode`] (Viterbi or MAP),
//!   [`Hmm::predict`], [`Hmm::predict_proba`], [`Hmm::sample`], [`Hmm::bic`], [`Hmm::aic`];
//!   [`Hmm::save`] / [`Hmm::load`] as versioned JSON ([`AnyHmm`] reads any kind);
//!   [`ValidHmmParams::fit_stream`] fits sequences read chunk by chunk ([`SequenceSource`]).
//! - **Degenerate cases** never give NaN parameters: a state that loses all its mass keeps its
//!   previous emission, a transition row with no observed transitions keeps its previous
//!   row, a covariance that is not positive definite gets `min_covar` added (each with a
//!   `tracing` warning), and what cannot be recovered is an [`HmmError`].

// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

mod categorical;
mod emission;
mod error;
mod fb;
mod fit;
mod gaussian;
mod gmm;
mod model;
mod params;
mod persist;

pub use categorical::{CategoricalEmission, CategoricalSettings};
pub use elbo_em::{Covariance, Covariances};
pub use emission::Emission;
pub use error::HmmError;
pub use fit::{Chunk, ChunkedSequences, HmmFit, HmmIteration, SequenceSource};
pub use gaussian::{GaussianEmission, GaussianEmissionStats, GaussianSettings};
pub use gmm::{GmmCovars, GmmEmission, GmmSettings, GmmStats};
pub use model::{Hmm, split_lengths};
pub use params::{DecodeAlgorithm, HmmParams, Implementation, Letters, ValidHmmParams};
pub use persist::{AnyHmm, FORMAT, FORMAT_VERSION};

use ndarray::{Array1, Array2, Array3};

/// An HMM with Gaussian emissions (hmmlearn's `GaussianHMM`).
pub type GaussianHmm = Hmm<GaussianEmission>;
/// An HMM with categorical emissions (hmmlearn's `CategoricalHMM`).
pub type CategoricalHmm = Hmm<CategoricalEmission>;
/// An HMM with a Gaussian mixture per state (hmmlearn's `GMMHMM`).
pub type GmmHmm = Hmm<GmmEmission>;

impl<E: Emission> Hmm<E> {
    /// Settings for fitting `n_components` states (hmmlearn's defaults).
    pub fn params(n_components: usize) -> HmmParams<E> {
        HmmParams::new(n_components)
    }
}

impl GaussianHmm {
    /// A model from start probabilities, transitions, means (`K × d`) and covariances.
    ///
    /// # Errors
    /// As [`Hmm::new`] and [`GaussianEmission::new`].
    pub fn from_parts(
        startprob: Array1<f64>,
        transmat: Array2<f64>,
        means: Array2<f64>,
        covars: Covariances,
    ) -> Result<Self, HmmError> {
        Hmm::new(startprob, transmat, GaussianEmission::new(means, covars)?)
    }
}

impl CategoricalHmm {
    /// A model from start probabilities, transitions and emission probabilities (`K × M`).
    ///
    /// # Errors
    /// As [`Hmm::new`] and [`CategoricalEmission::new`].
    pub fn from_parts(
        startprob: Array1<f64>,
        transmat: Array2<f64>,
        emissionprob: Array2<f64>,
    ) -> Result<Self, HmmError> {
        Hmm::new(startprob, transmat, CategoricalEmission::new(emissionprob)?)
    }
}

impl GmmHmm {
    /// A model from start probabilities, transitions, mixture weights (`K × M`), means
    /// (`K × M × d`) and covariances.
    ///
    /// # Errors
    /// As [`Hmm::new`] and [`GmmEmission::new`].
    pub fn from_parts(
        startprob: Array1<f64>,
        transmat: Array2<f64>,
        weights: Array2<f64>,
        means: Array3<f64>,
        covars: GmmCovars,
    ) -> Result<Self, HmmError> {
        Hmm::new(
            startprob,
            transmat,
            GmmEmission::new(weights, means, covars)?,
        )
    }
}

impl HmmParams<GaussianEmission> {
    /// Covariance type (hmmlearn's default: diag).
    pub fn covariance_type(self, kind: Covariance) -> Self {
        self.emission_settings(|s| s.covariance_type = kind)
    }
    /// `min_covar` (1e-3).
    pub fn min_covar(self, v: f64) -> Self {
        self.emission_settings(|s| s.min_covar = v)
    }
    /// `means_prior` and `means_weight` (0, 0).
    pub fn means_prior(self, prior: f64, weight: f64) -> Self {
        self.emission_settings(|s| {
            s.means_prior = prior;
            s.means_weight = weight;
        })
    }
    /// `covars_prior` and `covars_weight` (1e-2, 1).
    pub fn covars_prior(self, prior: f64, weight: f64) -> Self {
        self.emission_settings(|s| {
            s.covars_prior = prior;
            s.covars_weight = weight;
        })
    }
}

impl HmmParams<CategoricalEmission> {
    /// Number of symbols (default: the largest symbol in the data plus one).
    pub fn n_features(self, m: usize) -> Self {
        self.emission_settings(|s| s.n_features = Some(m))
    }
    /// Dirichlet concentration of the emission rows (1).
    pub fn emissionprob_prior(self, alpha: f64) -> Self {
        self.emission_settings(|s| s.emissionprob_prior = alpha)
    }
}

impl HmmParams<GmmEmission> {
    /// Components per state (1).
    pub fn n_mix(self, m: usize) -> Self {
        self.emission_settings(|s| s.n_mix = m)
    }
    /// Covariance type (diag).
    pub fn covariance_type(self, kind: Covariance) -> Self {
        self.emission_settings(|s| s.covariance_type = kind)
    }
    /// `min_covar` (1e-3).
    pub fn min_covar(self, v: f64) -> Self {
        self.emission_settings(|s| s.min_covar = v)
    }
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The repository README's elbo-hmm section, compiled and run as a doctest.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct RepositoryReadmeDoctests;

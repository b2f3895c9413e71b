//! Gaussian and Bernoulli mixtures fitted by expectation–maximisation, and probabilistic PCA,
//! usable on their own (no libtorch), with scikit-learn's names, defaults and numbers.
//!
//! ```
//! use elbo_em::{Covariance, GaussianMixture, Init};
//! use ndarray::array;
//!
//! let x = array![[0.0, 0.1], [0.2, 0.0], [0.1, 0.2], [5.0, 5.1], [5.2, 5.0], [5.1, 4.9]];
//! let fit = GaussianMixture::params(2)
//!     .covariance(Covariance::Diag)
//!     .init(Init::KMeansPlusPlus)
//!     .reg_covar(1e-3)
//!     .seed(0)
//!     .fit(x.view())?;
//! let labels = fit.model.predict(x.view())?;
//! assert_eq!(labels[0], labels[1]);
//! assert_ne!(labels[0], labels[3]);
//! # Ok::<(), elbo_em::EmError>(())
//! ```
//!
//! - Settings are an unchecked builder ([`GaussianMixtureParams`], [`BernoulliMixtureParams`])
//!   validated into a checked type; the fitted model is a different type.
//! - A fit returns a [`Fit`]: the model plus `converged`, `n_iter`, the per-iteration
//!   `lower_bounds` and the elapsed time. Not converging is a `tracing` warning, not an error.
//! - The E-step is one matrix product per chunk of rows, of per-row features with weights built
//!   from the precision Cholesky factors, followed by an in-place vectorised log-sum-exp; the
//!   M-step adds per-chunk sufficient statistics (`N_k`, `Σ r x`, `Σ r x xᵀ` or its diagonal,
//!   one more matrix product) that merge by addition. Rows are processed in parallel blocks
//!   (rayon) with buffers allocated once per fit. Results are bit-for-bit reproducible for a
//!   given seed, whatever the number of threads.
//! - [`ProbabilisticPca`] (Tipping & Bishop 1999): closed-form maximum likelihood from the
//!   eigen-decomposition of the sample covariance, or EM on the same objective; settings
//!   [`PpcaParams`], result [`PpcaFit`].
//! - [`BayesianGaussianMixture`] is the variational Bayesian mixture (scikit-learn's
//!   `BayesianGaussianMixture`): Dirichlet-process or Dirichlet weights, Normal–Wishart
//!   components, unused components pruned; its fit reports scikit-learn's bound in
//!   `lower_bounds` and the complete ELBO per iteration in the model's [`VariationalTrace`].
//! - [`select_model`] fits a grid of component counts × covariance types and returns the BIC
//!   table and the best model.

mod bayesian;
mod bernoulli;
mod bound;
mod data;
mod engine;
mod error;
mod fit;
mod gaussian;
mod init;
mod params;
mod persist;
mod ppca;
mod select;
mod strategy;

pub use bayesian::{
    BayesianEm, BayesianGaussianMixture, BayesianGaussianMixtureParams, BayesianInit,
    CovariancePrior, Priors, ValidBayesianGaussianMixtureParams, VariationalTrace,
    WeightConcentration, WeightPrior,
};
pub use bernoulli::{
    BernoulliEm, BernoulliGiven, BernoulliMixture, BernoulliMixtureParams,
    ValidBernoulliMixtureParams,
};
pub use bound::mixture_elbo;
pub use data::Element;
pub use engine::exp_nonpositive;
pub use error::EmError;
pub use fit::{Fit, Observer, Progress};
pub use gaussian::{GaussianEm, GaussianMixture};
pub use init::kmeans_centres;
pub use params::{
    Covariance, Covariances, GaussianGiven, GaussianMixtureParams, GivenSpread, Init, InitMethod,
    ValidGaussianMixtureParams,
};
pub use persist::{BAYESIAN_FORMAT, BERNOULLI_FORMAT, FORMAT_VERSION, GAUSSIAN_FORMAT};
pub use ppca::{PpcaFit, PpcaMethod, PpcaParams, ProbabilisticPca, ValidPpcaParams};
pub use select::{Selection, SelectionRow, select_model};
pub use strategy::{Bound, ChunkSource, IterationTrace, Strategy};

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! The emission hooks of Baum–Welch: one trait, one implementation per emission family.
//!
//! The generic fit ([`crate::fit`]) owns the chain (start and transition probabilities, the
//! forward–backward pass, the convergence loop); an emission supplies its log-likelihoods, its
//! sufficient statistics under the posteriors (mergeable by addition, so sequences, row blocks
//! and stream chunks are summarised separately) and its closed-form M-step.

use std::fmt::Debug;

use ndarray::{Array1, ArrayView2, ArrayViewMut2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::HmmError;
use crate::params::Letters;

/// An emission family of an HMM: `p(x_t | z_t = k)` for every state `k`.
pub trait Emission: Clone + Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned {
    /// The family's own settings (covariance type, priors, …), with hmmlearn's defaults.
    type Settings: Clone + Debug + Default + Send + Sync;
    /// Sufficient statistics under the posteriors; they add.
    type Stats: Debug + Send;
    /// Per-worker buffers of the statistics pass.
    type Scratch: Send;

    /// The name in saved models (`"gaussian"`, `"categorical"`, `"gmm"`).
    const KIND: &'static str;
    /// hmmlearn's parameter letters of this emission (`"mc"`, `"e"`, `"mcw"`).
    const LETTERS: &'static str;

    /// Number of states `K`.
    fn n_states(&self) -> usize;
    /// Number of data columns (categorical: the number of symbols).
    fn n_features(&self) -> usize;
    /// Columns the data must have (1 for categorical).
    fn data_columns(&self) -> usize {
        self.n_features()
    }

    /// Checks the settings for `k` states.
    ///
    /// # Errors
    /// [`HmmError::InvalidParam`] naming the setting.
    fn check_settings(settings: &Self::Settings, k: usize) -> Result<(), HmmError>;

    /// Checks data for this family before a model exists (categorical: symbols).
    ///
    /// # Errors
    /// [`HmmError::BadSymbol`] and similar.
    fn check_fit_data(settings: &Self::Settings, x: ArrayView2<'_, f64>) -> Result<(), HmmError>;

    /// Checks data against a model (column count, symbols in range).
    ///
    /// # Errors
    /// [`HmmError::Dimension`], [`HmmError::BadSymbol`].
    fn check_data(&self, x: ArrayView2<'_, f64>) -> Result<(), HmmError>;

    /// Validates the parameters (after deserialisation or construction) and rebuilds the
    /// cached densities.
    ///
    /// # Errors
    /// [`HmmError::Given`] for bad shapes or values.
    fn validate(&mut self) -> Result<(), HmmError>;

    /// `ln p(x_t | z_t = k)` into `out` (`T × K`).
    fn log_likelihood(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>);

    /// Empty statistics for the current parameters.
    fn new_stats(&self) -> Self::Stats;
    /// Buffers for one worker of the statistics pass.
    fn new_scratch(&self) -> Self::Scratch;
    /// Adds the statistics of rows `x` with posteriors `gamma` (`T × K`).
    fn accumulate(
        &self,
        x: ArrayView2<'_, f64>,
        gamma: ArrayView2<'_, f64>,
        scratch: &mut Self::Scratch,
        stats: &mut Self::Stats,
    );
    /// `into += from`.
    fn merge_stats(into: &mut Self::Stats, from: &Self::Stats);

    /// The M-step for the letters in `params`; parameters not updated are kept. States whose
    /// statistics cannot define new parameters keep their old ones (with a `tracing` warning).
    ///
    /// # Errors
    /// [`HmmError::NotPositiveDefinite`], [`HmmError::NonFiniteParameter`].
    fn m_step(
        &self,
        stats: &Self::Stats,
        settings: &Self::Settings,
        params: &Letters,
    ) -> Result<Self, HmmError>;

    /// `Σ_t Σ_k γ_tk ln p(x_t | k; self)` from statistics collected under any parameters,
    /// if this family can compute it from its statistics (the ELBO after the M-step).
    fn expected_log_likelihood(&self, stats: &Self::Stats) -> Option<f64>;

    /// Initial parameters for `k` states: the letters in `init` are initialised from the data,
    /// the others are taken from `given` (or initialised when there is none).
    ///
    /// # Errors
    /// [`HmmError::TooFewRows`], [`HmmError::Given`], density errors.
    fn initialize(
        x: ArrayView2<'_, f64>,
        k: usize,
        settings: &Self::Settings,
        init: &Letters,
        given: Option<&Self>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, HmmError>;

    /// Free scalar parameters for the letters in `params` (hmmlearn's counts, for BIC).
    fn n_free_parameters(&self, params: &Letters) -> usize;

    /// One draw from state `state`'s emission.
    fn sample_from_state<R: Rng>(&self, state: usize, rng: &mut R) -> Array1<f64>;
}

//! The one error type of this crate.

use std::path::PathBuf;

use elbo_distributions::DistributionError;
use thiserror::Error;

/// Everything that can go wrong when configuring, fitting, using, saving or loading a mixture
/// or a probabilistic PCA model.
///
/// Each variant names the offending setting, array, row or file, and the message says how to
/// fix it, so that a user who only sees the `Display` text knows what to change.
/// Not converging is *not* an error: it is reported by `Fit::converged` and a `tracing` warning.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmError {
    /// A chunk of a streamed fit could not be read.
    #[error("chunk {chunk} of the stream failed: {source}")]
    Stream {
        /// Index (0-based, within its pass) of the failing chunk.
        chunk: usize,
        /// What the source reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A chunk of a streamed fit does not fit the others.
    #[error("chunk {chunk} of the stream is unusable: {reason}")]
    StreamChunk {
        /// Index (0-based, within its pass) of the chunk.
        chunk: usize,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A setting of the parameter builder is out of its allowed range.
    #[error("invalid value {value} for `{name}`: {allowed}")]
    InvalidParam {
        /// Name of the setting, as the builder method is called (`n_components`, `tol`, …).
        name: &'static str,
        /// The value that was given, formatted.
        value: String,
        /// The allowed range, phrased as advice.
        allowed: &'static str,
    },
    /// The data has no rows or no columns.
    #[error(
        "the data is empty ({rows} rows × {cols} columns); a model needs at least one row and one column"
    )]
    EmptyData {
        /// Number of rows given.
        rows: usize,
        /// Number of columns given.
        cols: usize,
    },
    /// The data holds a NaN or an infinity.
    #[error(
        "the data has a non-finite value {value} at row {row}, column {column}; remove or impute it before fitting"
    )]
    NonFinite {
        /// Row (0-based) of the first non-finite value.
        row: usize,
        /// Column (0-based) of the first non-finite value.
        column: usize,
        /// The value itself (NaN or ±∞).
        value: f64,
    },
    /// More components were asked for than there are samples.
    #[error(
        "n_components = {n_components} exceeds the number of samples {n_samples}; use at most {n_samples} components or more data"
    )]
    TooFewSamples {
        /// The requested number of components.
        n_components: usize,
        /// The number of rows in the data.
        n_samples: usize,
    },
    /// Probabilistic PCA needs fewer latent dimensions than data columns.
    #[error(
        "PPCA needs 1 <= n_components < n_features, but n_components = {n_components} and the data has {n_features} columns; use fewer components (the noise variance is estimated from the directions left out) or data with more columns"
    )]
    PpcaTooFewFeatures {
        /// The requested latent dimension `q`.
        n_components: usize,
        /// The number of columns `d` of the data.
        n_features: usize,
    },
    /// Probabilistic PCA needs at least `n_components + 2` rows.
    #[error(
        "PPCA with n_components = {n_components} needs at least {needed} rows, but the data has {n_samples}; with fewer rows the sample covariance has rank <= n_components and the noise variance is 0: use more rows or fewer components"
    )]
    PpcaTooFewRows {
        /// The requested latent dimension `q`.
        n_components: usize,
        /// The number of rows in the data.
        n_samples: usize,
        /// The minimum number of rows, `q + 2`.
        needed: usize,
    },
    /// The PPCA noise variance came out zero: the data lie in a `q`-dimensional subspace.
    #[error(
        "the PPCA noise variance is {noise_variance:e}, negligible against the mean variance per column {mean_variance:e}: the data lie (up to rounding) in a {n_components}-dimensional subspace; use fewer components or add noise to the data (e.g. dequantise)"
    )]
    ZeroNoiseVariance {
        /// The estimated noise variance σ².
        noise_variance: f64,
        /// tr(S) / d, the scale it is compared with (1e-10 of it counts as zero).
        mean_variance: f64,
        /// The requested latent dimension `q`.
        n_components: usize,
    },
    /// Latent coordinates given to a PPCA model have the wrong number of columns.
    #[error(
        "the latent coordinates have {found} columns but the model has {expected} components; pass z with {expected} columns"
    )]
    LatentDimensionMismatch {
        /// The model's latent dimension `q`.
        expected: usize,
        /// Number of columns of `z`.
        found: usize,
    },
    /// Data given to a fitted model has a different number of columns than the model.
    #[error(
        "the data has {found} columns but the model was fitted on {expected}; pass data with {expected} columns"
    )]
    DimensionMismatch {
        /// Number of features of the model.
        expected: usize,
        /// Number of columns of the data.
        found: usize,
    },
    /// A `BernoulliMixture` was given a value other than 0 or 1.
    #[error(
        "BernoulliMixture needs binary data (0 or 1), but row {row}, column {column} holds {value}; binarise the data first (e.g. x > 0.5)"
    )]
    NonBinary {
        /// Row (0-based) of the first non-binary value.
        row: usize,
        /// Column (0-based) of the first non-binary value.
        column: usize,
        /// The value found.
        value: f64,
    },
    /// A component's covariance is not positive definite even after adding `reg_covar`.
    #[error(
        "the covariance of component {component} is not positive definite even after adding reg_covar = {reg_covar} to its diagonal ({detail}); try a larger reg_covar (e.g. {suggested:e}), fewer components, scaling the data, or Covariance::Diag"
    )]
    NotPositiveDefinite {
        /// Index of the component (0 for a tied covariance).
        component: usize,
        /// The regulariser that was in force.
        reg_covar: f64,
        /// A larger regulariser worth trying.
        suggested: f64,
        /// What the factorisation reported.
        detail: String,
    },
    /// An `Init::Given` (or a model built from parameters) has arrays of the wrong shape or type.
    #[error("given `{name}` has shape {found} but {expected} was expected; {hint}")]
    GivenShape {
        /// Which array (`weights`, `means`, `covariances`, `precisions`, `probs`).
        name: &'static str,
        /// The expected shape, e.g. `[3, 2, 2]`.
        expected: String,
        /// The shape given.
        found: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// A given parameter value is not acceptable (negative weight, non-finite mean, …).
    #[error("given `{name}` is invalid: {reason}")]
    GivenValue {
        /// Which array.
        name: &'static str,
        /// What is wrong with it, with the offending index and value.
        reason: String,
    },
    /// The sample weights are unusable.
    #[error("invalid sample_weight: {reason}")]
    SampleWeight {
        /// What is wrong, with the offending index and value.
        reason: String,
    },
    /// The model to continue from (`warm_start`) does not fit the settings or the data.
    #[error("warm_start model does not match: {reason}")]
    WarmStart {
        /// What differs.
        reason: String,
    },
    /// A saved model could not be parsed.
    #[error("cannot read the saved model: {0}")]
    Json(#[from] serde_json::Error),
    /// A saved model has an unknown format or version.
    #[error(
        "saved model has format `{format}` version {version}, but this build reads `{expected_format}` version {expected_version}; re-save it with a matching elbo-em"
    )]
    Format {
        /// Format name found in the file.
        format: String,
        /// Version found in the file.
        version: u32,
        /// Format name this build expects.
        expected_format: &'static str,
        /// Version this build reads.
        expected_version: u32,
    },
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The fit's observer asked it to stop (e.g. on Ctrl-C); no model is returned.
    #[error(
        "the fit was stopped by its caller after iteration {iteration} of initialisation {run}; fit again to start over"
    )]
    Interrupted {
        /// Index of the initialisation that was running.
        run: usize,
        /// Iterations done in that initialisation.
        iteration: usize,
    },
    /// A lower-level distribution routine failed.
    #[error(transparent)]
    Distribution(#[from] DistributionError),
}

impl EmError {
    /// Shorthand for an [`EmError::InvalidParam`].
    pub(crate) fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        allowed: &'static str,
    ) -> Self {
        Self::InvalidParam {
            name,
            value: value.to_string(),
            allowed,
        }
    }

    /// Shorthand for an [`EmError::GivenShape`] from two shapes.
    pub(crate) fn shape(
        name: &'static str,
        expected: &[usize],
        found: &[usize],
        hint: &'static str,
    ) -> Self {
        Self::GivenShape {
            name,
            expected: format!("{expected:?}"),
            found: format!("{found:?}"),
            hint,
        }
    }
}

//! The crate's one error type.

use elbo_distributions::DistributionError;

/// Everything that can go wrong in elbo-hmm, with the value that caused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HmmError {
    /// A setting outside its allowed range.
    #[error("invalid setting `{name}`: {message}")]
    InvalidParam {
        /// The setting's name (hmmlearn's).
        name: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The data have no rows or no columns.
    #[error("the data are empty ({rows} rows × {cols} columns)")]
    EmptyData {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// A NaN or infinite value in the data.
    #[error("the data must be finite: row {row}, column {col} is {value}")]
    NonFiniteData {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value.
        value: f64,
    },
    /// The data's column count differs from the model's.
    #[error("the data have {got} columns but the model expects {expected}")]
    Dimension {
        /// Columns the model expects.
        expected: usize,
        /// Columns of the data.
        got: usize,
    },
    /// `lengths` does not add up to the number of rows.
    #[error("lengths sum to {sum} but the data have {rows} rows")]
    LengthsSum {
        /// Σ lengths.
        sum: usize,
        /// Rows of the data.
        rows: usize,
    },
    /// A sequence of length 0 in `lengths`.
    #[error("lengths[{index}] is 0: every sequence needs at least one row")]
    ZeroLength {
        /// Position of the zero in `lengths`.
        index: usize,
    },
    /// Categorical data that are not symbols `0..n_features`.
    #[error(
        "row {row} holds {value}, which is not a symbol: categorical data must be integers in 0..{n_features}"
    )]
    BadSymbol {
        /// Row of the value.
        row: usize,
        /// The value.
        value: f64,
        /// Number of symbols the model emits.
        n_features: usize,
    },
    /// Given parameters with the wrong shape or invalid values.
    #[error("given `{name}`: {message}")]
    Given {
        /// The parameter (hmmlearn's attribute name, e.g. `transmat_`).
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Fewer rows than states (or mixture components) to initialise from.
    #[error("{rows} rows cannot initialise {needed} clusters: give more data or fewer states")]
    TooFewRows {
        /// Rows available.
        rows: usize,
        /// Clusters to form.
        needed: usize,
    },
    /// A covariance that stays not positive definite after adding `min_covar`.
    #[error(
        "the covariance of state {state} is not positive definite even with min_covar = {min_covar} added ({source}); increase min_covar or covars_prior"
    )]
    NotPositiveDefinite {
        /// The state (for a Gaussian-mixture state, `state` is the state and the component
        /// is in the message of `source`).
        state: usize,
        /// The regulariser that was tried.
        min_covar: f64,
        /// What the density constructor said.
        source: DistributionError,
    },
    /// A sequence that has probability 0 under the model (every path is impossible).
    #[error(
        "sequence {sequence} has probability 0 under the model (log p(x) = −∞): a symbol or transition the model forbids"
    )]
    ZeroProbability {
        /// Index of the sequence in `lengths`.
        sequence: usize,
    },
    /// The M-step produced a non-finite parameter (reported instead of returning NaN).
    #[error("the M-step produced a non-finite `{name}`; the data or the priors are degenerate")]
    NonFiniteParameter {
        /// The parameter.
        name: &'static str,
    },
    /// A density could not be built from the parameters.
    #[error(transparent)]
    Distribution(#[from] DistributionError),
    /// A saved model of another kind or version.
    #[error("model file: {0}")]
    Format(String),
    /// JSON (de)serialisation.
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing a file, or a stream's source.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

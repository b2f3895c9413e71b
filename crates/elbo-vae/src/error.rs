//! The crate's one error type.

use std::path::PathBuf;

use tch::TchError;

/// Everything that can go wrong in `elbo-vae`: invalid settings, data the model cannot take,
/// checkpoints that do not fit, and failures reported by libtorch or the file system.
///
/// Messages name the field, row, column, file or tensor involved and say how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    /// A [`VaeConfig`](crate::VaeConfig) field is out of range or inconsistent with another.
    #[error("invalid VAE config: `{field}` {message}")]
    Config {
        /// The offending field, as written in a preset (`latent_dim`, `likelihood.variance`, …).
        field: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },

    /// The input is not a matrix with one example per row.
    #[error(
        "input must be a matrix with one example per row (or a single example as a vector), \
         got a tensor of shape {shape:?}"
    )]
    InputShape {
        /// The shape that was passed.
        shape: Vec<i64>,
    },

    /// The input rows have the wrong number of columns.
    #[error(
        "input has {found} columns but the model expects {expected} (the config's `input`); \
         flatten images row-major and check the dataset matches the model"
    )]
    InputWidth {
        /// Width the model was built for.
        expected: i64,
        /// Width of the input.
        found: i64,
    },

    /// The input holds NaN or ±∞.
    #[error(
        "input holds a non-finite value ({value}) at row {row}, column {col}; \
         remove or impute such values before training or evaluating"
    )]
    NonFiniteInput {
        /// Row of the first offending value.
        row: i64,
        /// Column of the first offending value.
        col: i64,
        /// The value itself.
        value: f64,
    },

    /// A Bernoulli model was given values other than 0 and 1.
    #[error(
        "a Bernoulli likelihood needs binary input, found {value} at row {row}, column {col}; \
         binarise the data first (fixed threshold or dynamic binarisation) or use a Gaussian \
         likelihood: cross-entropy on grey levels is not a log-likelihood"
    )]
    NonBinaryInput {
        /// Row of the first offending value.
        row: i64,
        /// Column of the first offending value.
        col: i64,
        /// The value itself.
        value: f64,
    },

    /// An argument of a model method is out of range (`k = 0`, a latent index too large, …).
    #[error("invalid argument `{name}`: {message}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },

    /// A checkpoint's tensors or config do not agree with the model being loaded into.
    #[error("checkpoint {path} does not match the model: {}", differences.join("; "))]
    CheckpointMismatch {
        /// The weights file.
        path: PathBuf,
        /// One line per difference (missing, unexpected or reshaped tensors, config fields).
        differences: Vec<String>,
    },

    /// A checkpoint path that is not a `.safetensors` file.
    #[error("checkpoint weights must be a `.safetensors` file, got {path}")]
    CheckpointExtension {
        /// The path that was given.
        path: PathBuf,
    },

    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read`, `write`, …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A config file is not valid JSON for a [`VaeConfig`](crate::VaeConfig).
    #[error("config file {path} is not a valid VAE config: {source}")]
    ConfigJson {
        /// The file.
        path: PathBuf,
        /// The parser's error (it names the line and the field).
        source: serde_json::Error,
    },

    /// A tensor could not be turned into an `ndarray` array.
    #[error("cannot convert a tensor to an array: {reason}")]
    Conversion {
        /// What did not fit.
        reason: String,
    },

    /// libtorch reported an error.
    #[error("libtorch failed while {context}: {source}")]
    Torch {
        /// What the crate was doing.
        context: String,
        /// libtorch's error.
        source: TchError,
    },
}

impl VaeError {
    /// Wrap a libtorch error with what we were doing.
    pub(crate) fn torch(context: impl Into<String>) -> impl FnOnce(TchError) -> VaeError {
        let context = context.into();
        move |source| VaeError::Torch { context, source }
    }
}

//! The one error type of this crate.

use thiserror::Error;

/// Why a distribution, a factorisation or an estimate could not be built.
///
/// Every variant names the offending parameter (as the constructor argument is called) and,
/// where there is one, the index and the value, so that the message alone says what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// A parameter entry is NaN or infinite where a finite number is required.
    #[error(
        "parameter `{name}` has a non-finite entry {value} at index {index}; every entry must be a finite number"
    )]
    NonFinite {
        /// Name of the parameter.
        name: &'static str,
        /// Flat (row-major) index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Two parameters (or a parameter and the data) disagree on the dimension.
    #[error(
        "parameter `{name}` has dimension {found}, but {expected} was expected; make the shapes agree"
    )]
    DimensionMismatch {
        /// Name of the parameter.
        name: &'static str,
        /// The dimension that was required.
        expected: usize,
        /// The dimension that was given.
        found: usize,
    },
    /// A matrix parameter is not square.
    #[error("matrix `{name}` is {rows}×{cols}; it must be square")]
    NotSquare {
        /// Name of the parameter.
        name: &'static str,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A matrix parameter that must be symmetric is not (beyond rounding).
    #[error(
        "matrix `{name}` is not symmetric: entry ({row}, {col}) is {value} but ({col}, {row}) is {transposed}; symmetrise it, e.g. (A + Aᵀ)/2"
    )]
    NotSymmetric {
        /// Name of the parameter.
        name: &'static str,
        /// Row of the first mismatching entry.
        row: usize,
        /// Column of the first mismatching entry.
        col: usize,
        /// Value at (row, col).
        value: f64,
        /// Value at (col, row).
        transposed: f64,
    },
    /// A matrix parameter that must be triangular has a non-zero entry on both sides.
    #[error(
        "matrix `{name}` must be lower or upper triangular, but entry ({row}, {col}) is {value}"
    )]
    NotTriangular {
        /// Name of the parameter.
        name: &'static str,
        /// Row of the offending entry.
        row: usize,
        /// Column of the offending entry.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// The Cholesky factorisation failed even with the largest allowed diagonal jitter.
    #[error(
        "matrix `{name}` is not positive definite: pivot {index} is {pivot} after adding jitter {jitter} to the diagonal; increase the regularisation (e.g. `reg_covar`) or the allowed jitter, or remove collinear dimensions"
    )]
    NotPositiveDefinite {
        /// Name of the parameter.
        name: &'static str,
        /// Index of the first non-positive pivot.
        index: usize,
        /// The value of that pivot (before the square root).
        pivot: f64,
        /// The largest diagonal jitter that was tried.
        jitter: f64,
    },
    /// A variance (or a scale) is zero or negative.
    #[error(
        "variance `{name}` is {value} at index {index}; variances must be > 0 (add a small regulariser if the data are constant)"
    )]
    NonPositiveVariance {
        /// Name of the parameter.
        name: &'static str,
        /// Index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A probability lies outside [0, 1].
    #[error("probability `{name}` is {value} at index {index}; probabilities must lie in [0, 1]")]
    ProbabilityOutOfRange {
        /// Name of the parameter.
        name: &'static str,
        /// Index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A parameter that must be strictly positive (a concentration, a weight sum, a diagonal
    /// of a Cholesky factor) is not.
    #[error("parameter `{name}` is {value} at index {index}; it must be > 0")]
    NonPositive {
        /// Name of the parameter.
        name: &'static str,
        /// Index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A parameter that must be non-negative (a weight) is negative.
    #[error("parameter `{name}` is {value} at index {index}; it must be >= 0")]
    Negative {
        /// Name of the parameter.
        name: &'static str,
        /// Index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A distribution needs at least one dimension (or category).
    #[error("parameter `{name}` is empty; at least one dimension is required")]
    Empty {
        /// Name of the parameter.
        name: &'static str,
    },
    /// The Wishart degrees of freedom must exceed dimension − 1.
    #[error("Wishart degrees of freedom `dof` is {dof}, but it must be > dim − 1 = {min}")]
    DegreesOfFreedom {
        /// The given degrees of freedom.
        dof: f64,
        /// dim − 1, the exclusive lower bound.
        min: f64,
    },
    /// A sufficient-statistics accumulator holds no (or non-positive, or non-finite) weight,
    /// so there is nothing to estimate from.
    #[error(
        "cannot estimate `{name}`: total weight is {total_weight}; push data with positive weights first (or drop this component)"
    )]
    NoWeight {
        /// What was being estimated.
        name: &'static str,
        /// The accumulated weight.
        total_weight: f64,
    },
    /// An iterative factorisation (the Jacobi eigensolver) did not reach its accuracy.
    #[error(
        "the eigen-decomposition of matrix `{name}` did not converge in {sweeps} sweeps (off-diagonal norm {off_diagonal:e}); check the matrix for extreme scales (e.g. standardise the data)"
    )]
    NotConverged {
        /// Name of the parameter.
        name: &'static str,
        /// Sweeps that were run.
        sweeps: usize,
        /// Frobenius norm of the off-diagonal part that was left.
        off_diagonal: f64,
    },
}

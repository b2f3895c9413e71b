//! The native half of the Python package `elbo` (the module `elbo._native`, built by maturin).
//!
//! Thin: each function converts its arguments while holding the GIL, runs elbo-em with the
//! GIL released (`Python::detach`) on views of the caller's numpy arrays (no copy for
//! `float64`, `float32` or `uint8` rows in C order), and converts the result back. A fit
//! checks Python's signal handlers after every iteration through elbo-em's observer, so
//! Ctrl-C stops it with `KeyboardInterrupt`. elbo-em's errors become `ValueError` (bad
//! settings or data: the messages name the setting, row and column) or `OSError`.
//!
//! The scikit-learn conventions (parameters, validation, `NotFittedError`, fitted attributes)
//! live in the pure-Python package around this module (`python/elbo/`).

mod bayesian;
mod bernoulli;
mod convert;
mod gaussian;
mod ppca;
mod stream;

use pyo3::prelude::*;

/// The extension module `elbo._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<gaussian::PyGaussian>()?;
    m.add_class::<bayesian::PyBayesian>()?;
    m.add_class::<bernoulli::PyBernoulli>()?;
    m.add_class::<ppca::PyPpca>()?;
    m.add_function(wrap_pyfunction!(gaussian::gaussian_fit, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian::gaussian_fit_stream, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian::gaussian_bic_table, m)?)?;
    m.add_function(wrap_pyfunction!(bayesian::bayesian_fit, m)?)?;
    m.add_function(wrap_pyfunction!(bernoulli::bernoulli_fit, m)?)?;
    m.add_function(wrap_pyfunction!(bernoulli::bernoulli_fit_stream, m)?)?;
    m.add_function(wrap_pyfunction!(ppca::ppca_fit, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! Between Python and elbo-em: input arrays, covariance-shaped arrays, errors, fit reports,
//! and the observer that lets Ctrl-C stop a fit running without the GIL.

use std::ops::ControlFlow;

use elbo_em::{Covariance, Covariances, EmError, Fit, IterationTrace, Progress, Strategy};
use ndarray::{Ix1, Ix2, Ix3};
use numpy::{PyReadonlyArray2, PyReadonlyArrayDyn, ToPyArray};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Input data: the element types elbo-em reads without a copy (the Python layer converts
/// anything else to `float64` first).
#[derive(FromPyObject)]
pub(crate) enum Data<'py> {
    /// `float64`.
    F64(PyReadonlyArray2<'py, f64>),
    /// `float32`: converted row block by row block, never copied whole.
    F32(PyReadonlyArray2<'py, f32>),
    /// `uint8` (images, binary data).
    U8(PyReadonlyArray2<'py, u8>),
}

/// Runs `$body` with `$x` bound to an `ArrayView2` of the data, whatever its element type.
macro_rules! with_data {
    ($data:expr, |$x:ident| $body:expr) => {
        match &$data {
            $crate::convert::Data::F64(a) => {
                let $x = a.as_array();
                $body
            }
            $crate::convert::Data::F32(a) => {
                let $x = a.as_array();
                $body
            }
            $crate::convert::Data::U8(a) => {
                let $x = a.as_array();
                $body
            }
        }
    };
}
pub(crate) use with_data;

/// An elbo-em error as the Python exception scikit-learn users catch: `ValueError` for bad
/// settings, data and files' contents, `OSError` for files that cannot be read or written.
pub(crate) fn to_py(e: EmError) -> PyErr {
    match e {
        EmError::Io { .. } => PyOSError::new_err(e.to_string()),
        EmError::Interrupted { .. } => PyKeyboardInterrupt::new_err(e.to_string()),
        EmError::Stream { chunk, source } => match source.downcast::<PyErr>() {
            // The Python iterable raised: re-raise its own exception.
            Ok(err) => *err,
            Err(source) => {
                PyValueError::new_err(format!("chunk {chunk} of the stream failed: {source}"))
            }
        },
        other => PyValueError::new_err(other.to_string()),
    }
}

/// A `covariance_type` name.
pub(crate) fn covariance(name: &str) -> PyResult<Covariance> {
    Covariance::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "covariance_type must be 'full', 'tied', 'diag' or 'spherical', got {name:?}"
            ))
        })
}

/// A strategy from its JSON form (`{"kind": "monte-carlo", "samples": 1}`), which the Python
/// layer builds from `strategy=` and `strategy_options=`.
pub(crate) fn strategy(json: &str) -> PyResult<Strategy> {
    serde_json::from_str(json).map_err(|e| {
        PyValueError::new_err(format!(
            "invalid strategy {json}: {e}; use 'exact', 'monte-carlo' (samples), \
             'generalized' (step) or 'online' (batch_size, decay)"
        ))
    })
}

/// Covariance-shaped arrays of type `kind` from a numpy array of the matching layout.
pub(crate) fn covariances_from(
    name: &str,
    kind: Covariance,
    a: &PyReadonlyArrayDyn<'_, f64>,
) -> PyResult<Covariances> {
    let v = a.as_array().to_owned();
    let shape = v.shape().to_vec();
    let layout = "full [n_components, n_features, n_features], tied [n_features, n_features], \
                  diag [n_components, n_features], spherical [n_components]";
    let wrong = |_| {
        PyValueError::new_err(format!(
            "{name} has shape {shape:?}, which is not the layout of covariance_type='{kind}' ({layout})"
        ))
    };
    Ok(match kind {
        Covariance::Full => Covariances::Full(v.into_dimensionality::<Ix3>().map_err(wrong)?),
        Covariance::Tied => Covariances::Tied(v.into_dimensionality::<Ix2>().map_err(wrong)?),
        Covariance::Diag => Covariances::Diag(v.into_dimensionality::<Ix2>().map_err(wrong)?),
        Covariance::Spherical => {
            Covariances::Spherical(v.into_dimensionality::<Ix1>().map_err(wrong)?)
        }
    })
}

/// Covariance-shaped arrays as a numpy array (in scikit-learn's layout for the type).
pub(crate) fn covariances_to<'py>(py: Python<'py>, c: &Covariances) -> Bound<'py, PyAny> {
    match c {
        Covariances::Full(a) => a.to_pyarray(py).into_any(),
        Covariances::Tied(a) | Covariances::Diag(a) => a.to_pyarray(py).into_any(),
        Covariances::Spherical(a) => a.to_pyarray(py).into_any(),
    }
}

/// Watches a fit running without the GIL: after every iteration it takes the GIL for a
/// moment to run Python's signal handlers (Ctrl-C becomes `KeyboardInterrupt`) and, when
/// asked, to print progress.
#[derive(Debug)]
pub(crate) struct Watch {
    verbose: usize,
    interval: usize,
    interrupted: Option<PyErr>,
}

impl Watch {
    pub(crate) fn new(verbose: usize, interval: usize) -> Self {
        Self {
            verbose,
            interval: interval.max(1),
            interrupted: None,
        }
    }

    /// The observer of one iteration.
    pub(crate) fn observe(&mut self, p: &Progress) -> ControlFlow<()> {
        let (verbose, interval) = (self.verbose, self.interval);
        let outcome = Python::attach(|py| -> PyResult<()> {
            py.check_signals()?;
            if verbose > 0 && (p.iteration == 1 || p.iteration.is_multiple_of(interval)) {
                let line = format!(
                    "initialisation {}, iteration {}: lower bound {:.10}",
                    p.run, p.iteration, p.lower_bound
                );
                py.import("builtins")?.getattr("print")?.call1((line,))?;
            }
            Ok(())
        });
        match outcome {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                self.interrupted = Some(err);
                ControlFlow::Break(())
            }
        }
    }

    /// The Python exception for a failed fit: the one the signal handler raised if the
    /// observer stopped the fit, else the error's own.
    pub(crate) fn error(&mut self, e: EmError) -> PyErr {
        match (&e, self.interrupted.take()) {
            (EmError::Interrupted { .. }, Some(err)) => err,
            _ => to_py(e),
        }
    }
}

/// The report of a fit as a dict: `converged`, `n_iter`, `lower_bound`, `lower_bounds`,
/// `init_lower_bounds`, `best_init`, `elapsed` (seconds) and `trace`, one dict per iteration
/// with the log-likelihood and the ELBO after its E-step and after its M-step.
pub(crate) fn report<'py, M>(py: Python<'py>, fit: &Fit<M>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("converged", fit.converged)?;
    d.set_item("n_iter", fit.n_iter)?;
    d.set_item("lower_bound", fit.lower_bound)?;
    d.set_item("lower_bounds", fit.lower_bounds.clone())?;
    d.set_item("init_lower_bounds", fit.init_lower_bounds.clone())?;
    d.set_item("best_init", fit.best_init)?;
    d.set_item("elapsed", fit.elapsed.as_secs_f64())?;
    let trace = PyList::empty(py);
    for (i, t) in fit.trace.iter().enumerate() {
        trace.append(iteration(py, i + 1, t)?)?;
    }
    d.set_item("trace", trace)?;
    Ok(d)
}

fn iteration<'py>(py: Python<'py>, i: usize, t: &IterationTrace) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration", i)?;
    d.set_item("log_likelihood", t.after_e_step.log_likelihood)?;
    d.set_item("elbo_after_e_step", t.after_e_step.elbo)?;
    d.set_item("gap_after_e_step", t.after_e_step.gap())?;
    d.set_item("log_likelihood_after_m_step", t.after_m_step.log_likelihood)?;
    d.set_item("elbo_after_m_step", t.after_m_step.elbo)?;
    d.set_item("gap_after_m_step", t.after_m_step.gap())?;
    Ok(d)
}

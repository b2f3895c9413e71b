//! `ProbabilisticPCA`: the fit and the fitted model.

use elbo_em::{PpcaMethod, ProbabilisticPca};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::convert::{Data, to_py, with_data};

/// What `PpcaModel.__reduce__` returns: the constructor and its arguments.
type Reduced<'py> = (
    Bound<'py, PyAny>,
    (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>, f64),
);

/// A fitted probabilistic PCA model; pickles through its parameters.
#[pyclass(module = "elbo._native", name = "PpcaModel", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct PyPpca {
    pub(crate) inner: ProbabilisticPca,
}

/// Fits probabilistic PCA (`method` is `"closed_form"` or `"em"`); returns the model and a
/// report (`converged`, `n_iter`, `lower_bounds`, `log_likelihood`, `elapsed`).
#[pyfunction]
#[pyo3(signature = (x, n_components, method, max_iter, tol, seed))]
pub(crate) fn ppca_fit<'py>(
    py: Python<'py>,
    x: Data<'py>,
    n_components: usize,
    method: &str,
    max_iter: usize,
    tol: f64,
    seed: u64,
) -> PyResult<(PyPpca, Bound<'py, PyDict>)> {
    let method = match method {
        "closed_form" => PpcaMethod::ClosedForm,
        "em" => PpcaMethod::Em,
        other => {
            return Err(PyValueError::new_err(format!(
                "method must be 'closed_form' or 'em', got {other:?}"
            )));
        }
    };
    let params = ProbabilisticPca::params(n_components)
        .method(method)
        .max_iter(max_iter)
        .tol(tol)
        .seed(seed)
        .check()
        .map_err(to_py)?;
    let fit = with_data!(x, |v| py.detach(|| params.fit(v))).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("converged", fit.converged)?;
    d.set_item("n_iter", fit.n_iter)?;
    d.set_item("lower_bounds", fit.lower_bounds.clone())?;
    d.set_item("log_likelihood", fit.log_likelihood)?;
    d.set_item("elapsed", fit.elapsed.as_secs_f64())?;
    Ok((PyPpca { inner: fit.model }, d))
}

#[pymethods]
impl PyPpca {
    /// A model from its parameters: mean `[d]`, `W` `[d, q]`, noise variance.
    #[staticmethod]
    fn from_components(
        mean: PyReadonlyArray1<'_, f64>,
        components: PyReadonlyArray2<'_, f64>,
        noise_variance: f64,
    ) -> PyResult<Self> {
        let inner = ProbabilisticPca::from_components(
            mean.as_array().to_owned(),
            components.as_array().to_owned(),
            noise_variance,
        )
        .map_err(to_py)?;
        Ok(Self { inner })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let py = slf.py();
        let m = &slf.get().inner;
        let make = slf.get_type().getattr("from_components")?;
        Ok((
            make,
            (
                m.mean().to_owned().into_pyarray(py),
                m.components().to_owned().into_pyarray(py),
                m.noise_variance(),
            ),
        ))
    }

    #[getter]
    fn n_parameters(&self) -> usize {
        self.inner.n_parameters()
    }

    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.mean().to_owned().into_pyarray(py)
    }

    /// `W`, `[n_features, n_components]`, columns scaled (`‖w_j‖² = λ_j − σ²`).
    #[getter]
    fn components<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.components().to_owned().into_pyarray(py)
    }

    #[getter]
    fn noise_variance(&self) -> f64 {
        self.inner.noise_variance()
    }

    #[getter]
    fn explained_variance<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.explained_variance().to_owned().into_pyarray(py)
    }

    #[getter]
    fn covariance<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.covariance().into_pyarray(py)
    }

    fn score_samples<'py>(
        &self,
        py: Python<'py>,
        x: Data<'py>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let m = &self.inner;
        let out = with_data!(x, |v| py.detach(|| m.score_samples(v))).map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    fn transform<'py>(&self, py: Python<'py>, x: Data<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let m = &self.inner;
        let out = with_data!(x, |v| py.detach(|| m.transform(v))).map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    fn inverse_transform<'py>(
        &self,
        py: Python<'py>,
        z: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let out = self.inner.inverse_transform(z.as_array()).map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
    ) -> (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>) {
        let m = &self.inner;
        let (x, z) = py.detach(|| m.sample(n, &mut ChaCha8Rng::seed_from_u64(seed)));
        (x.into_pyarray(py), z.into_pyarray(py))
    }
}

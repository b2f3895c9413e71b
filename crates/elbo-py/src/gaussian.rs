//! `GaussianMixture`: fit, fit over a stream of chunks, BIC table, and the fitted model.

use elbo_em::{Covariance, GaussianGiven, GaussianMixture, Init, select_model};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::convert::{
    Data, Watch, covariance, covariances_from, covariances_to, report, strategy, to_py, with_data,
};
use crate::stream::PyChunks;

/// A fitted Gaussian mixture (elbo-em's `GaussianMixture`); pickles through its JSON form.
#[pyclass(module = "elbo._native", name = "GaussianModel", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct PyGaussian {
    pub(crate) inner: GaussianMixture,
}

/// An `init_params` name as elbo-em's start.
pub(crate) fn init_method<G>(name: &str) -> PyResult<Init<G>> {
    Ok(match name {
        "kmeans" => Init::KMeans,
        "k-means++" => Init::KMeansPlusPlus,
        "random" => Init::Random,
        "random_from_data" => Init::RandomFromData,
        other => {
            return Err(PyValueError::new_err(format!(
                "init_params must be 'kmeans', 'k-means++', 'random' or 'random_from_data', got {other:?}"
            )));
        }
    })
}

/// Settings from the Python estimator's parameters (already type-checked there).
#[allow(clippy::too_many_arguments)]
fn settings(
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    strategy_json: &str,
    given: Option<(
        PyReadonlyArray1<'_, f64>,
        PyReadonlyArray2<'_, f64>,
        PyReadonlyArrayDyn<'_, f64>,
    )>,
    warm: Option<&PyGaussian>,
) -> PyResult<elbo_em::GaussianMixtureParams> {
    let kind = covariance(covariance_type)?;
    let init = match given {
        Some((w, m, p)) => Init::Given(GaussianGiven::from_precisions(
            w.as_array().to_owned(),
            m.as_array().to_owned(),
            covariances_from("precisions_init", kind, &p)?,
        )),
        None => init_method(init_params)?,
    };
    let mut params = GaussianMixture::params(n_components)
        .covariance(kind)
        .tol(tol)
        .reg_covar(reg_covar)
        .max_iter(max_iter)
        .n_init(n_init)
        .init(init)
        .seed(seed)
        .strategy(strategy(strategy_json)?);
    if let Some(w) = warm {
        params = params.warm_start(w.inner.clone());
    }
    Ok(params)
}

/// Fits a Gaussian mixture; returns the model and the fit's report.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, n_components, covariance_type, tol, reg_covar, max_iter,
    n_init, init_params, seed, strategy_json, given=None, warm=None, verbose=0,
    verbose_interval=10))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gaussian_fit<'py>(
    py: Python<'py>,
    x: Data<'py>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    strategy_json: &str,
    given: Option<(
        PyReadonlyArray1<'py, f64>,
        PyReadonlyArray2<'py, f64>,
        PyReadonlyArrayDyn<'py, f64>,
    )>,
    warm: Option<PyRef<'py, PyGaussian>>,
    verbose: usize,
    verbose_interval: usize,
) -> PyResult<(PyGaussian, Bound<'py, PyDict>)> {
    let params = settings(
        n_components,
        covariance_type,
        tol,
        reg_covar,
        max_iter,
        n_init,
        init_params,
        seed,
        strategy_json,
        given,
        warm.as_deref(),
    )?
    .check()
    .map_err(to_py)?;
    let sw = sample_weight.as_ref().map(|w| w.as_array());
    let mut watch = Watch::new(verbose, verbose_interval);
    let fitted = with_data!(x, |v| py
        .detach(|| params.fit_observed(v, sw, &mut |p| watch.observe(p))));
    let fit = fitted.map_err(|e| watch.error(e))?;
    let rep = report(py, &fit)?;
    Ok((PyGaussian { inner: fit.model }, rep))
}

/// Fits a Gaussian mixture to the chunks `make_chunks()` yields (called once per pass).
#[pyfunction]
#[pyo3(signature = (make_chunks, n_components, covariance_type, tol, reg_covar, max_iter,
    n_init, init_params, seed, strategy_json, given=None, warm=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gaussian_fit_stream<'py>(
    py: Python<'py>,
    make_chunks: Py<PyAny>,
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    strategy_json: &str,
    given: Option<(
        PyReadonlyArray1<'py, f64>,
        PyReadonlyArray2<'py, f64>,
        PyReadonlyArrayDyn<'py, f64>,
    )>,
    warm: Option<PyRef<'py, PyGaussian>>,
) -> PyResult<(PyGaussian, Bound<'py, PyDict>)> {
    let params = settings(
        n_components,
        covariance_type,
        tol,
        reg_covar,
        max_iter,
        n_init,
        init_params,
        seed,
        strategy_json,
        given,
        warm.as_deref(),
    )?;
    let fitted = py.detach(|| params.fit_stream(|| PyChunks::start(&make_chunks)));
    let fit = fitted.map_err(to_py)?;
    let rep = report(py, &fit)?;
    Ok((PyGaussian { inner: fit.model }, rep))
}

/// Fits every `n_components` × `covariance_types` candidate and returns the BIC table (one
/// dict per candidate) and the index of the lowest BIC.
#[pyfunction]
#[pyo3(signature = (x, n_components, covariance_types, tol, reg_covar, max_iter, n_init,
    init_params, seed))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gaussian_bic_table<'py>(
    py: Python<'py>,
    x: Data<'py>,
    n_components: Vec<usize>,
    covariance_types: Vec<String>,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
) -> PyResult<(Bound<'py, PyList>, usize, PyGaussian)> {
    let kinds: Vec<Covariance> = covariance_types
        .iter()
        .map(|c| covariance(c))
        .collect::<PyResult<_>>()?;
    let base = GaussianMixture::params(1)
        .tol(tol)
        .reg_covar(reg_covar)
        .max_iter(max_iter)
        .n_init(n_init)
        .init(init_method(init_params)?)
        .seed(seed);
    let selection = with_data!(x, |v| py.detach(|| select_model(
        v,
        n_components.iter().copied(),
        &kinds,
        &base
    )))
    .map_err(to_py)?;
    let rows = PyList::empty(py);
    for (i, r) in selection.table.iter().enumerate() {
        let d = PyDict::new(py);
        d.set_item("n_components", r.n_components)?;
        d.set_item("covariance_type", r.covariance.name())?;
        d.set_item("n_parameters", r.n_parameters)?;
        d.set_item("bic", r.bic)?;
        d.set_item("aic", r.aic)?;
        d.set_item("lower_bound", r.lower_bound)?;
        d.set_item("converged", r.converged)?;
        d.set_item("n_iter", r.n_iter)?;
        d.set_item("error", r.error.clone())?;
        d.set_item("best", i == selection.best_row)?;
        rows.append(d)?;
    }
    Ok((
        rows,
        selection.best_row,
        PyGaussian {
            inner: selection.best.model,
        },
    ))
}

#[pymethods]
impl PyGaussian {
    /// A model from arrays: weights `[K]`, means `[K, d]`, covariances in the type's layout.
    #[staticmethod]
    fn from_covariances(
        covariance_type: &str,
        weights: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray2<'_, f64>,
        covariances: PyReadonlyArrayDyn<'_, f64>,
    ) -> PyResult<Self> {
        let kind = covariance(covariance_type)?;
        let inner = GaussianMixture::from_covariances(
            weights.as_array().to_owned(),
            means.as_array().to_owned(),
            covariances_from("covariances", kind, &covariances)?,
        )
        .map_err(to_py)?;
        Ok(Self { inner })
    }

    /// A model from the JSON that `to_json`, elbo-em's `save` and `elbo gmm fit --out` write.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: GaussianMixture::from_json(text).map_err(to_py)?,
        })
    }

    /// The model as JSON (elbo-em's format, with its name and version).
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    /// Pickling: through the JSON form, whose floats round-trip exactly.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_json = slf.get_type().getattr("from_json")?;
        Ok((from_json, (slf.get().to_json()?,)))
    }

    #[getter]
    fn covariance_type(&self) -> &'static str {
        self.inner.covariance_type().name()
    }

    #[getter]
    fn n_parameters(&self) -> usize {
        self.inner.n_parameters()
    }

    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.weights().to_owned().into_pyarray(py)
    }

    #[getter]
    fn means<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.means().to_owned().into_pyarray(py)
    }

    #[getter]
    fn covariances<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        covariances_to(py, self.inner.covariances())
    }

    #[getter]
    fn precisions<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        covariances_to(py, &self.inner.precisions())
    }

    #[getter]
    fn precisions_cholesky<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        covariances_to(py, self.inner.precisions_cholesky())
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

    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: Data<'py>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let m = &self.inner;
        let out = with_data!(x, |v| py.detach(|| m.predict_proba(v))).map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    fn predict<'py>(&self, py: Python<'py>, x: Data<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let m = &self.inner;
        let out = with_data!(x, |v| py.detach(|| m.predict(v))).map_err(to_py)?;
        Ok(out.mapv(|l| l as i64).into_pyarray(py))
    }

    /// `n` draws and the component of each, from a generator seeded with `seed`.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
    ) -> (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>) {
        let m = &self.inner;
        let (x, labels) = py.detach(|| m.sample(n, &mut ChaCha8Rng::seed_from_u64(seed)));
        (
            x.into_pyarray(py),
            labels.mapv(|l| l as i64).into_pyarray(py),
        )
    }
}

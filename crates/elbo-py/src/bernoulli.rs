//! `BernoulliMixture`: fit, fit over a stream of chunks, and the fitted model.

use elbo_em::{BernoulliGiven, BernoulliMixture, BernoulliMixtureParams, Init};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::convert::{Data, Watch, report, strategy, to_py, with_data};
use crate::gaussian::init_method;
use crate::stream::PyChunks;

/// A fitted mixture of independent Bernoullis; pickles through its JSON form.
#[pyclass(module = "elbo._native", name = "BernoulliModel", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct PyBernoulli {
    pub(crate) inner: BernoulliMixture,
}

#[allow(clippy::too_many_arguments)]
fn settings(
    n_components: usize,
    tol: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    clip: f64,
    strategy_json: &str,
    given: Option<(PyReadonlyArray1<'_, f64>, PyReadonlyArray2<'_, f64>)>,
    warm: Option<&PyBernoulli>,
) -> PyResult<BernoulliMixtureParams> {
    let init = match given {
        Some((w, p)) => Init::Given(BernoulliGiven {
            weights: w.as_array().to_owned(),
            probs: p.as_array().to_owned(),
        }),
        None => init_method(init_params)?,
    };
    let mut params = BernoulliMixture::params(n_components)
        .tol(tol)
        .max_iter(max_iter)
        .n_init(n_init)
        .init(init)
        .seed(seed)
        .clip(clip)
        .strategy(strategy(strategy_json)?);
    if let Some(w) = warm {
        params = params.warm_start(w.inner.clone());
    }
    Ok(params)
}

/// Fits a Bernoulli mixture to binary rows; returns the model and the fit's report.
#[pyfunction]
#[pyo3(signature = (x, sample_weight, n_components, tol, max_iter, n_init, init_params, seed,
    clip, strategy_json, given=None, warm=None, verbose=0, verbose_interval=10))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn bernoulli_fit<'py>(
    py: Python<'py>,
    x: Data<'py>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    n_components: usize,
    tol: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    clip: f64,
    strategy_json: &str,
    given: Option<(PyReadonlyArray1<'py, f64>, PyReadonlyArray2<'py, f64>)>,
    warm: Option<PyRef<'py, PyBernoulli>>,
    verbose: usize,
    verbose_interval: usize,
) -> PyResult<(PyBernoulli, Bound<'py, PyDict>)> {
    let params = settings(
        n_components,
        tol,
        max_iter,
        n_init,
        init_params,
        seed,
        clip,
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
    Ok((PyBernoulli { inner: fit.model }, rep))
}

/// Fits a Bernoulli mixture to the chunks `make_chunks()` yields (called once per pass).
#[pyfunction]
#[pyo3(signature = (make_chunks, n_components, tol, max_iter, n_init, init_params, seed, clip,
    strategy_json, given=None, warm=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn bernoulli_fit_stream<'py>(
    py: Python<'py>,
    make_chunks: Py<PyAny>,
    n_components: usize,
    tol: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    clip: f64,
    strategy_json: &str,
    given: Option<(PyReadonlyArray1<'py, f64>, PyReadonlyArray2<'py, f64>)>,
    warm: Option<PyRef<'py, PyBernoulli>>,
) -> PyResult<(PyBernoulli, Bound<'py, PyDict>)> {
    let params = settings(
        n_components,
        tol,
        max_iter,
        n_init,
        init_params,
        seed,
        clip,
        strategy_json,
        given,
        warm.as_deref(),
    )?;
    let fitted = py.detach(|| params.fit_stream(|| PyChunks::start(&make_chunks)));
    let fit = fitted.map_err(to_py)?;
    let rep = report(py, &fit)?;
    Ok((PyBernoulli { inner: fit.model }, rep))
}

#[pymethods]
impl PyBernoulli {
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: BernoulliMixture::from_json(text).map_err(to_py)?,
        })
    }

    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_json = slf.get_type().getattr("from_json")?;
        Ok((from_json, (slf.get().to_json()?,)))
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
    fn probs<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.probs().to_owned().into_pyarray(py)
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

//! `BayesianGaussianMixture`: the variational fit and the fitted model.

use elbo_em::{
    BayesianGaussianMixture, Covariance, CovariancePrior, Init, WeightConcentration, WeightPrior,
};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::convert::{Data, Watch, covariance, covariances_to, report, to_py, with_data};
use crate::gaussian::init_method;

/// A fitted variational Bayesian Gaussian mixture; pickles through its JSON form.
#[pyclass(module = "elbo._native", name = "BayesianModel", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct PyBayesian {
    pub(crate) inner: BayesianGaussianMixture,
}

fn weight_prior(name: &str) -> PyResult<WeightPrior> {
    match name {
        "dirichlet_process" => Ok(WeightPrior::DirichletProcess),
        "dirichlet_distribution" => Ok(WeightPrior::DirichletDistribution),
        other => Err(PyValueError::new_err(format!(
            "weight_concentration_prior_type must be 'dirichlet_process' or \
             'dirichlet_distribution', got {other:?}"
        ))),
    }
}

/// A `covariance_prior` in the layout of the covariance type: a matrix for full and tied, a
/// vector for diag, a number for spherical.
fn covariance_prior(kind: Covariance, prior: &Bound<'_, PyAny>) -> PyResult<CovariancePrior> {
    let wrong = |what: &str| {
        PyValueError::new_err(format!(
            "covariance_prior for covariance_type='{kind}' must be {what}"
        ))
    };
    Ok(match kind {
        Covariance::Spherical => CovariancePrior::Spherical(
            prior
                .extract::<f64>()
                .map_err(|_| wrong("a positive number"))?,
        ),
        Covariance::Diag => {
            let a: PyReadonlyArray1<'_, f64> = prior
                .extract()
                .map_err(|_| wrong("an array of shape (n_features,)"))?;
            CovariancePrior::Diag(a.as_array().to_owned())
        }
        Covariance::Full | Covariance::Tied => {
            let a: PyReadonlyArray2<'_, f64> = prior
                .extract()
                .map_err(|_| wrong("an array of shape (n_features, n_features)"))?;
            CovariancePrior::Matrix(a.as_array().to_owned())
        }
    })
}

/// Fits a variational Bayesian Gaussian mixture; returns the model and the fit's report.
#[pyfunction]
#[pyo3(signature = (x, n_components, covariance_type, weight_concentration_prior_type,
    weight_concentration_prior, mean_precision_prior, mean_prior, degrees_of_freedom_prior,
    covariance_prior, tol, reg_covar, max_iter, n_init, init_params, seed, resp_init=None,
    verbose=0, verbose_interval=10))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn bayesian_fit<'py>(
    py: Python<'py>,
    x: Data<'py>,
    n_components: usize,
    covariance_type: &str,
    weight_concentration_prior_type: &str,
    weight_concentration_prior: Option<f64>,
    mean_precision_prior: Option<f64>,
    mean_prior: Option<PyReadonlyArray1<'py, f64>>,
    degrees_of_freedom_prior: Option<f64>,
    covariance_prior: Option<Bound<'py, PyAny>>,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    resp_init: Option<PyReadonlyArray2<'py, f64>>,
    verbose: usize,
    verbose_interval: usize,
) -> PyResult<(PyBayesian, Bound<'py, PyDict>)> {
    let kind = covariance(covariance_type)?;
    let init = match resp_init {
        Some(r) => Init::Given(r.as_array().to_owned()),
        None => init_method(init_params)?,
    };
    let mut params = BayesianGaussianMixture::params(n_components)
        .covariance(kind)
        .weight_concentration_prior_type(weight_prior(weight_concentration_prior_type)?)
        .tol(tol)
        .reg_covar(reg_covar)
        .max_iter(max_iter)
        .n_init(n_init)
        .init(init)
        .seed(seed);
    if let Some(a) = weight_concentration_prior {
        params = params.weight_concentration_prior(a);
    }
    if let Some(b) = mean_precision_prior {
        params = params.mean_precision_prior(b);
    }
    if let Some(m) = mean_prior {
        params = params.mean_prior(m.as_array().to_owned());
    }
    if let Some(nu) = degrees_of_freedom_prior {
        params = params.degrees_of_freedom_prior(nu);
    }
    if let Some(c) = covariance_prior {
        params = params.covariance_prior(self::covariance_prior(kind, &c)?);
    }
    let params = params.check().map_err(to_py)?;
    let mut watch = Watch::new(verbose, verbose_interval);
    let fitted = with_data!(x, |v| py
        .detach(|| params.fit_observed(v, &mut |p| watch.observe(p))));
    let fit = fitted.map_err(|e| watch.error(e))?;
    let rep = report(py, &fit)?;
    let trace = fit.model.trace();
    rep.set_item("elbo", trace.elbo.clone())?;
    rep.set_item("log_likelihood", trace.log_likelihood.clone())?;
    Ok((PyBayesian { inner: fit.model }, rep))
}

#[pymethods]
impl PyBayesian {
    /// A model from the JSON that `to_json` and elbo-em's `save` write.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(Self {
            inner: BayesianGaussianMixture::from_json(text).map_err(to_py)?,
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
    fn covariance_type(&self) -> &'static str {
        self.inner.covariance_type().name()
    }

    #[getter]
    fn weight_concentration_prior_type(&self) -> &'static str {
        self.inner.weight_concentration_prior_type().name()
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
    fn precisions_cholesky<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        covariances_to(py, self.inner.precisions_cholesky())
    }

    #[getter]
    fn mean_precision<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.mean_precision().to_owned().into_pyarray(py)
    }

    #[getter]
    fn degrees_of_freedom<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.degrees_of_freedom().to_owned().into_pyarray(py)
    }

    /// scikit-learn's `weight_concentration_`: `(alpha, beta)` of the stick-breaking Betas for
    /// a Dirichlet process, the Dirichlet's concentration otherwise.
    #[getter]
    fn weight_concentration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.inner.weight_concentration() {
            WeightConcentration::DirichletProcess { alpha, beta } => (
                alpha.clone().into_pyarray(py),
                beta.clone().into_pyarray(py),
            )
                .into_pyobject(py)?
                .into_any(),
            WeightConcentration::Dirichlet(c) => c.clone().into_pyarray(py).into_any(),
        })
    }

    /// The priors the fit used, defaults resolved: scikit-learn's `*_prior_` attributes.
    #[getter]
    fn priors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = self.inner.priors();
        let d = PyDict::new(py);
        d.set_item("weight_concentration_prior", p.weight_concentration)?;
        d.set_item("mean_precision_prior", p.mean_precision)?;
        d.set_item("mean_prior", p.mean.clone().into_pyarray(py))?;
        d.set_item("degrees_of_freedom_prior", p.degrees_of_freedom)?;
        match &p.covariance {
            CovariancePrior::Matrix(a) => {
                d.set_item("covariance_prior", a.clone().into_pyarray(py))?
            }
            CovariancePrior::Diag(a) => {
                d.set_item("covariance_prior", a.clone().into_pyarray(py))?
            }
            CovariancePrior::Spherical(v) => d.set_item("covariance_prior", *v)?,
        }
        Ok(d)
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

    /// `n` draws from the point-estimate mixture and the component of each.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
    ) -> (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>) {
        let m = self.inner.to_gaussian_mixture();
        let (x, labels) = py.detach(|| m.sample(n, &mut ChaCha8Rng::seed_from_u64(seed)));
        (
            x.into_pyarray(py),
            labels.mapv(|l| l as i64).into_pyarray(py),
        )
    }
}

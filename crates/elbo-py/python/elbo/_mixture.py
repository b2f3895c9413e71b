"""Gaussian, variational Bayesian Gaussian and Bernoulli mixtures as scikit-learn estimators."""

import warnings

import numpy as np

from . import _native
from ._base import (
    BaseEstimator,
    ConvergenceWarning,
    DensityMixin,
    check_finite,
    check_fitted,
    seed_from,
    strategy_json,
    validate_data,
    validate_sample_weight,
)


def _contiguous(a, ndim=None):
    a = np.ascontiguousarray(a, dtype=np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array, got shape {a.shape}")
    return a


def _precisions_from_cholesky(kind, p):
    if kind == "full":
        return np.einsum("kij,klj->kil", p, p)
    if kind == "tied":
        return p @ p.T
    return p**2


class _Mixture(DensityMixin, BaseEstimator):
    """What every mixture shares: validation, the fitted report, scoring, sampling."""

    def __sklearn_is_fitted__(self):
        return getattr(self, "_model", None) is not None

    def _set_report(self, report):
        self.converged_ = bool(report["converged"])
        self.n_iter_ = int(report["n_iter"])
        self.lower_bound_ = float(report["lower_bound"])
        self.lower_bounds_ = list(report["lower_bounds"])
        self.trace_ = report["trace"]
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                f"{type(self).__name__}: EM stopped after max_iter={self.max_iter} iterations "
                f"without its bound changing by less than tol={self.tol}; try a larger "
                "max_iter or tol, other initial parameters, or check for degenerate data.",
                ConvergenceWarning,
            )

    def _data(self, X):
        check_fitted(self)
        return validate_data(self, X, reset=False)

    def score_samples(self, X):
        """Log-density of each row under the fitted model, in nats, shape (n_samples,)."""
        X = self._data(X)
        return self._model.score_samples(X)

    def score(self, X, y=None):
        """Mean log-density per row (nats)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        X = self._data(X)
        return self._model.predict_proba(X)

    def predict(self, X):
        """The most probable component of each row."""
        X = self._data(X)
        return self._model.predict(X)

    def fit_predict(self, X, y=None, **fit_params):
        """Fits, then returns the most probable component of each row of ``X``."""
        return self.fit(X, y, **fit_params).predict(X)

    def sample(self, n_samples=1):
        """Draws ``n_samples`` rows from the fitted model: ``(X, component of each row)``.

        The generator is seeded from ``random_state``, as scikit-learn does."""
        check_fitted(self)
        if int(n_samples) < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at least "
                "one sample."
            )
        return self._model.sample(int(n_samples), seed_from(self.random_state))

    def save(self, path):
        """Writes the fitted model as elbo's JSON (the format the ``elbo`` CLI and elbo-em use)."""
        check_fitted(self)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._model.to_json())

    @classmethod
    def load(cls, path):
        """Reads a model saved by :meth:`save`, by elbo-em's ``save`` or by ``elbo gmm fit --out``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())


class _Criteria:
    """BIC and AIC of models with a likelihood (not the variational mixture, as scikit-learn)."""

    def _n_parameters(self):
        return self._model.n_parameters

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2.0 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better)."""
        n = self._data(X).shape[0]
        return -2.0 * self.score(X) * n + 2.0 * self._n_parameters()


class GaussianMixture(_Criteria, _Mixture):
    """A Gaussian mixture fitted by EM, with scikit-learn's parameters, defaults and numbers.

    Extras: ``strategy`` picks the member of the EM family (``"exact"``, ``"monte-carlo"``,
    ``"generalized"``, ``"online"``, or a dict with its settings), ``trace_`` holds the
    log-likelihood and the ELBO after every E- and M-step, :meth:`fit_stream` fits over an
    iterable of arrays, :func:`bic_table` fits a grid of models.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        strategy="exact",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.strategy = strategy

    def _common(self, seed):
        return dict(
            n_components=int(self.n_components),
            covariance_type=self.covariance_type,
            tol=float(self.tol),
            reg_covar=float(self.reg_covar),
            max_iter=int(self.max_iter),
            n_init=int(self.n_init),
            init_params=self.init_params,
            seed=seed,
            strategy_json=strategy_json(self.strategy),
        )

    def _given(self, X, seed):
        """``(weights, means, precisions)`` to start from, or None. Parts not given come from
        the ``init_params`` start (as scikit-learn fills them)."""
        parts = (self.weights_init, self.means_init, self.precisions_init)
        if all(p is None for p in parts):
            return None
        if any(p is None for p in parts):
            start, _ = _native.gaussian_fit(
                X, None, **{**self._common(seed), "max_iter": 0, "n_init": 1}
            )
            defaults = (start.weights, start.means, start.precisions)
            parts = tuple(d if p is None else p for p, d in zip(parts, defaults))
        w, m, p = parts
        return (_contiguous(w, 1), _contiguous(m, 2), _contiguous(p))

    def _warm(self):
        if self.warm_start and getattr(self, "_model", None) is not None:
            return self._model
        return None

    def fit(self, X, y=None, sample_weight=None):
        """Fits the mixture to the rows of ``X`` (float64, float32 or uint8 are read in
        place). Releases the GIL while EM runs; Ctrl-C stops it with ``KeyboardInterrupt``."""
        X = validate_data(self, X, reset=not self._warm())
        sw = validate_sample_weight(sample_weight, X.shape[0])
        seed = seed_from(self.random_state)
        model, report = _native.gaussian_fit(
            X,
            sw,
            **self._common(seed),
            given=self._given(X, seed),
            warm=self._warm(),
            verbose=int(self.verbose),
            verbose_interval=int(self.verbose_interval),
        )
        self._adopt(model)
        self._set_report(report)
        return self

    def fit_stream(self, chunks):
        """Fits over data given as chunks of rows, holding one chunk in memory at a time.

        ``chunks`` is read once per EM pass, so it must be re-iterable: a list or tuple of
        arrays, or a function returning a fresh iterator of arrays. The first chunk
        initialises (make it representative, e.g. shuffled)."""
        first = _first_chunk(self, chunks)
        seed = seed_from(self.random_state)
        model, report = _native.gaussian_fit_stream(
            _chunk_maker(self, chunks),
            **self._common(seed),
            given=self._given(first, seed),
            warm=self._warm(),
        )
        self._adopt(model)
        self._set_report(report)
        return self

    def _adopt(self, model):
        self._model = model
        self.weights_ = model.weights
        self.means_ = model.means
        self.covariances_ = model.covariances
        self.precisions_ = model.precisions
        self.precisions_cholesky_ = model.precisions_cholesky

    def to_json(self):
        check_fitted(self)
        return self._model.to_json()

    @classmethod
    def from_json(cls, text):
        """An estimator holding the model of elbo's JSON (``save``, elbo-em, the ``elbo`` CLI)."""
        model = _native.GaussianModel.from_json(text)
        est = cls(n_components=len(model.weights), covariance_type=model.covariance_type)
        est._adopt(model)
        est.n_features_in_ = model.means.shape[1]
        return est


class BayesianGaussianMixture(_Mixture):
    """The variational Bayesian Gaussian mixture (scikit-learn's parameters and numbers).

    ``resp_init`` (an extra) starts from given responsibilities, shape (n_samples, K).
    ``warm_start=True`` starts a new fit from the previous model's responsibilities on ``X``.
    ``trace_`` gives, per iteration, scikit-learn's bound, the complete per-sample ELBO and the
    point-estimate mixture's mean log-likelihood."""

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        resp_init=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.resp_init = resp_init

    def fit(self, X, y=None):
        """Fits the variational posterior to the rows of ``X``."""
        warm = self.warm_start and getattr(self, "_model", None) is not None
        X = validate_data(self, X, reset=not warm)
        if X.shape[0] < 2 and self.covariance_prior is None:
            raise ValueError(
                "BayesianGaussianMixture's default covariance_prior is the sample covariance, "
                f"which needs at least 2 rows, but n_samples = {X.shape[0]}; give a "
                "covariance_prior or more data"
            )
        resp = self.resp_init
        if warm:
            resp = self._model.predict_proba(X)
        cov_prior = self.covariance_prior
        if cov_prior is not None:
            cov_prior = (
                float(cov_prior)
                if self.covariance_type == "spherical"
                else _contiguous(cov_prior)
            )
        model, report = _native.bayesian_fit(
            X,
            n_components=int(self.n_components),
            covariance_type=self.covariance_type,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=_opt_float(self.weight_concentration_prior),
            mean_precision_prior=_opt_float(self.mean_precision_prior),
            mean_prior=None if self.mean_prior is None else _contiguous(self.mean_prior, 1),
            degrees_of_freedom_prior=_opt_float(self.degrees_of_freedom_prior),
            covariance_prior=cov_prior,
            tol=float(self.tol),
            reg_covar=float(self.reg_covar),
            max_iter=int(self.max_iter),
            n_init=int(self.n_init),
            init_params=self.init_params,
            seed=seed_from(self.random_state),
            resp_init=None if resp is None else _contiguous(resp, 2),
            verbose=int(self.verbose),
            verbose_interval=int(self.verbose_interval),
        )
        self._adopt(model)
        self._set_report(report)
        # The report's trace is of exact-EM shape; the variational fit has its own.
        self.trace_ = [
            {"iteration": i + 1, "lower_bound": b, "elbo": e, "log_likelihood": ll}
            for i, (b, e, ll) in enumerate(
                zip(report["lower_bounds"], report["elbo"], report["log_likelihood"])
            )
        ]
        return self

    def _adopt(self, model):
        self._model = model
        kind = model.covariance_type
        self.weights_ = model.weights
        self.means_ = model.means
        self.covariances_ = model.covariances
        self.precisions_cholesky_ = model.precisions_cholesky
        self.precisions_ = _precisions_from_cholesky(kind, self.precisions_cholesky_)
        self.weight_concentration_ = model.weight_concentration
        self.mean_precision_ = model.mean_precision
        dof = model.degrees_of_freedom
        # Tied covariances share one Wishart: scikit-learn reports its degrees as a number.
        self.degrees_of_freedom_ = float(dof[0]) if kind == "tied" else dof
        priors = model.priors
        self.weight_concentration_prior_ = priors["weight_concentration_prior"]
        self.mean_precision_prior_ = priors["mean_precision_prior"]
        self.mean_prior_ = priors["mean_prior"]
        self.degrees_of_freedom_prior_ = priors["degrees_of_freedom_prior"]
        self.covariance_prior_ = priors["covariance_prior"]

    def score_samples(self, X):
        """scikit-learn's ``score_samples`` of the variational model: per row, the log-sum-exp
        of the expected log weights plus expected log densities (what normalises
        ``predict_proba``; not a density)."""
        return super().score_samples(X)

    def to_json(self):
        check_fitted(self)
        return self._model.to_json()

    @classmethod
    def from_json(cls, text):
        model = _native.BayesianModel.from_json(text)
        est = cls(
            n_components=len(model.weights),
            covariance_type=model.covariance_type,
            weight_concentration_prior_type=model.weight_concentration_prior_type,
        )
        est._adopt(model)
        est.n_features_in_ = model.means.shape[1]
        return est


class BernoulliMixture(_Criteria, _Mixture):
    """A mixture of independent Bernoullis (binary data), fitted by EM.

    ``binarize`` (as in scikit-learn's ``BernoulliNB``) maps ``X > binarize`` to 1 before
    fitting and predicting; ``None`` requires 0/1 data (elbo names the first other value's
    row and column). ``means_`` are the components' success probabilities, clipped to
    ``[clip, 1 - clip]``."""

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        random_state=None,
        warm_start=False,
        clip=1e-6,
        binarize=0.0,
        verbose=0,
        verbose_interval=10,
        strategy="exact",
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.clip = clip
        self.binarize = binarize
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.strategy = strategy

    def _binary(self, X):
        if self.binarize is None:
            return X
        check_finite(X)
        return (X > self.binarize).astype(np.uint8)

    def _data(self, X):
        return self._binary(super()._data(X))

    def _common(self, seed):
        return dict(
            n_components=int(self.n_components),
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            n_init=int(self.n_init),
            init_params=self.init_params,
            seed=seed,
            clip=float(self.clip),
            strategy_json=strategy_json(self.strategy),
        )

    def _given(self, X, seed):
        parts = (self.weights_init, self.means_init)
        if all(p is None for p in parts):
            return None
        if any(p is None for p in parts):
            start, _ = _native.bernoulli_fit(
                X, None, **{**self._common(seed), "max_iter": 0, "n_init": 1}
            )
            parts = tuple(d if p is None else p for p, d in zip(parts, (start.weights, start.probs)))
        return (_contiguous(parts[0], 1), _contiguous(parts[1], 2))

    def _warm(self):
        if self.warm_start and getattr(self, "_model", None) is not None:
            return self._model
        return None

    def fit(self, X, y=None, sample_weight=None):
        """Fits the mixture to the (binarised) rows of ``X``."""
        X = self._binary(validate_data(self, X, reset=not self._warm()))
        sw = validate_sample_weight(sample_weight, X.shape[0])
        seed = seed_from(self.random_state)
        model, report = _native.bernoulli_fit(
            X,
            sw,
            **self._common(seed),
            given=self._given(X, seed),
            warm=self._warm(),
            verbose=int(self.verbose),
            verbose_interval=int(self.verbose_interval),
        )
        self._adopt(model)
        self._set_report(report)
        return self

    def fit_stream(self, chunks):
        """As :meth:`GaussianMixture.fit_stream`, for binary chunks."""
        first = self._binary(_first_chunk(self, chunks))
        seed = seed_from(self.random_state)
        binarize = self._binary
        model, report = _native.bernoulli_fit_stream(
            _chunk_maker(self, chunks, binarize),
            **self._common(seed),
            given=self._given(first, seed),
            warm=self._warm(),
        )
        self._adopt(model)
        self._set_report(report)
        return self

    def _adopt(self, model):
        self._model = model
        self.weights_ = model.weights
        self.means_ = model.probs

    def to_json(self):
        check_fitted(self)
        return self._model.to_json()

    @classmethod
    def from_json(cls, text):
        model = _native.BernoulliModel.from_json(text)
        est = cls(n_components=len(model.weights))
        est._adopt(model)
        est.n_features_in_ = model.probs.shape[1]
        return est


def _opt_float(v):
    return None if v is None else float(v)


def _chunk_source(chunks):
    if callable(chunks):
        return chunks
    if iter(chunks) is chunks:
        raise TypeError(
            "fit_stream reads the chunks once per EM pass, so an iterator (e.g. a generator) "
            "cannot be used: pass a list of arrays, or a function that returns a fresh iterator"
        )
    return lambda: iter(chunks)


def _first_chunk(estimator, chunks):
    source = _chunk_source(chunks)
    for chunk in source():
        return validate_data(estimator, chunk, reset=True)
    raise ValueError("fit_stream got no chunks: the data is empty")


def _chunk_maker(estimator, chunks, transform=None):
    source = _chunk_source(chunks)

    def make():
        for chunk in source():
            c = validate_data(estimator, chunk, reset=False)
            if transform is not None:
                c = transform(c)
            yield np.ascontiguousarray(c, dtype=np.float64)

    return make


def bic_table(
    X,
    n_components=range(1, 7),
    covariance_types=("full", "tied", "diag", "spherical"),
    *,
    tol=1e-3,
    reg_covar=1e-6,
    max_iter=100,
    n_init=1,
    init_params="kmeans",
    random_state=None,
    return_best=False,
):
    """Fits a Gaussian mixture for every number of components × covariance type and returns
    the table as a list of dicts (``n_components``, ``covariance_type``, ``n_parameters``,
    ``bic``, ``aic``, ``lower_bound``, ``converged``, ``n_iter``, ``error``, ``best``): what
    R's ``mclust`` reports, with no pandas needed. A candidate that cannot be fitted (e.g. more
    components than rows) has ``bic = None`` and its ``error``. With ``return_best=True``,
    returns ``(table, best GaussianMixture)``."""
    probe = GaussianMixture()
    X = validate_data(probe, X, reset=True)
    covariance_types = [covariance_types] if isinstance(covariance_types, str) else list(covariance_types)
    rows, _, best = _native.gaussian_bic_table(
        X,
        [int(k) for k in n_components],
        covariance_types,
        tol=float(tol),
        reg_covar=float(reg_covar),
        max_iter=int(max_iter),
        n_init=int(n_init),
        init_params=init_params,
        seed=seed_from(random_state),
    )
    if not return_best:
        return rows
    est = GaussianMixture(
        n_components=len(best.weights),
        covariance_type=best.covariance_type,
        tol=tol,
        reg_covar=reg_covar,
        max_iter=max_iter,
        n_init=n_init,
        init_params=init_params,
        random_state=random_state,
    )
    est._adopt(best)
    est.n_features_in_ = X.shape[1]
    return rows, est

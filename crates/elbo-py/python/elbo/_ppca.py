"""Probabilistic PCA (Tipping & Bishop 1999) as a scikit-learn transformer and density."""

import numpy as np

from . import _native
from ._base import (
    BaseEstimator,
    DensityMixin,
    TransformerMixin,
    check_fitted,
    seed_from,
    validate_data,
)


class ProbabilisticPCA(TransformerMixin, DensityMixin, BaseEstimator):
    """``x ~ N(mean_, W Wᵀ + noise_variance_ I)`` with ``W`` of ``n_components`` columns,
    by the closed form (``method="closed_form"``, default) or EM (``method="em"``).

    ``components_`` are the unit principal directions as rows (scikit-learn's PCA layout),
    ``loadings_`` is ``W`` itself, shape (n_features, n_components). ``transform`` gives the
    posterior means ``E[z | x]``; ``score_samples`` the exact log-density in nats.
    ``n_iter_`` counts EM iterations, or 1 for the closed form (one eigendecomposition)."""

    def __init__(self, n_components=1, *, method="closed_form", max_iter=1000, tol=1e-6,
                 random_state=None):
        self.n_components = n_components
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def __sklearn_is_fitted__(self):
        return getattr(self, "_model", None) is not None

    def fit(self, X, y=None):
        X = validate_data(self, X, reset=True)
        n, d = X.shape
        q = int(self.n_components)
        if q >= d:
            raise ValueError(
                f"ProbabilisticPCA needs n_components < n_features, but n_components = {q} "
                f"and n_features = {d}; use fewer components"
            )
        if n < q + 2:
            raise ValueError(
                f"ProbabilisticPCA with n_components = {q} needs at least {q + 2} rows, but "
                f"n_samples = {n}"
            )
        model, report = _native.ppca_fit(
            X,
            n_components=q,
            method=self.method,
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            seed=seed_from(self.random_state),
        )
        self._model = model
        self.mean_ = model.mean
        self.loadings_ = model.components
        norms = np.linalg.norm(self.loadings_, axis=0)
        self.components_ = (self.loadings_ / np.where(norms > 0, norms, 1.0)).T
        self.noise_variance_ = model.noise_variance
        self.explained_variance_ = model.explained_variance
        self.n_components_ = q
        self.converged_ = bool(report["converged"])
        self.n_iter_ = max(int(report["n_iter"]), 1)
        self.lower_bounds_ = list(report["lower_bounds"])
        self.log_likelihood_ = float(report["log_likelihood"])
        return self

    def _data(self, X):
        check_fitted(self)
        return validate_data(self, X, reset=False)

    def transform(self, X):
        """Posterior means ``E[z | x]`` of the rows, shape (n_samples, n_components)."""
        X = self._data(X)
        return self._model.transform(X)

    def inverse_transform(self, X):
        """The means ``W z + mean_`` of ``p(x | z)`` for latent rows ``z``."""
        check_fitted(self)
        return self._model.inverse_transform(np.ascontiguousarray(X, dtype=np.float64))

    def score_samples(self, X):
        """Log-density of each row, in nats."""
        X = self._data(X)
        return self._model.score_samples(X)

    def score(self, X, y=None):
        """Mean log-density per row (nats)."""
        return float(np.mean(self.score_samples(X)))

    def get_covariance(self):
        """The model covariance ``W Wᵀ + noise_variance_ I``."""
        check_fitted(self)
        return self._model.covariance

    def sample(self, n_samples=1):
        """Draws rows ``W z + mean_ + σ ε``: ``(X, z)``."""
        check_fitted(self)
        return self._model.sample(int(n_samples), seed_from(self.random_state))

    def bic(self, X):
        n = self._data(X).shape[0]
        return -2.0 * self.score(X) * n + self._model.n_parameters * np.log(n)

    def aic(self, X):
        n = self._data(X).shape[0]
        return -2.0 * self.score(X) * n + 2.0 * self._model.n_parameters

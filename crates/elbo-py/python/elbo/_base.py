"""The scikit-learn conventions, with or without scikit-learn installed.

With scikit-learn the estimators subclass its ``BaseEstimator`` and mixins (so ``clone``,
``Pipeline``, ``GridSearchCV``, tags and ``check_estimator`` work) and raise its
``NotFittedError``; without it, small stand-ins give the same ``get_params`` / ``set_params``
behaviour and exception types (``NotFittedError`` is a ``ValueError`` and an
``AttributeError`` either way).
"""

import inspect
import json
import numbers
import warnings

import numpy as np

try:  # scikit-learn is optional.
    from sklearn.base import BaseEstimator, DensityMixin, TransformerMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised in the no-scikit-learn test
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """Raised when a method that needs a fitted model is called before ``fit``."""

    class ConvergenceWarning(UserWarning):
        """EM stopped at ``max_iter`` before the change of its bound fell below ``tol``."""

    class BaseEstimator:
        """``get_params`` / ``set_params`` from the constructor's signature."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(
                p.name
                for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD
            )

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {type(self).__name__}; "
                        f"valid parameters are {valid}"
                    )
                setattr(self, key, value)
            return self

        def __repr__(self):
            params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({params})"

    class DensityMixin:
        """Marks density estimators."""

        _estimator_type = "DensityEstimator"

    class TransformerMixin:
        """``fit_transform`` as ``fit`` then ``transform``."""

        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)


__all__ = [
    "HAVE_SKLEARN",
    "BaseEstimator",
    "ConvergenceWarning",
    "DensityMixin",
    "NotFittedError",
    "TransformerMixin",
    "check_fitted",
    "seed_from",
    "strategy_json",
    "validate_data",
    "validate_sample_weight",
]

_STRATEGY_DEFAULTS = {
    "exact": {},
    "monte-carlo": {"samples": 1},
    "generalized": {"step": 0.5},
    "online": {"batch_size": 1000, "decay": 0.6},
}


def strategy_json(strategy):
    """elbo-em's strategy (JSON) from ``strategy="online"`` or ``{"kind": "online", ...}``."""
    if isinstance(strategy, str):
        spec = {"kind": strategy}
    elif isinstance(strategy, dict) and isinstance(strategy.get("kind"), str):
        spec = dict(strategy)
    else:
        raise ValueError(
            "strategy must be one of 'exact', 'monte-carlo', 'generalized', 'online', or a dict "
            f"such as {{'kind': 'online', 'batch_size': 500, 'decay': 0.6}}; got {strategy!r}"
        )
    kind = spec["kind"]
    if kind not in _STRATEGY_DEFAULTS:
        raise ValueError(
            f"unknown strategy {kind!r}; use one of {sorted(_STRATEGY_DEFAULTS)}"
        )
    return json.dumps({"kind": kind, **_STRATEGY_DEFAULTS[kind], **spec})


def seed_from(random_state):
    """A 64-bit seed for elbo's generator: an int is used as is (the same seed as elbo's Rust
    API and command line), a ``RandomState`` / ``Generator`` or ``None`` (numpy's global
    generator) draws one."""
    if random_state is None:
        return int(np.random.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int64).max))
    raise ValueError(
        f"random_state must be None, an int, a numpy RandomState or Generator; got {random_state!r}"
    )


def check_fitted(estimator):
    if getattr(estimator, "_model", None) is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: call 'fit' first "
            "(or load a saved model)."
        )


def _is_sparse(X):
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _feature_names(X):
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(columns, dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def validate_data(estimator, X, *, reset, native_dtypes=(np.float64, np.float32, np.uint8)):
    """``X`` as a 2-D numpy array elbo reads without a copy when it can (``float64``,
    ``float32``, ``uint8``; anything else numeric is converted to ``float64``), with
    scikit-learn's checks of shape, ``n_features_in_`` and feature names. Values (NaN, ±∞)
    are checked by elbo itself, which names the first bad row and column."""
    name = type(estimator).__name__
    if _is_sparse(X):
        raise TypeError(
            f"{name} needs dense data, but a sparse matrix was passed "
            "(sparse input is not supported); convert it with X.toarray()"
        )
    names = _feature_names(X)
    arr = np.asarray(X)
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported by {name}: pass real numbers")
    if arr.dtype.type not in native_dtypes:
        try:
            arr = arr.astype(np.float64)
        except ValueError as e:
            raise ValueError(f"{name} needs numeric data: {e}") from e
        # numpy's TypeError ("float() argument must be a string or a real number") stands.
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2D array of shape (n_samples, n_features), got {arr.ndim}D array "
            f"with shape {arr.shape} instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample."
        )
    n, d = arr.shape
    if n == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is "
            f"required by {name}."
        )
    if d == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
            f"required by {name}."
        )
    if reset:
        estimator.n_features_in_ = d
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    else:
        _check_feature_names(estimator, names)
        expected = estimator.n_features_in_
        if d != expected:
            raise ValueError(
                f"X has {d} features, but {name} is expecting {expected} features as input."
            )
    return arr


def _check_feature_names(estimator, names):
    fitted = getattr(estimator, "feature_names_in_", None)
    name = type(estimator).__name__
    if fitted is None and names is None:
        return
    if fitted is not None and names is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names",
            UserWarning,
        )
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names", UserWarning
        )
        return
    if len(fitted) != len(names) or np.any(fitted != names):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"fitted with {list(fitted)}, got {list(names)}"
        )


def check_finite(X):
    """Raises elbo's ValueError, naming the first non-finite value's row and column (for the
    classes that transform their input before elbo sees it)."""
    if X.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        row, column = (int(v) for v in bad[0])
        v = X[row, column]
        value = "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        raise ValueError(
            f"the data has a non-finite value {value} at row {row}, column {column}; "
            "remove or impute it before fitting"
        )


def validate_sample_weight(sample_weight, n):
    """One finite weight per row, as a C-ordered ``float64`` array (a number means that
    weight for every row); elbo checks the values."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        return np.full(n, float(w))
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"sample_weight.shape == {w.shape}, expected ({n},): one weight per row of X"
        )
    return np.ascontiguousarray(w)

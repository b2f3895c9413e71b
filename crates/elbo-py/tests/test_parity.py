"""Parity with scikit-learn: from the same initial parameters, every iteration's bound and the
final parameters agree to 1e-10 relative (scikit-learn 1.9.1; the issue asks 1e-8, the
worst error observed is about 4e-13).

Relative error of an entry: ``|a - b| / max(|b|, 1e-3 * max_j |b_j|)``: entries tiny compared
with the rest of their array (a near-zero off-diagonal covariance) are compared at the array's
scale, as elbo-em's own reference tests do.
"""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import mixture  # noqa: E402

import elbo  # noqa: E402

RTOL = 1e-10  # the issue asks 1e-8; observed worst about 4e-13
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]


def relative_error(ours, ref):
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape, f"shapes differ: {ours.shape} vs {ref.shape}"
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    denom = np.maximum(np.abs(ref), 1e-3 * scale)
    denom = np.where(denom > 0, denom, np.finfo(float).tiny)
    return float(np.max(np.abs(ours - ref) / denom)) if ref.size else 0.0


def blobs(n=600, d=3, k=3, seed=7):
    """Overlapping Gaussian blobs with random full covariances (EM needs many iterations)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.6, (k, d))
    labels = rng.integers(0, k, n)
    x = np.empty((n, d))
    for j in range(k):
        a = rng.normal(size=(d, d))
        chol = np.linalg.cholesky(a @ a.T / d + 0.3 * np.eye(d))
        idx = labels == j
        x[idx] = means[j] + rng.standard_normal((idx.sum(), d)) @ chol.T
    return x


X = blobs()
K = 3


def start(kind, x=X, k=K):
    """Initial parameters both libraries start from: uniform weights, K rows as means, and the
    data's precision in the layout of the covariance type."""
    rng = np.random.default_rng(1)
    means = x[rng.choice(len(x), k, replace=False)]
    cov = np.cov(x.T, bias=True)
    prec = np.linalg.inv(cov)
    d = x.shape[1]
    precisions = {
        "full": np.repeat(prec[None], k, axis=0),
        "tied": prec,
        "diag": np.repeat((1.0 / np.diag(cov))[None], k, axis=0),
        "spherical": np.full(k, d / np.trace(cov)),
    }[kind]
    return np.full(k, 1.0 / k), means, precisions


def fit_both(cls_ours, cls_ref, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both stop at max_iter with tol = 0
        ours = cls_ours(**params).fit(X)
        ref = cls_ref(**params).fit(X)
    return ours, ref


GAUSSIAN_WORST = {}


@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_gaussian_mixture_matches_scikit_learn(kind):
    w, m, p = start(kind)
    params = dict(
        n_components=K,
        covariance_type=kind,
        tol=0.0,
        max_iter=80,
        weights_init=w,
        means_init=m,
        precisions_init=p,
    )
    ours, ref = fit_both(elbo.GaussianMixture, mixture.GaussianMixture, **params)
    assert ours.n_iter_ == ref.n_iter_ == 80
    bounds = relative_error(ours.lower_bounds_, ref.lower_bounds_)
    # The bound must really move: the comparison is of a trajectory, not of a fixed point.
    assert ref.lower_bounds_[-1] - ref.lower_bounds_[0] > 0.05
    finals = {
        name: relative_error(getattr(ours, name), getattr(ref, name))
        for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]
    }
    outputs = {
        "score_samples": relative_error(ours.score_samples(X), ref.score_samples(X)),
        "predict_proba": float(np.max(np.abs(ours.predict_proba(X) - ref.predict_proba(X)))),
        "bic": relative_error(ours.bic(X), ref.bic(X)),
        "aic": relative_error(ours.aic(X), ref.aic(X)),
    }
    GAUSSIAN_WORST[kind] = (bounds, max(finals.values()), outputs)
    print(f"\nGaussianMixture {kind}: bounds {bounds:.1e}, params {finals}, outputs {outputs}")
    assert bounds <= RTOL
    for name, e in {**finals, **outputs}.items():
        assert e <= RTOL, f"{kind} {name}: relative error {e:.2e}"
    assert np.array_equal(ours.predict(X), ref.predict(X))


class _FromResponsibilities(mixture.BayesianGaussianMixture):
    """scikit-learn's variational mixture, started from given responsibilities."""

    def __init__(self, resp=None, **params):
        super().__init__(**params)
        self.resp = resp

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.resp)


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_bayesian_mixture_matches_scikit_learn(kind, prior):
    k = 5
    rng = np.random.default_rng(3)
    resp = rng.random((len(X), k))
    resp /= resp.sum(axis=1, keepdims=True)
    params = dict(
        n_components=k,
        covariance_type=kind,
        weight_concentration_prior_type=prior,
        tol=0.0,
        max_iter=60,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = elbo.BayesianGaussianMixture(resp_init=resp, **params).fit(X)
        ref = _FromResponsibilities(resp=resp, **params).fit(X)
    assert ours.n_iter_ == ref.n_iter_ == 60
    # scikit-learn's tied bound is a length-1 array per iteration; elbo's a number.
    ref_bounds = [float(np.ravel(b)[0]) for b in ref.lower_bounds_]
    bounds = relative_error(ours.lower_bounds_, ref_bounds)
    assert ref_bounds[-1] - ref_bounds[0] > 1.0
    finals = {
        name: relative_error(getattr(ours, name), getattr(ref, name))
        for name in [
            "weights_",
            "means_",
            "covariances_",
            "precisions_",
            "precisions_cholesky_",
            "mean_precision_",
            "degrees_of_freedom_",
        ]
    }
    if prior == "dirichlet_process":
        finals["weight_concentration_"] = max(
            relative_error(a, b)
            for a, b in zip(ours.weight_concentration_, ref.weight_concentration_)
        )
    else:
        finals["weight_concentration_"] = relative_error(
            ours.weight_concentration_, ref.weight_concentration_
        )
    outputs = {
        "score_samples": relative_error(ours.score_samples(X), ref.score_samples(X)),
        "predict_proba": float(np.max(np.abs(ours.predict_proba(X) - ref.predict_proba(X)))),
    }
    print(f"\nBayesianGaussianMixture {kind} {prior}: bounds {bounds:.1e}, params {finals}, outputs {outputs}")
    assert bounds <= RTOL
    for name, e in {**finals, **outputs}.items():
        assert e <= RTOL, f"{kind} {prior} {name}: relative error {e:.2e}"

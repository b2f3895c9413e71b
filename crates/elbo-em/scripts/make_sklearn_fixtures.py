"""Reference trajectories of scikit-learn's GaussianMixture for elbo-em's tests.

Run by hand (not by CI) with a python that has numpy and scikit-learn:

    python crates/elbo-em/scripts/make_sklearn_fixtures.py

It writes one small JSON file per data set into ``crates/elbo-em/tests/fixtures/``
(found relative to this script). Each file holds the data itself (rounded to six decimals
so the JSON stays small and the numbers are exact), and for each covariance type one fit
of ``sklearn.mixture.GaussianMixture``:

* ``init``: the weights, means and covariances scikit-learn had right after its own
  initialisation (recorded by wrapping the instance's ``_initialize_parameters``),
* ``lower_bounds``: scikit-learn's ``lower_bounds_`` (one value per EM iteration: the mean
  log-likelihood of the E-step that starts the iteration),
* ``final``: the fitted weights, means, covariances, precisions and precision Cholesky
  factors, plus ``score``, ``bic``, ``aic``, the number of free parameters and the
  per-sample outputs of ``score_samples`` / ``predict_proba`` / ``predict`` on the first rows.

elbo-em's tests start from ``init`` with ``Init::Given`` and must reproduce every
iteration's bound and the final parameters.
"""

import json
import os

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")
HEAD = 8  # rows of per-sample outputs to record


def make_data(n, d, k, seed, offset, spread):
    """Overlapping Gaussian blobs with random full covariances, rounded to 6 decimals."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(4.0 * np.ones(k))
    means = rng.normal(0.0, spread, (k, d)) + offset
    labels = rng.choice(k, size=n, p=weights)
    x = np.empty((n, d))
    for j in range(k):
        a = rng.normal(0.0, 1.0, (d, d))
        cov = a @ a.T / d + 0.2 * np.eye(d)
        chol = np.linalg.cholesky(cov)
        idx = labels == j
        x[idx] = means[j] + rng.standard_normal((idx.sum(), d)) @ chol.T
    return np.round(x, 6)


DATASETS = [
    # name, n, d, k, seed, offset, spread, init_params, reg_covar
    ("d2_k3", 500, 2, 3, 11, 0.0, 2.0, "kmeans", 1e-6),
    ("d4_k4", 800, 4, 4, 12, 0.0, 2.5, "random", 1e-6),
    ("d3_k2_offset", 300, 3, 2, 13, 25.0, 1.5, "kmeans", 1e-3),
]
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
TOL = 1e-8
MAX_ITER = 150


def fit_one(x, k, covariance_type, init_params, reg_covar):
    gm = GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        tol=TOL,
        max_iter=MAX_ITER,
        reg_covar=reg_covar,
        init_params=init_params,
        random_state=0,
    )
    snap = {}
    original = gm._initialize_parameters

    def record(*args, **kwargs):
        result = original(*args, **kwargs)
        snap["weights"] = gm.weights_.tolist()
        snap["means"] = gm.means_.tolist()
        snap["covariances"] = gm.covariances_.tolist()
        return result

    gm._initialize_parameters = record
    gm.fit(x)
    head = x[:HEAD]
    return {
        "covariance_type": covariance_type,
        "n_components": k,
        "init_params": init_params,
        "reg_covar": reg_covar,
        "tol": TOL,
        "max_iter": MAX_ITER,
        "init": snap,
        "lower_bounds": [float(v) for v in gm.lower_bounds_],
        "n_iter": int(gm.n_iter_),
        "converged": bool(gm.converged_),
        "final": {
            "weights": gm.weights_.tolist(),
            "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist(),
            "precisions": gm.precisions_.tolist(),
            "precisions_cholesky": gm.precisions_cholesky_.tolist(),
        },
        "score": float(gm.score(x)),
        "bic": float(gm.bic(x)),
        "aic": float(gm.aic(x)),
        "n_parameters": int(gm._n_parameters()),
        "score_samples_head": gm.score_samples(head).tolist(),
        "predict_proba_head": gm.predict_proba(head).tolist(),
        "predict_head": [int(v) for v in gm.predict(head)],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, n, d, k, seed, offset, spread, init_params, reg_covar in DATASETS:
        x = make_data(n, d, k, seed, offset, spread)
        doc = {
            "generator": "crates/elbo-em/scripts/make_sklearn_fixtures.py",
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "name": name,
            "x": x.tolist(),
            "fits": [fit_one(x, k, c, init_params, reg_covar) for c in COVARIANCE_TYPES],
        }
        path = os.path.join(OUT, f"sklearn_gmm_{name}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        iters = [fit["n_iter"] for fit in doc["fits"]]
        print(f"{path}: n={n} d={d} k={k} iterations per covariance type {iters}")


if __name__ == "__main__":
    main()

"""Reference trajectories of scikit-learn's BayesianGaussianMixture for elbo-em's tests.

Run by hand (not by CI) with a python that has numpy and scikit-learn:

    python crates/elbo-em/scripts/make_sklearn_bgmm_fixtures.py

It writes one small JSON file per data set into ``crates/elbo-em/tests/fixtures/``
(found relative to this script). Each file holds the data (rounded to six decimals so the
JSON stays small and the numbers are exact) and, for each covariance type and each weight
prior (``dirichlet_process``, ``dirichlet_distribution``), one fit of
``sklearn.mixture.BayesianGaussianMixture``:

* ``init_resp`` (once per data set, as every fit draws the same start from ``random_state=0``):
  the responsibilities scikit-learn initialised from, recorded by wrapping the instance's
  ``_initialize(X, resp)``, stored sparsely as ``[row, column, value]`` triples of the non-zero
  entries (values in shortest round-trip form, so they are exact);
* ``priors``: the priors scikit-learn derived from the data and the settings
  (``weight_concentration_prior_``, ``mean_precision_prior_``, ``mean_prior_``,
  ``degrees_of_freedom_prior_``, ``covariance_prior_``);
* ``lower_bounds``: scikit-learn's ``lower_bounds_``, one ``_compute_lower_bound`` value per
  iteration (checked against the values recorded by wrapping that method);
* ``final``: the fitted variational parameters, ``weights_``, ``covariances_``,
  ``precisions_cholesky_`` and ``predict_proba`` / ``predict`` of the first rows.

elbo-em's tests start from ``init_resp`` and must reproduce every iteration's bound and the
final parameters.
"""

import json
import os
import sys

import numpy as np
import sklearn
from sklearn.mixture import BayesianGaussianMixture

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_sklearn_fixtures import make_data  # noqa: E402  (the same blobs, rounded data)

OUT = os.path.join(HERE, "..", "tests", "fixtures")
HEAD = 8  # rows of per-sample outputs to record


DATASETS = [
    # name, n, d, true k, fitted k, seed, offset, spread, init_params
    ("d2_k5", 300, 2, 3, 5, 21, 0.0, 3.0, "kmeans"),
    ("d3_k4_offset", 300, 3, 2, 4, 22, 10.0, 2.0, "random_from_data"),
    ("d4_k6", 300, 4, 4, 6, 23, 0.0, 2.5, "random"),
]
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
TOL = 1e-6
MAX_ITER = 200
REG_COVAR = 1e-6


def scalar(v):
    return float(np.asarray(v, dtype=float).reshape(-1)[0])


def tolist(v):
    return np.asarray(v, dtype=float).tolist()


def fit_one(x, k, covariance_type, prior_type, init_params):
    gm = BayesianGaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        tol=TOL,
        max_iter=MAX_ITER,
        reg_covar=REG_COVAR,
        init_params=init_params,
        random_state=0,
    )
    snap = {}
    original_init = gm._initialize
    original_bound = gm._compute_lower_bound
    bounds = []

    def record_init(X, resp):
        snap["resp"] = np.array(resp, dtype=float, copy=True)
        return original_init(X, resp)

    def record_bound(*args, **kwargs):
        value = original_bound(*args, **kwargs)
        # The tied bound comes back as a one-element array.
        bounds.append(scalar(value))
        return value

    gm._initialize = record_init
    gm._compute_lower_bound = record_bound
    gm.fit(x)
    assert bounds == [scalar(v) for v in gm.lower_bounds_], "lower_bounds_ differ"
    head = x[:HEAD]
    wc = gm.weight_concentration_
    if prior_type == "dirichlet_process":
        wc = [tolist(wc[0]), tolist(wc[1])]
    else:
        wc = tolist(wc)
    return snap["resp"], {
        "covariance_type": covariance_type,
        "weight_concentration_prior_type": prior_type,
        "n_components": k,
        "init_params": init_params,
        "reg_covar": REG_COVAR,
        "tol": TOL,
        "max_iter": MAX_ITER,
        "priors": {
            "weight_concentration_prior": float(gm.weight_concentration_prior_),
            "mean_precision_prior": float(gm.mean_precision_prior_),
            "mean_prior": tolist(gm.mean_prior_),
            "degrees_of_freedom_prior": float(gm.degrees_of_freedom_prior_),
            "covariance_prior": tolist(gm.covariance_prior_),
        },
        "lower_bounds": bounds,
        "n_iter": int(gm.n_iter_),
        "converged": bool(gm.converged_),
        "final": {
            "weight_concentration": wc,
            "mean_precision": tolist(gm.mean_precision_),
            "degrees_of_freedom": tolist(gm.degrees_of_freedom_),
            "weights": tolist(gm.weights_),
            "means": tolist(gm.means_),
            "covariances": tolist(gm.covariances_),
            "precisions_cholesky": tolist(gm.precisions_cholesky_),
        },
        "predict_proba_head": tolist(gm.predict_proba(head)),
        "predict_head": [int(v) for v in gm.predict(head)],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, n, d, k_true, k, seed, offset, spread, init_params in DATASETS:
        x = make_data(n, d, k_true, seed, offset, spread)
        runs = [
            fit_one(x, k, c, p, init_params)
            for c in COVARIANCE_TYPES
            for p in PRIOR_TYPES
        ]
        resp = runs[0][0]
        assert all(np.array_equal(r, resp) for r, _ in runs), "starts differ"
        fits = [f for _, f in runs]
        rows, cols = np.nonzero(resp)
        doc = {
            "generator": "crates/elbo-em/scripts/make_sklearn_bgmm_fixtures.py",
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "name": name,
            "x": x.tolist(),
            "n_components": k,
            "init_params": init_params,
            "init_resp": [
                [int(r), int(c), float(resp[r, c])] for r, c in zip(rows, cols)
            ],
            "fits": fits,
        }
        path = os.path.join(OUT, f"sklearn_bgmm_{name}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        iters = [(f["covariance_type"], f["n_iter"], f["converged"]) for f in fits]
        print(f"{path}: n={n} d={d} k={k} iterations {iters}")


if __name__ == "__main__":
    main()

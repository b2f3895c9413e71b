"""scikit-learn peer of the Gaussian-mixture cases of `cargo xtask bench`.

Reads the files `crates/elbo-em/examples/bench_gmm.rs write DIR` wrote and prints one JSON
object of the same shape as `bench_gmm`:

    python bench/peers/gmm_sklearn.py iter DIR CASE [--iters 10]
    python bench/peers/gmm_sklearn.py fit DIR CASE [--max-iter 100] [--tol 1e-3] [--seed 0]

`iter` starts `GaussianMixture` from the written weights, means and covariances
(`weights_init`, `means_init`, `precisions_init`) with `tol = 0` and `max_iter = iters`, so
exactly `iters` EM iterations run, and times each `_e_step` + `_m_step` pair by wrapping the
instance's methods (the numerics are untouched); `seconds` is the median over iterations 2…N,
`bounds` is `lower_bounds_` (the E-step bound of every iteration), which must equal elbo-em's
from the same start. `fit` is a whole fit with `init_params = "k-means++"`, timed around
`fit()`.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture


def precisions_from(covariance_type, covariances):
    c = np.asarray(covariances)
    if covariance_type == "full":
        return np.linalg.inv(c)
    return 1.0 / c


def impl_name():
    return f"scikit-learn {sklearn.__version__} (numpy {np.__version__}, python {platform.python_version()})"


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load(directory, case):
    with open(os.path.join(directory, f"{case}_init.json")) as f:
        init = json.load(f)
    x = np.load(os.path.join(directory, f"{case}_X.npy"))
    return x, init


def iterate(x, init, iters):
    iters = max(iters, 2)
    gm = GaussianMixture(
        n_components=init["n_components"],
        covariance_type=init["covariance_type"],
        tol=0.0,
        max_iter=iters,
        weights_init=np.asarray(init["weights"]),
        means_init=np.asarray(init["means"]),
        precisions_init=precisions_from(init["covariance_type"], init["covariances"]),
    )
    log = []
    for name in ("_e_step", "_m_step"):
        f = getattr(gm, name)

        def timed(*a, _f=f, _n=name, **k):
            t0 = time.perf_counter()
            r = _f(*a, **k)
            log.append((_n, time.perf_counter() - t0))
            return r

        setattr(gm, name, timed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(x)
    e = [t for n, t in log if n == "_e_step"][:iters]  # fit's last E-step is for the labels
    m = [t for n, t in log if n == "_m_step"]
    per_iter = [a + b for a, b in zip(e, m)][1:]
    return {
        "seconds": statistics.median(per_iter),
        "seconds_all": per_iter,
        "bounds": [float(b) for b in gm.lower_bounds_],
        "n_iter": int(gm.n_iter_),
    }


def fit(x, init, max_iter, tol, seed):
    gm = GaussianMixture(
        n_components=init["n_components"],
        covariance_type=init["covariance_type"],
        tol=tol,
        max_iter=max_iter,
        init_params="k-means++",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        gm.fit(x)
        seconds = time.perf_counter() - t0
    return {
        "init": "k-means++",
        "seconds": seconds,
        "bounds": [float(b) for b in gm.lower_bounds_],
        "n_iter": int(gm.n_iter_),
        "converged": bool(gm.converged_),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["iter", "fit"])
    ap.add_argument("dir")
    ap.add_argument("case")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x, init = load(args.dir, args.case)
    if args.mode == "iter":
        out = iterate(x, init, args.iters)
    else:
        out = fit(x, init, args.max_iter, args.tol, args.seed)
    n, d = x.shape
    out = {"impl": impl_name(), "case": args.case, "n": n, "d": d,
           "k": init["n_components"], **out, "peak_rss_mib": peak_rss_mib()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Time scikit-learn's GaussianMixture per EM iteration on elbo-em's benchmark cases.

Run with a python that has numpy and scikit-learn, after writing the data with

    cargo run --release -p elbo-em --example bench_data -- DIR
    python crates/elbo-em/scripts/bench_sklearn.py DIR [--iters 10] [--only SUBSTR]

For each case it loads ``<case>_X.npy`` and ``<case>_init.json`` (the same data and initial
parameters elbo-em starts from), fits with ``max_iter = iters`` and ``tol = 0`` so that exactly
``iters`` iterations run, times each ``_e_step`` + ``_m_step`` pair by wrapping the instance's
methods (numerics untouched), and prints the median per-iteration time and the first
iteration's lower bound (which must equal elbo-em's to ~1e-10 relative).
"""

import argparse
import glob
import json
import os
import statistics
import time
import warnings

import numpy as np
from sklearn.mixture import GaussianMixture


def precisions_from(covariance_type, covariances):
    c = np.asarray(covariances)
    if covariance_type == "full":
        return np.linalg.inv(c)
    return 1.0 / c


def run(x, init, iters):
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
    e = [t for n, t in log if n == "_e_step"][:iters]  # the last E-step is fit_predict's extra one
    m = [t for n, t in log if n == "_m_step"]
    per_iter = [a + b for a, b in zip(e, m)]
    return statistics.median(per_iter[1:] or per_iter), gm.lower_bounds_[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    print(f"case | sklearn ms/iter (median of {args.iters - 1}) | first bound")
    for path in sorted(glob.glob(os.path.join(args.dir, "*_init.json"))):
        case = os.path.basename(path)[: -len("_init.json")]
        if args.only not in case:
            continue
        init = json.load(open(path))
        x = np.load(os.path.join(args.dir, f"{case}_X.npy"))
        ms, first = run(x, init, args.iters)
        print(f"{case} | {1e3 * ms:.2f} | {first:.12f}", flush=True)


if __name__ == "__main__":
    main()

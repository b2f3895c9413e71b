"""`elbo.GaussianMixture(...).fit(X)` against `sklearn.mixture.GaussianMixture(...).fit(X)`,
both from Python, for the `gmm-py` cases of `cargo xtask bench`.

    python bench/peers/gmm_python.py {elbo,sklearn} DIR CASE [--iters 10]

Reads the files `crates/elbo-em/examples/bench_gmm.rs write DIR` wrote (the data as `.npy`,
the initial weights, means and covariances as JSON), builds the chosen library's
`GaussianMixture` with `weights_init` / `means_init` / `precisions_init`, `tol = 0` and
`max_iter = iters` (and `init_params="random"`, so that scikit-learn's start, which the given
parameters then replace, costs little), so exactly `iters` EM iterations run from the same
start on both sides, and times the whole `fit(X)` call. Prints one JSON object: `seconds` is that time divided by
`iters` (so the unit is comparable with the per-iteration cases: it includes each library's
validation, start-up and final pass, spread over the iterations), `bounds` the
`lower_bounds_`, which must agree between the two sides.
"""

import argparse
import json
import os
import platform
import resource
import time
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl", choices=["elbo", "sklearn"])
    ap.add_argument("dir")
    ap.add_argument("case")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    if args.impl == "elbo":
        import elbo as lib

        name = f"elbo (Python) {lib.__version__}"
    else:
        import sklearn
        import sklearn.mixture as lib

        name = f"scikit-learn {sklearn.__version__}"
    with open(os.path.join(args.dir, f"{args.case}_init.json")) as f:
        init = json.load(f)
    x = np.load(os.path.join(args.dir, f"{args.case}_X.npy"))
    kind = init["covariance_type"]
    cov = np.asarray(init["covariances"])
    precisions = np.linalg.inv(cov) if kind == "full" else 1.0 / cov
    gm = lib.GaussianMixture(
        n_components=init["n_components"],
        covariance_type=kind,
        tol=0.0,
        max_iter=args.iters,
        weights_init=np.asarray(init["weights"]),
        means_init=np.asarray(init["means"]),
        precisions_init=precisions,
        # The given parameters replace the start; scikit-learn still computes one from
        # init_params first, and "random" keeps that unused work cheap (its default, k-means,
        # would add a k-means run to its side only).
        init_params="random",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol = 0: both stop at max_iter by design
        t0 = time.perf_counter()
        gm.fit(x)
        seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "impl": f"{name} (numpy {np.__version__}, python {platform.python_version()})",
                "seconds": seconds / args.iters,
                "fit_seconds": seconds,
                "bounds": [float(b) for b in gm.lower_bounds_],
                "n_iter": int(gm.n_iter_),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


if __name__ == "__main__":
    main()

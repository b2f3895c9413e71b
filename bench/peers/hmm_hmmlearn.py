"""hmmlearn peer of the HMM cases of `cargo xtask bench`.

Reads the files `crates/elbo-hmm/examples/bench_hmm.rs write DIR` wrote and prints one JSON
object of the same shape as `bench_hmm`:

    python bench/peers/hmm_hmmlearn.py iter DIR CASE [--iters 5] [--implementation log]

`iter` runs `iters` single Baum–Welch iterations in a row: each is a
`GaussianHMM(covariance_type="full", n_iter=1, tol=0, init_params="")` fit started from the
previous iteration's parameters (the first from the written ones), timed around `fit()`;
`seconds` is the median over iterations 2…N, `bounds` the log-likelihood per row of every
iteration (`monitor_.history[0] / N`), which must equal elbo-hmm's from the same start.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time

import hmmlearn
import numpy as np
from hmmlearn import hmm


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["iter"])
    ap.add_argument("dir")
    ap.add_argument("case")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--implementation", default="log", choices=["log", "scaling"])
    a = ap.parse_args()
    with open(os.path.join(a.dir, f"{a.case}_init.json")) as f:
        init = json.load(f)
    x = np.load(os.path.join(a.dir, f"{a.case}_X.npy"))
    lengths = np.asarray(init["lengths"])
    k = len(init["startprob"])
    params = {
        "startprob_": np.asarray(init["startprob"]),
        "transmat_": np.asarray(init["transmat"]),
        "means_": np.asarray(init["means"]),
        "covars_": np.asarray(init["covars"]),
    }
    times, bounds = [], []
    for _ in range(a.iters):
        model = hmm.GaussianHMM(
            n_components=k, covariance_type="full", n_iter=1, tol=0.0,
            init_params="", params="stmc", implementation=a.implementation)
        for name, value in params.items():
            setattr(model, name, value)
        t = time.perf_counter()
        model.fit(x, lengths)
        times.append(time.perf_counter() - t)
        bounds.append(model.monitor_.history[0] / len(x))
        params = {
            "startprob_": model.startprob_,
            "transmat_": model.transmat_,
            "means_": model.means_,
            "covars_": model.covars_,
        }
    later = times[1:] or times
    print(json.dumps({
        "seconds": statistics.median(later),
        "times": times,
        "bounds": bounds,
        "n_iter": a.iters,
        "impl": f"hmmlearn {hmmlearn.__version__} {a.implementation} (numpy {np.__version__}, python {platform.python_version()})",
        "peak_rss_mib": peak_rss_mib(),
    }))


if __name__ == "__main__":
    main()

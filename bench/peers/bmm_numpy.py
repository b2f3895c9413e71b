"""numpy peer of the Bernoulli-mixture case of `cargo xtask bench`, written for the bench.

Reads `bmm_X.npy` (u8 0/1) and `bmm_init.json` that `crates/elbo-em/examples/bench_bmm.rs
write DIR` wrote, runs N EM iterations of the same algorithm as elbo-em's `BernoulliEm` and
prints one JSON object of the same shape:

    python bench/peers/bmm_numpy.py DIR [--iters 10]

One iteration, the way a numpy user writes it (two GEMMs and a log-sum-exp):
  E-step  log p(x, k) = log pi_k + sum_j log(1 - p_kj) + x . logit(p_k)     (X @ W.T)
          bound = mean_n logsumexp_k;  r = exp(log p(x, k) - logsumexp)
  M-step  N_k = sum_n r_nk + 10 eps;  p_k = clip(r.T @ X / N_k, clip, 1 - clip);
          pi_k = N_k / sum N_k
`seconds` is the median time of iterations 2…N; `bounds` the E-step bound of every iteration.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np

NK_FLOOR = 10 * np.finfo(np.float64).eps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    iters = max(args.iters, 2)
    with open(os.path.join(args.dir, "bmm_init.json")) as f:
        init = json.load(f)
    x = np.load(os.path.join(args.dir, "bmm_X.npy")).astype(np.float64)
    clip = init["clip"]
    weights = np.asarray(init["weights"], dtype=np.float64)
    probs = np.clip(np.asarray(init["probs"], dtype=np.float64), clip, 1 - clip)

    bounds, times = [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        # E-step.
        logit = np.log(probs) - np.log1p(-probs)
        const = np.log(weights) + np.log1p(-probs).sum(axis=1)
        log_joint = x @ logit.T
        log_joint += const
        top = log_joint.max(axis=1, keepdims=True)
        np.subtract(log_joint, top, out=log_joint)
        np.exp(log_joint, out=log_joint)
        total = log_joint.sum(axis=1, keepdims=True)
        bound = float(np.mean(np.log(total) + top))
        log_joint /= total  # now the responsibilities
        # M-step.
        nk = log_joint.sum(axis=0) + NK_FLOOR
        probs = np.clip((log_joint.T @ x) / nk[:, None], clip, 1 - clip)
        weights = nk / nk.sum()
        times.append(time.perf_counter() - t0)
        bounds.append(bound)

    timed = times[1:]
    print(json.dumps({
        "impl": f"numpy {np.__version__} (python {platform.python_version()})",
        "case": "bmm",
        "n": int(x.shape[0]), "d": int(x.shape[1]), "k": int(weights.shape[0]),
        "seconds": statistics.median(timed),
        "seconds_all": timed,
        "bounds": bounds,
        "n_iter": len(bounds),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()

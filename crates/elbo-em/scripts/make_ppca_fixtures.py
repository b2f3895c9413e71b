"""Reference numbers of scikit-learn's PCA, read as probabilistic PCA, for elbo-em's tests.

Run by hand (not by CI) with a python that has numpy and scikit-learn:

    python crates/elbo-em/scripts/make_ppca_fixtures.py

scikit-learn's ``PCA(n_components=q)`` is the probabilistic PCA of Tipping & Bishop (1999):
``score_samples`` is ln N(x; mean_, get_covariance()), with
``get_covariance() = components_.T (explained_variance_ - noise_variance_) components_
+ noise_variance_ I``, evaluated through ``get_precision()`` (the matrix inversion lemma).
Its eigenvalues come from the covariance divided by N - 1, where the maximum-likelihood
estimate divides by N; elbo-em's tests account for the factor N / (N - 1).

It writes ``crates/elbo-em/tests/fixtures/sklearn_ppca_d6_q2.json`` (found relative to this
script) holding the data (rounded to six decimals so the JSON stays small and the numbers are
exact) and, from one fit with the exact ``svd_solver="full"``: ``mean_``, ``components_``
(rows: unit principal directions), ``explained_variance_``, ``noise_variance_``,
``get_covariance()``, ``score`` on all rows and ``score_samples`` of the first rows.
"""

import json
import os

import numpy as np
import sklearn
from sklearn.decomposition import PCA

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")
HEAD = 10  # rows of score_samples to record

N, D, Q, SEED = 300, 6, 2, 21


def make_data(n, d, q, seed):
    """Rows from a PPCA-like model with a clear spectral gap and anisotropic noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, q)))
    w = basis * np.array([3.0, 1.7])[:q]
    mean = rng.normal(0.0, 2.0, d)
    z = rng.standard_normal((n, q))
    noise = rng.standard_normal((n, d)) * rng.uniform(0.3, 0.6, d)
    return np.round(mean + z @ w.T + noise, 6)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = make_data(N, D, Q, SEED)
    pca = PCA(n_components=Q, svd_solver="full").fit(x)
    doc = {
        "generator": "crates/elbo-em/scripts/make_ppca_fixtures.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "n_samples": N,
        "n_features": D,
        "n_components": Q,
        "x": x.tolist(),
        "mean": pca.mean_.tolist(),
        "components": pca.components_.tolist(),
        "explained_variance": pca.explained_variance_.tolist(),
        "noise_variance": float(pca.noise_variance_),
        "covariance": pca.get_covariance().tolist(),
        "score": float(pca.score(x)),
        "score_samples_head": pca.score_samples(x[:HEAD]).tolist(),
    }
    path = os.path.join(OUT, f"sklearn_ppca_d{D}_q{Q}.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(
        f"{path}: n={N} d={D} q={Q} noise_variance={pca.noise_variance_:.6g} "
        f"score={doc['score']:.9g}"
    )


if __name__ == "__main__":
    main()

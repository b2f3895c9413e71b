"""elbo: Gaussian, variational Bayesian Gaussian and Bernoulli mixtures and probabilistic PCA,
fitted by Rust (elbo-em), as scikit-learn estimators.

>>> import numpy as np, elbo
>>> X = np.vstack([np.zeros((50, 2)), np.full((50, 2), 5.0)]) + np.random.default_rng(0).normal(size=(100, 2))
>>> gm = elbo.GaussianMixture(n_components=2, random_state=0).fit(X)
>>> sorted(np.bincount(gm.predict(X)))
[50, 50]
"""

from ._base import HAVE_SKLEARN, ConvergenceWarning, NotFittedError
from ._mixture import BayesianGaussianMixture, BernoulliMixture, GaussianMixture, bic_table
from ._native import __version__
from ._ppca import ProbabilisticPCA

__all__ = [
    "HAVE_SKLEARN",
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "NotFittedError",
    "ProbabilisticPCA",
    "bic_table",
    "__version__",
]

# Types of the native module `elbo._native` (crates/elbo-py/src). The public API is the
# estimators in `elbo`; these are the building blocks they call.
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
from numpy.typing import NDArray

__version__: str

_Data = Union[NDArray[np.float64], NDArray[np.float32], NDArray[np.uint8]]
_Report = dict[str, Any]

class GaussianModel:
    covariance_type: str
    n_parameters: int
    weights: NDArray[np.float64]
    means: NDArray[np.float64]
    covariances: NDArray[np.float64]
    precisions: NDArray[np.float64]
    precisions_cholesky: NDArray[np.float64]
    @staticmethod
    def from_covariances(
        covariance_type: str,
        weights: NDArray[np.float64],
        means: NDArray[np.float64],
        covariances: NDArray[np.float64],
    ) -> GaussianModel: ...
    @staticmethod
    def from_json(text: str) -> GaussianModel: ...
    def to_json(self) -> str: ...
    def score_samples(self, x: _Data) -> NDArray[np.float64]: ...
    def predict_proba(self, x: _Data) -> NDArray[np.float64]: ...
    def predict(self, x: _Data) -> NDArray[np.int64]: ...
    def sample(self, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]: ...

class BayesianModel:
    covariance_type: str
    weight_concentration_prior_type: str
    weights: NDArray[np.float64]
    means: NDArray[np.float64]
    covariances: NDArray[np.float64]
    precisions_cholesky: NDArray[np.float64]
    mean_precision: NDArray[np.float64]
    degrees_of_freedom: NDArray[np.float64]
    weight_concentration: Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]
    priors: dict[str, Any]
    @staticmethod
    def from_json(text: str) -> BayesianModel: ...
    def to_json(self) -> str: ...
    def score_samples(self, x: _Data) -> NDArray[np.float64]: ...
    def predict_proba(self, x: _Data) -> NDArray[np.float64]: ...
    def predict(self, x: _Data) -> NDArray[np.int64]: ...
    def sample(self, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]: ...

class BernoulliModel:
    n_parameters: int
    weights: NDArray[np.float64]
    probs: NDArray[np.float64]
    @staticmethod
    def from_json(text: str) -> BernoulliModel: ...
    def to_json(self) -> str: ...
    def score_samples(self, x: _Data) -> NDArray[np.float64]: ...
    def predict_proba(self, x: _Data) -> NDArray[np.float64]: ...
    def predict(self, x: _Data) -> NDArray[np.int64]: ...
    def sample(self, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]: ...

class PpcaModel:
    n_parameters: int
    mean: NDArray[np.float64]
    components: NDArray[np.float64]
    noise_variance: float
    explained_variance: NDArray[np.float64]
    covariance: NDArray[np.float64]
    @staticmethod
    def from_components(
        mean: NDArray[np.float64], components: NDArray[np.float64], noise_variance: float
    ) -> PpcaModel: ...
    def score_samples(self, x: _Data) -> NDArray[np.float64]: ...
    def transform(self, x: _Data) -> NDArray[np.float64]: ...
    def inverse_transform(self, z: NDArray[np.float64]) -> NDArray[np.float64]: ...
    def sample(self, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

def gaussian_fit(
    x: _Data,
    sample_weight: Optional[NDArray[np.float64]],
    n_components: int,
    covariance_type: str,
    tol: float,
    reg_covar: float,
    max_iter: int,
    n_init: int,
    init_params: str,
    seed: int,
    strategy_json: str,
    given: Optional[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]] = ...,
    warm: Optional[GaussianModel] = ...,
    verbose: int = ...,
    verbose_interval: int = ...,
) -> tuple[GaussianModel, _Report]: ...
def gaussian_fit_stream(
    make_chunks: Callable[[], Iterator[NDArray[np.float64]]],
    n_components: int,
    covariance_type: str,
    tol: float,
    reg_covar: float,
    max_iter: int,
    n_init: int,
    init_params: str,
    seed: int,
    strategy_json: str,
    given: Optional[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]] = ...,
    warm: Optional[GaussianModel] = ...,
) -> tuple[GaussianModel, _Report]: ...
def gaussian_bic_table(
    x: _Data,
    n_components: list[int],
    covariance_types: list[str],
    tol: float,
    reg_covar: float,
    max_iter: int,
    n_init: int,
    init_params: str,
    seed: int,
) -> tuple[list[dict[str, Any]], int, GaussianModel]: ...
def bayesian_fit(x: _Data, **kwargs: Any) -> tuple[BayesianModel, _Report]: ...
def bernoulli_fit(
    x: _Data, sample_weight: Optional[NDArray[np.float64]], **kwargs: Any
) -> tuple[BernoulliModel, _Report]: ...
def bernoulli_fit_stream(
    make_chunks: Callable[[], Iterator[NDArray[np.float64]]], **kwargs: Any
) -> tuple[BernoulliModel, _Report]: ...
def ppca_fit(
    x: _Data, n_components: int, method: str, max_iter: int, tol: float, seed: int
) -> tuple[PpcaModel, _Report]: ...

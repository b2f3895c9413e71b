"""Behaviour of the Python package: pickling, models saved by Rust, scikit-learn composition,
errors, the GIL, Ctrl-C, streams, strategies, the BIC table, and life without scikit-learn."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import elbo

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent


def blobs(n=500, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [4.0] * d, [-4.0, 4.0] + [0.0] * (d - 2)])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))


X = blobs()
XB = (X > 0.5).astype(np.float64)


def fitted():
    return [
        elbo.GaussianMixture(3, covariance_type="full", random_state=0).fit(X),
        elbo.GaussianMixture(3, covariance_type="tied", random_state=0).fit(X),
        elbo.BayesianGaussianMixture(5, covariance_type="diag", random_state=0).fit(X),
        elbo.BernoulliMixture(2, random_state=0).fit(XB),
        elbo.ProbabilisticPCA(2).fit(X),
    ]


@pytest.mark.parametrize("est", fitted(), ids=lambda e: type(e).__name__)
def test_pickle_round_trip_scores_the_same(est):
    data = XB if isinstance(est, elbo.BernoulliMixture) else X
    back = pickle.loads(pickle.dumps(est))
    assert np.array_equal(back.score_samples(data), est.score_samples(data))
    for name, value in vars(est).items():
        if name.endswith("_") and isinstance(value, np.ndarray):
            assert np.array_equal(getattr(back, name), value), name
    if hasattr(est, "predict"):
        assert np.array_equal(back.predict(data), est.predict(data))


def test_models_saved_by_rust_load_and_score_the_same(tmp_path):
    """`elbo gmm fit --out` writes elbo-em's `to_json()`; the example writes the same with the
    same library, and Rust's own `score_samples` of the rows next to it."""
    cargo = shutil.which("cargo")
    if cargo is None or not (CRATE / "Cargo.toml").is_file():
        pytest.skip("needs cargo and the elbo source tree")
    subprocess.run(
        [cargo, "run", "-q", "-p", "elbo-py", "--example", "save_models", "--", str(tmp_path)],
        cwd=CRATE,
        check=True,
    )
    data = np.loadtxt(tmp_path / "data.csv", delimiter=",")
    scores = json.loads((tmp_path / "scores.json").read_text())
    classes = {"gmm": elbo.GaussianMixture, "bgmm": elbo.BayesianGaussianMixture, "bmm": elbo.BernoulliMixture}
    assert len(scores) == 6
    for name, expected in scores.items():
        est = classes[name.split("_")[0]].load(tmp_path / f"{name}.json")
        x = (data > 0.5).astype(np.float64) if name == "bmm" else data
        got = est.score_samples(x)
        # The same code on the same bits: identical, not merely close.
        assert np.array_equal(got, np.array(expected)), name
        assert est.n_features_in_ == 3
    # And back: Python writes what Rust reads.
    est = elbo.GaussianMixture.load(tmp_path / "gmm_full.json")
    est.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (tmp_path / "gmm_full.json").read_text()


def test_composes_with_scikit_learn():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    gm = elbo.GaussianMixture(2, covariance_type="diag", random_state=np.random.RandomState(0))
    c = clone(gm)
    assert c.get_params()["covariance_type"] == "diag" and c is not gm
    pipe = make_pipeline(StandardScaler(), elbo.GaussianMixture(random_state=0))
    search = GridSearchCV(
        pipe, {"gaussianmixture__n_components": [1, 2, 3, 4]}, cv=3
    ).fit(X)
    assert search.best_params_["gaussianmixture__n_components"] == 3
    assert sklearn.__version__


def test_int_and_random_state_seeds():
    a = elbo.GaussianMixture(3, init_params="random", random_state=5).fit(X)
    b = elbo.GaussianMixture(3, init_params="random", random_state=5).fit(X)
    assert np.array_equal(a.means_, b.means_)
    c = elbo.GaussianMixture(3, init_params="random", random_state=np.random.RandomState(5)).fit(X)
    assert c.converged_
    x1, y1 = a.sample(50)
    x2, _ = a.sample(50)
    assert x1.shape == (50, 3) and y1.shape == (50,) and np.array_equal(x1, x2)


def test_errors_are_scikit_learn_types_with_elbo_messages():
    gm = elbo.GaussianMixture(2, random_state=0)
    with pytest.raises(elbo.NotFittedError):
        gm.predict(X)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7, column 2"):
        gm.fit(bad)
    with pytest.raises(ValueError, match="reg_covar"):
        elbo.GaussianMixture(reg_covar=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_components = 600 exceeds the number of samples 500"):
        elbo.GaussianMixture(600).fit(X)
    gm.fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(X[:, :2])
    with pytest.raises(ValueError, match="row 3, column 1 holds 2"):
        ones = XB.copy()
        ones[3, 1] = 2.0
        elbo.BernoulliMixture(binarize=None).fit(ones)
    with pytest.raises(ValueError, match="strategy"):
        elbo.GaussianMixture(strategy="quick").fit(X)


def test_float32_is_read_in_place_and_gives_the_same_fit():
    x32 = X.astype(np.float32)
    a = elbo.GaussianMixture(3, random_state=0).fit(x32)
    b = elbo.GaussianMixture(3, random_state=0).fit(x32.astype(np.float64))
    assert np.array_equal(a.means_, b.means_)
    assert np.array_equal(a.score_samples(x32), b.score_samples(x32.astype(np.float64)))


def big(n=200_000, d=8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.integers(0, 4, (n, 1)) * 1.5


@pytest.mark.filterwarnings("ignore::elbo.ConvergenceWarning")
def test_fit_releases_the_gil():
    """While a fit runs in one thread, Python code runs in another."""
    x = big()
    est = elbo.GaussianMixture(8, covariance_type="full", tol=0.0, max_iter=15, random_state=0)
    t = threading.Thread(target=est.fit, args=(x,))
    ticks = 0
    start = time.perf_counter()
    t.start()
    while t.is_alive():
        ticks += 1
    elapsed = time.perf_counter() - start
    assert est.n_iter_ == 15
    # Holding the GIL, the fit would leave this loop a few ticks per switch interval (5 ms).
    assert ticks > 200 * elapsed / 0.005, (ticks, elapsed)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_stops_a_fit_with_keyboard_interrupt():
    x = big()
    est = elbo.GaussianMixture(8, covariance_type="full", tol=0.0, max_iter=100_000, random_state=0)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        est.fit(x)
    assert time.perf_counter() - start < 30
    assert not hasattr(est, "weights_")


def test_verbose_prints_progress(capsys):
    elbo.GaussianMixture(3, random_state=0, verbose=1, verbose_interval=1).fit(X)
    out = capsys.readouterr().out
    assert "iteration 1: lower bound" in out


def test_fit_stream_matches_fit_from_the_same_start():
    w = np.full(3, 1 / 3)
    m = X[[0, 1, 2]]
    p = np.repeat(np.eye(3)[None], 3, axis=0)
    params = dict(n_components=3, weights_init=w, means_init=m, precisions_init=p, tol=1e-8)
    whole = elbo.GaussianMixture(**params).fit(X)
    chunks = [X[i : i + 128] for i in range(0, len(X), 128)]
    streamed = elbo.GaussianMixture(**params).fit_stream(chunks)
    assert streamed.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(streamed.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(streamed.means_, whole.means_, rtol=1e-10)
    from_function = elbo.GaussianMixture(**params).fit_stream(lambda: iter(chunks))
    assert np.array_equal(from_function.means_, streamed.means_)
    with pytest.raises(TypeError, match="once per EM pass"):
        elbo.GaussianMixture(**params).fit_stream(c for c in chunks)

    def failing():
        yield X[:100]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        elbo.GaussianMixture(3).fit_stream(failing)


def test_strategies_and_trace():
    exact = elbo.GaussianMixture(3, random_state=0).fit(X)
    assert len(exact.trace_) == exact.n_iter_
    assert all(abs(t["gap_after_e_step"]) < 1e-9 for t in exact.trace_)
    mc = elbo.GaussianMixture(3, random_state=0, strategy={"kind": "monte-carlo", "samples": 2}).fit(X)
    assert any(t["gap_after_e_step"] > 1e-6 for t in mc.trace_)
    online = elbo.GaussianMixture(3, random_state=0, strategy="online").fit(X)
    assert abs(online.score(X) - exact.score(X)) < 0.05


def test_bic_table_is_a_list_of_dicts_with_one_best():
    rows, best = elbo.bic_table(X, range(1, 5), ["full", "diag"], random_state=0, return_best=True)
    assert len(rows) == 8 and sum(r["best"] for r in rows) == 1
    winner = min((r for r in rows if r["bic"] is not None), key=lambda r: r["bic"])
    assert winner["best"] and winner["n_components"] == best.n_components == 3
    assert abs(best.bic(X) - winner["bic"]) < 1e-6 * abs(winner["bic"])


def test_ppca_density_is_the_gaussian_of_its_covariance():
    p = elbo.ProbabilisticPCA(2).fit(X)
    c = p.get_covariance()
    y = X - p.mean_
    _, logdet = np.linalg.slogdet(c)
    direct = -0.5 * (3 * np.log(2 * np.pi) + logdet + np.einsum("ij,jk,ik->i", y, np.linalg.inv(c), y))
    np.testing.assert_allclose(p.score_samples(X), direct, rtol=1e-10)
    z = p.transform(X)
    assert z.shape == (500, 2) and p.inverse_transform(z).shape == X.shape


def test_works_without_scikit_learn():
    code = """
import sys
sys.modules["sklearn"] = None  # import fails as if not installed
import numpy as np, elbo
assert not elbo.HAVE_SKLEARN
x = np.random.default_rng(0).normal(size=(200, 2))
gm = elbo.GaussianMixture(2, random_state=0)
assert gm.set_params(n_components=3).get_params()["n_components"] == 3
try:
    gm.predict(x)
except elbo.NotFittedError as e:
    assert isinstance(e, ValueError) and isinstance(e, AttributeError)
else:
    raise SystemExit("no NotFittedError")
gm.fit(x)
assert gm.predict(x).shape == (200,)
print("ok", repr(gm))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok GaussianMixture(")

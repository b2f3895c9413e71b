"""Reference fits of hmmlearn 0.3.3 for elbo-hmm's parity tests.

Run by hand (not by CI) with a python that has hmmlearn 0.3.3 and numpy, e.g. from a
throwaway virtual environment:

    python3 -m venv /tmp/hmm-venv
    /tmp/hmm-venv/bin/pip install hmmlearn==0.3.3 numpy
    /tmp/hmm-venv/bin/python crates/elbo-hmm/scripts/make_hmmlearn_fixtures.py

It writes three small JSON files into ``crates/elbo-hmm/tests/fixtures/`` (found relative to
this script), one per model class: ``hmmlearn_gaussian.json`` (GaussianHMM, the four
covariance types), ``hmmlearn_categorical.json`` (CategoricalHMM) and ``hmmlearn_gmm.json``
(GMMHMM, the four covariance types). Each file holds its data (sampled from a known HMM by
numpy, continuous values rounded to six decimals so the JSON numbers are exact) and the
``lengths`` that cut it into several sequences; then, for every case and for the data taken as
one sequence and as several, one fit:

* ``init``: starting parameters chosen here (seeded) and given to hmmlearn with
  ``init_params=""``, so both libraries start from the same point;
* ``history``: ``monitor_.history``, the log-likelihood of every EM iteration (computed by the
  E-step that starts the iteration, before its M-step), ``n_iter`` iterations with ``tol=0``;
* ``final``: the fitted parameters (covariances in their type's own layout: full ``K×d×d``,
  tied ``d×d``, diag ``K×d``, spherical ``K``; GMMHMM's as hmmlearn stores them);
* ``score``, ``viterbi_log_prob``, ``viterbi`` (the whole path), ``map`` (posterior argmax),
  ``posteriors_head`` (``predict_proba`` of the first rows) and, for GaussianHMM and
  CategoricalHMM, ``bic`` / ``aic`` — all under the fitted model.

elbo-hmm's tests start from ``init`` and must reproduce every ``history`` entry and the final
parameters to 1e-8 relative, and the Viterbi paths exactly.
"""

import json
import os

import hmmlearn
import numpy as np
from hmmlearn import hmm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")
HEAD = 12  # rows of posteriors to record
N_ITER = 12


def sample_chain(rng, startprob, transmat, lengths):
    """State sequences of a Markov chain, one per length, concatenated."""
    states = []
    for n in lengths:
        s = rng.choice(len(startprob), p=startprob)
        for _ in range(n):
            states.append(s)
            s = rng.choice(len(startprob), p=transmat[s])
    return np.array(states)


def random_stochastic(rng, k, stay):
    """A transition matrix with `stay` extra mass on the diagonal, rows normalised."""
    a = rng.dirichlet(np.ones(k), size=k) + stay * np.eye(k)
    return a / a.sum(axis=1, keepdims=True)


def tolist(a):
    return np.asarray(a, dtype=float).tolist()


def chain_init(rng, k):
    start = rng.dirichlet(2.0 * np.ones(k))
    trans = random_stochastic(rng, k, 1.0)
    return start, trans


def gaussian_covars(model, kind):
    cv = np.asarray(model._covars_)
    if kind == "spherical" and cv.ndim == 2:
        cv = cv[:, 0]
    return tolist(cv)


def outputs(model, x, lengths):
    vit_lp, vit = model.decode(x, lengths, algorithm="viterbi")
    _, map_path = model.decode(x, lengths, algorithm="map")
    return {
        "score": float(model.score(x, lengths)),
        "viterbi_log_prob": float(vit_lp),
        "viterbi": vit.tolist(),
        "map": map_path.tolist(),
        "posteriors_head": tolist(model.predict_proba(x, lengths)[:HEAD]),
    }


def gaussian_file():
    rng = np.random.default_rng(20261207)
    k, d = 3, 2
    lengths = [90, 70, 40]
    start = np.array([0.5, 0.3, 0.2])
    trans = random_stochastic(rng, k, 3.0)
    z = sample_chain(rng, start, trans, lengths)
    mus = np.array([[0.0, 0.0], [3.0, 1.0], [-1.0, 4.0]])
    x = np.empty((len(z), d))
    for i, s in enumerate(z):
        a = rng.normal(size=(d, d)) * 0.5 + np.eye(d)
        x[i] = mus[s] + rng.normal(size=d) @ (0.6 * a)
    x = np.round(x, 6)
    cases = []
    for kind in ["full", "tied", "diag", "spherical"]:
        for multi in [False, True]:
            lens = lengths if multi else None
            start0, trans0 = chain_init(rng, k)
            means0 = x[rng.choice(len(x), size=k, replace=False)] + rng.normal(0, 0.1, (k, d))
            cv = np.cov(x.T) + 1e-3 * np.eye(d)
            covars0 = {
                "full": np.stack([cv * s for s in (1.0, 0.8, 1.2)]),
                "tied": cv,
                "diag": np.stack([np.diag(cv) * s for s in (1.0, 0.8, 1.2)]),
                "spherical": np.array([np.mean(np.diag(cv)) * s for s in (1.0, 0.8, 1.2)]),
            }[kind]
            model = hmm.GaussianHMM(
                n_components=k, covariance_type=kind, n_iter=N_ITER, tol=0.0,
                init_params="", params="stmc", implementation="log")
            model.startprob_ = start0
            model.transmat_ = trans0
            model.means_ = means0
            model.covars_ = covars0
            model.fit(x, lens)
            case = {
                "covariance_type": kind,
                "lengths": lens,
                "init": {
                    "startprob": tolist(start0),
                    "transmat": tolist(trans0),
                    "means": tolist(means0),
                    "covars": tolist(covars0),
                },
                "history": [float(v) for v in model.monitor_.history],
                "final": {
                    "startprob": tolist(model.startprob_),
                    "transmat": tolist(model.transmat_),
                    "means": tolist(model.means_),
                    "covars": gaussian_covars(model, kind),
                },
                "bic": float(model.bic(x, lens)),
                "aic": float(model.aic(x, lens)),
            }
            case.update(outputs(model, x, lens))
            cases.append(case)
    return {"x": tolist(x), "lengths": lengths, "cases": cases}


def categorical_file():
    rng = np.random.default_rng(7)
    k, m = 3, 4
    lengths = [110, 100, 90]
    start = np.array([0.6, 0.2, 0.2])
    trans = random_stochastic(rng, k, 2.0)
    emis = rng.dirichlet(0.7 * np.ones(m), size=k)
    z = sample_chain(rng, start, trans, lengths)
    x = np.array([[rng.choice(m, p=emis[s])] for s in z])
    cases = []
    for multi in [False, True]:
        lens = lengths if multi else None
        start0, trans0 = chain_init(rng, k)
        emis0 = rng.dirichlet(3.0 * np.ones(m), size=k)
        model = hmm.CategoricalHMM(
            n_components=k, n_iter=N_ITER, tol=0.0, init_params="", params="ste",
            implementation="log")
        model.startprob_ = start0
        model.transmat_ = trans0
        model.emissionprob_ = emis0
        model.fit(x, lens)
        case = {
            "lengths": lens,
            "init": {
                "startprob": tolist(start0),
                "transmat": tolist(trans0),
                "emissionprob": tolist(emis0),
            },
            "history": [float(v) for v in model.monitor_.history],
            "final": {
                "startprob": tolist(model.startprob_),
                "transmat": tolist(model.transmat_),
                "emissionprob": tolist(model.emissionprob_),
            },
            "bic": float(model.bic(x, lens)),
            "aic": float(model.aic(x, lens)),
        }
        case.update(outputs(model, x, lens))
        cases.append(case)
    return {"x": x.tolist(), "lengths": lengths, "cases": cases}


def gmm_file():
    rng = np.random.default_rng(11)
    k, nm, d = 2, 2, 2
    lengths = [80, 70, 50]
    start = np.array([0.7, 0.3])
    trans = np.array([[0.85, 0.15], [0.25, 0.75]])
    z = sample_chain(rng, start, trans, lengths)
    centres = np.array([[[0.0, 0.0], [2.0, 2.0]], [[5.0, 0.0], [6.0, 3.0]]])
    x = np.empty((len(z), d))
    for i, s in enumerate(z):
        j = rng.choice(nm, p=[0.6, 0.4])
        x[i] = centres[s, j] + rng.normal(0, 0.7, d)
    x = np.round(x, 6)
    cases = []
    for kind in ["full", "tied", "diag", "spherical"]:
        for multi in [False, True]:
            lens = lengths if multi else None
            start0, trans0 = chain_init(rng, k)
            weights0 = rng.dirichlet(3.0 * np.ones(nm), size=k)
            means0 = centres + rng.normal(0, 0.5, centres.shape)
            cv = np.cov(x.T) * 0.5 + 1e-3 * np.eye(d)
            covars0 = {
                "full": np.tile(cv, (k, nm, 1, 1)),
                "tied": np.tile(cv, (k, 1, 1)),
                "diag": np.tile(np.diag(cv), (k, nm, 1)),
                "spherical": np.full((k, nm), np.mean(np.diag(cv))),
            }[kind]
            model = hmm.GMMHMM(
                n_components=k, n_mix=nm, covariance_type=kind, n_iter=N_ITER, tol=0.0,
                init_params="", params="stmcw", implementation="log", random_state=0)
            model.startprob_ = start0
            model.transmat_ = trans0
            model.weights_ = weights0
            model.means_ = means0
            model.covars_ = covars0
            model.fit(x, lens)
            case = {
                "covariance_type": kind,
                "lengths": lens,
                "init": {
                    "startprob": tolist(start0),
                    "transmat": tolist(trans0),
                    "weights": tolist(weights0),
                    "means": tolist(means0),
                    "covars": tolist(covars0),
                },
                "history": [float(v) for v in model.monitor_.history],
                "final": {
                    "startprob": tolist(model.startprob_),
                    "transmat": tolist(model.transmat_),
                    "weights": tolist(model.weights_),
                    "means": tolist(model.means_),
                    "covars": tolist(model.covars_),
                },
            }
            case.update(outputs(model, x, lens))
            cases.append(case)
    return {"x": tolist(x), "lengths": lengths, "n_mix": nm, "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"hmmlearn": hmmlearn.__version__, "numpy": np.__version__}
    for name, make in [
        ("hmmlearn_gaussian.json", gaussian_file),
        ("hmmlearn_categorical.json", categorical_file),
        ("hmmlearn_gmm.json", gmm_file),
    ]:
        data = make()
        data["meta"] = meta
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        print(f"wrote {name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()

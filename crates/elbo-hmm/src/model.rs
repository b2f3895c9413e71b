//! The fitted (or user-built) HMM and its inference: score, posteriors, decoding, sampling,
//! information criteria.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::fb::{self, Chain, Workspace};
use crate::params::{DecodeAlgorithm, Implementation, Letters};

/// Tolerance of the "sums to 1" checks on given probabilities (hmmlearn uses `np.allclose`).
const SUM_TOL: f64 = 1e-6;

/// A hidden Markov model: start probabilities π (`K`), transition matrix A (`K × K`, rows sum
/// to 1) and an emission family `E`. Build one with [`Hmm::new`] or get one from a fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "E: Emission")]
pub struct Hmm<E> {
    pub(crate) startprob: Array1<f64>,
    pub(crate) transmat: Array2<f64>,
    pub(crate) emission: E,
}

/// Splits `n` rows into sequences by `lengths` (all rows as one sequence when `None`).
///
/// # Errors
/// [`HmmError::ZeroLength`] naming the index of a zero, [`HmmError::LengthsSum`] naming the sum
/// and the row count.
pub fn split_lengths(n: usize, lengths: Option<&[usize]>) -> Result<Vec<Range<usize>>, HmmError> {
    match lengths {
        None => Ok(std::iter::once(0..n).collect()),
        Some(ls) => {
            let mut out = Vec::with_capacity(ls.len());
            let mut start = 0usize;
            for (index, &l) in ls.iter().enumerate() {
                if l == 0 {
                    return Err(HmmError::ZeroLength { index });
                }
                out.push(start..start.saturating_add(l));
                start = start.saturating_add(l);
            }
            if start != n || ls.is_empty() {
                return Err(HmmError::LengthsSum {
                    sum: start,
                    rows: n,
                });
            }
            Ok(out)
        }
    }
}

/// Checks that the data are non-empty and finite.
pub(crate) fn check_finite(x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
    let (rows, cols) = x.dim();
    if rows == 0 || cols == 0 {
        return Err(HmmError::EmptyData { rows, cols });
    }
    for (row, r) in x.rows().into_iter().enumerate() {
        for (col, &value) in r.iter().enumerate() {
            if !value.is_finite() {
                return Err(HmmError::NonFiniteData { row, col, value });
            }
        }
    }
    Ok(())
}

pub(crate) fn check_probabilities(
    name: &'static str,
    p: ArrayView1<'_, f64>,
) -> Result<(), HmmError> {
    if let Some(v) = p.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(HmmError::Given {
            name,
            message: format!("entries must be finite and ≥ 0, got {v}"),
        });
    }
    let total = p.sum();
    if (total - 1.0).abs() > SUM_TOL {
        return Err(HmmError::Given {
            name,
            message: format!("must sum to 1, got {total}"),
        });
    }
    Ok(())
}

impl<E: Emission> Hmm<E> {
    /// A model from start probabilities, transitions and an emission.
    ///
    /// # Errors
    /// [`HmmError::Given`] for shapes that disagree with the emission's `K`, negative or
    /// non-finite entries, or rows that do not sum to 1 (within 1e-6).
    pub fn new(
        startprob: Array1<f64>,
        transmat: Array2<f64>,
        emission: E,
    ) -> Result<Self, HmmError> {
        let mut model = Self {
            startprob,
            transmat,
            emission,
        };
        model.validate()?;
        Ok(model)
    }

    /// Re-checks every parameter and rebuilds the emission's cached densities.
    pub(crate) fn validate(&mut self) -> Result<(), HmmError> {
        let k = self.emission.n_states();
        if self.startprob.len() != k {
            return Err(HmmError::Given {
                name: "startprob_",
                message: format!(
                    "has {} entries, the emission has {k} states",
                    self.startprob.len()
                ),
            });
        }
        if self.transmat.dim() != (k, k) {
            return Err(HmmError::Given {
                name: "transmat_",
                message: format!("has shape {:?}, expected ({k}, {k})", self.transmat.dim()),
            });
        }
        check_probabilities("startprob_", self.startprob.view())?;
        for row in self.transmat.rows() {
            check_probabilities("transmat_", row)?;
        }
        self.emission.validate()
    }

    /// Number of states `K`.
    pub fn n_components(&self) -> usize {
        self.startprob.len()
    }

    /// Start probabilities π.
    pub fn startprob(&self) -> ArrayView1<'_, f64> {
        self.startprob.view()
    }

    /// Transition matrix A (row `j`: p(z_{t+1} | z_t = j)).
    pub fn transmat(&self) -> ArrayView2<'_, f64> {
        self.transmat.view()
    }

    /// The emission.
    pub fn emission(&self) -> &E {
        &self.emission
    }

    pub(crate) fn chain(&self) -> Chain {
        Chain::new(self.startprob.view(), self.transmat.view())
    }

    /// The stationary distribution of the chain (left eigenvector of A for eigenvalue 1), by
    /// power iteration from π.
    pub fn stationary_distribution(&self) -> Array1<f64> {
        let mut p = Array1::from_elem(self.n_components(), 1.0 / self.n_components() as f64);
        for _ in 0..10_000 {
            let next = p.dot(&self.transmat);
            let diff: f64 = (&next - &p).iter().map(|v| v.abs()).sum();
            p = next;
            if diff < 1e-15 {
                break;
            }
        }
        let total = p.sum();
        p / total
    }

    fn prepare(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<Vec<Range<usize>>, HmmError> {
        check_finite(x)?;
        self.emission.check_data(x)?;
        split_lengths(x.nrows(), lengths)
    }

    /// Emission log-likelihoods of every row, `N × K`.
    pub(crate) fn frame_log_likelihood(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut lp = Array2::zeros((x.nrows(), self.n_components()));
        self.emission.log_likelihood(x, lp.view_mut());
        lp
    }

    /// Total log-likelihood ln p(X) = Σ over sequences (log-space forward pass).
    ///
    /// # Errors
    /// Bad data or `lengths` (see [`split_lengths`]).
    pub fn score(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<f64, HmmError> {
        self.score_with(x, lengths, Implementation::Log)
    }

    /// [`Hmm::score`] with the chosen implementation.
    ///
    /// # Errors
    /// As [`Hmm::score`].
    pub fn score_with(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
        implementation: Implementation,
    ) -> Result<f64, HmmError> {
        let seqs = self.prepare(x, lengths)?;
        let lp = self.frame_log_likelihood(x);
        let chain = self.chain();
        let per_seq: Vec<f64> = seqs
            .par_iter()
            .map_init(Workspace::default, |ws, r| {
                fb::forward(implementation, &chain, lp.slice(s![r.clone(), ..]), ws)
            })
            .collect();
        Ok(per_seq.iter().sum())
    }

    /// ln p(X) and the posteriors γ (`N × K`, rows sum to 1).
    ///
    /// # Errors
    /// As [`Hmm::score`], and [`HmmError::ZeroProbability`] for an impossible sequence.
    pub fn score_samples(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<(f64, Array2<f64>), HmmError> {
        self.score_samples_with(x, lengths, Implementation::Log)
    }

    /// [`Hmm::score_samples`] with the chosen implementation.
    ///
    /// # Errors
    /// As [`Hmm::score_samples`].
    pub fn score_samples_with(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
        implementation: Implementation,
    ) -> Result<(f64, Array2<f64>), HmmError> {
        let seqs = self.prepare(x, lengths)?;
        let lp = self.frame_log_likelihood(x);
        let chain = self.chain();
        let mut gamma = Array2::zeros(lp.dim());
        let parts: Vec<(usize, f64, Array2<f64>)> = seqs
            .par_iter()
            .enumerate()
            .map_init(Workspace::default, |ws, (i, r)| {
                let mut g = Array2::zeros((r.len(), chain.k));
                let res = fb::forward_backward(
                    implementation,
                    &chain,
                    lp.slice(s![r.clone(), ..]),
                    ws,
                    g.view_mut(),
                    None,
                );
                (i, res.log_prob, g)
            })
            .collect();
        let mut total = 0.0;
        for (i, lpi, g) in parts {
            if lpi == f64::NEG_INFINITY {
                return Err(HmmError::ZeroProbability { sequence: i });
            }
            total += lpi;
            gamma.slice_mut(s![seqs[i].clone(), ..]).assign(&g);
        }
        Ok((total, gamma))
    }

    /// The state of every row and the log-probability of the decoding: Viterbi gives
    /// ln p(X, z*) of the best paths; MAP gives Σ_t ln max_k γ_t(k) (hmmlearn sums the
    /// probabilities themselves).
    ///
    /// # Errors
    /// As [`Hmm::score_samples`].
    pub fn decode(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
        algorithm: DecodeAlgorithm,
    ) -> Result<(f64, Vec<usize>), HmmError> {
        match algorithm {
            DecodeAlgorithm::Viterbi => {
                let seqs = self.prepare(x, lengths)?;
                let lp = self.frame_log_likelihood(x);
                let chain = self.chain();
                let parts: Vec<(f64, Vec<usize>)> = seqs
                    .par_iter()
                    .map(|r| fb::viterbi(&chain, lp.slice(s![r.clone(), ..])))
                    .collect();
                let mut total = 0.0;
                let mut states = Vec::with_capacity(x.nrows());
                for (i, (lpi, path)) in parts.into_iter().enumerate() {
                    if lpi == f64::NEG_INFINITY {
                        return Err(HmmError::ZeroProbability { sequence: i });
                    }
                    total += lpi;
                    states.extend(path);
                }
                Ok((total, states))
            }
            DecodeAlgorithm::Map => {
                let (_, gamma) = self.score_samples(x, lengths)?;
                let mut total = 0.0;
                let states = gamma
                    .axis_iter(Axis(0))
                    .map(|row| {
                        let (best, p) = argmax(row);
                        total += p.ln();
                        best
                    })
                    .collect();
                Ok((total, states))
            }
        }
    }

    /// The Viterbi state of every row (hmmlearn's default `algorithm`).
    ///
    /// # Errors
    /// As [`Hmm::decode`].
    pub fn predict(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<Vec<usize>, HmmError> {
        Ok(self.decode(x, lengths, DecodeAlgorithm::Viterbi)?.1)
    }

    /// The posteriors γ (`N × K`).
    ///
    /// # Errors
    /// As [`Hmm::score_samples`].
    pub fn predict_proba(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<Array2<f64>, HmmError> {
        Ok(self.score_samples(x, lengths)?.1)
    }

    /// `n` steps of one sequence drawn from the model: the observations (`n × columns`) and
    /// the states. `current` starts the chain in that state instead of drawing it from π.
    pub fn sample<R: Rng>(
        &self,
        n: usize,
        rng: &mut R,
        current: Option<usize>,
    ) -> (Array2<f64>, Vec<usize>) {
        let cols = self.emission.data_columns();
        let mut x = Array2::zeros((n, cols));
        let mut states = Vec::with_capacity(n);
        let draw = |p: ArrayView1<'_, f64>, rng: &mut R| {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            for (i, &pi) in p.iter().enumerate() {
                acc += pi;
                if u < acc {
                    return i;
                }
            }
            // Rounding left the cumulative sum just below 1: the last state with mass.
            p.iter().rposition(|&v| v > 0.0).unwrap_or(0)
        };
        let mut state = match current {
            Some(s) => s.min(self.n_components() - 1),
            None => draw(self.startprob.view(), rng),
        };
        for t in 0..n {
            if t > 0 {
                state = draw(self.transmat.row(state), rng);
            }
            states.push(state);
            x.row_mut(t)
                .assign(&self.emission.sample_from_state(state, rng));
        }
        (x, states)
    }

    /// Free scalar parameters (every letter counted, as hmmlearn's `bic` does).
    pub fn n_free_parameters(&self) -> usize {
        let all = Letters::check(
            "params",
            &format!("st{}", E::LETTERS),
            &format!("st{}", E::LETTERS),
        )
        .expect("the full letter set is valid");
        let k = self.n_components();
        (k - 1) + k * (k - 1) + self.emission.n_free_parameters(&all)
    }

    /// Bayesian information criterion: −2 ln p(X) + p ln N (N rows).
    ///
    /// # Errors
    /// As [`Hmm::score`].
    pub fn bic(&self, x: ArrayView2<'_, f64>, lengths: Option<&[usize]>) -> Result<f64, HmmError> {
        Ok(-2.0 * self.score(x, lengths)?
            + self.n_free_parameters() as f64 * (x.nrows() as f64).ln())
    }

    /// Akaike information criterion: −2 ln p(X) + 2p.
    ///
    /// # Errors
    /// As [`Hmm::score`].
    pub fn aic(&self, x: ArrayView2<'_, f64>, lengths: Option<&[usize]>) -> Result<f64, HmmError> {
        Ok(-2.0 * self.score(x, lengths)? + 2.0 * self.n_free_parameters() as f64)
    }

    /// ln p(X) from the backward pass alone, per sequence (a check on the forward pass).
    ///
    /// # Errors
    /// As [`Hmm::score`].
    pub fn score_backward(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
        implementation: Implementation,
    ) -> Result<f64, HmmError> {
        let seqs = self.prepare(x, lengths)?;
        let lp = self.frame_log_likelihood(x);
        let chain = self.chain();
        let mut ws = Workspace::default();
        Ok(seqs
            .iter()
            .map(|r| {
                fb::backward_log_prob(implementation, &chain, lp.slice(s![r.clone(), ..]), &mut ws)
            })
            .sum())
    }
}

fn argmax(row: ArrayView1<'_, f64>) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

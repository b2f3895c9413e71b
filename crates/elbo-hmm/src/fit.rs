//! Baum–Welch: the generic EM loop over any [`Emission`], in memory or over a stream of
//! sequence chunks.
//!
//! One iteration, as hmmlearn 0.3.3 orders it: the E-step under θ_t (emission
//! log-likelihoods of every row; forward–backward per sequence, sequences in parallel blocks;
//! the emission statistics over row blocks in parallel), the log-likelihood ln p(X; θ_t)
//! recorded, the M-step to θ_{t+1}, then the convergence test on the recorded values
//! (`history[-1] − history[-2] < tol`). Blocks are a fixed partition of the sequences and of
//! the rows, merged in order, so a fit is bit-for-bit reproducible whatever the thread count.

use std::ops::Range;
use std::time::{Duration, Instant};

use elbo_distributions::Dirichlet;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::fb::{self, Workspace};
use crate::model::{Hmm, check_finite, split_lengths};
use crate::params::{HmmParams, Implementation, ValidHmmParams};

/// Most blocks of sequences or rows per pass (and so per-fit scratch copies).
const MAX_BLOCKS: usize = 16;
/// Fewest rows worth a block of their own in the statistics pass.
const MIN_BLOCK_ROWS: usize = 2048;

/// One EM iteration of the winning run, in theory §3's terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HmmIteration {
    /// ln p(X; θ_t), computed by this iteration's E-step (hmmlearn's monitor history).
    pub log_likelihood: f64,
    /// The ELBO at θ_t with q the exact posterior: equal to `log_likelihood` (gap 0).
    pub elbo_after_e_step: f64,
    /// The ELBO at θ_{t+1} with the same q: `log_likelihood + Q(θ_{t+1}) − Q(θ_t)`, for the
    /// emissions whose Q follows from their statistics (Gaussian, categorical); `None`
    /// otherwise. Without priors it lies between this iteration's log-likelihood and the
    /// next one's.
    pub elbo_after_m_step: Option<f64>,
}

/// The result of a fit: the model and how EM went.
#[derive(Debug, Clone)]
pub struct HmmFit<E> {
    /// The fitted model (after the last M-step).
    pub model: Hmm<E>,
    /// Whether the gain of an iteration fell below `tol` (hmmlearn also reports `n_iter`
    /// reached as converged; this does not).
    pub converged: bool,
    /// EM iterations run by the winning initialisation.
    pub n_iter: usize,
    /// ln p(X) of every iteration, under the parameters before its M-step (hmmlearn's
    /// `monitor_.history`).
    pub log_likelihoods: Vec<f64>,
    /// Per iteration: the log-likelihood and the ELBO after the E- and M-steps.
    pub trace: Vec<HmmIteration>,
    /// Final log-likelihood of every initialisation.
    pub init_log_likelihoods: Vec<f64>,
    /// Index of the winning initialisation.
    pub best_init: usize,
    /// Wall-clock time of the whole fit.
    pub elapsed: Duration,
}

impl<E: Emission> HmmParams<E> {
    /// Checks the settings and fits the rows of `x`, cut into sequences by `lengths` (one
    /// sequence when `None`).
    ///
    /// # Errors
    /// Invalid settings, data or lengths; degenerate parameters the M-step cannot recover.
    pub fn fit(
        self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<HmmFit<E>, HmmError> {
        self.check()?.fit(x, lengths)
    }
}

/// One block's start counts, transition counts and log-likelihood.
type ChainPart = (Array1<f64>, Array2<f64>, f64);

/// A chunk of a stream: its rows and the lengths of its sequences.
pub type Chunk = (Array2<f64>, Vec<usize>);

/// The sufficient statistics of one E-step (all sequences).
#[derive(Debug)]
pub(crate) struct Accum<S> {
    pub(crate) start: Array1<f64>,
    pub(crate) trans: Array2<f64>,
    pub(crate) log_prob: f64,
    pub(crate) emission: S,
}

impl<S> Accum<S> {
    fn merge_chain(&mut self, other_start: &Array1<f64>, other_trans: &Array2<f64>, log_prob: f64) {
        self.start += other_start;
        self.trans += other_trans;
        self.log_prob += log_prob;
    }
}

/// Buffers of the E-step over one batch of sequences, reused across iterations.
struct Buffers<E: Emission> {
    lp: Array2<f64>,
    gamma: Array2<f64>,
    workspaces: Vec<Workspace>,
    scratches: Vec<E::Scratch>,
}

impl<E: Emission> Buffers<E> {
    fn new() -> Self {
        Self {
            lp: Array2::zeros((0, 0)),
            gamma: Array2::zeros((0, 0)),
            workspaces: Vec::new(),
            scratches: Vec::new(),
        }
    }

    fn ensure(&mut self, n: usize, k: usize, emission: &E) {
        if self.lp.dim() != (n, k) {
            self.lp = Array2::zeros((n, k));
            self.gamma = Array2::zeros((n, k));
        }
        while self.workspaces.len() < MAX_BLOCKS {
            self.workspaces.push(Workspace::default());
        }
        while self.scratches.len() < MAX_BLOCKS {
            self.scratches.push(emission.new_scratch());
        }
    }
}

/// Contiguous, nearly equal groups of `n` items, at most `MAX_BLOCKS`, at least `min` items
/// each (except when `n < min`).
fn partition(n: usize, min: usize) -> Vec<Range<usize>> {
    let blocks = n.div_ceil(min.max(1)).clamp(1, MAX_BLOCKS).min(n.max(1));
    (0..blocks)
        .map(|b| (b * n / blocks)..((b + 1) * n / blocks))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Splits a mutable `N × K` view into consecutive row ranges (which must tile a prefix).
fn split_rows<'a>(
    mut view: ArrayViewMut2<'a, f64>,
    ranges: &[Range<usize>],
) -> Vec<ArrayViewMut2<'a, f64>> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut offset = 0;
    for r in ranges {
        let (head, tail) = view.split_at(Axis(0), r.end - offset);
        let (_, piece) = head.split_at(Axis(0), r.start - offset);
        out.push(piece);
        view = tail;
        offset = r.end;
    }
    out
}

/// The E-step over one batch: adds its statistics into `acc` (a fresh one when `None`).
fn e_step<E: Emission>(
    model: &Hmm<E>,
    x: ArrayView2<'_, f64>,
    seqs: &[Range<usize>],
    imp: Implementation,
    bufs: &mut Buffers<E>,
    seq_offset: usize,
) -> Result<Accum<E::Stats>, HmmError> {
    let k = model.n_components();
    bufs.ensure(x.nrows(), k, &model.emission);
    model.emission.log_likelihood(x, bufs.lp.view_mut());
    let chain = model.chain();

    // Forward–backward, blocks of whole sequences in parallel.
    let seq_blocks = partition(seqs.len(), 1);
    let row_ranges: Vec<Range<usize>> = seq_blocks
        .iter()
        .map(|b| seqs[b.start].start..seqs[b.end - 1].end)
        .collect();
    let lp = bufs.lp.view();
    let gammas = split_rows(bufs.gamma.view_mut(), &row_ranges);
    let chain_parts: Vec<Result<ChainPart, HmmError>> = seq_blocks
        .par_iter()
        .zip(gammas)
        .zip(bufs.workspaces.par_iter_mut())
        .map(|((block, mut gamma), ws)| {
            let mut start = Array1::zeros(k);
            let mut trans = vec![0.0; k * k];
            let mut log_prob = 0.0;
            let base = seqs[block.start].start;
            for i in block.clone() {
                let r = &seqs[i];
                let res = fb::forward_backward(
                    imp,
                    &chain,
                    lp.slice(s![r.clone(), ..]),
                    ws,
                    gamma.slice_mut(s![r.start - base..r.end - base, ..]),
                    Some(&mut trans),
                );
                if !res.log_prob.is_finite() {
                    return Err(HmmError::ZeroProbability {
                        sequence: seq_offset + i,
                    });
                }
                log_prob += res.log_prob;
                start += &gamma.row(r.start - base);
            }
            let trans = Array2::from_shape_vec((k, k), trans).expect("k × k");
            Ok((start, trans, log_prob))
        })
        .collect();

    // Emission statistics, blocks of rows in parallel.
    let gamma = bufs.gamma.view();
    let emission = &model.emission;
    let row_blocks = partition(x.nrows(), MIN_BLOCK_ROWS);
    let stat_parts: Vec<E::Stats> = row_blocks
        .par_iter()
        .zip(bufs.scratches.par_iter_mut())
        .map(|(r, scratch)| {
            let mut stats = emission.new_stats();
            emission.accumulate(
                x.slice(s![r.clone(), ..]),
                gamma.slice(s![r.clone(), ..]),
                scratch,
                &mut stats,
            );
            stats
        })
        .collect();

    let mut acc = Accum {
        start: Array1::zeros(k),
        trans: Array2::zeros((k, k)),
        log_prob: 0.0,
        emission: emission.new_stats(),
    };
    for part in chain_parts {
        let (start, trans, lp) = part?;
        acc.merge_chain(&start, &trans, lp);
    }
    for part in &stat_parts {
        E::merge_stats(&mut acc.emission, part);
    }
    Ok(acc)
}

/// Σ c ln p with 0 · ln 0 = 0.
fn weighted_ln(counts: impl Iterator<Item = f64>, probs: impl Iterator<Item = f64>) -> f64 {
    counts
        .zip(probs)
        .map(|(c, p)| if c == 0.0 { 0.0 } else { c * p.ln() })
        .sum()
}

/// Normalises `v` to sum 1 after the Dirichlet-MAP update; `None` if it has no mass.
fn dirichlet_map(
    counts: ndarray::ArrayView1<'_, f64>,
    prior: ndarray::ArrayView1<'_, f64>,
    old: ndarray::ArrayView1<'_, f64>,
) -> Option<Array1<f64>> {
    // max(α − 1 + n, 0), kept at 0 where the old probability was 0 (a forbidden start or
    // transition stays forbidden), normalised.
    let mut v: Array1<f64> = counts
        .iter()
        .zip(prior)
        .zip(old)
        .map(|((&n, &a), &o)| {
            if o == 0.0 {
                0.0
            } else {
                (a - 1.0 + n).max(0.0)
            }
        })
        .collect();
    let total = v.sum();
    if total > 0.0 && total.is_finite() {
        v /= total;
        Some(v)
    } else {
        None
    }
}

/// The M-step of the chain and of the emission.
fn m_step<E: Emission>(
    model: &Hmm<E>,
    acc: &Accum<E::Stats>,
    p: &ValidHmmParams<E>,
) -> Result<Hmm<E>, HmmError> {
    let k = model.n_components();
    let mut startprob = model.startprob.clone();
    let mut transmat = model.transmat.clone();
    if p.params.has('s') {
        match dirichlet_map(
            acc.start.view(),
            p.startprob_prior.view(),
            model.startprob.view(),
        ) {
            Some(v) => startprob = v,
            None => tracing::warn!(
                "startprob_: the start counts and priors leave no mass; keeping the previous start probabilities"
            ),
        }
    }
    if p.params.has('t') {
        for j in 0..k {
            match dirichlet_map(
                acc.trans.row(j),
                p.transmat_prior.row(j),
                model.transmat.row(j),
            ) {
                Some(v) => transmat.row_mut(j).assign(&v),
                None => tracing::warn!(
                    state = j,
                    "transmat_: no transition out of state {j} was observed (its row would be all zeros); keeping its previous row"
                ),
            }
        }
    }
    let emission = model
        .emission
        .m_step(&acc.emission, &p.emission, &p.params)?;
    if startprob
        .iter()
        .chain(transmat.iter())
        .any(|v| !v.is_finite())
    {
        return Err(HmmError::NonFiniteParameter { name: "transmat_" });
    }
    Ok(Hmm {
        startprob,
        transmat,
        emission,
    })
}

/// Q(θ) of the chain and emission from one E-step's statistics, if the emission has one.
fn q_value<E: Emission>(model: &Hmm<E>, acc: &Accum<E::Stats>) -> Option<f64> {
    let chain = weighted_ln(acc.start.iter().copied(), model.startprob.iter().copied())
        + weighted_ln(acc.trans.iter().copied(), model.transmat.iter().copied());
    model
        .emission
        .expected_log_likelihood(&acc.emission)
        .map(|e| chain + e)
}

/// Initial parameters of one run.
fn initialize<E: Emission>(
    x: ArrayView2<'_, f64>,
    p: &ValidHmmParams<E>,
    rng: &mut ChaCha8Rng,
) -> Result<Hmm<E>, HmmError> {
    let k = p.n_components;
    let given = p.given.as_ref();
    let dirichlet = Dirichlet::symmetric(1.0 / k as f64, k)?;
    let startprob = match given {
        Some(g) if !p.init_params.has('s') => g.startprob.clone(),
        _ => dirichlet.sample(rng),
    };
    let transmat = match given {
        Some(g) if !p.init_params.has('t') => g.transmat.clone(),
        _ => {
            let mut a = Array2::zeros((k, k));
            for mut row in a.rows_mut() {
                row.assign(&dirichlet.sample(rng));
            }
            a
        }
    };
    let emission = E::initialize(
        x,
        k,
        &p.emission,
        &p.init_params,
        given.map(|g| &g.emission),
        rng,
    )?;
    let free = (k - 1) + k * (k - 1) + emission.n_free_parameters(&p.params);
    if x.len() < free {
        tracing::warn!(
            "fitting a model with {free} free scalar parameters to only {} data values: the solution will be degenerate",
            x.len()
        );
    }
    Hmm::new(startprob, transmat, emission)
}

/// The data source of a fit: in memory, or chunks of whole sequences read again every
/// iteration.
enum Data<'a, 's> {
    Memory {
        x: ArrayView2<'a, f64>,
        seqs: Vec<Range<usize>>,
    },
    Stream(&'s mut dyn SequenceSource),
}

/// One E-step over the whole data.
fn full_e_step<E: Emission>(
    model: &Hmm<E>,
    data: &mut Data<'_, '_>,
    imp: Implementation,
    bufs: &mut Buffers<E>,
) -> Result<Accum<E::Stats>, HmmError> {
    match data {
        Data::Memory { x, seqs } => e_step(model, *x, seqs, imp, bufs, 0),
        Data::Stream(source) => {
            source.rewind()?;
            let mut total: Option<Accum<E::Stats>> = None;
            let mut seq_offset = 0;
            while let Some((x, lengths)) = source.next_chunk()? {
                check_finite(x.view())?;
                model.emission.check_data(x.view())?;
                let seqs = split_lengths(x.nrows(), Some(&lengths))?;
                let part = e_step(model, x.view(), &seqs, imp, bufs, seq_offset)?;
                seq_offset += seqs.len();
                match &mut total {
                    None => total = Some(part),
                    Some(t) => {
                        t.merge_chain(&part.start, &part.trans, part.log_prob);
                        E::merge_stats(&mut t.emission, &part.emission);
                    }
                }
            }
            total.ok_or(HmmError::EmptyData { rows: 0, cols: 0 })
        }
    }
}

struct Run<E> {
    model: Hmm<E>,
    converged: bool,
    log_likelihoods: Vec<f64>,
    trace: Vec<HmmIteration>,
}

fn run_em<E: Emission>(
    mut model: Hmm<E>,
    data: &mut Data<'_, '_>,
    p: &ValidHmmParams<E>,
) -> Result<Run<E>, HmmError> {
    let mut bufs = Buffers::<E>::new();
    let mut log_likelihoods: Vec<f64> = Vec::with_capacity(p.n_iter);
    let mut trace = Vec::with_capacity(p.n_iter);
    let mut converged = false;
    for iter in 0..p.n_iter {
        let acc = full_e_step(&model, data, p.implementation, &mut bufs)?;
        let log_prob = acc.log_prob;
        if let Some(&prev) = log_likelihoods.last() {
            let drop: f64 = prev - log_prob;
            if drop > 1e-8 * prev.abs().max(1.0) {
                tracing::warn!(
                    iteration = iter + 1,
                    "log-likelihood decreased from {prev} to {log_prob} (priors or min_covar can do this)"
                );
            }
        }
        let q_old = q_value(&model, &acc);
        let next = m_step(&model, &acc, p)?;
        let q_new = q_value(&next, &acc);
        let elbo_after_m_step = match (q_old, q_new) {
            (Some(a), Some(b)) => Some(log_prob + (b - a)),
            _ => None,
        };
        tracing::debug!(iteration = iter + 1, log_prob, "Baum–Welch iteration");
        log_likelihoods.push(log_prob);
        trace.push(HmmIteration {
            log_likelihood: log_prob,
            elbo_after_e_step: log_prob,
            elbo_after_m_step,
        });
        model = next;
        let n = log_likelihoods.len();
        if n >= 2 && log_likelihoods[n - 1] - log_likelihoods[n - 2] < p.tol {
            converged = true;
            break;
        }
    }
    Ok(Run {
        model,
        converged,
        log_likelihoods,
        trace,
    })
}

fn run_restarts<E: Emission>(
    p: &ValidHmmParams<E>,
    mut data: Data<'_, '_>,
    init_x: ArrayView2<'_, f64>,
) -> Result<HmmFit<E>, HmmError> {
    let begin = Instant::now();
    let mut best: Option<(usize, Run<E>)> = None;
    let mut finals = Vec::with_capacity(p.n_init);
    for i in 0..p.n_init {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        rng.set_stream(i as u64);
        let model = initialize(init_x, p, &mut rng)?;
        let run = run_em(model, &mut data, p)?;
        let last = run
            .log_likelihoods
            .last()
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
        finals.push(last);
        let better = match &best {
            None => true,
            Some((_, b)) => {
                last > b
                    .log_likelihoods
                    .last()
                    .copied()
                    .unwrap_or(f64::NEG_INFINITY)
            }
        };
        if better {
            best = Some((i, run));
        }
    }
    let (best_init, run) = best.expect("n_init ≥ 1");
    if !run.converged && p.n_iter > 0 {
        tracing::info!(
            n_iter = p.n_iter,
            "Baum–Welch stopped after n_iter iterations without the gain falling below tol"
        );
    }
    Ok(HmmFit {
        n_iter: run.log_likelihoods.len(),
        model: run.model,
        converged: run.converged,
        log_likelihoods: run.log_likelihoods,
        trace: run.trace,
        init_log_likelihoods: finals,
        best_init,
        elapsed: begin.elapsed(),
    })
}

impl<E: Emission> ValidHmmParams<E> {
    /// Fits the rows of `x`, cut into sequences by `lengths` (one sequence when `None`).
    ///
    /// # Errors
    /// Invalid data or lengths; degenerate parameters the M-step cannot recover.
    pub fn fit(
        &self,
        x: ArrayView2<'_, f64>,
        lengths: Option<&[usize]>,
    ) -> Result<HmmFit<E>, HmmError> {
        check_finite(x)?;
        E::check_fit_data(&self.emission, x)?;
        if let Some(g) = &self.given {
            g.emission.check_data(x)?;
        }
        let seqs = split_lengths(x.nrows(), lengths)?;
        run_restarts(self, Data::Memory { x, seqs }, x)
    }

    /// Fits sequences read chunk by chunk from `source`, which is read once per iteration
    /// (memory holds one chunk at a time). The parameters are initialised from the first
    /// chunk. With the same starting parameters the result equals [`ValidHmmParams::fit`] on
    /// the concatenated chunks, up to the order of floating-point additions.
    ///
    /// # Errors
    /// As [`ValidHmmParams::fit`], and the source's own errors.
    pub fn fit_stream(&self, source: &mut dyn SequenceSource) -> Result<HmmFit<E>, HmmError> {
        source.rewind()?;
        let (first, lengths) = source
            .next_chunk()?
            .ok_or(HmmError::EmptyData { rows: 0, cols: 0 })?;
        check_finite(first.view())?;
        E::check_fit_data(&self.emission, first.view())?;
        split_lengths(first.nrows(), Some(&lengths))?;
        run_restarts(self, Data::Stream(source), first.view())
    }
}

/// Sequences delivered in chunks; each chunk holds whole sequences.
pub trait SequenceSource {
    /// Goes back to the first chunk (called before every pass).
    ///
    /// # Errors
    /// The source's own (e.g. I/O).
    fn rewind(&mut self) -> Result<(), HmmError>;
    /// The next chunk's rows and the lengths of its sequences, `None` after the last.
    ///
    /// # Errors
    /// The source's own (e.g. I/O, parse errors).
    fn next_chunk(&mut self) -> Result<Option<Chunk>, HmmError>;
}

/// A [`SequenceSource`] over chunks already in memory (tests, small data).
#[derive(Debug, Clone)]
pub struct ChunkedSequences {
    chunks: Vec<Chunk>,
    next: usize,
}

impl ChunkedSequences {
    /// Cuts `x` (sequences of `lengths`) into chunks of at most `per_chunk` sequences.
    ///
    /// # Errors
    /// Bad lengths, or `per_chunk == 0`.
    pub fn new(
        x: ArrayView2<'_, f64>,
        lengths: &[usize],
        per_chunk: usize,
    ) -> Result<Self, HmmError> {
        if per_chunk == 0 {
            return Err(HmmError::InvalidParam {
                name: "per_chunk",
                message: "must be ≥ 1, got 0".into(),
            });
        }
        let seqs = split_lengths(x.nrows(), Some(lengths))?;
        let chunks = seqs
            .chunks(per_chunk)
            .zip(lengths.chunks(per_chunk))
            .map(|(group, ls)| {
                let rows = group[0].start..group[group.len() - 1].end;
                (x.slice(s![rows, ..]).to_owned(), ls.to_vec())
            })
            .collect();
        Ok(Self { chunks, next: 0 })
    }
}

impl SequenceSource for ChunkedSequences {
    fn rewind(&mut self) -> Result<(), HmmError> {
        self.next = 0;
        Ok(())
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>, HmmError> {
        let out = self.chunks.get(self.next).cloned();
        self.next += 1;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_tiles_the_range() {
        for n in [1, 2, 15, 16, 17, 1000, 100_000] {
            for min in [1, 2048] {
                let p = partition(n, min);
                assert_eq!(p[0].start, 0);
                assert_eq!(p.last().map(|r| r.end), Some(n));
                for w in p.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                assert!(p.len() <= MAX_BLOCKS);
            }
        }
    }
}

//! The EM family (`../shared/theory.md` §3–4) as one driver over a mixture family: exact EM,
//! Monte Carlo EM, generalized EM and online (stepwise) EM, with the ELBO and its gap to the
//! log-likelihood traced after every E-step and every M-step.
//!
//! One iteration of every strategy has the same shape. A pass over the data under θ_t gives
//! ln p(X; θ_t), the posteriors q (exact, or sampled for Monte Carlo EM), their entropy H(q)
//! and the sufficient statistics of q. The expected complete-data log-likelihood
//! Q(θ) = E_q[ln p(X, Z; θ)] is a closed form in those statistics, so the ELBO
//! L(q, θ) = Q(θ) + H(q) is known at θ_t (after the E-step) and at θ_{t+1} (after the M-step)
//! without another pass. The log-likelihood after the M-step is that of the next pass.

use ndarray::{Array2, ArrayView2, CowArray, Ix2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Element;
use crate::engine::{Engine, Kernel, Sampling};
use crate::error::EmError;

/// How the E-step and the M-step of an EM fit are carried out.
///
/// All four keep the statistics-based structure of EM; they differ in what replaces the
/// exact posterior or the exact maximisation when either is too costly (theory §4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Strategy {
    /// Exact EM: the posterior as q, the closed-form maximiser as θ. The ELBO meets the
    /// log-likelihood after every E-step and the log-likelihood never decreases.
    #[default]
    Exact,
    /// Monte Carlo (stochastic) EM: each row's assignment is drawn `samples` times from its
    /// posterior and the M-step is run on the empirical distribution of the draws (Wei &
    /// Tanner 1990; with one draw, Celeux & Diebolt's SEM). The gap after the E-step is the
    /// KL divergence from the sampled q to the posterior, positive.
    MonteCarlo {
        /// Draws per row and iteration (≥ 1).
        samples: usize,
    },
    /// Generalized EM: the M-step moves only the fraction `step` of the way from the current
    /// parameters to the closed-form optimum, in natural parameters (precisions and
    /// precision-weighted means; logits; weights on the simplex). Q is concave there, so each
    /// step increases Q and hence the log-likelihood (Dempster, Laird & Rubin 1977, §3);
    /// should rounding ever make Q fall, the full M-step is taken instead.
    Generalized {
        /// Fraction of the way to the optimum, in (0, 1]; 1 is exact EM.
        step: f64,
    },
    /// Online (stepwise) EM over shuffled mini-batches (Cappé & Moulines 2009; Liang & Klein
    /// 2009): the running normalised statistics move toward each batch's,
    /// `s ← (1 − γ_t) s + γ_t s_batch` with `γ_t = (t + 2)^(−decay)`, and θ follows `s` after
    /// every batch. One iteration is one pass over the data (an epoch), preceded by a full
    /// E-step pass that the trace and the convergence test use.
    Online {
        /// Rows per mini-batch (≥ 1).
        batch_size: usize,
        /// Step-size exponent κ in (0.5, 1] (Robbins–Monro: Σ γ = ∞, Σ γ² < ∞).
        decay: f64,
    },
}

impl Strategy {
    /// Short name, as in settings files: `exact`, `monte-carlo`, `generalized`, `online`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::MonteCarlo { .. } => "monte-carlo",
            Self::Generalized { .. } => "generalized",
            Self::Online { .. } => "online",
        }
    }

    /// Checks the strategy's own settings (the mixtures' `check` calls it).
    ///
    /// # Errors
    /// [`EmError::InvalidParam`] naming `strategy.<field>`.
    pub fn check(&self) -> Result<(), EmError> {
        match *self {
            Self::Exact => Ok(()),
            Self::MonteCarlo { samples } if samples == 0 => Err(EmError::param(
                "strategy.samples",
                samples,
                "must be at least 1 draw per row",
            )),
            Self::MonteCarlo { .. } => Ok(()),
            Self::Generalized { step } if !(step > 0.0 && step <= 1.0) => Err(EmError::param(
                "strategy.step",
                step,
                "must lie in (0, 1] (1 is exact EM; e.g. 0.5)",
            )),
            Self::Generalized { .. } => Ok(()),
            Self::Online { batch_size, .. } if batch_size == 0 => Err(EmError::param(
                "strategy.batch_size",
                batch_size,
                "must be at least 1 row (e.g. 1000)",
            )),
            Self::Online { decay, .. } if !(decay > 0.5 && decay <= 1.0) => Err(EmError::param(
                "strategy.decay",
                decay,
                "must lie in (0.5, 1] (e.g. 0.6)",
            )),
            Self::Online { .. } => Ok(()),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact => write!(f, "exact EM"),
            Self::MonteCarlo { samples: 1 } => write!(f, "Monte Carlo EM (1 draw per row)"),
            Self::MonteCarlo { samples } => write!(f, "Monte Carlo EM ({samples} draws per row)"),
            Self::Generalized { step } => write!(f, "generalized EM (step {step})"),
            Self::Online { batch_size, decay } => {
                write!(f, "online EM (batches of {batch_size}, decay {decay})")
            }
        }
    }
}

/// The log-likelihood and the ELBO at one point of an iteration, per sample (nats).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// Mean ln p(x_n; θ) under the parameters at this point.
    pub log_likelihood: f64,
    /// Mean ELBO L(q, θ) = E_q[ln p(x, z; θ)] + H(q) with the iteration's q.
    pub elbo: f64,
}

impl Bound {
    /// log-likelihood − ELBO = the mean KL(q ‖ p(z | x; θ)) ≥ 0.
    pub fn gap(&self) -> f64 {
        self.log_likelihood - self.elbo
    }
}

/// One EM iteration as the theory describes it: the bound after the E-step (θ_t with the new
/// q) and after the M-step (the new θ_{t+1} with the same q).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterationTrace {
    /// At θ_t, q from the E-step. Exact EM: gap 0.
    pub after_e_step: Bound,
    /// At θ_{t+1}, same q. The ELBO rose; the log-likelihood rose at least as much.
    pub after_m_step: Bound,
}

/// What a strategy needs from a mixture family (Gaussian, Bernoulli).
pub(crate) trait Family {
    /// The family's per-chunk numerics.
    type Kernel: Kernel;
    /// The fitted model.
    type Model: Clone;

    /// The closed-form M-step: θ* = argmax Q from the statistics, written into `model`.
    fn m_step(
        &self,
        acc: &<Self::Kernel as Kernel>::Acc,
        kernel: &Self::Kernel,
        model: &mut Self::Model,
    ) -> Result<(), EmError>;
    /// Q(θ) = Σ_n w_n Σ_k q_nk ln(π_k p(x_n | k; θ)) from the statistics of q.
    fn q_value(
        &self,
        acc: &<Self::Kernel as Kernel>::Acc,
        kernel: &Self::Kernel,
        model: &Self::Model,
    ) -> f64;
    /// The generalized M-step's point: `step` of the way from `old` to `star` in natural
    /// parameters.
    fn damp(
        &self,
        old: &Self::Model,
        star: &Self::Model,
        step: f64,
    ) -> Result<Self::Model, EmError>;
    /// Loads a model's parameters into the kernel (allocates nothing).
    fn load(&self, kernel: &mut Self::Kernel, model: &Self::Model);
}

/// State of online EM within one fit.
struct OnlineState<A: Element, K: Kernel> {
    /// Engine over the current mini-batch (owns its row buffer).
    batch: Engine<'static, A, K>,
    /// Running normalised statistics `s`; `None` until the first pass of a run sets it.
    stats: Option<K::Acc>,
    /// Mini-batch updates so far in this run.
    updates: u64,
    /// Row order of the current epoch.
    order: Vec<usize>,
}

impl<A: Element, K: Kernel> OnlineState<A, K> {
    /// The state online EM needs (`None` for the other strategies): a mini-batch engine of
    /// `d` columns and the row order `0..n` of in-memory data.
    fn for_strategy<F: Family<Kernel = K>>(core: &Core<F>, d: usize, n: usize) -> Option<Self> {
        match core.strategy {
            Strategy::Online { .. } => Some(OnlineState {
                batch: Engine::empty(&core.kernel, d),
                stats: None,
                updates: 0,
                order: (0..n).collect(),
            }),
            _ => None,
        }
    }
}

/// The state of a fit that does not depend on where the rows come from.
pub(crate) struct Core<F: Family> {
    pub(crate) family: F,
    pub(crate) kernel: F::Kernel,
    pub(crate) model: F::Model,
    pub(crate) strategy: Strategy,
    pub(crate) seed: u64,
    run: usize,
    epoch: u64,
    /// The last iteration's trace, waiting for the log-likelihood after its M-step.
    pending: Option<(Bound, f64)>,
    trace: Vec<IterationTrace>,
}

impl<F: Family> Core<F> {
    pub(crate) fn new(
        family: F,
        kernel: F::Kernel,
        model: F::Model,
        strategy: Strategy,
        seed: u64,
    ) -> Self {
        Self {
            family,
            kernel,
            model,
            strategy,
            seed,
            run: 0,
            epoch: 0,
            pending: None,
            trace: Vec::new(),
        }
    }

    /// Forgets the trace: restart `run` begins.
    pub(crate) fn restart(&mut self, run: usize) {
        self.run = run;
        self.epoch = 0;
        self.pending = None;
        self.trace.clear();
    }

    /// The E-step's sampling settings under this strategy.
    pub(crate) fn sampling(&self) -> Option<Sampling> {
        match self.strategy {
            Strategy::MonteCarlo { samples } => Some(Sampling {
                samples,
                seed: self.seed,
            }),
            _ => None,
        }
    }

    /// Records the log-likelihood `ll` (per sample) of the current θ as the after-M-step
    /// value of the pending iteration.
    pub(crate) fn complete(&mut self, ll: f64) {
        if let Some((after_e, elbo)) = self.pending.take() {
            self.trace.push(IterationTrace {
                after_e_step: after_e,
                after_m_step: Bound {
                    log_likelihood: ll,
                    elbo,
                },
            });
        }
    }

    /// The trace so far (complete iterations only).
    pub(crate) fn take_trace(&mut self) -> Vec<IterationTrace> {
        std::mem::take(&mut self.trace)
    }

    /// The M-step of a batch strategy (exact, Monte Carlo, generalized) from a full pass's
    /// sums: `ll` = Σ w ln p, `entropy` = Σ w H(q), `weight` = Σ w, `stats` of q. Online EM
    /// calls [`Core::begin_epoch`] and [`Core::end_epoch`] around its mini-batches instead.
    pub(crate) fn m_step_from(
        &mut self,
        ll: f64,
        entropy: f64,
        weight: f64,
        stats: &<F::Kernel as Kernel>::Acc,
    ) -> Result<(), EmError> {
        self.begin_epoch(ll, entropy, weight, stats);
        match self.strategy {
            Strategy::Exact | Strategy::MonteCarlo { .. } | Strategy::Online { .. } => {
                self.family.m_step(stats, &self.kernel, &mut self.model)?;
            }
            Strategy::Generalized { step } => {
                let q_old = self.family.q_value(stats, &self.kernel, &self.model);
                let mut star = self.model.clone();
                self.family.m_step(stats, &self.kernel, &mut star)?;
                let damped = self.family.damp(&self.model, &star, step)?;
                // Q is concave along the path, so this holds up to rounding; if rounding (or
                // reg_covar) ever breaks it, the full step keeps EM's guarantee.
                self.model = if self.family.q_value(stats, &self.kernel, &damped) >= q_old {
                    damped
                } else {
                    star
                };
            }
        }
        self.end_epoch(entropy, weight, stats);
        Ok(())
    }

    /// Opens an iteration: completes the previous one with this pass's log-likelihood and
    /// records the bound after the E-step.
    fn begin_epoch(
        &mut self,
        ll: f64,
        entropy: f64,
        weight: f64,
        stats: &<F::Kernel as Kernel>::Acc,
    ) {
        self.complete(ll / weight);
        let q = self.family.q_value(stats, &self.kernel, &self.model);
        self.pending = Some((
            Bound {
                log_likelihood: ll / weight,
                elbo: (q + entropy) / weight,
            },
            f64::NAN,
        ));
    }

    /// Closes an iteration after the parameters moved: loads them into the kernel and
    /// records the ELBO of the new θ with the iteration's q.
    fn end_epoch(&mut self, entropy: f64, weight: f64, stats: &<F::Kernel as Kernel>::Acc) {
        self.family.load(&mut self.kernel, &self.model);
        let q = self.family.q_value(stats, &self.kernel, &self.model);
        if let Some((_, elbo)) = &mut self.pending {
            *elbo = (q + entropy) / weight;
        }
        self.epoch += 1;
    }
}

/// EM over rows held in memory: the engine over all rows, the strategy's state and the trace.
pub(crate) struct InMemory<'a, A: Element, F: Family> {
    pub(crate) engine: Engine<'a, A, F::Kernel>,
    pub(crate) core: Core<F>,
    online: Option<OnlineState<A, F::Kernel>>,
}

impl<'a, A: Element, F: Family> InMemory<'a, A, F> {
    pub(crate) fn new(engine: Engine<'a, A, F::Kernel>, core: Core<F>) -> Self {
        let online = OnlineState::for_strategy(&core, engine.x().ncols(), engine.x().nrows());
        Self {
            engine,
            core,
            online,
        }
    }

    /// Starts restart `run`: forgets the trace and the online statistics.
    pub(crate) fn restart(&mut self, run: usize) {
        self.core.restart(run);
        self.engine.reset_passes(run);
        if let Some(o) = &mut self.online {
            o.stats = None;
            o.updates = 0;
        }
    }

    /// One iteration of the strategy; returns the per-sample log-likelihood of the parameters
    /// before it (the E-step's bound, scikit-learn's `lower_bounds_` entry).
    pub(crate) fn step(&mut self) -> Result<f64, EmError> {
        let (ll, entropy) = self.engine.e_step(&self.core.kernel, self.core.sampling());
        let weight = self.engine.total_weight();
        match (self.core.strategy, &mut self.online) {
            (Strategy::Online { batch_size, decay }, Some(o)) => {
                let core = &mut self.core;
                let stats = &self.engine.total;
                core.begin_epoch(ll, entropy, weight, stats);
                let kernel_ref = &core.kernel;
                let s = o.stats.get_or_insert_with(|| {
                    let mut s = kernel_ref.new_acc();
                    kernel_ref.blend_acc(&mut s, 0.0, stats, 1.0 / weight);
                    s
                });
                let mut rng = ChaCha8Rng::seed_from_u64(core.seed);
                rng.set_stream(((core.run as u64) << 32) | core.epoch);
                o.order.shuffle(&mut rng);
                let (x, sw) = (self.engine.x(), self.engine.sample_weight());
                for idx in o.order.chunks(batch_size) {
                    o.batch.load_rows(&core.kernel, x, idx, sw);
                    o.batch.e_step(&core.kernel, None);
                    let wb = o.batch.total_weight();
                    if wb <= 0.0 {
                        continue;
                    }
                    let gamma = (o.updates as f64 + 2.0).powf(-decay);
                    o.updates += 1;
                    core.kernel
                        .blend_acc(s, 1.0 - gamma, &o.batch.total, gamma / wb);
                    core.family.m_step(s, &core.kernel, &mut core.model)?;
                    core.family.load(&mut core.kernel, &core.model);
                }
                core.end_epoch(entropy, weight, stats);
            }
            _ => self
                .core
                .m_step_from(ll, entropy, weight, &self.engine.total)?,
        }
        Ok(ll / weight)
    }

    /// Completes the last iteration's trace with one more evaluation pass.
    pub(crate) fn finish(&mut self) {
        if self.core.pending.is_some() {
            let (ll, _) = self.engine.e_step(&self.core.kernel, None);
            let weight = self.engine.total_weight();
            self.core.complete(ll / weight);
        }
    }
}

/// The source of a streamed fit: called once per pass, it returns the rows of the data set
/// chunk by chunk (any chunk sizes; the same rows in every pass).
pub trait ChunkSource<A> {
    /// The error a chunk can fail with (I/O, parsing…).
    type Error: std::error::Error + Send + Sync + 'static;
    /// The chunks of one pass.
    fn chunks(&mut self) -> impl Iterator<Item = Result<Array2<A>, Self::Error>>;
}

impl<A, E, I, F> ChunkSource<A> for F
where
    F: FnMut() -> I,
    I: IntoIterator<Item = Result<Array2<A>, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    type Error = E;
    fn chunks(&mut self) -> impl Iterator<Item = Result<Array2<A>, E>> {
        self().into_iter()
    }
}

/// Takes the first chunk of a stream's first pass, checked and in standard layout.
pub(crate) fn first_chunk<A: Element, S: ChunkSource<A>>(
    source: &mut S,
) -> Result<Array2<A>, EmError> {
    let first = match source.chunks().next() {
        None => return Err(EmError::EmptyData { rows: 0, cols: 0 }),
        Some(Err(e)) => {
            return Err(EmError::Stream {
                chunk: 0,
                source: Box::new(e),
            });
        }
        Some(Ok(c)) => c,
    };
    crate::data::prepare(first.view())?;
    Ok(first.as_standard_layout().into_owned())
}

/// EM over a stream of chunks: one chunk in memory at a time; the statistics merge.
pub(crate) struct Streamed<A: Element, F: Family, S> {
    pub(crate) engine: Engine<'static, A, F::Kernel>,
    pub(crate) core: Core<F>,
    source: S,
    /// Merged statistics of the current pass.
    total: <F::Kernel as Kernel>::Acc,
    online: Option<OnlineState<A, F::Kernel>>,
    /// Rows of the first pass (every pass must have as many).
    rows: Option<usize>,
    /// Family-specific checks of a chunk's values (finite, binary…).
    check_chunk: fn(ArrayView2<'_, A>) -> Result<(), EmError>,
}

/// Checks one chunk of a stream (columns, values) and makes it engine data.
fn admit<A: Element, E: std::error::Error + Send + Sync + 'static>(
    chunk: Result<Array2<A>, E>,
    index: usize,
    d: usize,
    check: fn(ArrayView2<'_, A>) -> Result<(), EmError>,
) -> Result<CowArray<'static, A, Ix2>, EmError> {
    let chunk = chunk.map_err(|e| EmError::Stream {
        chunk: index,
        source: Box::new(e),
    })?;
    if chunk.ncols() != d {
        return Err(EmError::StreamChunk {
            chunk: index,
            reason: format!(
                "it has {} columns but the first chunk had {d}; every chunk needs the same columns",
                chunk.ncols()
            ),
        });
    }
    check(chunk.view()).map_err(|e| EmError::StreamChunk {
        chunk: index,
        reason: e.to_string(),
    })?;
    Ok(if chunk.is_standard_layout() {
        CowArray::from(chunk)
    } else {
        CowArray::from(chunk.as_standard_layout().into_owned())
    })
}

impl<A: Element, F: Family, S: ChunkSource<A>> Streamed<A, F, S> {
    pub(crate) fn new(
        engine: Engine<'static, A, F::Kernel>,
        core: Core<F>,
        source: S,
        check_chunk: fn(ArrayView2<'_, A>) -> Result<(), EmError>,
    ) -> Self {
        let total = core.kernel.new_acc();
        let online = OnlineState::for_strategy(&core, engine.x().ncols(), 0);
        Self {
            engine,
            core,
            source,
            total,
            online,
            rows: None,
            check_chunk,
        }
    }

    /// Starts restart `run`.
    pub(crate) fn restart(&mut self, run: usize) {
        self.core.restart(run);
        self.engine.reset_passes(run);
        if let Some(o) = &mut self.online {
            o.stats = None;
            o.updates = 0;
        }
    }

    /// Checks that a pass saw as many rows as the first.
    fn check_rows(&mut self, rows: usize) -> Result<(), EmError> {
        match self.rows {
            None if rows == 0 => Err(EmError::EmptyData { rows: 0, cols: 0 }),
            None => {
                self.rows = Some(rows);
                Ok(())
            }
            Some(first) if first != rows => Err(EmError::StreamChunk {
                chunk: 0,
                reason: format!(
                    "a pass gave {rows} rows but the first pass gave {first}; every pass must return the same rows"
                ),
            }),
            Some(_) => Ok(()),
        }
    }

    /// One E-step pass over the stream under the current θ: returns (Σ ln p, Σ H, rows); the
    /// merged statistics are in `self.total`.
    fn pass(&mut self, sampling: Option<Sampling>) -> Result<(f64, f64, usize), EmError> {
        let d = self.engine.x().ncols();
        let kernel = &self.core.kernel;
        kernel.clear_acc(&mut self.total);
        let (mut ll, mut entropy, mut rows) = (0.0, 0.0, 0usize);
        for (i, chunk) in self.source.chunks().enumerate() {
            let data = admit(chunk, i, d, self.check_chunk)?;
            rows += data.nrows();
            self.engine.set_data(kernel, data);
            let (l, h) = self.engine.e_step(kernel, sampling);
            kernel.merge_acc(&mut self.total, &self.engine.total);
            ll += l;
            entropy += h;
        }
        self.check_rows(rows)?;
        Ok((ll, entropy, rows))
    }

    /// One iteration over the stream (online EM: an evaluation pass, then an update pass);
    /// returns the per-sample log-likelihood before it.
    pub(crate) fn step(&mut self) -> Result<f64, EmError> {
        let (ll, entropy, rows) = self.pass(self.core.sampling())?;
        let weight = rows as f64;
        let Strategy::Online { batch_size, decay } = self.core.strategy else {
            self.core.m_step_from(ll, entropy, weight, &self.total)?;
            return Ok(ll / weight);
        };
        let Some(o) = &mut self.online else {
            unreachable!("online state exists for the online strategy");
        };
        let core = &mut self.core;
        core.begin_epoch(ll, entropy, weight, &self.total);
        let kernel_ref = &core.kernel;
        let total = &self.total;
        let s = o.stats.get_or_insert_with(|| {
            let mut s = kernel_ref.new_acc();
            kernel_ref.blend_acc(&mut s, 0.0, total, 1.0 / weight);
            s
        });
        let d = self.engine.x().ncols();
        for (i, chunk) in self.source.chunks().enumerate() {
            let data = admit(chunk, i, d, self.check_chunk)?;
            for start in (0..data.nrows()).step_by(batch_size) {
                let end = (start + batch_size).min(data.nrows());
                o.order.clear();
                o.order.extend(start..end);
                o.batch.load_rows(&core.kernel, data.view(), &o.order, None);
                o.batch.e_step(&core.kernel, None);
                let gamma = (o.updates as f64 + 2.0).powf(-decay);
                o.updates += 1;
                core.kernel
                    .blend_acc(s, 1.0 - gamma, &o.batch.total, gamma / (end - start) as f64);
                core.family.m_step(s, &core.kernel, &mut core.model)?;
                core.family.load(&mut core.kernel, &core.model);
            }
        }
        core.end_epoch(entropy, weight, &self.total);
        Ok(ll / weight)
    }

    /// Completes the last iteration's trace with one more evaluation pass.
    pub(crate) fn finish(&mut self) -> Result<(), EmError> {
        if self.core.pending.is_some() {
            let (ll, _, rows) = self.pass(None)?;
            self.core.complete(ll / rows as f64);
        }
        Ok(())
    }
}

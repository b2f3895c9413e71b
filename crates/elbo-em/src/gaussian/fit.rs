//! Fitting a Gaussian mixture: initialisation, the EM loop, the M-step.

use std::time::Instant;

use elbo_distributions::{DiagGaussianStats, GaussianStats};
use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, Axis, CowArray, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{Element, check_sample_weight, effective_rows, prepare};
use crate::engine::Engine;
use crate::error::EmError;
use crate::fit::{Fit, Observer, Stepper, run_fit_observed};
use crate::init::{Start, kmeans, kmeans_plusplus, random_rows, weighted_mean};
use crate::params::{
    Covariance, Covariances, GaussianMixtureParams, GivenSpread, Init, ValidGaussianMixtureParams,
};
use crate::strategy::{ChunkSource, Core, InMemory, IterationTrace, Streamed, first_chunk};

use super::GaussianMixture;
use super::family::GaussFamily;
use super::kernel::{GaussAcc, GaussKernel, n_pairs, pair_index};
use super::linalg::{precision_factor_into, precision_scale};

/// scikit-learn adds `10 · ε` to every `N_k` so that empty components do not divide by zero.
const NK_FLOOR: f64 = 10.0 * f64::EPSILON;

impl GaussianMixture {
    /// A model of the right shapes filled with zeros (the M-step writes it in place).
    fn zeros(kind: Covariance, k: usize, d: usize) -> Self {
        let arrays = || match kind {
            Covariance::Full => Covariances::Full(Array3::zeros((k, d, d))),
            Covariance::Tied => Covariances::Tied(Array2::zeros((d, d))),
            Covariance::Diag => Covariances::Diag(Array2::zeros((k, d))),
            Covariance::Spherical => Covariances::Spherical(Array1::zeros(k)),
        };
        Self {
            kind,
            weights: Array1::zeros(k),
            means: Array2::zeros((k, d)),
            covariances: arrays(),
            precisions_cholesky: arrays(),
        }
    }
}

/// The M-step: parameters from the merged statistics, written into `model`.
///
/// Each component's sums (computed around the fit's shift by the kernel's GEMMs) become the
/// mergeable sufficient statistics of elbo-distributions ([`GaussianStats`] for full,
/// [`DiagGaussianStats`] for diag and spherical), whose `mean`, `covariance`, `variance` and
/// `spherical_variance` give the estimates. scikit-learn's estimator is followed exactly: the
/// statistics carry the weight `N_k + 10 ε` (scikit-learn's guard against empty components),
/// so means are `Σ r x / (N_k + 10 ε)` and covariances `Σ r x xᵀ / (N_k + 10 ε) − μ μᵀ`, all
/// plus `reg_covar` on the diagonal; spherical is the mean of the diag variances. Tied pools
/// the data: the covariance of all rows ([`GaussianStats`] of the pooled sums) minus the
/// scatter of the component means. Weights are `N_k / Σ N_k`, except after initialisation
/// (`init_total = Some(Σ w)`), where scikit-learn divides by the number of samples.
pub(crate) fn m_step(
    acc: &GaussAcc,
    shift: &Array1<f64>,
    reg: f64,
    init_total: Option<f64>,
    model: &mut GaussianMixture,
) -> Result<(), EmError> {
    let (k, d) = (model.n_components(), model.n_features());
    let nk_sum: f64 = acc.nk.iter().map(|w| w + NK_FLOOR).sum();
    let norm = init_total.unwrap_or(nk_sum);
    for c in 0..k {
        model.weights[c] = (acc.nk[c] + NK_FLOOR) / norm;
    }
    // Σ r (x − s) of component c.
    let s1 = |c: usize, lin: usize| acc.rf.slice(s![c, lin..lin + d]).to_owned();
    match (&mut model.covariances, &mut model.precisions_cholesky) {
        (Covariances::Full(cov), Covariances::Full(prec)) => {
            let mut s2 = Array2::zeros((d, d));
            for c in 0..k {
                for a in 0..d {
                    for b in a..d {
                        let v = acc.rf[[c, pair_index(d, a, b)]];
                        s2[[a, b]] = v;
                        s2[[b, a]] = v;
                    }
                }
                let stats = GaussianStats::from_sums(
                    acc.nk[c] + NK_FLOOR,
                    shift.clone(),
                    s1(c, n_pairs(d)),
                    s2.clone(),
                )?;
                model.means.row_mut(c).assign(&stats.mean());
                cov.index_axis_mut(Axis(0), c)
                    .assign(&stats.covariance(reg));
                precision_factor_into(
                    cov.index_axis(Axis(0), c),
                    prec.index_axis_mut(Axis(0), c),
                    c,
                    reg,
                )?;
            }
        }
        (Covariances::Tied(cov), Covariances::Tied(prec)) => {
            let mut pooled_s1 = Array1::zeros(d);
            for c in 0..k {
                let stats = DiagGaussianStats::from_sums(
                    acc.nk[c] + NK_FLOOR,
                    shift.clone(),
                    s1(c, 0),
                    Array1::zeros(d),
                )?;
                model.means.row_mut(c).assign(&stats.mean());
                pooled_s1 += &acc.rf.row(c);
            }
            let pooled =
                GaussianStats::from_sums(nk_sum, shift.clone(), pooled_s1, acc.s2.clone())?;
            // Within-component scatter = total scatter − scatter of the means about their
            // weighted average (the pooled mean).
            let total_mean = pooled.mean();
            cov.assign(&pooled.covariance(reg));
            for c in 0..k {
                let share = (acc.nk[c] + NK_FLOOR) / nk_sum;
                let dm = &model.means.row(c) - &total_mean;
                for a in 0..d {
                    for b in 0..d {
                        cov[[a, b]] -= share * dm[a] * dm[b];
                    }
                }
            }
            precision_factor_into(cov.view(), prec.view_mut(), 0, reg)?;
        }
        (Covariances::Diag(var), Covariances::Diag(prec)) => {
            for c in 0..k {
                let stats = diag_stats(acc, shift, c, d)?;
                model.means.row_mut(c).assign(&stats.mean());
                for (j, v) in stats.variance(reg).into_iter().enumerate() {
                    var[[c, j]] = v;
                    prec[[c, j]] = precision_scale(v, c, reg)?;
                }
            }
        }
        (Covariances::Spherical(var), Covariances::Spherical(prec)) => {
            for c in 0..k {
                let stats = diag_stats(acc, shift, c, d)?;
                model.means.row_mut(c).assign(&stats.mean());
                let v = stats.spherical_variance(reg);
                var[c] = v;
                prec[c] = precision_scale(v, c, reg)?;
            }
        }
        _ => unreachable!("covariances and their factors always share a type"),
    }
    Ok(())
}

/// The diag / spherical statistics of component `c` (features `[y, y², 1]`).
fn diag_stats(
    acc: &GaussAcc,
    shift: &Array1<f64>,
    c: usize,
    d: usize,
) -> Result<DiagGaussianStats, EmError> {
    Ok(DiagGaussianStats::from_sums(
        acc.nk[c] + NK_FLOOR,
        shift.clone(),
        acc.rf.slice(s![c, ..d]).to_owned(),
        acc.rf.slice(s![c, d..2 * d]).to_owned(),
    )?)
}

impl GaussianMixtureParams {
    /// Validates the settings and fits the mixture to the rows of `x` (`f64`, `f32` or `u8`).
    ///
    /// # Errors
    /// Any [`EmError`] of [`check`](Self::check) or of the data (empty, non-finite, fewer rows
    /// than components), a [`EmError::NotPositiveDefinite`] covariance, a `Given` init or
    /// warm-start model that does not match the data.
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Fit<GaussianMixture>, EmError> {
        self.clone().check()?.fit(x)
    }

    /// As [`fit`](Self::fit), with a non-negative weight per row: a row of weight 2 counts as
    /// two copies of it.
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and [`EmError::SampleWeight`] for unusable weights.
    pub fn fit_weighted<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: ArrayView1<'_, f64>,
    ) -> Result<Fit<GaussianMixture>, EmError> {
        self.clone().check()?.fit_weighted(x, sample_weight)
    }
}

impl ValidGaussianMixtureParams {
    /// Fits the mixture to the rows of `x`; see [`GaussianMixtureParams::fit`].
    ///
    /// # Errors
    /// As [`GaussianMixtureParams::fit`].
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Fit<GaussianMixture>, EmError> {
        fit_impl(self, x, None)
    }

    /// Fits with sample weights; see [`GaussianMixtureParams::fit_weighted`].
    ///
    /// # Errors
    /// As [`GaussianMixtureParams::fit_weighted`].
    pub fn fit_weighted<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: ArrayView1<'_, f64>,
    ) -> Result<Fit<GaussianMixture>, EmError> {
        fit_impl(self, x, Some(sample_weight))
    }

    /// Fits (with sample weights if given), calling `observer` after every iteration; the
    /// observer can stop the fit, which then returns [`EmError::Interrupted`].
    ///
    /// # Errors
    /// As [`GaussianMixtureParams::fit_weighted`], and [`EmError::Interrupted`].
    pub fn fit_observed<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: Option<ArrayView1<'_, f64>>,
        observer: Observer<'_>,
    ) -> Result<Fit<GaussianMixture>, EmError> {
        let started = Instant::now();
        let mut em = GaussianEm::new(self, x, sample_weight)?;
        let runs = em.runs();
        run_fit_observed(
            &mut em,
            runs,
            self.max_iter(),
            self.tol(),
            "GaussianMixture",
            started,
            observer,
        )
    }
}

/// The model a `Given` init describes, checked against the data dimension.
fn given_model(
    p: &ValidGaussianMixtureParams,
    d: usize,
) -> Result<Option<GaussianMixture>, EmError> {
    let Init::Given(g) = p.init() else {
        return Ok(None);
    };
    if g.means.ncols() != d {
        return Err(EmError::shape(
            "means",
            &[p.n_components(), d],
            g.means.shape(),
            "the means must have one column per feature of the data",
        ));
    }
    let model = match &g.spread {
        GivenSpread::Covariances(c) => {
            GaussianMixture::from_covariances(g.weights.clone(), g.means.clone(), c.clone())?
        }
        GivenSpread::Precisions(l) => {
            GaussianMixture::from_precisions(g.weights.clone(), g.means.clone(), l.clone())?
        }
    };
    Ok(Some(model))
}

/// EM on one data set, one iteration at a time, for callers who drive the loop themselves
/// (custom stopping rules, progress display, benchmarks). [`GaussianMixtureParams::fit`] is
/// this plus restarts and the convergence test. The strategy of the settings
/// ([`crate::Strategy`]) decides what an iteration is.
///
/// All buffers are allocated by [`GaussianEm::new`]; [`GaussianEm::step`] allocates none that
/// grow with the data.
pub struct GaussianEm<'a, A: Element> {
    params: ValidGaussianMixtureParams,
    em: InMemory<'a, A, GaussFamily>,
    total_w: f64,
    fixed_start: Option<GaussianMixture>,
}

impl<A: Element> std::fmt::Debug for GaussianEm<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaussianEm")
            .field("params", &self.params)
            .field("model", &self.em.core.model)
            .field("total_weight", &self.total_w)
            .finish_non_exhaustive()
    }
}

/// Checks a start model (given or warm) against the data dimension.
fn check_start(warm: Option<&GaussianMixture>, d: usize) -> Result<(), EmError> {
    if let Some(m) = warm
        && m.n_features() != d
    {
        return Err(EmError::WarmStart {
            reason: format!(
                "the model has {} features but the data has {d} columns",
                m.n_features()
            ),
        });
    }
    Ok(())
}

/// The initial model of restart `run`: the fixed start, or the init method's responsibilities
/// on the engine's rows followed by an M-step.
fn initial_model<A: Element>(
    p: &ValidGaussianMixtureParams,
    fixed_start: Option<&GaussianMixture>,
    engine: &mut Engine<'_, A, GaussKernel>,
    kernel: &GaussKernel,
    run: usize,
) -> Result<GaussianMixture, EmError> {
    if let Some(m) = fixed_start {
        return Ok(m.clone());
    }
    let k = p.n_components();
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed());
    rng.set_stream(run as u64);
    let x = engine.x();
    let d = x.ncols();
    let (n, sw, shift) = (x.nrows(), engine.sample_weight(), kernel.shift().view());
    let start = match p.init() {
        Init::KMeans => Start::Labels(kmeans(x, sw, shift, k, &mut rng)),
        Init::KMeansPlusPlus => Start::Seeds(kmeans_plusplus(x, sw, shift, k, &mut rng)),
        Init::RandomFromData => Start::Seeds(random_rows(n, sw, k, &mut rng)),
        Init::Random | Init::Given(_) => Start::Random,
    };
    let total_w = engine.total_weight();
    engine.accumulate_with(kernel, |row, m, resp| start.fill(row, m, resp, &mut rng));
    let mut model = GaussianMixture::zeros(p.covariance(), k, d);
    m_step(
        &engine.total,
        kernel.shift(),
        p.reg_covar(),
        Some(total_w),
        &mut model,
    )?;
    Ok(model)
}

impl<'a, A: Element> GaussianEm<'a, A> {
    /// Checks the data, allocates the buffers and initialises the model (first restart).
    ///
    /// # Errors
    /// As [`GaussianMixtureParams::fit_weighted`].
    pub fn new(
        params: &ValidGaussianMixtureParams,
        x: ArrayView2<'a, A>,
        sample_weight: Option<ArrayView1<'_, f64>>,
    ) -> Result<Self, EmError> {
        let p = params;
        let x = prepare(x)?;
        let (n, d) = x.dim();
        let sw: Option<Vec<f64>> = sample_weight.map(|w| w.to_vec());
        let total_w = match &sw {
            Some(w) => check_sample_weight(ArrayView1::from(w.as_slice()), n)?,
            None => n as f64,
        };
        let k = p.n_components();
        let n_eff = effective_rows(sw.as_deref().map(ArrayView1::from), n);
        if k > n_eff {
            return Err(EmError::TooFewSamples {
                n_components: k,
                n_samples: n_eff,
            });
        }
        let warm = p.warm_start().cloned();
        check_start(warm.as_ref(), d)?;
        let given = given_model(p, d)?;
        let shift = weighted_mean(x.view(), sw.as_deref());
        let kernel = GaussKernel::blank(p.covariance(), k, d, shift);
        let engine = Engine::new(&kernel, x, sw);
        let family = GaussFamily {
            reg_covar: p.reg_covar(),
        };
        let core = Core::new(
            family,
            kernel,
            GaussianMixture::zeros(p.covariance(), k, d),
            p.strategy(),
            p.seed(),
        );
        let mut em = Self {
            params: p.clone(),
            em: InMemory::new(engine, core),
            total_w,
            fixed_start: warm.or(given),
        };
        em.initialise(0)?;
        Ok(em)
    }

    /// Restarts from the initialisation of restart `run` (its own random stream of the seed).
    ///
    /// # Errors
    /// [`EmError::NotPositiveDefinite`] if the initial covariances cannot be factored.
    pub fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        let em = &mut self.em;
        em.restart(run);
        let model = initial_model(
            &self.params,
            self.fixed_start.as_ref(),
            &mut em.engine,
            &em.core.kernel,
            run,
        )?;
        em.core.model = model;
        em.core.kernel.update(&em.core.model);
        Ok(())
    }

    /// One iteration of the strategy (exact EM: E-step, then M-step). Returns the per-sample
    /// lower bound computed by the E-step, i.e. the mean log-likelihood under the parameters
    /// *before* the step.
    ///
    /// # Errors
    /// [`EmError::NotPositiveDefinite`] if a new covariance cannot be factored.
    pub fn step(&mut self) -> Result<f64, EmError> {
        self.em.step()
    }

    /// The current model.
    pub fn model(&self) -> &GaussianMixture {
        &self.em.core.model
    }

    /// The trace of the iterations run since the last (re)initialisation, completed with one
    /// evaluation pass of the current parameters; see [`Fit::trace`].
    pub fn trace(&mut self) -> Vec<IterationTrace> {
        self.em.finish();
        self.em.core.take_trace()
    }

    /// Number of restarts a fit runs: 1 with a given or warm start, else `n_init`.
    fn runs(&self) -> usize {
        if self.fixed_start.is_some() {
            1
        } else {
            self.params.n_init()
        }
    }
}

impl<A: Element> Stepper for GaussianEm<'_, A> {
    type Model = GaussianMixture;
    fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        GaussianEm::initialise(self, run)
    }
    fn step(&mut self) -> Result<f64, EmError> {
        GaussianEm::step(self)
    }
    fn model(&self) -> &GaussianMixture {
        GaussianEm::model(self)
    }
    fn finish(&mut self) -> Result<(), EmError> {
        self.em.finish();
        Ok(())
    }
    fn take_trace(&mut self) -> Vec<IterationTrace> {
        self.em.core.take_trace()
    }
}

/// A streamed Gaussian fit: the first chunk is kept for (re)initialisation, every other
/// chunk is in memory only while its pass uses it.
struct GaussianStream<A: Element, S> {
    params: ValidGaussianMixtureParams,
    em: Streamed<A, GaussFamily, S>,
    first: Engine<'static, A, GaussKernel>,
    fixed_start: Option<GaussianMixture>,
}

impl<A: Element, S: ChunkSource<A>> Stepper for GaussianStream<A, S> {
    type Model = GaussianMixture;
    fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        self.em.restart(run);
        let model = initial_model(
            &self.params,
            self.fixed_start.as_ref(),
            &mut self.first,
            &self.em.core.kernel,
            run,
        )?;
        self.em.core.model = model;
        self.em.core.kernel.update(&self.em.core.model);
        Ok(())
    }
    fn step(&mut self) -> Result<f64, EmError> {
        self.em.step()
    }
    fn model(&self) -> &GaussianMixture {
        &self.em.core.model
    }
    fn finish(&mut self) -> Result<(), EmError> {
        self.em.finish()
    }
    fn take_trace(&mut self) -> Vec<IterationTrace> {
        self.em.core.take_trace()
    }
}

impl GaussianMixtureParams {
    /// Fits the mixture to a data set given as chunks of rows, never holding more than one
    /// chunk (and the first, kept for initialisation) in memory: each EM pass asks `source`
    /// for the chunks again and merges their sufficient statistics, so memory does not grow
    /// with the number of rows. Every strategy works; online EM updates after every
    /// `batch_size` rows of the stream, in stream order.
    ///
    /// The initialisation (`init`, the numerical shift) is computed on the first chunk, so
    /// make it representative (e.g. shuffled, and at least a few times `n_components` rows).
    /// A closure returning an iterator is a source:
    ///
    /// ```
    /// use elbo_em::{Covariance, GaussianMixture};
    /// use ndarray::{Array2, Axis};
    ///
    /// let x = Array2::from_shape_fn((2_000, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 + (i % 2) as f64 * 20.0);
    /// let fit = GaussianMixture::params(2)
    ///     .covariance(Covariance::Diag)
    ///     .fit_stream(|| {
    ///         x.axis_chunks_iter(Axis(0), 500)
    ///             .map(|c| Ok::<_, std::convert::Infallible>(c.to_owned()))
    ///     })?;
    /// assert!(fit.converged);
    /// # Ok::<(), elbo_em::EmError>(())
    /// ```
    ///
    /// # Errors
    /// As [`fit`](Self::fit) (data errors name the chunk), and [`EmError::Stream`] when the
    /// source fails, [`EmError::StreamChunk`] when a chunk has other columns than the first
    /// or a pass gives other rows than the first.
    pub fn fit_stream<A: Element, S: ChunkSource<A>>(
        &self,
        mut source: S,
    ) -> Result<Fit<GaussianMixture>, EmError> {
        let started = Instant::now();
        let p = self.clone().check()?;
        let first = first_chunk(&mut source)?;
        let (n0, d) = first.dim();
        let k = p.n_components();
        let warm = p.warm_start().cloned();
        check_start(warm.as_ref(), d)?;
        let given = given_model(&p, d)?;
        if warm.is_none() && given.is_none() && k > n0 {
            // The init methods draw from the first chunk.
            return Err(EmError::TooFewSamples {
                n_components: k,
                n_samples: n0,
            });
        }
        let shift = weighted_mean(first.view(), None);
        let kernel = GaussKernel::blank(p.covariance(), k, d, shift);
        let first = Engine::new(&kernel, CowArray::from(first), None);
        let engine = Engine::empty(&kernel, d);
        let family = GaussFamily {
            reg_covar: p.reg_covar(),
        };
        let core = Core::new(
            family,
            kernel,
            GaussianMixture::zeros(p.covariance(), k, d),
            p.strategy(),
            p.seed(),
        );
        let fixed_start = warm.or(given);
        let runs = if fixed_start.is_some() { 1 } else { p.n_init() };
        let mut em = GaussianStream {
            em: Streamed::new(engine, core, source, crate::data::check_finite::<A>),
            params: p,
            first,
            fixed_start,
        };
        em.initialise(0)?;
        let (max_iter, tol) = (em.params.max_iter(), em.params.tol());
        crate::fit::run_fit(&mut em, runs, max_iter, tol, "GaussianMixture", started)
    }
}

fn fit_impl<A: Element>(
    p: &ValidGaussianMixtureParams,
    x: ArrayView2<'_, A>,
    sample_weight: Option<ArrayView1<'_, f64>>,
) -> Result<Fit<GaussianMixture>, EmError> {
    let started = Instant::now();
    let mut em = GaussianEm::new(p, x, sample_weight)?;
    let runs = em.runs();
    let mut go_on = |_: &crate::fit::Progress| std::ops::ControlFlow::Continue(());
    run_fit_observed(
        &mut em,
        runs,
        p.max_iter(),
        p.tol(),
        "GaussianMixture",
        started,
        &mut go_on,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Simd;

    /// The AVX2 E-step (when the CPU has it) and the portable one give the same fit: both
    /// are the same IEEE operations, so they agree to 1e-12 relative (in fact bit for bit).
    #[test]
    fn dispatched_and_portable_e_steps_agree() {
        let (n, d) = (3_000, 5);
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let c = (i % 3) as f64;
            4.0 * c + ((i * 31 + j * 17) % 101) as f64 / 50.0 - 1.0
        });
        for kind in [
            Covariance::Full,
            Covariance::Tied,
            Covariance::Diag,
            Covariance::Spherical,
        ] {
            let params = GaussianMixture::params(3).covariance(kind).check().unwrap();
            let mut fast = GaussianEm::new(&params, x.view(), None).unwrap();
            let mut portable = GaussianEm::new(&params, x.view(), None).unwrap();
            let detected = fast.em.engine.simd();
            portable.em.engine.set_simd(Simd::Portable);
            for _ in 0..5 {
                let (a, b) = (fast.step().unwrap(), portable.step().unwrap());
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs(),
                    "{kind:?} {detected:?}: {a} vs {b}"
                );
            }
            let (ma, mb) = (fast.model(), portable.model());
            for (a, b) in ma.means().iter().zip(mb.means().iter()) {
                assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{kind:?} means");
            }
            for (a, b) in ma.covariances().values().zip(mb.covariances().values()) {
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs().max(1e-6),
                    "{kind:?} covariances"
                );
            }
        }
    }
}

//! Mixtures of independent Bernoullis for binary data (e.g. binarised images).
//!
//! `p(x) = Σ_k π_k Π_j p_kj^{x_j} (1 − p_kj)^{1 − x_j}`. The E-step is one GEMM per chunk,
//! `ln π_k + Σ_j ln(1 − p_kj) + Σ_j x_j logit(p_kj)`; the M-step is `p_kj = Σ r x_j / N_k`,
//! **clipped to `[clip, 1 − clip]`** (default `clip = 1e-6`) so that no pixel becomes certain:
//! an unclipped 0 or 1 would give held-out data containing the "impossible" value a
//! log-likelihood of −∞. Its log-likelihood is in nats on the same binary data as a
//! Bernoulli-decoder VAE, so the two compare directly.

use std::time::Instant;

use elbo_distributions::{Categorical, logit};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, linalg::general_mat_mul, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{
    Element, check_binary, check_sample_weight, effective_rows, prepare, prepare_for_model,
};
use crate::engine::{Engine, Kernel, Output, evaluate};
use crate::error::EmError;
use crate::fit::{Fit, Observer, Stepper, run_fit, run_fit_observed};
use crate::init::{Start, kmeans, kmeans_plusplus, random_rows, weighted_mean};
use crate::params::{Common, Init, check_finite_values, check_weights};
use crate::strategy::{ChunkSource, Core, Family, InMemory, IterationTrace, Streamed, first_chunk};

/// scikit-learn's floor on `N_k` (see the Gaussian M-step).
const NK_FLOOR: f64 = 10.0 * f64::EPSILON;

/// User-given initial parameters of a Bernoulli mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BernoulliGiven {
    /// Mixing weights, `[K]`, non-negative, summing to 1.
    pub weights: Array1<f64>,
    /// Success probabilities, `[K, d]`, in `[0, 1]` (clipped before use).
    pub probs: Array2<f64>,
}

/// Checks Bernoulli parameters: weights `[K]` a distribution, probs `[K, d]` in [0, 1] (or in
/// the open interval (0, 1) when `open`).
fn check_bernoulli_arrays(
    weights: &Array1<f64>,
    probs: &Array2<f64>,
    k: usize,
    open: bool,
) -> Result<(), EmError> {
    check_weights(weights.view(), k)?;
    let d = probs.ncols();
    if probs.nrows() != k || d == 0 {
        return Err(EmError::shape(
            "probs",
            &[k, d.max(1)],
            probs.shape(),
            "give one row of probabilities per component",
        ));
    }
    check_finite_values("probs", probs.iter().copied())?;
    let bad = |v: f64| {
        if open {
            !(v > 0.0 && v < 1.0)
        } else {
            !(0.0..=1.0).contains(&v)
        }
    };
    if let Some((i, v)) = probs.iter().enumerate().find(|(_, v)| bad(**v)) {
        let range = if open {
            "(0, 1); clip them, e.g. to [1e-6, 1 − 1e-6]"
        } else {
            "[0, 1]"
        };
        return Err(EmError::GivenValue {
            name: "probs",
            reason: format!("entry {i} (row-major) is {v}; probabilities must lie in {range}"),
        });
    }
    Ok(())
}

/// Unchecked settings of a [`BernoulliMixture`] fit; build with [`BernoulliMixture::params`].
#[derive(Clone, Debug)]
pub struct BernoulliMixtureParams {
    common: Common,
    clip: f64,
    init: Init<BernoulliGiven>,
    warm_start: Option<Box<BernoulliMixture>>,
}

impl BernoulliMixtureParams {
    crate::params::common_setters!(strategy);

    /// Settings with defaults (`tol = 1e-3`, `max_iter = 100`, `n_init = 1`, `init = KMeans`,
    /// `clip = 1e-6`, `seed = 0`) and `n_components` components.
    pub fn new(n_components: usize) -> Self {
        Self {
            common: Common::new(n_components),
            clip: 1e-6,
            init: Init::KMeans,
            warm_start: None,
        }
    }
    /// How to initialise.
    pub fn init(mut self, init: Init<BernoulliGiven>) -> Self {
        self.init = init;
        self
    }
    /// Probabilities are kept in `[clip, 1 − clip]`; `0 < clip < 0.5` (default 1e-6).
    pub fn clip(mut self, clip: f64) -> Self {
        self.clip = clip;
        self
    }
    /// Continue from a fitted model (one run from its parameters; `init`, `n_init` ignored).
    pub fn warm_start(mut self, model: BernoulliMixture) -> Self {
        self.warm_start = Some(Box::new(model));
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    /// [`EmError::InvalidParam`] naming the first bad setting; [`EmError::GivenShape`] /
    /// [`EmError::GivenValue`] for a bad `Given` init; [`EmError::WarmStart`] for a model of
    /// another size.
    pub fn check(self) -> Result<ValidBernoulliMixtureParams, EmError> {
        self.common.check()?;
        if !(self.clip > 0.0 && self.clip < 0.5) {
            return Err(EmError::param(
                "clip",
                self.clip,
                "must lie in (0, 0.5), e.g. 1e-6",
            ));
        }
        if let Init::Given(g) = &self.init {
            check_bernoulli_arrays(&g.weights, &g.probs, self.common.n_components, false)?;
        }
        if let Some(m) = &self.warm_start
            && m.n_components() != self.common.n_components
        {
            return Err(EmError::WarmStart {
                reason: format!(
                    "the model has {} components but n_components = {}",
                    m.n_components(),
                    self.common.n_components
                ),
            });
        }
        Ok(ValidBernoulliMixtureParams(self))
    }

    /// Validates the settings and fits the mixture to binary rows `x` (values 0 or 1).
    ///
    /// # Errors
    /// As [`check`](Self::check), plus data errors: empty, non-finite, [`EmError::NonBinary`],
    /// fewer rows than components.
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Fit<BernoulliMixture>, EmError> {
        self.clone().check()?.fit(x)
    }

    /// As [`fit`](Self::fit) with a non-negative weight per row.
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and [`EmError::SampleWeight`].
    pub fn fit_weighted<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: ArrayView1<'_, f64>,
    ) -> Result<Fit<BernoulliMixture>, EmError> {
        self.clone().check()?.fit_weighted(x, sample_weight)
    }
}

/// Validated settings of a [`BernoulliMixture`] fit.
#[derive(Clone, Debug)]
pub struct ValidBernoulliMixtureParams(BernoulliMixtureParams);

impl ValidBernoulliMixtureParams {
    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.0.common.n_components
    }
    /// Probability clip.
    pub fn clip(&self) -> f64 {
        self.0.clip
    }
    /// EM strategy.
    pub fn strategy(&self) -> crate::strategy::Strategy {
        self.0.common.strategy
    }
    /// Fits the mixture; see [`BernoulliMixtureParams::fit`].
    ///
    /// # Errors
    /// As [`BernoulliMixtureParams::fit`].
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Fit<BernoulliMixture>, EmError> {
        let started = Instant::now();
        let mut em = BernoulliEm::new(self, x, None)?;
        let runs = em.runs();
        run_fit(
            &mut em,
            runs,
            self.0.common.max_iter,
            self.0.common.tol,
            "BernoulliMixture",
            started,
        )
    }
    /// Fits with sample weights; see [`BernoulliMixtureParams::fit_weighted`].
    ///
    /// # Errors
    /// As [`BernoulliMixtureParams::fit_weighted`].
    pub fn fit_weighted<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: ArrayView1<'_, f64>,
    ) -> Result<Fit<BernoulliMixture>, EmError> {
        let started = Instant::now();
        let mut em = BernoulliEm::new(self, x, Some(sample_weight))?;
        let runs = em.runs();
        run_fit(
            &mut em,
            runs,
            self.0.common.max_iter,
            self.0.common.tol,
            "BernoulliMixture",
            started,
        )
    }
    /// Fits (with sample weights if given), calling `observer` after every iteration; the
    /// observer can stop the fit, which then returns [`EmError::Interrupted`].
    ///
    /// # Errors
    /// As [`BernoulliMixtureParams::fit_weighted`], and [`EmError::Interrupted`].
    pub fn fit_observed<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        sample_weight: Option<ArrayView1<'_, f64>>,
        observer: Observer<'_>,
    ) -> Result<Fit<BernoulliMixture>, EmError> {
        let started = Instant::now();
        let mut em = BernoulliEm::new(self, x, sample_weight)?;
        let runs = em.runs();
        run_fit_observed(
            &mut em,
            runs,
            self.0.common.max_iter,
            self.0.common.tol,
            "BernoulliMixture",
            started,
            observer,
        )
    }
}

/// A fitted (or user-built) mixture of independent Bernoullis.
///
/// Serialises with a format name and version; deserialising validates the parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "crate::persist::SavedBernoulli",
    into = "crate::persist::SavedBernoulli"
)]
pub struct BernoulliMixture {
    pub(crate) weights: Array1<f64>,
    pub(crate) probs: Array2<f64>,
}

impl BernoulliMixture {
    /// Settings for fitting `n_components` components.
    pub fn params(n_components: usize) -> BernoulliMixtureParams {
        BernoulliMixtureParams::new(n_components)
    }

    /// A model from weights `[K]` and probabilities `[K, d]`, each strictly between 0 and 1.
    ///
    /// # Errors
    /// [`EmError::GivenShape`] / [`EmError::GivenValue`] for invalid arrays.
    pub fn from_probs(weights: Array1<f64>, probs: Array2<f64>) -> Result<Self, EmError> {
        if weights.is_empty() {
            return Err(EmError::param("n_components", 0, "must be at least 1"));
        }
        check_bernoulli_arrays(&weights, &probs, weights.len(), true)?;
        Ok(Self { weights, probs })
    }

    /// Number of components `K`.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }
    /// Dimension `d` of the data.
    pub fn n_features(&self) -> usize {
        self.probs.ncols()
    }
    /// Mixing weights π, `[K]`.
    pub fn weights(&self) -> ArrayView1<'_, f64> {
        self.weights.view()
    }
    /// Success probabilities, `[K, d]`.
    pub fn probs(&self) -> ArrayView2<'_, f64> {
        self.probs.view()
    }
    /// Number of free parameters: `K − 1 + K d`.
    pub fn n_parameters(&self) -> usize {
        self.n_components() - 1 + self.n_components() * self.n_features()
    }

    /// Checks query data: right width, binary.
    fn query<'x, A: Element>(
        &self,
        x: ArrayView2<'x, A>,
    ) -> Result<ndarray::CowArray<'x, A, ndarray::Ix2>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        check_binary(x.view())?;
        Ok(x)
    }

    /// The log joint ln π_k + ln p(x_i | z = k), `[N, K]` (scikit-learn's weighted
    /// log-probability): what the E-step normalises.
    ///
    /// # Errors
    /// As [`Self::predict_proba`].
    pub fn log_joint<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = self.query(x)?;
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        evaluate(
            &BernKernel::for_model(self),
            x.view(),
            Output::LogJoint(out.view_mut()),
        );
        Ok(out)
    }

    /// Mean ELBO per row, E_q[ln p(x, z)] + H(q), under the responsibilities `q` (`[N, K]`,
    /// rows summing to 1): equal to [`Self::score`] when `q` is the exact posterior, below it
    /// otherwise, by the mean KL(q ‖ p(z | x)).
    ///
    /// # Errors
    /// As [`Self::predict_proba`]; [`EmError::DimensionMismatch`] when `q` is not `[N, K]`.
    pub fn elbo<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        q: ArrayView2<'_, f64>,
    ) -> Result<f64, EmError> {
        crate::bound::mixture_elbo(self.log_joint(x)?.view(), q)
    }

    /// Posterior probabilities `p(z = k | x_i)`, `[N, K]`.
    ///
    /// # Errors
    /// [`EmError::DimensionMismatch`], [`EmError::NonFinite`], [`EmError::NonBinary`].
    pub fn predict_proba<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = self.query(x)?;
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        evaluate(
            &BernKernel::for_model(self),
            x.view(),
            Output::Proba(out.view_mut()),
        );
        Ok(out)
    }
    /// Most probable component of each row.
    ///
    /// # Errors
    /// As [`BernoulliMixture::predict_proba`].
    pub fn predict<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<usize>, EmError> {
        let x = self.query(x)?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &BernKernel::for_model(self),
            x.view(),
            Output::Label(out.view_mut()),
        );
        Ok(out)
    }
    /// ln p(x_i) of each row, in nats.
    ///
    /// # Errors
    /// As [`BernoulliMixture::predict_proba`].
    pub fn score_samples<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<f64>, EmError> {
        let x = self.query(x)?;
        let mut out = Array1::zeros(x.nrows());
        evaluate(
            &BernKernel::for_model(self),
            x.view(),
            Output::LnProb(out.view_mut()),
        );
        Ok(out)
    }
    /// Mean ln p(x_i).
    ///
    /// # Errors
    /// As [`BernoulliMixture::predict_proba`], and [`EmError::EmptyData`] for no rows.
    pub fn score<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        self.score_samples(x)?.mean().ok_or(EmError::EmptyData {
            rows: 0,
            cols: self.n_features(),
        })
    }
    /// `−2 ln L + p ln N`.
    ///
    /// # Errors
    /// As [`BernoulliMixture::score`].
    pub fn bic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + self.n_parameters() as f64 * n.ln())
    }
    /// `−2 ln L + 2p`.
    ///
    /// # Errors
    /// As [`BernoulliMixture::score`].
    pub fn aic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + 2.0 * self.n_parameters() as f64)
    }
    /// Draws `n` binary samples `[n, d]` with their components `[n]`.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> (Array2<f64>, Array1<usize>) {
        let mut x = Array2::zeros((n, self.n_features()));
        let mut labels = Array1::zeros(n);
        let Ok(choose) = Categorical::from_weights(self.weights.clone()) else {
            return (x, labels);
        };
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let k = choose.sample(rng);
            labels[i] = k;
            for (v, &p) in row.iter_mut().zip(self.probs.row(k)) {
                *v = if rng.random::<f64>() < p { 1.0 } else { 0.0 };
            }
        }
        (x, labels)
    }
}

/// Kernel-ready Bernoulli parameters: `K × (d + 1)` weights `[logit p_k, ln π_k + Σ ln(1 − p_k)]`.
#[derive(Debug, Clone)]
pub(crate) struct BernKernel {
    k: usize,
    d: usize,
    w_e: Array2<f64>,
}

impl BernKernel {
    fn blank(k: usize, d: usize) -> Self {
        Self {
            k,
            d,
            w_e: Array2::zeros((k, d + 1)),
        }
    }
    fn for_model(model: &BernoulliMixture) -> Self {
        let mut kernel = Self::blank(model.n_components(), model.n_features());
        kernel.update(model);
        kernel
    }
    fn update(&mut self, model: &BernoulliMixture) {
        for c in 0..self.k {
            let mut constant = model.weights[c].ln();
            for j in 0..self.d {
                let p = model.probs[[c, j]];
                self.w_e[[c, j]] = logit(p);
                constant += (-p).ln_1p();
            }
            self.w_e[[c, self.d]] = constant;
        }
    }
}

/// Scratch: the chunk as f64 with a constant column, `rows × (d + 1)`.
#[derive(Debug)]
pub(crate) struct BernScratch {
    f: Array2<f64>,
}

impl Kernel for BernKernel {
    type Scratch = BernScratch;
    /// `[Σ r x, N_k]`, `K × (d + 1)`.
    type Acc = Array2<f64>;

    fn n_components(&self) -> usize {
        self.k
    }
    fn row_width(&self) -> usize {
        (self.d + 1).max(self.k)
    }
    fn new_scratch(&self, rows: usize) -> BernScratch {
        BernScratch {
            f: Array2::zeros((rows, self.d + 1)),
        }
    }
    fn new_acc(&self) -> Array2<f64> {
        Array2::zeros((self.k, self.d + 1))
    }
    fn clear_acc(&self, acc: &mut Array2<f64>) {
        acc.fill(0.0);
    }
    fn merge_acc(&self, into: &mut Array2<f64>, from: &Array2<f64>) {
        *into += from;
    }
    fn blend_acc(&self, into: &mut Array2<f64>, keep: f64, from: &Array2<f64>, add: f64) {
        *into *= keep;
        into.scaled_add(add, from);
    }
    fn load<A: Element>(&self, x: ArrayView2<'_, A>, sc: &mut BernScratch) {
        let d = self.d;
        let f =
            sc.f.as_slice_mut()
                .expect("scratch buffers are in standard layout");
        for (r, xr) in f.chunks_exact_mut(d + 1).zip(x.rows()) {
            for (o, v) in r.iter_mut().zip(xr.iter()) {
                *o = v.to_f64();
            }
            r[d] = 1.0;
        }
    }
    fn log_prob(&self, sc: &mut BernScratch, m: usize, lp: &mut Array2<f64>) {
        general_mat_mul(
            1.0,
            &self.w_e,
            &sc.f.slice(s![..m, ..]).t(),
            0.0,
            &mut lp.slice_mut(s![.., ..m]),
        );
    }
    fn accumulate(
        &self,
        sc: &mut BernScratch,
        m: usize,
        resp: &Array2<f64>,
        acc: &mut Array2<f64>,
    ) {
        general_mat_mul(
            1.0,
            &resp.slice(s![.., ..m]),
            &sc.f.slice(s![..m, ..]),
            1.0,
            acc,
        );
    }
}

/// The M-step: `p_kj = Σ r x_j / N_k` clipped, `π_k = N_k / Σ N` (after initialisation
/// `N_k / Σ w`, as for Gaussians).
fn m_step(acc: &Array2<f64>, clip: f64, init_total: Option<f64>, model: &mut BernoulliMixture) {
    let d = model.n_features();
    let nk_sum: f64 = acc.column(d).iter().map(|w| w + NK_FLOOR).sum();
    let norm = init_total.unwrap_or(nk_sum);
    for (c, row) in acc.rows().into_iter().enumerate() {
        let nk = row[d] + NK_FLOOR;
        model.weights[c] = nk / norm;
        for j in 0..d {
            model.probs[[c, j]] = (row[j] / nk).clamp(clip, 1.0 - clip);
        }
    }
}

/// The Bernoulli mixture as a [`Family`] of the EM strategies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BernFamily {
    clip: f64,
}

impl Family for BernFamily {
    type Kernel = BernKernel;
    type Model = BernoulliMixture;

    fn m_step(
        &self,
        acc: &Array2<f64>,
        _kernel: &BernKernel,
        model: &mut BernoulliMixture,
    ) -> Result<(), EmError> {
        m_step(acc, self.clip, None, model);
        Ok(())
    }

    /// `Σ_k N_k ln π_k + Σ_kj [S_kj ln p_kj + (N_k − S_kj) ln(1 − p_kj)]`.
    fn q_value(&self, acc: &Array2<f64>, _kernel: &BernKernel, model: &BernoulliMixture) -> f64 {
        let d = model.n_features();
        let mut q = 0.0;
        for (c, row) in acc.rows().into_iter().enumerate() {
            let nk = row[d];
            q += nk * model.weights[c].ln();
            for j in 0..d {
                let p = model.probs[[c, j]];
                q += row[j] * p.ln() + (nk - row[j]) * (-p).ln_1p();
            }
        }
        q
    }

    /// Weights mixed on the simplex, probabilities through their logits (the natural
    /// parameters, where Q is concave).
    fn damp(
        &self,
        old: &BernoulliMixture,
        star: &BernoulliMixture,
        step: f64,
    ) -> Result<BernoulliMixture, EmError> {
        let (a, b) = (1.0 - step, step);
        let weights = &old.weights * a + &star.weights * b;
        let mut probs = old.probs.clone();
        for (p, &s) in probs.iter_mut().zip(star.probs.iter()) {
            let l = a * logit(*p) + b * logit(s);
            *p = (1.0 / (1.0 + (-l).exp())).clamp(self.clip, 1.0 - self.clip);
        }
        Ok(BernoulliMixture { weights, probs })
    }

    fn load(&self, kernel: &mut BernKernel, model: &BernoulliMixture) {
        kernel.update(model);
    }
}

/// EM for a Bernoulli mixture, one iteration at a time (see [`crate::GaussianEm`]).
pub struct BernoulliEm<'a, A: Element> {
    params: ValidBernoulliMixtureParams,
    em: InMemory<'a, A, BernFamily>,
    shift: Array1<f64>,
    fixed_start: Option<BernoulliMixture>,
}

impl<A: Element> std::fmt::Debug for BernoulliEm<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BernoulliEm")
            .field("params", &self.params)
            .field("model", &self.em.core.model)
            .finish_non_exhaustive()
    }
}

impl<'a, A: Element> BernoulliEm<'a, A> {
    /// Checks the data (binary), allocates the buffers and initialises (first restart).
    ///
    /// # Errors
    /// As [`BernoulliMixtureParams::fit_weighted`].
    pub fn new(
        params: &ValidBernoulliMixtureParams,
        x: ArrayView2<'a, A>,
        sample_weight: Option<ArrayView1<'_, f64>>,
    ) -> Result<Self, EmError> {
        let p = &params.0;
        let x = prepare(x)?;
        check_binary(x.view())?;
        let (n, d) = x.dim();
        let sw: Option<Vec<f64>> = sample_weight.map(|w| w.to_vec());
        if let Some(w) = &sw {
            check_sample_weight(ArrayView1::from(w.as_slice()), n)?;
        }
        let k = p.common.n_components;
        let n_eff = effective_rows(sw.as_deref().map(ArrayView1::from), n);
        if k > n_eff {
            return Err(EmError::TooFewSamples {
                n_components: k,
                n_samples: n_eff,
            });
        }
        let fixed_start = fixed_start(p, d)?;
        let shift = weighted_mean(x.view(), sw.as_deref());
        let kernel = BernKernel::blank(k, d);
        let engine = Engine::new(&kernel, x, sw);
        let core = Core::new(
            BernFamily { clip: p.clip },
            kernel,
            BernoulliMixture {
                weights: Array1::zeros(k),
                probs: Array2::zeros((k, d)),
            },
            p.common.strategy,
            p.common.seed,
        );
        let mut em = Self {
            params: params.clone(),
            em: InMemory::new(engine, core),
            shift,
            fixed_start,
        };
        em.initialise(0)?;
        Ok(em)
    }

    /// Restarts from the initialisation of restart `run`.
    ///
    /// # Errors
    /// None at present; the signature matches [`crate::GaussianEm::initialise`].
    pub fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        let p = &self.params.0;
        self.em.restart(run);
        let model = initial_bernoulli(
            p,
            self.fixed_start.as_ref(),
            &mut self.em.engine,
            &self.em.core.kernel,
            self.shift.view(),
            run,
        );
        self.em.core.model = model;
        self.em.core.kernel.update(&self.em.core.model);
        Ok(())
    }

    /// One iteration of the strategy; returns the E-step's per-sample bound (mean
    /// log-likelihood before the step).
    ///
    /// # Errors
    /// None at present; the signature matches [`crate::GaussianEm::step`].
    pub fn step(&mut self) -> Result<f64, EmError> {
        self.em.step()
    }

    /// The current model.
    pub fn model(&self) -> &BernoulliMixture {
        &self.em.core.model
    }

    /// The trace of the iterations run since the last (re)initialisation, completed with one
    /// evaluation pass; see [`Fit::trace`].
    pub fn trace(&mut self) -> Vec<IterationTrace> {
        self.em.finish();
        self.em.core.take_trace()
    }

    fn runs(&self) -> usize {
        if self.fixed_start.is_some() {
            1
        } else {
            self.params.0.common.n_init
        }
    }
}

/// The warm start or `Given` init, if any, checked against the data's `d` columns.
fn fixed_start(p: &BernoulliMixtureParams, d: usize) -> Result<Option<BernoulliMixture>, EmError> {
    let start = match (&p.warm_start, &p.init) {
        (Some(m), _) => Some((**m).clone()),
        (None, Init::Given(g)) => Some(BernoulliMixture {
            weights: g.weights.clone(),
            probs: g.probs.clone(),
        }),
        _ => None,
    };
    if let Some(m) = &start
        && m.n_features() != d
    {
        return Err(EmError::shape(
            "probs",
            &[p.common.n_components, d],
            m.probs.shape(),
            "the start must have one probability per feature of the data",
        ));
    }
    Ok(start)
}

/// The initial model of restart `run`: the fixed start (clipped), or the init method's
/// responsibilities on the engine's rows followed by an M-step.
fn initial_bernoulli<A: Element>(
    p: &BernoulliMixtureParams,
    fixed_start: Option<&BernoulliMixture>,
    engine: &mut Engine<'_, A, BernKernel>,
    kernel: &BernKernel,
    shift: ArrayView1<'_, f64>,
    run: usize,
) -> BernoulliMixture {
    let clip = p.clip;
    if let Some(m) = fixed_start {
        let mut model = m.clone();
        model.probs.mapv_inplace(|v| v.clamp(clip, 1.0 - clip));
        return model;
    }
    let k = p.common.n_components;
    let mut rng = ChaCha8Rng::seed_from_u64(p.common.seed);
    rng.set_stream(run as u64);
    let x = engine.x();
    let (n, d, sw) = (x.nrows(), x.ncols(), engine.sample_weight());
    let start = match &p.init {
        Init::KMeans => Start::Labels(kmeans(x, sw, shift, k, &mut rng)),
        Init::KMeansPlusPlus => Start::Seeds(kmeans_plusplus(x, sw, shift, k, &mut rng)),
        Init::RandomFromData => Start::Seeds(random_rows(n, sw, k, &mut rng)),
        Init::Random | Init::Given(_) => Start::Random,
    };
    let total_w = engine.total_weight();
    engine.accumulate_with(kernel, |row, m, resp| start.fill(row, m, resp, &mut rng));
    let mut model = BernoulliMixture {
        weights: Array1::zeros(k),
        probs: Array2::zeros((k, d)),
    };
    m_step(&engine.total, clip, Some(total_w), &mut model);
    model
}

/// A streamed Bernoulli fit (see [`crate::GaussianMixtureParams::fit_stream`]).
struct BernoulliStream<A: Element, S> {
    params: BernoulliMixtureParams,
    em: Streamed<A, BernFamily, S>,
    first: Engine<'static, A, BernKernel>,
    shift: Array1<f64>,
    fixed_start: Option<BernoulliMixture>,
}

impl<A: Element, S: ChunkSource<A>> Stepper for BernoulliStream<A, S> {
    type Model = BernoulliMixture;
    fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        self.em.restart(run);
        let model = initial_bernoulli(
            &self.params,
            self.fixed_start.as_ref(),
            &mut self.first,
            &self.em.core.kernel,
            self.shift.view(),
            run,
        );
        self.em.core.model = model;
        self.em.core.kernel.update(&self.em.core.model);
        Ok(())
    }
    fn step(&mut self) -> Result<f64, EmError> {
        self.em.step()
    }
    fn model(&self) -> &BernoulliMixture {
        &self.em.core.model
    }
    fn finish(&mut self) -> Result<(), EmError> {
        self.em.finish()
    }
    fn take_trace(&mut self) -> Vec<IterationTrace> {
        self.em.core.take_trace()
    }
}

/// A stream chunk must be finite and binary.
fn check_binary_chunk<A: Element>(x: ArrayView2<'_, A>) -> Result<(), EmError> {
    crate::data::check_finite(x)?;
    check_binary(x)
}

impl BernoulliMixtureParams {
    /// Fits the mixture to binary rows given as chunks, one chunk in memory at a time; see
    /// [`crate::GaussianMixtureParams::fit_stream`] for the contract of `source`.
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and [`EmError::Stream`] / [`EmError::StreamChunk`] naming the
    /// chunk.
    pub fn fit_stream<A: Element, S: ChunkSource<A>>(
        &self,
        mut source: S,
    ) -> Result<Fit<BernoulliMixture>, EmError> {
        let started = Instant::now();
        let p = self.clone().check()?.0;
        let first = first_chunk(&mut source)?;
        check_binary(first.view())?;
        let (n0, d) = first.dim();
        let k = p.common.n_components;
        let fixed_start = fixed_start(&p, d)?;
        if fixed_start.is_none() && k > n0 {
            // The init methods draw from the first chunk.
            return Err(EmError::TooFewSamples {
                n_components: k,
                n_samples: n0,
            });
        }
        let shift = weighted_mean(first.view(), None);
        let kernel = BernKernel::blank(k, d);
        let first = Engine::new(&kernel, ndarray::CowArray::from(first), None);
        let engine = Engine::empty(&kernel, d);
        let core = Core::new(
            BernFamily { clip: p.clip },
            kernel,
            BernoulliMixture {
                weights: Array1::zeros(k),
                probs: Array2::zeros((k, d)),
            },
            p.common.strategy,
            p.common.seed,
        );
        let runs = if fixed_start.is_some() {
            1
        } else {
            p.common.n_init
        };
        let (max_iter, tol) = (p.common.max_iter, p.common.tol);
        let mut em = BernoulliStream {
            em: Streamed::new(engine, core, source, check_binary_chunk::<A>),
            params: p,
            first,
            shift,
            fixed_start,
        };
        em.initialise(0)?;
        run_fit(&mut em, runs, max_iter, tol, "BernoulliMixture", started)
    }
}

impl<A: Element> Stepper for BernoulliEm<'_, A> {
    type Model = BernoulliMixture;
    fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        BernoulliEm::initialise(self, run)
    }
    fn step(&mut self) -> Result<f64, EmError> {
        BernoulliEm::step(self)
    }
    fn model(&self) -> &BernoulliMixture {
        BernoulliEm::model(self)
    }
    fn finish(&mut self) -> Result<(), EmError> {
        self.em.finish();
        Ok(())
    }
    fn take_trace(&mut self) -> Vec<IterationTrace> {
        self.em.core.take_trace()
    }
}

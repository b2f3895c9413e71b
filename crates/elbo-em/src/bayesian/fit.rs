//! Fitting the variational Bayesian mixture: priors from the data, the E-step kernel (the
//! Gaussian kernel shifted by the variational expectations), the closed-form M-step, and the
//! stepper that [`run_fit`] drives.

use std::time::Instant;

use ndarray::{Array1, Array2, Array3, ArrayView2, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use elbo_distributions::cholesky;

use crate::data::{Element, prepare};
use crate::engine::{Engine, Kernel, exp_nonpositive, ln_at_least_one};
use crate::error::EmError;
use crate::fit::{Fit, Observer, Stepper, run_fit, run_fit_observed};
use crate::gaussian::kernel::{GaussAcc, GaussKernel, n_pairs, pair_index};
use crate::gaussian::precisions_cholesky_from_covariances;
use crate::init::{Start, kmeans, kmeans_plusplus, random_rows, weighted_mean};
use crate::params::{Covariance, Covariances, Init};

use super::params::{BayesianGaussianMixtureParams, ValidBayesianGaussianMixtureParams};
use super::{
    BayesianGaussianMixture, CovariancePrior, Priors, VariationalTrace, WeightConcentration,
    WeightPrior,
};

/// scikit-learn adds `10 · ε` to every `N_k` so that empty components do not divide by zero.
const NK_FLOOR: f64 = 10.0 * f64::EPSILON;

/// The E-step kernel: the Gaussian kernel of the point-estimate mixture with each component's
/// constant moved from `ln π̂_k + ln N(x; m_k, Λ̄_k⁻¹)` to `E[ln π_k] + E[ln N(x; μ_k, Λ_k⁻¹)]`.
/// While fitting it also sums the point-estimate mixture's log-likelihood of each chunk (one
/// extra log-sum-exp over the same scores, shifted back by `point`).
#[derive(Debug, Clone)]
pub(crate) struct BayesKernel {
    gauss: GaussKernel,
    /// Per component: point-estimate log-density minus variational score.
    point: Vec<f64>,
    /// Whether `log_prob` also sums the point-estimate log-likelihood.
    track: bool,
}

/// Per-block buffers of [`BayesKernel`].
#[derive(Debug)]
pub(crate) struct BayesScratch {
    gauss: <GaussKernel as Kernel>::Scratch,
    mx: Vec<f64>,
    sm: Vec<f64>,
    /// Point-estimate log-likelihood of the chunk last scored.
    point_ll: f64,
}

/// Per-block statistics of [`BayesKernel`].
#[derive(Debug, Clone)]
pub(crate) struct BayesAcc {
    pub(crate) gauss: GaussAcc,
    /// Σ_i ln p̂(x_i) of the point-estimate mixture.
    pub(crate) point_ll: f64,
}

impl BayesKernel {
    fn blank(kind: Covariance, k: usize, d: usize, shift: Array1<f64>, track: bool) -> Self {
        Self {
            gauss: GaussKernel::blank(kind, k, d, shift),
            point: vec![0.0; k],
            track,
        }
    }

    /// A kernel for evaluating `model` (no tracking), shifted by the mixture mean.
    pub(crate) fn for_model(model: &BayesianGaussianMixture) -> Self {
        let shift = model.weights.dot(&model.means);
        let mut kernel = Self::blank(
            model.kind,
            model.n_components(),
            model.n_features(),
            shift,
            false,
        );
        kernel.update(model);
        kernel
    }

    /// Loads the variational parameters of `model`.
    fn update(&mut self, model: &BayesianGaussianMixture) {
        self.gauss.update(&model.to_gaussian_mixture());
        let e_ln_pi = model.expected_ln_weights();
        let shift = model.expected_log_density_shift();
        for c in 0..model.n_components() {
            let delta = e_ln_pi[c] + shift[c] - model.weights[c].ln();
            self.gauss.add_to_constant(c, delta);
            self.point[c] = -delta;
        }
    }
}

impl Kernel for BayesKernel {
    type Scratch = BayesScratch;
    type Acc = BayesAcc;

    fn n_components(&self) -> usize {
        self.gauss.n_components()
    }
    fn row_width(&self) -> usize {
        self.gauss.row_width()
    }
    fn new_scratch(&self, rows: usize) -> BayesScratch {
        BayesScratch {
            gauss: self.gauss.new_scratch(rows),
            mx: vec![0.0; rows],
            sm: vec![0.0; rows],
            point_ll: 0.0,
        }
    }
    fn new_acc(&self) -> BayesAcc {
        BayesAcc {
            gauss: self.gauss.new_acc(),
            point_ll: 0.0,
        }
    }
    fn finish_acc(&self, acc: &mut BayesAcc) {
        self.gauss.finish_acc(&mut acc.gauss);
    }
    fn clear_acc(&self, acc: &mut BayesAcc) {
        self.gauss.clear_acc(&mut acc.gauss);
        acc.point_ll = 0.0;
    }
    fn merge_acc(&self, into: &mut BayesAcc, from: &BayesAcc) {
        self.gauss.merge_acc(&mut into.gauss, &from.gauss);
        into.point_ll += from.point_ll;
    }
    fn blend_acc(&self, into: &mut BayesAcc, keep: f64, from: &BayesAcc, add: f64) {
        self.gauss
            .blend_acc(&mut into.gauss, keep, &from.gauss, add);
        into.point_ll = keep * into.point_ll + add * from.point_ll;
    }
    #[inline(always)]
    fn load<A: Element>(&self, x: ArrayView2<'_, A>, sc: &mut BayesScratch) {
        self.gauss.load(x, &mut sc.gauss);
    }
    #[inline(always)]
    fn log_prob(&self, sc: &mut BayesScratch, m: usize, lp: &mut Array2<f64>) {
        self.gauss.log_prob(&mut sc.gauss, m, lp);
        if !self.track {
            return;
        }
        let c = lp.ncols();
        let v = lp.as_slice().expect("score buffers are in standard layout");
        let (mx, sm) = (&mut sc.mx[..m], &mut sc.sm[..m]);
        mx.fill(f64::NEG_INFINITY);
        sm.fill(0.0);
        for (row, &p) in v.chunks_exact(c).zip(&self.point) {
            for (a, &b) in mx.iter_mut().zip(&row[..m]) {
                *a = a.max(b + p);
            }
        }
        for (row, &p) in v.chunks_exact(c).zip(&self.point) {
            for ((t, &b), &a) in sm.iter_mut().zip(&row[..m]).zip(mx.iter()) {
                *t += exp_nonpositive(b + p - a);
            }
        }
        sc.point_ll = mx
            .iter()
            .zip(sm.iter())
            .map(|(a, t)| a + ln_at_least_one(*t))
            .sum();
    }
    #[inline(always)]
    fn accumulate(&self, sc: &mut BayesScratch, m: usize, resp: &Array2<f64>, acc: &mut BayesAcc) {
        acc.point_ll += std::mem::take(&mut sc.point_ll);
        self.gauss
            .accumulate(&mut sc.gauss, m, resp, &mut acc.gauss);
    }
}

/// `Σ_n (x_n − s)(x_n − s)ᵀ` over all rows.
fn scatter<A: Element>(x: ArrayView2<'_, A>, shift: &Array1<f64>) -> Array2<f64> {
    let d = x.ncols();
    let mut out = Array2::zeros((d, d));
    let mut y = vec![0.0; d];
    for row in x.rows() {
        for ((o, v), m) in y.iter_mut().zip(row.iter()).zip(shift.iter()) {
            *o = v.to_f64() - m;
        }
        for a in 0..d {
            for b in a..d {
                out[[a, b]] += y[a] * y[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            out[[a, b]] = out[[b, a]];
        }
    }
    out
}

/// Mean and (ddof = 1) covariance of the rows, two passes in f64.
fn mean_and_covariance<A: Element>(x: ArrayView2<'_, A>) -> (Array1<f64>, Array2<f64>) {
    let mean = weighted_mean(x, None);
    let cov = scatter(x, &mean) / (x.nrows() as f64 - 1.0);
    (mean, cov)
}

/// The priors of a fit on `x`: the given ones checked against the data, defaults from it.
fn resolve_priors<A: Element>(
    p: &BayesianGaussianMixtureParams,
    x: ArrayView2<'_, A>,
) -> Result<Priors, EmError> {
    let (n, d) = x.dim();
    let nu0 = p.degrees_of_freedom_prior.unwrap_or(d as f64);
    if nu0 <= d as f64 - 1.0 {
        return Err(EmError::param(
            "degrees_of_freedom_prior",
            nu0,
            "must be greater than n_features - 1 (default n_features)",
        ));
    }
    if let Some(m) = &p.mean_prior
        && m.len() != d
    {
        return Err(EmError::shape(
            "mean_prior",
            &[d],
            m.shape(),
            "give one prior mean per feature of the data",
        ));
    }
    let need_data = p.mean_prior.is_none() || p.covariance_prior.is_none();
    let (mean, cov) = if need_data {
        if p.covariance_prior.is_none() && n < 2 {
            return Err(EmError::GivenValue {
                name: "covariance_prior",
                reason: "the default prior is the sample covariance, which needs at least 2 rows; give a covariance_prior".to_owned(),
            });
        }
        mean_and_covariance(x)
    } else {
        (Array1::zeros(d), Array2::zeros((d, d)))
    };
    let covariance = match &p.covariance_prior {
        Some(c) => {
            let ok = match c {
                CovariancePrior::Matrix(a) => a.dim() == (d, d),
                CovariancePrior::Diag(a) => a.len() == d,
                CovariancePrior::Spherical(_) => true,
            };
            if !ok {
                return Err(EmError::GivenShape {
                    name: "covariance_prior",
                    expected: format!("{d} features"),
                    found: format!("{c:?}"),
                    hint: "full and tied take [d, d], diag [d], spherical one number",
                });
            }
            if let CovariancePrior::Matrix(a) = c {
                cholesky(a.view(), 0.0).map_err(|e| EmError::GivenValue {
                    name: "covariance_prior",
                    reason: format!("the matrix is not positive definite ({e})"),
                })?;
            }
            c.clone()
        }
        None => match p.covariance {
            Covariance::Full | Covariance::Tied => CovariancePrior::Matrix(cov),
            Covariance::Diag => CovariancePrior::Diag(cov.diag().to_owned()),
            Covariance::Spherical => CovariancePrior::Spherical(cov.diag().mean().unwrap_or(0.0)),
        },
    };
    Ok(Priors {
        weight_concentration: p
            .weight_concentration_prior
            .unwrap_or(1.0 / p.common.n_components as f64),
        mean_precision: p.mean_precision_prior.unwrap_or(1.0),
        mean: p.mean_prior.clone().unwrap_or(mean),
        degrees_of_freedom: nu0,
        covariance,
    })
}

impl BayesianGaussianMixture {
    /// A model of the right shapes filled with zeros (the M-step writes it).
    fn zeros(
        kind: Covariance,
        prior_type: WeightPrior,
        priors: Priors,
        k: usize,
        d: usize,
    ) -> Self {
        let arrays = || match kind {
            Covariance::Full => Covariances::Full(Array3::zeros((k, d, d))),
            Covariance::Tied => Covariances::Tied(Array2::zeros((d, d))),
            Covariance::Diag => Covariances::Diag(Array2::zeros((k, d))),
            Covariance::Spherical => Covariances::Spherical(Array1::zeros(k)),
        };
        let weight_concentration = match prior_type {
            WeightPrior::DirichletProcess => WeightConcentration::DirichletProcess {
                alpha: Array1::zeros(k),
                beta: Array1::zeros(k),
            },
            WeightPrior::DirichletDistribution => WeightConcentration::Dirichlet(Array1::zeros(k)),
        };
        Self {
            kind,
            prior_type,
            priors,
            weight_concentration,
            mean_precision: Array1::zeros(k),
            degrees_of_freedom: Array1::zeros(if kind == Covariance::Tied { 1 } else { k }),
            means: Array2::zeros((k, d)),
            covariances: arrays(),
            precisions_cholesky: arrays(),
            weights: Array1::zeros(k),
            trace: VariationalTrace::default(),
        }
    }
}

/// The variational M-step (scikit-learn's `_m_step`, Bishop 10.58–10.63): the posteriors of
/// the weights, means and precisions from the statistics of the responsibilities, written into
/// `model`. The statistics are sums around `shift`; `N_k` gets scikit-learn's `10 ε`.
///
/// Tied follows scikit-learn's `(XᵀX − Σ_k N_k x̄_k x̄_kᵀ) / Σ_k N_k` with `XᵀX` over all rows
/// whatever the responsibilities (they need not sum to 1 per row at initialisation), from
/// `all_scatter = Σ_n (x_n − s)(x_n − s)ᵀ` and the number of rows `n`.
fn m_step(
    acc: &GaussAcc,
    shift: &Array1<f64>,
    all_scatter: &Array2<f64>,
    n: f64,
    reg: f64,
    model: &mut BayesianGaussianMixture,
) -> Result<(), EmError> {
    let (k, d) = (model.n_components(), model.n_features());
    let kind = model.kind;
    let nk: Array1<f64> = acc.nk.mapv(|v| v + NK_FLOOR);
    let s1_at = match kind {
        Covariance::Full => n_pairs(d),
        _ => 0,
    };
    // ȳ_k = Σ r (x − s) / N_k.
    let mut ybar = Array2::zeros((k, d));
    for c in 0..k {
        for j in 0..d {
            ybar[[c, j]] = acc.rf[[c, s1_at + j]] / nk[c];
        }
    }
    let pr = &model.priors;
    let (a0, b0, nu0) = (
        pr.weight_concentration,
        pr.mean_precision,
        pr.degrees_of_freedom,
    );
    // Weights.
    match &mut model.weight_concentration {
        WeightConcentration::DirichletProcess { alpha, beta } => {
            let mut tail = 0.0;
            for c in (0..k).rev() {
                alpha[c] = 1.0 + nk[c];
                beta[c] = a0 + tail;
                tail += nk[c];
            }
            let mut remaining = 1.0;
            for c in 0..k {
                let sum = alpha[c] + beta[c];
                model.weights[c] = alpha[c] / sum * remaining;
                remaining *= beta[c] / sum;
            }
            let total = model.weights.sum();
            model.weights /= total;
        }
        WeightConcentration::Dirichlet(conc) => {
            for c in 0..k {
                conc[c] = a0 + nk[c];
            }
            let total = conc.sum();
            for c in 0..k {
                model.weights[c] = conc[c] / total;
            }
        }
    }
    // Means.
    let m0 = &pr.mean - shift;
    let mut diff = Array2::zeros((k, d));
    for c in 0..k {
        let beta = b0 + nk[c];
        model.mean_precision[c] = beta;
        for j in 0..d {
            let m = (b0 * m0[j] + nk[c] * ybar[[c, j]]) / beta;
            model.means[[c, j]] = shift[j] + m;
            diff[[c, j]] = ybar[[c, j]] - m0[j];
        }
    }
    // Precisions.
    match (&mut model.covariances, &pr.covariance) {
        (Covariances::Full(cov), CovariancePrior::Matrix(psi)) => {
            for c in 0..k {
                let nu = nu0 + nk[c];
                model.degrees_of_freedom[c] = nu;
                let (n, r) = (nk[c], acc.nk[c]);
                let shrink = n * b0 / model.mean_precision[c];
                for a in 0..d {
                    for b in a..d {
                        let s2 = acc.rf[[c, pair_index(d, a, b)]];
                        let (ya, yb) = (ybar[[c, a]], ybar[[c, b]]);
                        // Σ r (y − ȳ)(y − ȳ)ᵀ + N_k reg I = N_k S_k (scikit-learn's sk · nk).
                        let mut scatter = s2 - n * ya * yb - n * yb * ya + r * ya * yb;
                        if a == b {
                            scatter += n * reg;
                        }
                        let v = (psi[[a, b]] + scatter + shrink * diff[[c, a]] * diff[[c, b]]) / nu;
                        cov[[c, a, b]] = v;
                        cov[[c, b, a]] = v;
                    }
                }
            }
        }
        (Covariances::Tied(cov), CovariancePrior::Matrix(psi)) => {
            let total: f64 = nk.sum();
            let kf = k as f64;
            let nu = nu0 + total / kf;
            model.degrees_of_freedom[0] = nu;
            // XᵀX − Σ_k N_k x̄_k x̄_kᵀ in shifted coordinates (Σ_n (x_n − s) = 0):
            // Σ yyᵀ − Σ_k N_k ȳ_k ȳ_kᵀ − (S₁ sᵀ + s S₁ᵀ) + (n − Σ_k N_k) s sᵀ, S₁ = Σ_k Σ r y.
            let s1: Array1<f64> = (0..d).map(|j| acc.rf.column(j).sum()).collect();
            for a in 0..d {
                for b in a..d {
                    let mut scatter = all_scatter[[a, b]] - s1[a] * shift[b] - shift[a] * s1[b]
                        + (n - total) * shift[a] * shift[b];
                    let mut means_term = 0.0;
                    for c in 0..k {
                        scatter -= nk[c] * ybar[[c, a]] * ybar[[c, b]];
                        means_term += nk[c] / model.mean_precision[c] * diff[[c, a]] * diff[[c, b]];
                    }
                    let mut sk = scatter / total;
                    if a == b {
                        sk += reg;
                    }
                    let v = (psi[[a, b]] + sk * total / kf + b0 / kf * means_term) / nu;
                    cov[[a, b]] = v;
                    cov[[b, a]] = v;
                }
            }
        }
        (Covariances::Diag(cov), CovariancePrior::Diag(psi)) => {
            for c in 0..k {
                let nu = nu0 + nk[c];
                model.degrees_of_freedom[c] = nu;
                let shrink = b0 / model.mean_precision[c];
                for j in 0..d {
                    let sk = diag_variance(acc, c, j, d, nk[c], ybar[[c, j]], reg);
                    cov[[c, j]] = (psi[j] + nk[c] * (sk + shrink * diff[[c, j]].powi(2))) / nu;
                }
            }
        }
        (Covariances::Spherical(cov), CovariancePrior::Spherical(psi)) => {
            for c in 0..k {
                let nu = nu0 + nk[c];
                model.degrees_of_freedom[c] = nu;
                let shrink = b0 / model.mean_precision[c];
                let (mut sk, mut dd) = (0.0, 0.0);
                for j in 0..d {
                    sk += diag_variance(acc, c, j, d, nk[c], ybar[[c, j]], reg);
                    dd += diff[[c, j]].powi(2);
                }
                let (sk, dd) = (sk / d as f64, dd / d as f64);
                cov[c] = (psi + nk[c] * (sk + shrink * dd)) / nu;
            }
        }
        _ => unreachable!("the prior's layout matches the covariance type"),
    }
    model.precisions_cholesky = precisions_cholesky_from_covariances(&model.covariances, reg)?;
    Ok(())
}

/// scikit-learn's diag sample variance of feature `j` of component `c`, plus `reg`.
fn diag_variance(acc: &GaussAcc, c: usize, j: usize, d: usize, n: f64, ybar: f64, reg: f64) -> f64 {
    let (s1, s2, r) = (acc.rf[[c, j]], acc.rf[[c, d + j]], acc.nk[c]);
    (s2 - 2.0 * ybar * s1 + r * ybar * ybar) / n + reg
}

/// `Σ_n Σ_k r_nk ρ_nk` of the pass whose statistics are `acc`, `ρ` the kernel's scores: the
/// scores are linear in the per-row features, so this is the kernel weights dotted with the
/// features' statistics (tied: `[Pᵀ Σ r y, ·, N_k]`, with `−½ tr(Pᵀ S₂ P)` for `‖g‖²`).
fn sum_resp_scores(kernel: &BayesKernel, acc: &GaussAcc, model: &BayesianGaussianMixture) -> f64 {
    let w = kernel.gauss.weights();
    let nf = w.ncols();
    match &model.precisions_cholesky {
        Covariances::Tied(p) => {
            let d = p.nrows();
            let mut total = 0.0;
            for c in 0..w.nrows() {
                let g = p.t().dot(&acc.rf.row(c));
                total += w.slice(s![c, ..d]).dot(&g) + w[[c, nf - 1]] * acc.nk[c];
            }
            let ps = acc.s2.dot(p);
            let quad: f64 = p.iter().zip(ps.iter()).map(|(a, b)| a * b).sum();
            total - 0.5 * quad
        }
        _ => w
            .rows()
            .into_iter()
            .zip(acc.rf.rows())
            .map(|(a, b)| a.dot(&b))
            .sum(),
    }
}

/// Variational EM on one data set, one iteration at a time (as [`crate::GaussianEm`]);
/// [`BayesianGaussianMixtureParams::fit`] is this plus restarts and the convergence test.
/// All buffers that grow with the data are allocated by [`BayesianEm::new`].
pub struct BayesianEm<'a, A: Element> {
    params: ValidBayesianGaussianMixtureParams,
    engine: Engine<'a, A, BayesKernel>,
    kernel: BayesKernel,
    model: BayesianGaussianMixture,
    n: f64,
    /// Tied only: `Σ_n (x_n − s)(x_n − s)ᵀ` (else empty).
    all_scatter: Array2<f64>,
}

impl<A: Element> std::fmt::Debug for BayesianEm<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BayesianEm")
            .field("params", &self.params)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl<'a, A: Element> BayesianEm<'a, A> {
    /// Checks the data, resolves the priors, allocates the buffers and initialises (restart 0).
    ///
    /// # Errors
    /// As [`BayesianGaussianMixtureParams::fit`].
    pub fn new(
        params: &ValidBayesianGaussianMixtureParams,
        x: ArrayView2<'a, A>,
    ) -> Result<Self, EmError> {
        let p = &params.0;
        let x = prepare(x)?;
        let (n, d) = x.dim();
        let k = p.common.n_components;
        if k > n {
            return Err(EmError::TooFewSamples {
                n_components: k,
                n_samples: n,
            });
        }
        if let Init::Given(resp) = &p.init
            && resp.nrows() != n
        {
            return Err(EmError::shape(
                "responsibilities",
                &[n, k],
                resp.shape(),
                "give one row of initial responsibilities per row of the data",
            ));
        }
        let priors = resolve_priors(p, x.view())?;
        let shift = weighted_mean(x.view(), None);
        let all_scatter = match p.covariance {
            Covariance::Tied => scatter(x.view(), &shift),
            _ => Array2::zeros((0, 0)),
        };
        let kernel = BayesKernel::blank(p.covariance, k, d, shift, true);
        let engine = Engine::new(&kernel, x, None);
        let model = BayesianGaussianMixture::zeros(
            p.covariance,
            p.weight_concentration_prior_type,
            priors,
            k,
            d,
        );
        let mut em = Self {
            params: params.clone(),
            engine,
            kernel,
            model,
            n: n as f64,
            all_scatter,
        };
        em.initialise(0)?;
        Ok(em)
    }

    /// Restarts from the initialisation of restart `run` (its own random stream of the seed).
    ///
    /// # Errors
    /// [`EmError::NotPositiveDefinite`] if an initial covariance cannot be factored.
    pub fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        let p = &self.params.0;
        let k = p.common.n_components;
        let mut rng = ChaCha8Rng::seed_from_u64(p.common.seed);
        rng.set_stream(run as u64);
        let x = self.engine.x();
        let n = x.nrows();
        let shift = self.kernel.gauss.shift().view();
        let start = match &p.init {
            Init::KMeans => Some(Start::Labels(kmeans(x, None, shift, k, &mut rng))),
            Init::KMeansPlusPlus => {
                Some(Start::Seeds(kmeans_plusplus(x, None, shift, k, &mut rng)))
            }
            Init::RandomFromData => Some(Start::Seeds(random_rows(n, None, k, &mut rng))),
            Init::Random => Some(Start::Random),
            Init::Given(_) => None,
        };
        match (&start, &p.init) {
            (Some(start), _) => self.engine.accumulate_with(&self.kernel, |row, m, resp| {
                start.fill(row, m, resp, &mut rng)
            }),
            (None, Init::Given(given)) => {
                self.engine.accumulate_with(&self.kernel, |row, m, resp| {
                    for (c, mut out) in resp.rows_mut().into_iter().enumerate() {
                        for (i, o) in out.iter_mut().take(m).enumerate() {
                            *o = given[[row + i, c]];
                        }
                    }
                })
            }
            (None, _) => unreachable!("every other init has a start"),
        }
        let shift = self.kernel.gauss.shift().clone();
        m_step(
            &self.engine.total.gauss,
            &shift,
            &self.all_scatter,
            self.n,
            p.reg_covar,
            &mut self.model,
        )?;
        self.model.trace = VariationalTrace::default();
        self.kernel.update(&self.model);
        Ok(())
    }

    /// One variational EM iteration. Returns scikit-learn's lower bound (a total over the
    /// samples, additive constants dropped) computed after the M-step from the E-step's
    /// responsibilities, and appends the complete ELBO and the point-estimate log-likelihood
    /// under the parameters before the step to the model's [`VariationalTrace`].
    ///
    /// # Errors
    /// [`EmError::NotPositiveDefinite`] if a new covariance cannot be factored.
    pub fn step(&mut self) -> Result<f64, EmError> {
        let (ll, _) = self.engine.e_step(&self.kernel, None);
        let acc = &self.engine.total;
        let sum_r_rho = sum_resp_scores(&self.kernel, &acc.gauss, &self.model);
        let correction: f64 = self
            .model
            .ln_det_correction()
            .iter()
            .zip(acc.gauss.nk.iter())
            .map(|(delta, n)| 0.5 * delta * n)
            .sum();
        let elbo = (ll + correction - self.model.parameters_kl()?) / self.n;
        self.model.trace.elbo.push(elbo);
        self.model.trace.log_likelihood.push(acc.point_ll / self.n);
        let shift = self.kernel.gauss.shift().clone();
        m_step(
            &acc.gauss,
            &shift,
            &self.all_scatter,
            self.n,
            self.params.0.reg_covar,
            &mut self.model,
        )?;
        let bound = self.model.sklearn_lower_bound(sum_r_rho - ll);
        self.kernel.update(&self.model);
        Ok(bound)
    }

    /// The current model.
    pub fn model(&self) -> &BayesianGaussianMixture {
        &self.model
    }

    fn runs(&self) -> usize {
        match self.params.0.init {
            Init::Given(_) => 1,
            _ => self.params.0.common.n_init,
        }
    }
}

impl<A: Element> Stepper for BayesianEm<'_, A> {
    type Model = BayesianGaussianMixture;
    fn initialise(&mut self, run: usize) -> Result<(), EmError> {
        BayesianEm::initialise(self, run)
    }
    fn step(&mut self) -> Result<f64, EmError> {
        BayesianEm::step(self)
    }
    fn model(&self) -> &BayesianGaussianMixture {
        BayesianEm::model(self)
    }
}

impl BayesianGaussianMixtureParams {
    /// Validates the settings and fits the mixture to the rows of `x` (`f64`, `f32` or `u8`).
    ///
    /// `Fit::lower_bounds` holds scikit-learn's lower bound of every iteration (a total over
    /// the samples with constants dropped, for parity and the convergence test); the complete
    /// per-sample ELBO is in the model's [`BayesianGaussianMixture::trace`].
    ///
    /// # Errors
    /// Any [`EmError`] of [`check`](Self::check), of the data (empty, non-finite, fewer rows
    /// than components), of the data-dependent priors, or a covariance that cannot be factored.
    pub fn fit<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
    ) -> Result<Fit<BayesianGaussianMixture>, EmError> {
        self.clone().check()?.fit(x)
    }
}

impl ValidBayesianGaussianMixtureParams {
    /// Fits the mixture to the rows of `x`; see [`BayesianGaussianMixtureParams::fit`].
    ///
    /// # Errors
    /// As [`BayesianGaussianMixtureParams::fit`].
    pub fn fit<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
    ) -> Result<Fit<BayesianGaussianMixture>, EmError> {
        let started = Instant::now();
        let mut em = BayesianEm::new(self, x)?;
        let runs = em.runs();
        run_fit(
            &mut em,
            runs,
            self.max_iter(),
            self.tol(),
            "BayesianGaussianMixture",
            started,
        )
    }

    /// Fits, calling `observer` after every iteration (with scikit-learn's bound); the
    /// observer can stop the fit, which then returns [`EmError::Interrupted`].
    ///
    /// # Errors
    /// As [`BayesianGaussianMixtureParams::fit`], and [`EmError::Interrupted`].
    pub fn fit_observed<A: Element>(
        &self,
        x: ArrayView2<'_, A>,
        observer: Observer<'_>,
    ) -> Result<Fit<BayesianGaussianMixture>, EmError> {
        let started = Instant::now();
        let mut em = BayesianEm::new(self, x)?;
        let runs = em.runs();
        run_fit_observed(
            &mut em,
            runs,
            self.max_iter(),
            self.tol(),
            "BayesianGaussianMixture",
            started,
            observer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_is_unbiased() {
        let x = ndarray::array![[1.0, 2.0], [3.0, 1.0], [5.0, 6.0]];
        let (m, c) = mean_and_covariance(x.view());
        assert!((m[0] - 3.0).abs() < 1e-15 && (m[1] - 3.0).abs() < 1e-15);
        // Σ (x − x̄)² / (n − 1) = (4 + 0 + 4) / 2.
        assert!((c[[0, 0]] - 4.0).abs() < 1e-14);
        assert!((c[[0, 1]] - 4.0).abs() < 1e-14, "{c}");
        assert!((c[[1, 1]] - 7.0).abs() < 1e-14, "{c}");
    }
}

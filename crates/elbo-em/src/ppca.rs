//! Probabilistic principal component analysis (Tipping & Bishop, "Probabilistic principal
//! component analysis", J. R. Statist. Soc. B 61(3), 611–622, 1999).
//!
//! The model: a latent `z ~ N(0, I_q)` and `x = W z + μ + ε`, `ε ~ N(0, σ² I_d)`, so that
//! `x ~ N(μ, C)` with `C = W Wᵀ + σ² I`. It is the one latent-variable model of this crate
//! whose maximum-likelihood estimate has a closed form, and whose EM algorithm can therefore be
//! checked against the exact optimum:
//!
//! - **Closed form** (Tipping & Bishop 1999; Bishop, *Pattern Recognition and Machine
//!   Learning* (PRML), §12.2.1): with the sample covariance
//!   `S = (1/N) Σ (x_n − x̄)(x_n − x̄)ᵀ` and its eigenvalues `λ_1 ≥ … ≥ λ_d`, `μ = x̄`,
//!   `σ² = (1/(d − q)) Σ_{j>q} λ_j` (the mean variance of the discarded directions) and
//!   `W = U_q (Λ_q − σ² I)^{1/2} R` for the top-`q` eigenvectors `U_q` and any rotation `R`
//!   (here `R = I`).
//! - **EM** (Tipping & Bishop 1999; PRML §12.2.2): with `M = WᵀW + σ² I_q`, the posterior is
//!   `p(z | x) = N(M⁻¹Wᵀ(x − μ), σ² M⁻¹)`, and one E-step plus M-step, written in terms of
//!   `S`, is `W ← S W (σ² I + M⁻¹ WᵀSW)⁻¹`, `σ² ← (1/d) tr(S − S W M⁻¹ W_newᵀ)`.
//!
//! The density is evaluated without forming `C`: the determinant lemma gives
//! `ln|C| = (d − q) ln σ² + ln|M|`, and Woodbury `C⁻¹ = σ⁻²(I − W M⁻¹ Wᵀ)`, so one row costs
//! `O(d q)` after an `O(d q²)` set-up per call.
//!
//! scikit-learn's `PCA` is the same model, fitted with the unbiased covariance `S·N/(N − 1)`
//! (its `explained_variance_` divides by `N − 1`); here `S` divides by `N`, which is the
//! maximum-likelihood estimate. `tests/ppca.rs` checks both statements to 1e-9.

use std::time::{Duration, Instant};

use elbo_distributions::{cholesky, invert_lower_triangular, symmetric_eigen};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Element, check_finite, prepare, prepare_for_model};
use crate::error::EmError;
use crate::params::check_finite_values;

/// ln 2π.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Rows converted and centred at a time (one `CHUNK × d` buffer per worker).
const CHUNK: usize = 256;

/// At most this many partial covariance matrices are summed; a fixed number (not the number
/// of threads), so the result is bit-for-bit the same on any machine.
const COVARIANCE_BLOCKS: usize = 8;

/// A noise variance at or below this fraction of the mean variance `tr(S)/d` is taken as zero
/// (the data lie in a `q`-dimensional subspace, up to rounding).
const MIN_RELATIVE_NOISE: f64 = 1e-10;

/// How the parameters are estimated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PpcaMethod {
    /// The exact maximum-likelihood solution from the eigen-decomposition of `S` (default).
    #[default]
    ClosedForm,
    /// Expectation–maximisation from a seeded random `W`; converges to the same optimum.
    Em,
}

/// Unchecked settings of a [`ProbabilisticPca`] fit; build with [`ProbabilisticPca::params`].
///
/// Nothing is validated until [`check`](Self::check) or [`fit`](Self::fit). Deserialisable
/// (e.g. from a preset) with these field names; missing fields take the defaults
/// (`method = "closed_form"`, `max_iter = 1000`, `tol = 1e-6`, `seed = 0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpcaParams {
    n_components: usize,
    method: PpcaMethod,
    max_iter: usize,
    tol: f64,
    seed: u64,
}

impl Default for PpcaParams {
    fn default() -> Self {
        Self::new(1)
    }
}

impl PpcaParams {
    /// Settings for `n_components` latent dimensions, with the defaults.
    pub fn new(n_components: usize) -> Self {
        Self {
            n_components,
            method: PpcaMethod::ClosedForm,
            max_iter: 1000,
            tol: 1e-6,
            seed: 0,
        }
    }

    /// Latent dimension `q`; at fit time it must satisfy `1 ≤ q < d`.
    pub fn n_components(mut self, q: usize) -> Self {
        self.n_components = q;
        self
    }

    /// Closed form (default) or EM.
    pub fn method(mut self, method: PpcaMethod) -> Self {
        self.method = method;
        self
    }

    /// Maximum EM iterations (default 1000, ≥ 1; PPCA's EM converges linearly, at a rate set
    /// by the gaps between the eigenvalues of `S`).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// EM stops when the mean log-likelihood changes by less than this (default 1e-6 nats per
    /// row, ≥ 0).
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// Seed of EM's random initial `W` (default 0). Same seed, same data: same bits.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Validates the settings; `q < d` is checked against the data by the fit.
    ///
    /// # Errors
    /// [`EmError::InvalidParam`] naming the first bad setting: `n_components` (≥ 1),
    /// `max_iter` (≥ 1), `tol` (finite, ≥ 0).
    pub fn check(self) -> Result<ValidPpcaParams, EmError> {
        if self.n_components == 0 {
            return Err(EmError::param(
                "n_components",
                self.n_components,
                "must be at least 1 (and below the number of columns of the data)",
            ));
        }
        if self.max_iter == 0 {
            return Err(EmError::param(
                "max_iter",
                self.max_iter,
                "must be at least 1 (e.g. 1000)",
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(EmError::param(
                "tol",
                self.tol,
                "must be a finite number >= 0 (e.g. 1e-6)",
            ));
        }
        Ok(ValidPpcaParams(self))
    }

    /// Validates the settings and fits the model to the rows of `x`.
    ///
    /// # Errors
    /// As [`check`](Self::check) and [`ValidPpcaParams::fit`].
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<PpcaFit, EmError> {
        self.clone().check()?.fit(x)
    }
}

/// Validated settings of a [`ProbabilisticPca`] fit (made by [`PpcaParams::check`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidPpcaParams(PpcaParams);

impl ValidPpcaParams {
    /// Latent dimension `q`.
    pub fn n_components(&self) -> usize {
        self.0.n_components
    }
    /// Estimation method.
    pub fn method(&self) -> PpcaMethod {
        self.0.method
    }
    /// Maximum EM iterations.
    pub fn max_iter(&self) -> usize {
        self.0.max_iter
    }
    /// EM's tolerance on the change of the mean log-likelihood.
    pub fn tol(&self) -> f64 {
        self.0.tol
    }
    /// Seed of EM's initialisation.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// Fits the model to the rows of `x` (`f64`, `f32` or `u8`, any layout).
    ///
    /// One pass computes the mean, a second the covariance `S` (both chunked, so `f32`/`u8`
    /// data is never copied whole); the rest works on `S` only.
    ///
    /// # Errors
    /// [`EmError::EmptyData`], [`EmError::NonFinite`], [`EmError::PpcaTooFewFeatures`]
    /// (`q ≥ d`), [`EmError::PpcaTooFewRows`] (`N < q + 2`), [`EmError::ZeroNoiseVariance`]
    /// if the data lie in a `q`-dimensional subspace.
    pub fn fit<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<PpcaFit, EmError> {
        let started = Instant::now();
        let x = prepare(x)?;
        let (n, d) = x.dim();
        let q = self.n_components();
        if q >= d {
            return Err(EmError::PpcaTooFewFeatures {
                n_components: q,
                n_features: d,
            });
        }
        if n < q + 2 {
            return Err(EmError::PpcaTooFewRows {
                n_components: q,
                n_samples: n,
                needed: q + 2,
            });
        }
        let mean = column_mean(x.view());
        let cov = sample_covariance(x.view(), mean.view());
        let stats = Moments::new(cov);
        let (components, noise_variance, explained_variance, report) = match self.method() {
            PpcaMethod::ClosedForm => {
                let (w, noise, explained) = closed_form(&stats, q)?;
                (w, noise, explained, EmReport::closed_form())
            }
            PpcaMethod::Em => {
                let (w, noise, report) = em(&stats, q, &self.0)?;
                let (w, explained) = canonical_rotation(w, noise)?;
                (w, noise, explained, report)
            }
        };
        let log_likelihood = stats.mean_log_likelihood(components.view(), noise_variance)?;
        tracing::debug!(
            method = ?self.method(),
            n_samples = n,
            n_features = d,
            n_components = q,
            noise_variance,
            log_likelihood,
            n_iter = report.lower_bounds.len(),
            "PPCA fitted"
        );
        Ok(PpcaFit {
            model: ProbabilisticPca {
                mean,
                components,
                noise_variance,
                explained_variance,
            },
            method: self.method(),
            converged: report.converged,
            n_iter: report.lower_bounds.len(),
            lower_bounds: report.lower_bounds,
            log_likelihood,
            elapsed: started.elapsed(),
        })
    }
}

/// A fitted PPCA model with a report of the fit (the analogue of [`crate::Fit`]).
#[derive(Debug, Clone)]
pub struct PpcaFit {
    /// The fitted model.
    pub model: ProbabilisticPca,
    /// How it was fitted.
    pub method: PpcaMethod,
    /// EM: whether the change of the mean log-likelihood fell below `tol` within `max_iter`
    /// (not converging is a `tracing` warning, not an error). Closed form: always `true`.
    pub converged: bool,
    /// EM iterations run (0 for the closed form).
    pub n_iter: usize,
    /// EM's mean log-likelihood (nats per row) at each iteration, as [`crate::Fit::lower_bounds`]:
    /// entry `t` is computed by the E-step of iteration `t + 1`, under the parameters before
    /// that iteration's M-step (PPCA's E-step is exact, so the bound is the log-likelihood).
    /// Never decreases. Empty for the closed form.
    pub lower_bounds: Vec<f64>,
    /// Mean log-likelihood of the returned model on the training data (after the last
    /// M-step for EM; the maximum for the closed form).
    pub log_likelihood: f64,
    /// Wall-clock time of the whole fit.
    pub elapsed: Duration,
}

/// A fitted (or user-built) probabilistic PCA model `x ~ N(μ, W Wᵀ + σ² I)`.
///
/// The settings live in a different type, [`PpcaParams`]. `components` is `W`, `[d, q]`,
/// one column per latent dimension, *scaled*: `‖w_j‖² = λ_j − σ²`. (scikit-learn's
/// `components_` holds the unit directions as rows, `[q, d]`.) A fit returns `W` with
/// orthogonal columns in decreasing order of norm, each with its largest entry positive.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbabilisticPca {
    mean: Array1<f64>,
    components: Array2<f64>,
    noise_variance: f64,
    explained_variance: Array1<f64>,
}

impl ProbabilisticPca {
    /// Settings for fitting `n_components` latent dimensions (closed form by default).
    pub fn params(n_components: usize) -> PpcaParams {
        PpcaParams::new(n_components)
    }

    /// A model from its parameters: mean `μ` `[d]`, `W` `[d, q]` with `1 ≤ q < d`, noise
    /// variance `σ² > 0`. `W` is kept as given (any rotation).
    ///
    /// # Errors
    /// [`EmError::GivenShape`] for inconsistent shapes, [`EmError::GivenValue`] for
    /// non-finite entries or a noise variance that is not positive.
    pub fn from_components(
        mean: Array1<f64>,
        components: Array2<f64>,
        noise_variance: f64,
    ) -> Result<Self, EmError> {
        let d = mean.len();
        let q = components.ncols();
        if components.nrows() != d || q == 0 || q >= d {
            return Err(EmError::shape(
                "components",
                &[d, q.clamp(1, d.saturating_sub(1).max(1))],
                components.shape(),
                "W is [n_features, n_components] with one row per entry of the mean and 1 <= n_components < n_features",
            ));
        }
        check_finite_values("mean", mean.iter().copied())?;
        check_finite_values("components", components.iter().copied())?;
        if !(noise_variance.is_finite() && noise_variance > 0.0) {
            return Err(EmError::GivenValue {
                name: "noise_variance",
                reason: format!("it is {noise_variance}; it must be a finite number > 0"),
            });
        }
        let gram = components.t().dot(&components);
        let eig = symmetric_eigen(gram.view())?;
        let explained_variance = eig.values().mapv(|v| v.max(0.0) + noise_variance);
        Ok(Self {
            mean,
            components,
            noise_variance,
            explained_variance,
        })
    }

    /// Latent dimension `q`.
    pub fn n_components(&self) -> usize {
        self.components.ncols()
    }

    /// Data dimension `d`.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// The mean `μ`, `[d]`.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The loading matrix `W`, `[d, q]`.
    pub fn components(&self) -> ArrayView2<'_, f64> {
        self.components.view()
    }

    /// The isotropic noise variance `σ²`.
    pub fn noise_variance(&self) -> f64 {
        self.noise_variance
    }

    /// Variance of the model along its `q` principal axes, descending: the eigenvalues of
    /// `WᵀW` plus `σ²`. For a maximum-likelihood fit these are the top `q` eigenvalues of `S`.
    pub fn explained_variance(&self) -> ArrayView1<'_, f64> {
        self.explained_variance.view()
    }

    /// The model covariance `C = W Wᵀ + σ² I`, `[d, d]`.
    pub fn covariance(&self) -> Array2<f64> {
        let mut c = self.components.dot(&self.components.t());
        c.diag_mut().mapv_inplace(|v| v + self.noise_variance);
        c
    }

    /// Free parameters: `d q + 1 + d − q(q − 1)/2` (`W` up to a rotation, `σ²`, `μ`; Tipping &
    /// Bishop 1999; PRML §12.2).
    pub fn n_parameters(&self) -> usize {
        let (d, q) = (self.n_features(), self.n_components());
        d * q + 1 + d - q * (q - 1) / 2
    }

    /// `M = WᵀW + σ² I`, its inverse Cholesky factor `L⁻¹` (`M = L Lᵀ`) and `ln|M|`.
    fn inner(&self) -> Result<Inner, EmError> {
        Inner::new(self.components.view(), self.noise_variance)
    }

    /// ln p(x_i) of each row under `N(μ, W Wᵀ + σ² I)`, in nats, `[N]`.
    ///
    /// `−½ [d ln 2π + ln|C| + (‖y‖² − ‖L⁻¹Wᵀy‖²)/σ²]` with `y = x − μ`: `O(d q)` per row.
    ///
    /// # Errors
    /// [`EmError::DimensionMismatch`] for the wrong number of columns, [`EmError::NonFinite`]
    /// for NaN or ±∞.
    pub fn score_samples<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array1<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let inner = self.inner()?;
        let (d, q) = (self.n_features(), self.n_components());
        // P = W L⁻ᵀ, so that ‖Pᵀy‖² = yᵀ W M⁻¹ Wᵀ y.
        let p = self.components.dot(&inner.chol_inv.t());
        let mut proj = Array2::zeros((x.nrows(), q));
        let mut sq = Array1::zeros(x.nrows());
        centred_products(
            x.view(),
            self.mean.view(),
            p.view(),
            proj.view_mut(),
            sq.view_mut(),
        );
        let sigma2 = self.noise_variance;
        let constant = d as f64 * LN_2PI + (d - q) as f64 * sigma2.ln() + inner.ln_det;
        Zip::from(&mut sq)
            .and(proj.rows())
            .for_each(|s, a| *s = -0.5 * (constant + (*s - a.dot(&a)) / sigma2));
        Ok(sq)
    }

    /// Mean log-density per row (scikit-learn's `score`).
    ///
    /// # Errors
    /// As [`score_samples`](Self::score_samples), and [`EmError::EmptyData`] for no rows.
    pub fn score<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        self.score_samples(x)?.mean().ok_or(EmError::EmptyData {
            rows: 0,
            cols: self.n_features(),
        })
    }

    /// Posterior means `E[z | x] = M⁻¹ Wᵀ (x − μ)` of the rows, `[N, q]`.
    ///
    /// # Errors
    /// As [`score_samples`](Self::score_samples).
    pub fn transform<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<Array2<f64>, EmError> {
        let x = prepare_for_model(x, self.n_features())?;
        let inner = self.inner()?;
        let m_inv = inner.chol_inv.t().dot(&inner.chol_inv);
        let k = self.components.dot(&m_inv);
        let mut z = Array2::zeros((x.nrows(), self.n_components()));
        let mut sq = Array1::zeros(x.nrows());
        centred_products(
            x.view(),
            self.mean.view(),
            k.view(),
            z.view_mut(),
            sq.view_mut(),
        );
        Ok(z)
    }

    /// The means `W z + μ` of `p(x | z)` for latent rows `z`, `[N, d]`.
    ///
    /// # Errors
    /// [`EmError::LatentDimensionMismatch`] unless `z` has `q` columns, [`EmError::NonFinite`]
    /// for NaN or ±∞.
    pub fn inverse_transform(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>, EmError> {
        if z.ncols() != self.n_components() {
            return Err(EmError::LatentDimensionMismatch {
                expected: self.n_components(),
                found: z.ncols(),
            });
        }
        check_finite(z)?;
        let mut x = z.dot(&self.components.t());
        x += &self.mean;
        Ok(x)
    }

    /// Draws `n` rows `x = W z + μ + σ ε`; returns them `[n, d]` with their latents `[n, q]`.
    ///
    /// Per row, the `q` entries of `z` are drawn first, then the `d` of `ε`.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> (Array2<f64>, Array2<f64>) {
        let (d, q) = (self.n_features(), self.n_components());
        let sigma = self.noise_variance.sqrt();
        let mut z = Array2::<f64>::zeros((n, q));
        let mut x = Array2::<f64>::zeros((n, d));
        for (mut zr, mut xr) in z.rows_mut().into_iter().zip(x.rows_mut()) {
            zr.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
            xr.iter_mut()
                .for_each(|v| *v = sigma * rng.sample::<f64, _>(StandardNormal));
        }
        general_mat_mul(1.0, &z, &self.components.t(), 1.0, &mut x);
        x += &self.mean;
        (x, z)
    }

    /// Bayesian information criterion on `x`: `−2 ln L + p ln N` (lower is better).
    ///
    /// # Errors
    /// As [`score`](Self::score).
    pub fn bic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + self.n_parameters() as f64 * n.ln())
    }

    /// Akaike information criterion on `x`: `−2 ln L + 2p` (lower is better).
    ///
    /// # Errors
    /// As [`score`](Self::score).
    pub fn aic<A: Element>(&self, x: ArrayView2<'_, A>) -> Result<f64, EmError> {
        let n = x.nrows() as f64;
        Ok(-2.0 * self.score(x)? * n + 2.0 * self.n_parameters() as f64)
    }
}

/// `M = WᵀW + σ² I` (`q × q`) factored: `L⁻¹` with `M = L Lᵀ`, and `ln|M|`.
struct Inner {
    chol_inv: Array2<f64>,
    ln_det: f64,
}

impl Inner {
    fn new(w: ArrayView2<'_, f64>, noise: f64) -> Result<Self, EmError> {
        let mut m = w.t().dot(&w);
        m.diag_mut().mapv_inplace(|v| v + noise);
        Self::of(m.view())
    }

    /// Factors a symmetric positive-definite `q × q` matrix.
    fn of(m: ArrayView2<'_, f64>) -> Result<Self, EmError> {
        let chol = cholesky(m, 0.0)?;
        let mut chol_inv = Array2::zeros(m.dim());
        invert_lower_triangular(chol.factor(), chol_inv.view_mut());
        Ok(Self {
            chol_inv,
            ln_det: chol.ln_det(),
        })
    }

    /// The inverse `L⁻ᵀ L⁻¹`.
    fn inverse(&self) -> Array2<f64> {
        self.chol_inv.t().dot(&self.chol_inv)
    }
}

/// The sample covariance and what is derived from it once.
struct Moments {
    /// `S`, divided by `N`, symmetric.
    cov: Array2<f64>,
    /// `tr S`.
    trace: f64,
}

impl Moments {
    fn new(cov: Array2<f64>) -> Self {
        let trace = cov.diag().sum();
        Self { cov, trace }
    }

    fn dim(&self) -> usize {
        self.cov.nrows()
    }

    /// Mean log-likelihood of the data under `(x̄, W, σ²)`; see [`mean_log_likelihood`].
    fn mean_log_likelihood(&self, w: ArrayView2<'_, f64>, noise: f64) -> Result<f64, EmError> {
        let sw = self.cov.dot(&w);
        let inner = Inner::new(w, noise)?;
        let wsw = w.t().dot(&sw);
        Ok(mean_log_likelihood(
            self.dim(),
            self.trace,
            noise,
            &inner,
            wsw.view(),
        ))
    }

    /// The error for a noise variance that is (numerically) zero, if it is.
    fn check_noise(&self, noise: f64, q: usize) -> Result<(), EmError> {
        let mean_variance = self.trace / self.dim() as f64;
        if noise.is_finite() && noise > MIN_RELATIVE_NOISE * mean_variance {
            Ok(())
        } else {
            Err(EmError::ZeroNoiseVariance {
                noise_variance: noise,
                mean_variance,
                n_components: q,
            })
        }
    }
}

/// The mean log-likelihood of `N` rows with sample mean `μ` and covariance `S` under
/// `N(μ, C)`, `C = WWᵀ + σ²I`: since `(1/N) Σ (x_n − μ)ᵀC⁻¹(x_n − μ) = tr(C⁻¹S)`,
///
/// `−½ [d ln 2π + (d − q) ln σ² + ln|M| + (tr S − tr(M⁻¹ WᵀSW)) / σ²]`
///
/// by the determinant lemma and Woodbury's identity (`wsw` is `WᵀSW`).
fn mean_log_likelihood(
    d: usize,
    trace: f64,
    noise: f64,
    inner: &Inner,
    wsw: ArrayView2<'_, f64>,
) -> f64 {
    let q = wsw.nrows();
    // tr(M⁻¹ WᵀSW) = Σ_ij (M⁻¹)_ij (WᵀSW)_ji: the variance of the data the model explains.
    let m_inv = inner.inverse();
    let explained: f64 = m_inv.iter().zip(wsw.t().iter()).map(|(a, b)| a * b).sum();
    -0.5 * (d as f64 * LN_2PI
        + (d - q) as f64 * noise.ln()
        + inner.ln_det
        + (trace - explained) / noise)
}

/// The maximum-likelihood `(W, σ², explained variance)` from the eigen-decomposition of `S`.
fn closed_form(stats: &Moments, q: usize) -> Result<(Array2<f64>, f64, Array1<f64>), EmError> {
    let d = stats.dim();
    let (values, vectors) = symmetric_eigen(stats.cov.view())?.into_parts();
    // S is positive semi-definite; rounding can leave its zero eigenvalues slightly negative.
    let noise = values
        .slice(s![q..])
        .iter()
        .map(|v| v.max(0.0))
        .sum::<f64>()
        / (d - q) as f64;
    stats.check_noise(noise, q)?;
    let explained = values.slice(s![..q]).to_owned();
    let mut w = vectors.slice(s![.., ..q]).to_owned();
    for (mut col, &l) in w.columns_mut().into_iter().zip(&explained) {
        // λ_j ≥ λ_{q+1} ≥ σ² for j ≤ q; `max` only guards rounding.
        col *= (l - noise).max(0.0).sqrt();
    }
    Ok((w, noise, explained))
}

/// What EM reports besides the parameters.
struct EmReport {
    converged: bool,
    lower_bounds: Vec<f64>,
}

impl EmReport {
    fn closed_form() -> Self {
        Self {
            converged: true,
            lower_bounds: Vec::new(),
        }
    }
}

/// EM for `(W, σ²)` with `μ = x̄` (its closed-form estimate, which EM would not change).
///
/// Written in terms of `S` rather than the data: after the one `O(N d²)` pass that builds `S`,
/// an iteration costs `O(d² q)`, independent of `N`, where the data form costs `O(N d q)` per
/// iteration. The data form only pays off when `d` is so large that the `d × d` matrix itself
/// is the problem (thousands of columns), which is beyond the sizes this crate targets; and the
/// exact log-likelihood needed for the trace comes from `S` for free.
fn em(stats: &Moments, q: usize, p: &PpcaParams) -> Result<(Array2<f64>, f64, EmReport), EmError> {
    let d = stats.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    // Start: σ² = the mean variance, W with N(0, σ²) entries (a random subspace of the same
    // scale as the data).
    let mut noise = stats.trace / d as f64;
    stats.check_noise(noise, q)?;
    let scale = noise.sqrt();
    let mut w = Array2::from_shape_fn((d, q), |_| scale * rng.sample::<f64, _>(StandardNormal));
    // Buffers for the d × q products, allocated once per fit.
    let mut sw = Array2::<f64>::zeros((d, q));
    let mut swg = Array2::<f64>::zeros((d, q));
    let mut w_next = Array2::<f64>::zeros((d, q));
    let mut lower_bounds = Vec::with_capacity(p.max_iter.min(10_000));
    let mut converged = false;
    let mut previous = f64::NEG_INFINITY;
    for iteration in 1..=p.max_iter {
        // E-step statistics: S W, M = WᵀW + σ²I, WᵀSW; the log-likelihood before the M-step.
        general_mat_mul(1.0, &stats.cov, &w, 0.0, &mut sw);
        let inner = Inner::new(w.view(), noise)?;
        let mut wsw = w.t().dot(&sw);
        symmetrise(&mut wsw);
        let bound = mean_log_likelihood(d, stats.trace, noise, &inner, wsw.view());
        lower_bounds.push(bound);
        tracing::trace!(model = "ProbabilisticPca", iteration, bound, "EM iteration");
        // M-step: W_new = S W (σ²I + M⁻¹WᵀSW)⁻¹ = S W G⁻¹ M with the symmetric positive-
        // definite G = σ²M + WᵀSW; σ²_new = (tr S − tr(S W M⁻¹ W_newᵀ)) / d, and
        // tr(S W M⁻¹ W_newᵀ) = tr(S W G⁻¹ (S W)ᵀ).
        let mut m = w.t().dot(&w);
        m.diag_mut().mapv_inplace(|v| v + noise);
        let mut g = &m * noise + &wsw;
        symmetrise(&mut g);
        let g_inv = Inner::of(g.view())?.inverse();
        general_mat_mul(1.0, &sw, &g_inv, 0.0, &mut swg);
        general_mat_mul(1.0, &swg, &m, 0.0, &mut w_next);
        let retained: f64 = swg.iter().zip(sw.iter()).map(|(a, b)| a * b).sum();
        let noise_next = (stats.trace - retained) / d as f64;
        stats.check_noise(noise_next, q)?;
        std::mem::swap(&mut w, &mut w_next);
        noise = noise_next;
        if (bound - previous).abs() < p.tol {
            converged = true;
            break;
        }
        previous = bound;
    }
    if !converged {
        tracing::warn!(
            model = "ProbabilisticPca",
            n_iter = lower_bounds.len(),
            tol = p.tol,
            "EM did not converge; try a larger max_iter or tol, or PpcaMethod::ClosedForm"
        );
    }
    Ok((
        w,
        noise,
        EmReport {
            converged,
            lower_bounds,
        },
    ))
}

/// Rotates EM's `W` (determined only up to a rotation `R`) to orthogonal columns in decreasing
/// order of norm, `W R` with `R` the eigenvectors of `WᵀW`, each column's largest entry
/// positive: the form the closed form returns. Also returns the explained variances.
fn canonical_rotation(w: Array2<f64>, noise: f64) -> Result<(Array2<f64>, Array1<f64>), EmError> {
    let gram = w.t().dot(&w);
    let (values, rotation) = symmetric_eigen(gram.view())?.into_parts();
    let mut rotated = w.dot(&rotation);
    for mut col in rotated.columns_mut() {
        let mut largest = 0.0f64;
        let mut sign = 1.0;
        for &x in col.iter() {
            if x.abs() > largest {
                largest = x.abs();
                sign = if x < 0.0 { -1.0 } else { 1.0 };
            }
        }
        col *= sign;
    }
    Ok((rotated, values.mapv(|v| v.max(0.0) + noise)))
}

/// `a ← (a + aᵀ)/2` for a small square matrix.
fn symmetrise(a: &mut Array2<f64>) {
    let n = a.nrows();
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (a[[i, j]] + a[[j, i]]);
            a[[i, j]] = v;
            a[[j, i]] = v;
        }
    }
}

/// Column means of standard-layout data, summed row by row in `f64`.
fn column_mean<A: Element>(x: ArrayView2<'_, A>) -> Array1<f64> {
    let mut mean = Array1::<f64>::zeros(x.ncols());
    for row in x.rows() {
        mean.zip_mut_with(&row, |m, v| *m += v.to_f64());
    }
    mean / x.nrows() as f64
}

/// Writes `x_chunk − μ` (converted to `f64`) into the top rows of `buf`; returns them.
fn centre_into<'b, A: Element>(
    x: ArrayView2<'_, A>,
    mean: ArrayView1<'_, f64>,
    buf: &'b mut Array2<f64>,
) -> ArrayViewMut2<'b, f64> {
    let mut y = buf.slice_mut(s![..x.nrows(), ..]);
    Zip::from(&mut y)
        .and(&x)
        .and_broadcast(&mean)
        .for_each(|y, x, m| *y = x.to_f64() - m);
    y
}

/// `S = (1/N) Σ (x_n − μ)(x_n − μ)ᵀ`: each of at most [`COVARIANCE_BLOCKS`] blocks of rows adds
/// `YᵀY` of its centred chunks (one GEMM each); blocks run in parallel and are summed in order.
fn sample_covariance<A: Element>(x: ArrayView2<'_, A>, mean: ArrayView1<'_, f64>) -> Array2<f64> {
    let (n, d) = x.dim();
    let chunks = n.div_ceil(CHUNK);
    let block_rows = chunks.div_ceil(COVARIANCE_BLOCKS).max(1) * CHUNK;
    let partial: Vec<Array2<f64>> = x
        .axis_chunks_iter(Axis(0), block_rows)
        .into_par_iter()
        .map(|block| {
            let mut acc = Array2::<f64>::zeros((d, d));
            let mut buf = Array2::<f64>::zeros((CHUNK.min(block.nrows()), d));
            for chunk in block.axis_chunks_iter(Axis(0), CHUNK) {
                let y = centre_into(chunk, mean, &mut buf);
                general_mat_mul(1.0, &y.t(), &y, 1.0, &mut acc);
            }
            acc
        })
        .collect();
    let mut cov = Array2::<f64>::zeros((d, d));
    for p in &partial {
        cov += p;
    }
    cov /= n as f64;
    symmetrise(&mut cov);
    cov
}

/// `out = (x − μ) P` (`[N, k]`) and `sq_i = ‖x_i − μ‖²`, chunk by chunk in parallel, one
/// `CHUNK × d` buffer per worker.
fn centred_products<A: Element>(
    x: ArrayView2<'_, A>,
    mean: ArrayView1<'_, f64>,
    proj: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
    mut sq: ArrayViewMut1<'_, f64>,
) {
    let d = x.ncols();
    x.axis_chunks_iter(Axis(0), CHUNK)
        .into_par_iter()
        .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK).into_par_iter())
        .zip(sq.axis_chunks_iter_mut(Axis(0), CHUNK).into_par_iter())
        .for_each_init(
            || Array2::<f64>::zeros((CHUNK, d)),
            |buf, ((chunk, mut o), mut s)| {
                let y = centre_into(chunk, mean, buf);
                general_mat_mul(1.0, &y, &proj, 0.0, &mut o);
                Zip::from(&mut s)
                    .and(y.rows())
                    .for_each(|s, row| *s = row.dot(&row));
            },
        );
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn settings_deserialise_with_defaults() {
        let p: PpcaParams =
            serde_json::from_str(r#"{"n_components": 3, "method": "em", "tol": 1e-8}"#).unwrap();
        let v = p.check().unwrap();
        assert_eq!(
            (
                v.n_components(),
                v.method(),
                v.tol(),
                v.max_iter(),
                v.seed()
            ),
            (3, PpcaMethod::Em, 1e-8, 1000, 0)
        );
        let p: PpcaParams = serde_json::from_str(r#"{"n_components": 2}"#).unwrap();
        assert_eq!(p.check().unwrap().method(), PpcaMethod::ClosedForm);
        let bad: PpcaParams = serde_json::from_str(r#"{"n_components": 2, "tol": -1.0}"#).unwrap();
        assert!(matches!(
            bad.check(),
            Err(EmError::InvalidParam { name: "tol", .. })
        ));
    }

    /// Rows spread over several covariance blocks and partial chunks agree with a naive sum.
    #[test]
    fn chunked_covariance_matches_a_naive_sum() {
        let n = 3 * CHUNK * COVARIANCE_BLOCKS + 17;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            ((i * 7 + j * 13) % 11) as f64 - 5.0 + 0.01 * i as f64 * (j as f64 + 1.0)
        });
        let mean = column_mean(x.view());
        let cov = sample_covariance(x.view(), mean.view());
        let y = &x - &mean;
        let naive = y.t().dot(&y) / n as f64;
        let err = (&cov - &naive).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-10, "{err:e}");
    }

    /// The S-based mean log-likelihood equals the average of the dense per-row densities.
    #[test]
    fn log_likelihood_from_moments_matches_the_rows() {
        let x = array![
            [1.0, 2.0, 0.5],
            [0.3, -1.0, 2.0],
            [2.0, 0.0, -1.0],
            [-1.0, 1.5, 0.0],
            [0.5, 0.5, 0.5]
        ];
        let mean = column_mean(x.view());
        let stats = Moments::new(sample_covariance(x.view(), mean.view()));
        let w = array![[0.8, 0.1], [-0.3, 0.9], [0.2, 0.4]];
        let model = ProbabilisticPca::from_components(mean, w.clone(), 0.3).unwrap();
        let from_moments = stats.mean_log_likelihood(w.view(), 0.3).unwrap();
        let from_rows = model.score(x.view()).unwrap();
        assert!(
            (from_moments - from_rows).abs() < 1e-13,
            "{from_moments} {from_rows}"
        );
    }
}

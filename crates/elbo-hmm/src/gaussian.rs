//! Gaussian emissions (hmmlearn's `GaussianHMM`): one normal per state, with full, tied,
//! diagonal or spherical covariances.
//!
//! The densities are elbo-distributions' [`MvNormal`], [`DiagNormal`] and [`SphericalNormal`]
//! (their batched `ln_prob_batch` is the E-step kernel). The statistics are the mixtures':
//! per state `N_k = Σ γ`, `Σ γ y` and `Σ γ y yᵀ` (or its diagonal) around a shift `s`
//! (`y = x − s`, the mean of the current state means), gathered for a chunk of rows by one
//! matrix product `Γᵀ F` of the posteriors with per-row features (`[y_a y_b (a ≤ b), y, 1]`,
//! or `[y, y², 1]`), and turned into weighted means and covariances by elbo-distributions'
//! [`GaussianStats`] / [`DiagGaussianStats`].
//!
//! The M-step is hmmlearn 0.3.3's (after Huang, Acero & Hon, *Spoken Language Processing*,
//! pp. 443–445), with scalar priors:
//! - `μ_k = (w_μ μ₀ + Σ γ x) / (w_μ + N_k)` (`means_weight` w_μ, `means_prior` μ₀);
//! - with `C_k = w_μ (μ_k − μ₀)(μ_k − μ₀)ᵀ + Σ γ (x − μ_k)(x − μ_k)ᵀ`:
//!   full `Σ_k = (c₀ + C_k) / (max(w_c − d, 0) + N_k)`, tied `Σ = (c₀ + Σ_k C_k) / (max(w_c − d,
//!   0) + Σ_k N_k)`, diag `σ²_kj = (c₀ + C_k,jj) / max(max(w_c − 1, 0) + N_k, 10⁻⁵)`, spherical
//!   the mean over `j` of the diagonal ones (`covars_prior` c₀ — added to *every* entry of a
//!   full or tied matrix, as hmmlearn adds a scalar prior —, `covars_weight` w_c).
//!
//! Recoveries, each with a `tracing` warning: a state whose posterior mass is 0 (≤ machine
//! epsilon) keeps its previous mean and covariance; a covariance that is not positive definite
//! gets `min_covar` added to its diagonal (an error naming the state if it still is not).

use elbo_distributions::{
    DiagGaussianStats, DiagNormal, GaussianStats, LogDensity, MvNormal, SphericalNormal,
};
use elbo_em::{Covariance, Covariances, kmeans_centres};
use ndarray::{
    Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayViewMut2, Axis, linalg::general_mat_mul, s,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::params::Letters;

/// ½ ln 2π.
pub(crate) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
/// Rows per chunk of the statistics pass.
pub(crate) const CHUNK: usize = 256;
/// A state with at most this much posterior mass has lost it all.
pub(crate) const NO_MASS: f64 = f64::EPSILON;

/// Settings of Gaussian emissions, hmmlearn's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianSettings {
    /// Covariance type (hmmlearn's default: diag).
    pub covariance_type: Covariance,
    /// Added to the diagonal of the data covariance that initialises the covariances, and the
    /// recovery for a covariance that is not positive definite (1e-3).
    pub min_covar: f64,
    /// Prior mean μ₀ of every state (0).
    pub means_prior: f64,
    /// Weight of the prior mean (0: none).
    pub means_weight: f64,
    /// Prior added to the covariance numerators (1e-2).
    pub covars_prior: f64,
    /// Weight of the covariance prior (1).
    pub covars_weight: f64,
}

impl Default for GaussianSettings {
    fn default() -> Self {
        Self {
            covariance_type: Covariance::Diag,
            min_covar: 1e-3,
            means_prior: 0.0,
            means_weight: 0.0,
            covars_prior: 1e-2,
            covars_weight: 1.0,
        }
    }
}

/// One state's normal, in the form its covariance type needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Density {
    Full(MvNormal),
    Diag(DiagNormal),
    Spherical(SphericalNormal),
}

impl Density {
    pub(crate) fn ln_prob_batch(
        &self,
        x: ArrayView2<'_, f64>,
        out: ndarray::ArrayViewMut1<'_, f64>,
    ) {
        match self {
            Density::Full(d) => d.ln_prob_batch(x, out),
            Density::Diag(d) => d.ln_prob_batch(x, out),
            Density::Spherical(d) => d.ln_prob_batch(x, out),
        }
    }

    pub(crate) fn sample<R: Rng>(&self, rng: &mut R) -> Array1<f64> {
        match self {
            Density::Full(d) => d.sample(rng),
            Density::Diag(d) => d.sample(rng),
            Density::Spherical(d) => d.sample(rng),
        }
    }

    /// Builds the density of one state from its covariance in the layout of `covars`,
    /// adding `min_covar` to the diagonal once if it is not positive definite.
    pub(crate) fn build(
        mean: Array1<f64>,
        cov: CovView<'_>,
        min_covar: Option<f64>,
        state: usize,
    ) -> Result<Self, HmmError> {
        match cov {
            CovView::Full(c) => match MvNormal::new(mean.clone(), c.to_owned()) {
                Ok(d) => Ok(Density::Full(d)),
                Err(first) => {
                    let Some(reg) = min_covar else {
                        return Err(HmmError::NotPositiveDefinite {
                            state,
                            min_covar: 0.0,
                            source: first,
                        });
                    };
                    tracing::warn!(
                        state,
                        "covariance of state {state} is not positive definite ({first}); adding min_covar = {reg} to its diagonal"
                    );
                    let mut c = c.to_owned();
                    c.diag_mut().mapv_inplace(|v| v + reg);
                    MvNormal::new(mean, c).map(Density::Full).map_err(|source| {
                        HmmError::NotPositiveDefinite {
                            state,
                            min_covar: reg,
                            source,
                        }
                    })
                }
            },
            CovView::Diag(v) => {
                let mut v = v.to_owned();
                if v.iter().any(|&x| x.is_nan() || x <= 0.0)
                    && let Some(reg) = min_covar
                {
                    tracing::warn!(
                        state,
                        "a variance of state {state} is not > 0; adding min_covar = {reg}"
                    );
                    v.mapv_inplace(|x| if x > 0.0 { x } else { x.max(0.0) + reg });
                }
                DiagNormal::new(mean, v)
                    .map(Density::Diag)
                    .map_err(HmmError::from)
            }
            CovView::Spherical(mut v) => {
                if (v.is_nan() || v <= 0.0)
                    && let Some(reg) = min_covar
                {
                    tracing::warn!(
                        state,
                        "the variance of state {state} is not > 0; adding min_covar = {reg}"
                    );
                    v = v.max(0.0) + reg;
                }
                SphericalNormal::new(mean, v)
                    .map(Density::Spherical)
                    .map_err(HmmError::from)
            }
        }
    }
}

/// One state's covariance, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CovView<'a> {
    Full(ArrayView2<'a, f64>),
    Diag(ArrayView1<'a, f64>),
    Spherical(f64),
}

/// State `k`'s covariance in `covars`.
pub(crate) fn cov_of(covars: &Covariances, k: usize) -> CovView<'_> {
    match covars {
        Covariances::Full(c) => CovView::Full(c.index_axis(Axis(0), k)),
        Covariances::Tied(c) => CovView::Full(c.view()),
        Covariances::Diag(c) => CovView::Diag(c.row(k)),
        Covariances::Spherical(c) => CovView::Spherical(c[k]),
    }
}

/// Number of feature columns for `d` dimensions: `[pairs, y, 1]` or `[y, y², 1]`.
pub(crate) fn n_features_of(kind: Covariance, d: usize) -> usize {
    match kind {
        Covariance::Full | Covariance::Tied => d * (d + 1) / 2 + d + 1,
        Covariance::Diag | Covariance::Spherical => 2 * d + 1,
    }
}

/// Writes the features of the rows of `x` (shifted by `shift`) into `f[..m]`.
pub(crate) fn fill_features(
    kind: Covariance,
    x: ArrayView2<'_, f64>,
    shift: &[f64],
    f: &mut Array2<f64>,
) {
    let d = shift.len();
    let nf = f.ncols();
    let mut y = [0.0f64; 64];
    let mut yv = vec![0.0; if d > 64 { d } else { 0 }];
    for (xr, mut fr) in x.rows().into_iter().zip(f.rows_mut()) {
        let y: &mut [f64] = if d <= 64 { &mut y[..d] } else { &mut yv[..] };
        for ((o, &v), &s) in y.iter_mut().zip(xr.iter()).zip(shift) {
            *o = v - s;
        }
        let fr = fr.as_slice_mut().expect("feature rows are contiguous");
        match kind {
            Covariance::Full | Covariance::Tied => {
                let mut t = 0;
                for a in 0..d {
                    let ya = y[a];
                    for b in a..d {
                        fr[t] = ya * y[b];
                        t += 1;
                    }
                }
                fr[t..t + d].copy_from_slice(y);
            }
            Covariance::Diag | Covariance::Spherical => {
                for j in 0..d {
                    fr[j] = y[j];
                    fr[d + j] = y[j] * y[j];
                }
            }
        }
        fr[nf - 1] = 1.0;
    }
}

/// Per-state sums read back from a feature-statistics row.
pub(crate) struct StateSums {
    pub(crate) n: f64,
    pub(crate) s1: Array1<f64>,
    /// Full `Σ γ y yᵀ` (full/tied) or the diagonal `Σ γ y²` as a 1 × d row (diag/spherical).
    pub(crate) s2: Array2<f64>,
}

pub(crate) fn state_sums(kind: Covariance, row: ArrayView1<'_, f64>, d: usize) -> StateSums {
    let nf = row.len();
    let n = row[nf - 1];
    match kind {
        Covariance::Full | Covariance::Tied => {
            let p = d * (d + 1) / 2;
            let mut s2 = Array2::zeros((d, d));
            let mut t = 0;
            for a in 0..d {
                for b in a..d {
                    s2[[a, b]] = row[t];
                    s2[[b, a]] = row[t];
                    t += 1;
                }
            }
            StateSums {
                n,
                s1: row.slice(s![p..p + d]).to_owned(),
                s2,
            }
        }
        Covariance::Diag | Covariance::Spherical => StateSums {
            n,
            s1: row.slice(s![..d]).to_owned(),
            s2: row.slice(s![d..2 * d]).to_owned().insert_axis(Axis(0)),
        },
    }
}

/// Statistics of Gaussian emissions.
#[derive(Debug, Clone)]
pub struct GaussianEmissionStats {
    shift: Array1<f64>,
    /// `K × nf`: `Γᵀ F`.
    acc: Array2<f64>,
}

/// Gaussian emissions: per state a mean and a covariance of the chosen type.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "GaussianRepr", into = "GaussianRepr")]
pub struct GaussianEmission {
    means: Array2<f64>,
    covars: Covariances,
    densities: Vec<Density>,
}

impl PartialEq for GaussianEmission {
    fn eq(&self, other: &Self) -> bool {
        self.means == other.means && self.covars == other.covars
    }
}

/// The saved form of [`GaussianEmission`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GaussianRepr {
    means: Array2<f64>,
    covars: Covariances,
}

impl TryFrom<GaussianRepr> for GaussianEmission {
    type Error = HmmError;
    fn try_from(r: GaussianRepr) -> Result<Self, HmmError> {
        Self::new(r.means, r.covars)
    }
}

impl From<GaussianEmission> for GaussianRepr {
    fn from(e: GaussianEmission) -> Self {
        Self {
            means: e.means,
            covars: e.covars,
        }
    }
}

impl GaussianEmission {
    /// Emissions from means (`K × d`) and covariances in the layout of their type (full
    /// `K × d × d`, tied `d × d`, diag `K × d`, spherical `K`).
    ///
    /// # Errors
    /// [`HmmError::Given`] for shapes that disagree; [`HmmError::NotPositiveDefinite`] or a
    /// distribution error for invalid covariances.
    pub fn new(means: Array2<f64>, covars: Covariances) -> Result<Self, HmmError> {
        let mut e = Self {
            means,
            covars,
            densities: Vec::new(),
        };
        e.validate()?;
        Ok(e)
    }

    /// Covariance type.
    pub fn covariance_type(&self) -> Covariance {
        self.covars.kind()
    }

    /// State means μ (`K × d`).
    pub fn means(&self) -> ArrayView2<'_, f64> {
        self.means.view()
    }

    /// Covariances in the layout of their type.
    pub fn covars(&self) -> &Covariances {
        &self.covars
    }

    /// Every state's covariance as a full `K × d × d` array (hmmlearn's `covars_`).
    pub fn full_covars(&self) -> Array3<f64> {
        let (k, d) = self.means.dim();
        let mut out = Array3::zeros((k, d, d));
        for c in 0..k {
            let mut m = out.index_axis_mut(Axis(0), c);
            match cov_of(&self.covars, c) {
                CovView::Full(v) => m.assign(&v),
                CovView::Diag(v) => m.diag_mut().assign(&v),
                CovView::Spherical(v) => m.diag_mut().fill(v),
            }
        }
        out
    }

    fn shape_error(&self) -> Option<String> {
        let (k, d) = self.means.dim();
        let ok = match &self.covars {
            Covariances::Full(c) => c.dim() == (k, d, d),
            Covariances::Tied(c) => c.dim() == (d, d),
            Covariances::Diag(c) => c.dim() == (k, d),
            Covariances::Spherical(c) => c.len() == k,
        };
        (!ok).then(|| {
            format!(
                "{:?} covariances of shape {:?} do not fit means of shape ({k}, {d})",
                self.covars.kind(),
                self.covars.shape()
            )
        })
    }
}

impl Emission for GaussianEmission {
    type Settings = GaussianSettings;
    type Stats = GaussianEmissionStats;
    type Scratch = Array2<f64>;

    const KIND: &'static str = "gaussian";
    const LETTERS: &'static str = "mc";

    fn n_states(&self) -> usize {
        self.means.nrows()
    }

    fn n_features(&self) -> usize {
        self.means.ncols()
    }

    fn check_settings(s: &GaussianSettings, _k: usize) -> Result<(), HmmError> {
        let checks: [(&'static str, f64, bool); 5] = [
            ("min_covar", s.min_covar, s.min_covar >= 0.0),
            ("means_prior", s.means_prior, true),
            ("means_weight", s.means_weight, s.means_weight >= 0.0),
            ("covars_prior", s.covars_prior, true),
            ("covars_weight", s.covars_weight, true),
        ];
        for (name, v, ok) in checks {
            if !v.is_finite() || !ok {
                return Err(HmmError::InvalidParam {
                    name,
                    message: format!(
                        "must be finite{}, got {v}",
                        if ok { "" } else { " and ≥ 0" }
                    ),
                });
            }
        }
        Ok(())
    }

    fn check_fit_data(_s: &GaussianSettings, _x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
        Ok(())
    }

    fn check_data(&self, x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
        if x.ncols() != self.n_features() {
            return Err(HmmError::Dimension {
                expected: self.n_features(),
                got: x.ncols(),
            });
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), HmmError> {
        let (k, d) = self.means.dim();
        if k == 0 || d == 0 {
            return Err(HmmError::Given {
                name: "means_",
                message: format!("must be K × d with K, d ≥ 1, got ({k}, {d})"),
            });
        }
        if let Some(message) = self.shape_error() {
            return Err(HmmError::Given {
                name: "covars_",
                message,
            });
        }
        self.densities = (0..k)
            .map(|c| {
                Density::build(
                    self.means.row(c).to_owned(),
                    cov_of(&self.covars, c),
                    None,
                    c,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn log_likelihood(&self, x: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>) {
        for (c, density) in self.densities.iter().enumerate() {
            density.ln_prob_batch(x, out.column_mut(c));
        }
    }

    fn new_stats(&self) -> GaussianEmissionStats {
        let (k, d) = self.means.dim();
        GaussianEmissionStats {
            shift: self.means.mean_axis(Axis(0)).expect("K ≥ 1"),
            acc: Array2::zeros((k, n_features_of(self.covariance_type(), d))),
        }
    }

    fn new_scratch(&self) -> Array2<f64> {
        Array2::zeros((
            CHUNK,
            n_features_of(self.covariance_type(), self.n_features()),
        ))
    }

    fn accumulate(
        &self,
        x: ArrayView2<'_, f64>,
        gamma: ArrayView2<'_, f64>,
        f: &mut Array2<f64>,
        stats: &mut GaussianEmissionStats,
    ) {
        let kind = self.covariance_type();
        let shift = stats.shift.to_vec();
        for (xc, gc) in x
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(gamma.axis_chunks_iter(Axis(0), CHUNK))
        {
            let m = xc.nrows();
            fill_features(kind, xc, &shift, f);
            general_mat_mul(1.0, &gc.t(), &f.slice(s![..m, ..]), 1.0, &mut stats.acc);
        }
    }

    fn merge_stats(into: &mut GaussianEmissionStats, from: &GaussianEmissionStats) {
        debug_assert_eq!(into.shift, from.shift);
        into.acc += &from.acc;
    }

    fn m_step(
        &self,
        stats: &GaussianEmissionStats,
        st: &GaussianSettings,
        params: &Letters,
    ) -> Result<Self, HmmError> {
        let (k, d) = self.means.dim();
        let kind = self.covariance_type();
        let (mw, mp) = (st.means_weight, st.means_prior);
        let mut means = self.means.clone();
        let mut covars = self.covars.clone();
        let mut scatters: Vec<Option<Array2<f64>>> = vec![None; k];
        let mut total_n = 0.0;
        for c in 0..k {
            let sums = state_sums(kind, stats.acc.row(c), d);
            total_n += sums.n;
            if sums.n <= NO_MASS {
                tracing::warn!(
                    state = c,
                    "state {c} has lost all its posterior mass (N = {}); keeping its previous mean and covariance",
                    sums.n
                );
                continue;
            }
            // Weighted mean and (biased) covariance from elbo-distributions' statistics.
            let (xbar, scov) = match kind {
                Covariance::Full | Covariance::Tied => {
                    let g =
                        GaussianStats::from_sums(sums.n, stats.shift.clone(), sums.s1, sums.s2)?;
                    (g.mean(), g.covariance(0.0))
                }
                Covariance::Diag | Covariance::Spherical => {
                    let g = DiagGaussianStats::from_sums(
                        sums.n,
                        stats.shift.clone(),
                        sums.s1,
                        sums.s2.row(0).to_owned(),
                    )?;
                    (g.mean(), Array2::from_diag(&g.variance(0.0)))
                }
            };
            let mu = if params.has('m') {
                xbar.mapv(|v| v * sums.n).mapv(|v| v + mw * mp) / (mw + sums.n)
            } else {
                self.means.row(c).to_owned()
            };
            // C = w_μ (μ − μ₀)(μ − μ₀)ᵀ + N S + N (x̄ − μ)(x̄ − μ)ᵀ.
            let dm = mu.mapv(|v| v - mp);
            let dx = &xbar - &mu;
            let mut cn = scov * sums.n;
            for a in 0..d {
                for b in 0..d {
                    cn[[a, b]] += mw * dm[a] * dm[b] + sums.n * dx[a] * dx[b];
                }
            }
            means.row_mut(c).assign(&mu);
            scatters[c] = Some(cn);
        }
        if params.has('c') {
            match &mut covars {
                Covariances::Full(cv) => {
                    let w = (st.covars_weight - d as f64).max(0.0);
                    for c in 0..k {
                        if let Some(cn) = &scatters[c] {
                            let n = stats.acc[[c, stats.acc.ncols() - 1]];
                            let mut m = cv.index_axis_mut(Axis(0), c);
                            m.assign(&cn.mapv(|v| (st.covars_prior + v) / (w + n)));
                        }
                    }
                }
                Covariances::Tied(cv) => {
                    let w = (st.covars_weight - d as f64).max(0.0);
                    let mut sum = Array2::<f64>::zeros((d, d));
                    for (c, sc) in scatters.iter().enumerate() {
                        match sc {
                            Some(cn) => sum += cn,
                            // A state without mass adds only its prior-mean term.
                            None => {
                                let dm = self.means.row(c).mapv(|v| v - mp);
                                for a in 0..d {
                                    for b in 0..d {
                                        sum[[a, b]] += mw * dm[a] * dm[b];
                                    }
                                }
                            }
                        }
                    }
                    cv.assign(&sum.mapv(|v| (st.covars_prior + v) / (w + total_n)));
                }
                Covariances::Diag(cv) => {
                    let w = (st.covars_weight - 1.0).max(0.0);
                    for c in 0..k {
                        if let Some(cn) = &scatters[c] {
                            let n = stats.acc[[c, stats.acc.ncols() - 1]];
                            let den = (w + n).max(1e-5);
                            for j in 0..d {
                                cv[[c, j]] = (st.covars_prior + cn[[j, j]]) / den;
                            }
                        }
                    }
                }
                Covariances::Spherical(cv) => {
                    let w = (st.covars_weight - 1.0).max(0.0);
                    for c in 0..k {
                        if let Some(cn) = &scatters[c] {
                            let n = stats.acc[[c, stats.acc.ncols() - 1]];
                            let den = (w + n).max(1e-5);
                            cv[c] = (0..d)
                                .map(|j| (st.covars_prior + cn[[j, j]]) / den)
                                .sum::<f64>()
                                / d as f64;
                        }
                    }
                }
            }
        }
        if means.iter().any(|v| !v.is_finite()) {
            return Err(HmmError::NonFiniteParameter { name: "means_" });
        }
        let densities = (0..k)
            .map(|c| {
                Density::build(
                    means.row(c).to_owned(),
                    cov_of(&covars, c),
                    Some(st.min_covar),
                    c,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Write back any covariance the recovery regularised, so parameters and densities agree.
        let mut covars = covars;
        for (c, dens) in densities.iter().enumerate() {
            match (&mut covars, dens) {
                (Covariances::Full(cv), Density::Full(m)) => {
                    cv.index_axis_mut(Axis(0), c).assign(&m.covariance());
                }
                (Covariances::Tied(cv), Density::Full(m)) if c == 0 => cv.assign(&m.covariance()),
                (Covariances::Diag(cv), Density::Diag(m)) => cv.row_mut(c).assign(&m.variance()),
                (Covariances::Spherical(cv), Density::Spherical(m)) => cv[c] = m.variance(),
                _ => {}
            }
        }
        Ok(Self {
            means,
            covars,
            densities,
        })
    }

    fn expected_log_likelihood(&self, stats: &GaussianEmissionStats) -> Option<f64> {
        let (k, d) = self.means.dim();
        let kind = self.covariance_type();
        let mut total = 0.0;
        for c in 0..k {
            let sums = state_sums(kind, stats.acc.row(c), d);
            if sums.n == 0.0 {
                continue;
            }
            let m = &self.means.row(c) - &stats.shift;
            let (ln_det, quad) = match &self.densities[c] {
                Density::Full(dist) => {
                    let prec = dist.precision();
                    // tr(Λ C), C = S2 − S1 mᵀ − m S1ᵀ + N m mᵀ.
                    let mut q = 0.0;
                    for a in 0..d {
                        for b in 0..d {
                            let cab = sums.s2[[a, b]] - sums.s1[a] * m[b] - m[a] * sums.s1[b]
                                + sums.n * m[a] * m[b];
                            q += prec[[a, b]] * cab;
                        }
                    }
                    (dist.ln_det_covariance(), q)
                }
                Density::Diag(dist) => {
                    let v = dist.variance();
                    let mut q = 0.0;
                    let mut ld = 0.0;
                    for j in 0..d {
                        let cjj = sums.s2[[0, j]] - 2.0 * sums.s1[j] * m[j] + sums.n * m[j] * m[j];
                        q += cjj / v[j];
                        ld += v[j].ln();
                    }
                    (ld, q)
                }
                Density::Spherical(dist) => {
                    let v = dist.variance();
                    let q: f64 = (0..d)
                        .map(|j| sums.s2[[0, j]] - 2.0 * sums.s1[j] * m[j] + sums.n * m[j] * m[j])
                        .sum::<f64>()
                        / v;
                    (d as f64 * v.ln(), q)
                }
            };
            total += sums.n * (-(d as f64) * HALF_LN_2PI - 0.5 * ln_det) - 0.5 * quad;
        }
        Some(total)
    }

    fn initialize(
        x: ArrayView2<'_, f64>,
        k: usize,
        st: &GaussianSettings,
        init: &Letters,
        given: Option<&Self>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, HmmError> {
        if let Some(g) = given {
            g.check_data(x)?;
            if g.covariance_type() != st.covariance_type {
                return Err(HmmError::Given {
                    name: "covars_",
                    message: format!(
                        "the given model's covariances are {:?} but covariance_type is {:?}",
                        g.covariance_type(),
                        st.covariance_type
                    ),
                });
            }
        }
        let means = match given {
            Some(g) if !init.has('m') => g.means.clone(),
            _ => {
                if x.nrows() < k {
                    return Err(HmmError::TooFewRows {
                        rows: x.nrows(),
                        needed: k,
                    });
                }
                kmeans_centres(x, k, rng).1
            }
        };
        let covars = match given {
            Some(g) if !init.has('c') => g.covars.clone(),
            _ => {
                let cv = data_covariance(x, st.min_covar);
                distribute(&cv, st.covariance_type, k)
            }
        };
        Self::new(means, covars)
    }

    fn n_free_parameters(&self, params: &Letters) -> usize {
        let (k, d) = self.means.dim();
        let mut n = 0;
        if params.has('m') {
            n += k * d;
        }
        if params.has('c') {
            n += match self.covariance_type() {
                Covariance::Spherical => k,
                Covariance::Diag => k * d,
                Covariance::Full => k * d * (d + 1) / 2,
                Covariance::Tied => d * (d + 1) / 2,
            };
        }
        n
    }

    fn sample_from_state<R: Rng>(&self, state: usize, rng: &mut R) -> Array1<f64> {
        self.densities[state].sample(rng)
    }
}

/// The unbiased sample covariance of the rows (numpy's `np.cov`), plus `min_covar · I`; the
/// identity plus `min_covar` for a single row.
pub(crate) fn data_covariance(x: ArrayView2<'_, f64>, min_covar: f64) -> Array2<f64> {
    let (n, d) = x.dim();
    let mut cv = Array2::<f64>::eye(d);
    if n >= 2 {
        let mean = x.mean_axis(Axis(0)).expect("rows ≥ 1");
        let centred = &x - &mean;
        cv = centred.t().dot(&centred) / (n as f64 - 1.0);
    }
    cv.diag_mut().mapv_inplace(|v| v + min_covar);
    cv
}

/// The data covariance spread over `k` states in the layout of `kind` (spherical: the mean
/// variance).
pub(crate) fn distribute(cv: &Array2<f64>, kind: Covariance, k: usize) -> Covariances {
    let d = cv.nrows();
    match kind {
        Covariance::Full => {
            let mut a = Array3::zeros((k, d, d));
            for mut m in a.outer_iter_mut() {
                m.assign(cv);
            }
            Covariances::Full(a)
        }
        Covariance::Tied => Covariances::Tied(cv.clone()),
        Covariance::Diag => {
            let mut a = Array2::zeros((k, d));
            for mut r in a.rows_mut() {
                r.assign(&cv.diag());
            }
            Covariances::Diag(a)
        }
        Covariance::Spherical => {
            Covariances::Spherical(Array1::from_elem(k, cv.diag().mean().unwrap_or(1.0)))
        }
    }
}

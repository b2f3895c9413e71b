//! Gaussian-mixture emissions (hmmlearn's `GMMHMM`): every state emits from its own mixture
//! of `M` Gaussians.
//!
//! The E-step splits each posterior `γ_tk` over the state's components,
//! `r_tkm = γ_tk · w_km N(x_t; μ_km, Σ_km) / Σ_m' (…)`. The M-step is hmmlearn 0.3.3's, with its
//! default priors (which make it the maximum-likelihood update for full, tied and diagonal
//! covariances) and one property worth knowing: its covariance statistics are centred on the
//! means *of the E-step* (`Σ r (x − μ_old)(x − μ_old)ᵀ`), not on the updated means, so the
//! covariance update lags the mean update by one iteration. elbo-hmm does the same, to give
//! hmmlearn's numbers. Covariance types: full (`K × M × d × d`), tied (one matrix per state,
//! shared by its components: `K × d × d`), diag (`K × M × d`), spherical (`K × M`).
//!
//! Recoveries (each with a `tracing` warning): a component or state whose update is undefined
//! (no mass, a denominator ≤ 0, a negative weight) keeps its previous parameters; a covariance
//! that is not positive definite gets `min_covar` on its diagonal.

use elbo_distributions::MvNormal;
use elbo_em::{Covariance, kmeans_centres};
use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, ArrayViewMut2, Axis, s};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::gaussian::{CHUNK, CovView, Density, data_covariance};
use crate::model::check_probabilities;
use crate::params::Letters;

/// Settings of Gaussian-mixture emissions, hmmlearn's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GmmSettings {
    /// Components per state `M` (1).
    pub n_mix: usize,
    /// Covariance type (diag).
    pub covariance_type: Covariance,
    /// Added to the diagonal of the data covariance that initialises the covariances, and the
    /// recovery for one that is not positive definite (1e-3).
    pub min_covar: f64,
    /// Dirichlet concentration of the mixture weights (1).
    pub weights_prior: f64,
    /// Prior mean of every component (0).
    pub means_prior: f64,
    /// Weight of the prior mean (0).
    pub means_weight: f64,
    /// Covariance prior; `None`: hmmlearn's default for the type (full, tied 0; diag −1.5;
    /// spherical −(M + 2)/2).
    pub covars_prior: Option<f64>,
    /// Covariance prior weight; `None`: hmmlearn's default (full −(d + 2); tied −(M + d + 1);
    /// diag and spherical 0).
    pub covars_weight: Option<f64>,
}

impl Default for GmmSettings {
    fn default() -> Self {
        Self {
            n_mix: 1,
            covariance_type: Covariance::Diag,
            min_covar: 1e-3,
            weights_prior: 1.0,
            means_prior: 0.0,
            means_weight: 0.0,
            covars_prior: None,
            covars_weight: None,
        }
    }
}

impl GmmSettings {
    /// The covariance prior and weight, hmmlearn's defaults filled in for `d` dimensions.
    fn covar_priors(&self, d: usize) -> (f64, f64) {
        let (m, d) = (self.n_mix as f64, d as f64);
        let (p, w) = match self.covariance_type {
            Covariance::Full => (0.0, -(1.0 + d + 1.0)),
            Covariance::Tied => (0.0, -(m + d + 1.0)),
            Covariance::Diag => (-1.5, 0.0),
            Covariance::Spherical => (-(m + 2.0) / 2.0, 0.0),
        };
        (
            self.covars_prior.unwrap_or(p),
            self.covars_weight.unwrap_or(w),
        )
    }
}

/// Covariances of Gaussian-mixture emissions, in the layout of their type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GmmCovars {
    /// `K × M × d × d`.
    Full(Array4<f64>),
    /// `K × d × d`: one matrix per state, shared by its components.
    Tied(Array3<f64>),
    /// `K × M × d`.
    Diag(Array3<f64>),
    /// `K × M`.
    Spherical(Array2<f64>),
}

impl GmmCovars {
    /// The covariance type.
    pub fn kind(&self) -> Covariance {
        match self {
            GmmCovars::Full(_) => Covariance::Full,
            GmmCovars::Tied(_) => Covariance::Tied,
            GmmCovars::Diag(_) => Covariance::Diag,
            GmmCovars::Spherical(_) => Covariance::Spherical,
        }
    }

    fn view(&self, k: usize, m: usize) -> CovView<'_> {
        match self {
            GmmCovars::Full(c) => CovView::Full(c.slice(s![k, m, .., ..])),
            GmmCovars::Tied(c) => CovView::Full(c.slice(s![k, .., ..])),
            GmmCovars::Diag(c) => CovView::Diag(c.slice(s![k, m, ..])),
            GmmCovars::Spherical(c) => CovView::Spherical(c[[k, m]]),
        }
    }
}

/// Gaussian-mixture emissions: weights `K × M`, means `K × M × d`, covariances.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "GmmRepr", into = "GmmRepr")]
pub struct GmmEmission {
    weights: Array2<f64>,
    means: Array3<f64>,
    covars: GmmCovars,
    /// `densities[k * M + m]`.
    densities: Vec<Density>,
    ln_weights: Array2<f64>,
}

impl PartialEq for GmmEmission {
    fn eq(&self, other: &Self) -> bool {
        self.weights == other.weights && self.means == other.means && self.covars == other.covars
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GmmRepr {
    weights: Array2<f64>,
    means: Array3<f64>,
    covars: GmmCovars,
}

impl TryFrom<GmmRepr> for GmmEmission {
    type Error = HmmError;
    fn try_from(r: GmmRepr) -> Result<Self, HmmError> {
        Self::new(r.weights, r.means, r.covars)
    }
}

impl From<GmmEmission> for GmmRepr {
    fn from(e: GmmEmission) -> Self {
        Self {
            weights: e.weights,
            means: e.means,
            covars: e.covars,
        }
    }
}

impl GmmEmission {
    /// Emissions from weights (`K × M`, rows sum to 1), means (`K × M × d`) and covariances.
    ///
    /// # Errors
    /// [`HmmError::Given`] for inconsistent shapes or weights; density errors.
    pub fn new(
        weights: Array2<f64>,
        means: Array3<f64>,
        covars: GmmCovars,
    ) -> Result<Self, HmmError> {
        let mut e = Self {
            ln_weights: Array2::zeros(weights.dim()),
            weights,
            means,
            covars,
            densities: Vec::new(),
        };
        e.validate()?;
        Ok(e)
    }

    /// Mixture weights (`K × M`).
    pub fn weights(&self) -> ArrayView2<'_, f64> {
        self.weights.view()
    }

    /// Component means (`K × M × d`).
    pub fn means(&self) -> &Array3<f64> {
        &self.means
    }

    /// Covariances.
    pub fn covars(&self) -> &GmmCovars {
        &self.covars
    }

    fn n_mix(&self) -> usize {
        self.weights.ncols()
    }

    /// ln w_km + ln N(x_t; μ_km, Σ_km) for a chunk of rows into `buf` (`K·M × rows`).
    fn component_log_densities(&self, x: ArrayView2<'_, f64>, buf: &mut Array2<f64>) {
        let m = self.n_mix();
        let rows = x.nrows();
        for (i, dens) in self.densities.iter().enumerate() {
            let mut row = buf.row_mut(i);
            let mut out = row.slice_mut(s![..rows]);
            dens.ln_prob_batch(x, out.view_mut());
            let lw = self.ln_weights[[i / m, i % m]];
            out.mapv_inplace(|v| v + lw);
        }
    }
}

/// Statistics of Gaussian-mixture emissions (hmmlearn's `post_mix_sum`, `post_sum`, `m_n`,
/// `c_n`).
#[derive(Debug, Clone)]
pub struct GmmStats {
    post_mix_sum: Array2<f64>,
    post_sum: Array1<f64>,
    /// Σ r x, `K × M × d` (the prior term is added in the M-step).
    m_n: Array3<f64>,
    /// Scatter about the E-step's means, flattened per type: full `K·M × d·d`, tied
    /// `K × d·d`, diag `K·M × d`, spherical `K·M × 1`.
    c_n: Array2<f64>,
}

fn c_n_shape(kind: Covariance, k: usize, m: usize, d: usize) -> (usize, usize) {
    match kind {
        Covariance::Full => (k * m, d * d),
        Covariance::Tied => (k, d * d),
        Covariance::Diag => (k * m, d),
        Covariance::Spherical => (k * m, 1),
    }
}

impl Emission for GmmEmission {
    type Settings = GmmSettings;
    type Stats = GmmStats;
    type Scratch = Array2<f64>;

    const KIND: &'static str = "gmm";
    const LETTERS: &'static str = "mcw";

    fn n_states(&self) -> usize {
        self.weights.nrows()
    }

    fn n_features(&self) -> usize {
        self.means.dim().2
    }

    fn check_settings(s: &GmmSettings, _k: usize) -> Result<(), HmmError> {
        if s.n_mix == 0 {
            return Err(HmmError::InvalidParam {
                name: "n_mix",
                message: "must be ≥ 1, got 0".into(),
            });
        }
        let values = [
            ("min_covar", Some(s.min_covar)),
            ("weights_prior", Some(s.weights_prior)),
            ("means_prior", Some(s.means_prior)),
            ("means_weight", Some(s.means_weight)),
            ("covars_prior", s.covars_prior),
            ("covars_weight", s.covars_weight),
        ];
        for (name, v) in values {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(HmmError::InvalidParam {
                    name,
                    message: format!("must be finite, got {v}"),
                });
            }
        }
        if s.min_covar < 0.0 || s.means_weight < 0.0 {
            return Err(HmmError::InvalidParam {
                name: if s.min_covar < 0.0 {
                    "min_covar"
                } else {
                    "means_weight"
                },
                message: "must be ≥ 0".into(),
            });
        }
        Ok(())
    }

    fn check_fit_data(_s: &GmmSettings, _x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
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
        let (k, m) = self.weights.dim();
        let (mk, mm, d) = self.means.dim();
        if k == 0 || m == 0 || d == 0 || (mk, mm) != (k, m) {
            return Err(HmmError::Given {
                name: "means_",
                message: format!(
                    "shape ({mk}, {mm}, {d}) does not fit weights of shape ({k}, {m})"
                ),
            });
        }
        let ok = match &self.covars {
            GmmCovars::Full(c) => c.dim() == (k, m, d, d),
            GmmCovars::Tied(c) => c.dim() == (k, d, d),
            GmmCovars::Diag(c) => c.dim() == (k, m, d),
            GmmCovars::Spherical(c) => c.dim() == (k, m),
        };
        if !ok {
            return Err(HmmError::Given {
                name: "covars_",
                message: format!(
                    "{:?} covariances do not fit K = {k}, M = {m}, d = {d}",
                    self.covars.kind()
                ),
            });
        }
        for row in self.weights.rows() {
            check_probabilities("weights_", row)?;
        }
        self.ln_weights = self.weights.mapv(f64::ln);
        let mut densities = Vec::with_capacity(k * m);
        for c in 0..k {
            for j in 0..m {
                densities.push(Density::build(
                    self.means.slice(s![c, j, ..]).to_owned(),
                    self.covars.view(c, j),
                    None,
                    c,
                )?);
            }
        }
        self.densities = densities;
        Ok(())
    }

    fn log_likelihood(&self, x: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>) {
        let (k, m) = self.weights.dim();
        x.axis_chunks_iter(Axis(0), CHUNK)
            .into_par_iter()
            .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK).into_par_iter())
            .for_each_init(
                || Array2::zeros((k * m, CHUNK)),
                |buf, (xc, mut oc)| {
                    self.component_log_densities(xc, buf);
                    for t in 0..xc.nrows() {
                        for c in 0..k {
                            let vals = (0..m).map(|j| buf[[c * m + j, t]]);
                            let mx = vals.clone().fold(f64::NEG_INFINITY, f64::max);
                            oc[[t, c]] = if mx == f64::NEG_INFINITY {
                                mx
                            } else {
                                mx + vals.map(|v| (v - mx).exp()).sum::<f64>().ln()
                            };
                        }
                    }
                },
            );
    }

    fn new_stats(&self) -> GmmStats {
        let (k, m) = self.weights.dim();
        let d = self.n_features();
        GmmStats {
            post_mix_sum: Array2::zeros((k, m)),
            post_sum: Array1::zeros(k),
            m_n: Array3::zeros((k, m, d)),
            c_n: Array2::zeros(c_n_shape(self.covars.kind(), k, m, d)),
        }
    }

    fn new_scratch(&self) -> Array2<f64> {
        let (k, m) = self.weights.dim();
        Array2::zeros((k * m, CHUNK))
    }

    fn accumulate(
        &self,
        x: ArrayView2<'_, f64>,
        gamma: ArrayView2<'_, f64>,
        buf: &mut Array2<f64>,
        st: &mut GmmStats,
    ) {
        let (k, m) = self.weights.dim();
        let d = self.n_features();
        let kind = self.covars.kind();
        let mut diff = vec![0.0; d];
        for (xc, gc) in x
            .axis_chunks_iter(Axis(0), CHUNK)
            .zip(gamma.axis_chunks_iter(Axis(0), CHUNK))
        {
            self.component_log_densities(xc, buf);
            for t in 0..xc.nrows() {
                let xt = xc.row(t);
                for c in 0..k {
                    let g = gc[[t, c]];
                    st.post_sum[c] += g;
                    let mx = (0..m)
                        .map(|j| buf[[c * m + j, t]])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = if mx == f64::NEG_INFINITY {
                        0.0
                    } else {
                        (0..m).map(|j| (buf[[c * m + j, t]] - mx).exp()).sum()
                    };
                    for j in 0..m {
                        // hmmlearn normalises a single component to posterior 1.
                        let share = if m == 1 {
                            1.0
                        } else if total > 0.0 {
                            (buf[[c * m + j, t]] - mx).exp() / total
                        } else {
                            0.0
                        };
                        let r = g * share;
                        if r == 0.0 {
                            continue;
                        }
                        st.post_mix_sum[[c, j]] += r;
                        let mu = self.means.slice(s![c, j, ..]);
                        for a in 0..d {
                            st.m_n[[c, j, a]] += r * xt[a];
                            diff[a] = xt[a] - mu[a];
                        }
                        let row = match kind {
                            Covariance::Tied => c,
                            _ => c * m + j,
                        };
                        let mut cn = st.c_n.row_mut(row);
                        match kind {
                            Covariance::Full | Covariance::Tied => {
                                for a in 0..d {
                                    let ra = r * diff[a];
                                    for b in 0..d {
                                        cn[a * d + b] += ra * diff[b];
                                    }
                                }
                            }
                            Covariance::Diag => {
                                for a in 0..d {
                                    cn[a] += r * diff[a] * diff[a];
                                }
                            }
                            Covariance::Spherical => {
                                cn[0] += r * diff.iter().map(|v| v * v).sum::<f64>();
                            }
                        }
                    }
                }
            }
        }
    }

    fn merge_stats(into: &mut GmmStats, from: &GmmStats) {
        into.post_mix_sum += &from.post_mix_sum;
        into.post_sum += &from.post_sum;
        into.m_n += &from.m_n;
        into.c_n += &from.c_n;
    }

    fn m_step(&self, st: &GmmStats, s: &GmmSettings, params: &Letters) -> Result<Self, HmmError> {
        let (k, m) = self.weights.dim();
        let d = self.n_features();
        let mut weights = self.weights.clone();
        let mut means = self.means.clone();
        let mut covars = self.covars.clone();
        if params.has('w') {
            let a1 = s.weights_prior - 1.0;
            for c in 0..k {
                let den = st.post_sum[c] + m as f64 * a1;
                let row: Array1<f64> = st.post_mix_sum.row(c).mapv(|n| (n + a1) / den);
                if den > 0.0 && row.iter().all(|v| v.is_finite() && *v >= 0.0) {
                    weights.row_mut(c).assign(&row);
                } else {
                    tracing::warn!(
                        state = c,
                        "weights_: state {c} has no mass for its mixture weights; keeping them"
                    );
                }
            }
        }
        if params.has('m') {
            for c in 0..k {
                for j in 0..m {
                    let den = st.post_mix_sum[[c, j]] + s.means_weight;
                    if den > 0.0 {
                        for a in 0..d {
                            means[[c, j, a]] =
                                (s.means_weight * s.means_prior + st.m_n[[c, j, a]]) / den;
                        }
                    } else {
                        tracing::warn!(
                            state = c,
                            component = j,
                            "means_: component {j} of state {c} has no mass; keeping its mean"
                        );
                    }
                }
            }
        }
        if params.has('c') {
            let (cp, cw) = s.covar_priors(d);
            let (lam, mu0) = (s.means_weight, s.means_prior);
            let df = d as f64;
            let keep = |c: usize, j: usize| {
                tracing::warn!(
                    state = c,
                    component = j,
                    "covars_: the update of component {j} of state {c} is undefined (no mass); keeping its covariance"
                );
            };
            match &mut covars {
                GmmCovars::Full(cv) => {
                    for c in 0..k {
                        for j in 0..m {
                            let den = st.post_mix_sum[[c, j]] + 1.0 + cw + df + 1.0;
                            if den <= 0.0 {
                                keep(c, j);
                                continue;
                            }
                            let cn = st.c_n.row(c * m + j);
                            for a in 0..d {
                                for b in 0..d {
                                    let dma = means[[c, j, a]] - mu0;
                                    let dmb = means[[c, j, b]] - mu0;
                                    cv[[c, j, a, b]] = (cp + lam * dma * dmb + cn[a * d + b]) / den;
                                }
                            }
                        }
                    }
                }
                GmmCovars::Tied(cv) => {
                    for c in 0..k {
                        let den = st.post_sum[c] + m as f64 + cw + df + 1.0;
                        if den <= 0.0 {
                            keep(c, 0);
                            continue;
                        }
                        let cn = st.c_n.row(c);
                        for a in 0..d {
                            for b in 0..d {
                                let prior: f64 = (0..m)
                                    .map(|j| {
                                        lam * (means[[c, j, a]] - mu0) * (means[[c, j, b]] - mu0)
                                    })
                                    .sum();
                                cv[[c, a, b]] = (prior + cp + cn[a * d + b]) / den;
                            }
                        }
                    }
                }
                GmmCovars::Diag(cv) => {
                    for c in 0..k {
                        for j in 0..m {
                            let den = st.post_mix_sum[[c, j]] + 1.0 + 2.0 * (cp + 1.0);
                            if den <= 0.0 {
                                keep(c, j);
                                continue;
                            }
                            let cn = st.c_n.row(c * m + j);
                            for a in 0..d {
                                let dm = means[[c, j, a]] - mu0;
                                cv[[c, j, a]] = (lam * dm * dm + 2.0 * cw + cn[a]) / den;
                            }
                        }
                    }
                }
                GmmCovars::Spherical(cv) => {
                    for c in 0..k {
                        for j in 0..m {
                            let den = df * (st.post_mix_sum[[c, j]] + 1.0) + 2.0 * (cp + 1.0);
                            if den <= 0.0 {
                                keep(c, j);
                                continue;
                            }
                            let norm2: f64 = (0..d).map(|a| (means[[c, j, a]] - mu0).powi(2)).sum();
                            cv[[c, j]] = (lam * norm2 + 2.0 * cw + st.c_n[[c * m + j, 0]]) / den;
                        }
                    }
                }
            }
        }
        if means.iter().any(|v| !v.is_finite()) {
            return Err(HmmError::NonFiniteParameter { name: "means_" });
        }
        // Densities, with the min_covar recovery; recovered covariances are written back.
        let mut densities = Vec::with_capacity(k * m);
        for c in 0..k {
            for j in 0..m {
                let dens = Density::build(
                    means.slice(s![c, j, ..]).to_owned(),
                    covars.view(c, j),
                    Some(s.min_covar),
                    c,
                )?;
                densities.push(dens);
            }
        }
        for c in 0..k {
            for j in 0..m {
                match (&mut covars, &densities[c * m + j]) {
                    (GmmCovars::Full(cv), Density::Full(n)) => {
                        cv.slice_mut(s![c, j, .., ..]).assign(&n.covariance());
                    }
                    (GmmCovars::Tied(cv), Density::Full(n)) if j == 0 => {
                        cv.slice_mut(s![c, .., ..]).assign(&n.covariance());
                    }
                    (GmmCovars::Diag(cv), Density::Diag(n)) => {
                        cv.slice_mut(s![c, j, ..]).assign(&n.variance());
                    }
                    (GmmCovars::Spherical(cv), Density::Spherical(n)) => cv[[c, j]] = n.variance(),
                    _ => {}
                }
            }
        }
        let ln_weights = weights.mapv(f64::ln);
        Ok(Self {
            weights,
            means,
            covars,
            densities,
            ln_weights,
        })
    }

    fn expected_log_likelihood(&self, _stats: &GmmStats) -> Option<f64> {
        None
    }

    fn initialize(
        x: ArrayView2<'_, f64>,
        k: usize,
        s: &GmmSettings,
        init: &Letters,
        given: Option<&Self>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, HmmError> {
        let (n, d) = x.dim();
        let m = s.n_mix;
        if let Some(g) = given {
            g.check_data(x)?;
            if g.covars.kind() != s.covariance_type || g.n_mix() != m {
                return Err(HmmError::Given {
                    name: "covars_",
                    message: format!(
                        "the given model has {:?} covariances and {} components per state, the settings {:?} and {m}",
                        g.covars.kind(),
                        g.n_mix(),
                        s.covariance_type
                    ),
                });
            }
        }
        let cv = data_covariance(x, s.min_covar);
        let weights = match given {
            Some(g) if !init.has('w') => g.weights.clone(),
            _ => Array2::from_elem((k, m), 1.0 / m as f64),
        };
        let means = match given {
            Some(g) if !init.has('m') => g.means.clone(),
            _ => {
                if n < k {
                    return Err(HmmError::TooFewRows { rows: n, needed: k });
                }
                // k-means into states, then k-means into components within each state's rows;
                // a state with fewer rows than components draws them around the centre of all.
                let (labels, centres) = kmeans_centres(x, k, rng);
                let centroid = centres.mean_axis(Axis(0)).expect("k ≥ 1");
                let mut means = Array3::zeros((k, m, d));
                for c in 0..k {
                    let rows: Vec<usize> = (0..n).filter(|&i| labels[i] == c).collect();
                    if rows.len() >= m {
                        let xc = x.select(Axis(0), &rows);
                        let (_, sub) = kmeans_centres(xc.view(), m, rng);
                        means.slice_mut(s![c, .., ..]).assign(&sub);
                    } else {
                        let draws = MvNormal::new(centroid.clone(), cv.clone())?.sample_n(m, rng);
                        means.slice_mut(s![c, .., ..]).assign(&draws);
                    }
                }
                means
            }
        };
        let covars = match given {
            Some(g) if !init.has('c') => g.covars.clone(),
            _ => match s.covariance_type {
                Covariance::Full => {
                    let mut a = Array4::zeros((k, m, d, d));
                    for c in 0..k {
                        for j in 0..m {
                            a.slice_mut(s![c, j, .., ..]).assign(&cv);
                        }
                    }
                    GmmCovars::Full(a)
                }
                Covariance::Tied => {
                    let mut a = Array3::zeros((k, d, d));
                    for mut mat in a.outer_iter_mut() {
                        mat.assign(&cv);
                    }
                    GmmCovars::Tied(a)
                }
                Covariance::Diag => {
                    let mut a = Array3::zeros((k, m, d));
                    for c in 0..k {
                        for j in 0..m {
                            a.slice_mut(s![c, j, ..]).assign(&cv.diag());
                        }
                    }
                    GmmCovars::Diag(a)
                }
                Covariance::Spherical => {
                    GmmCovars::Spherical(Array2::from_elem((k, m), cv.diag().mean().unwrap_or(1.0)))
                }
            },
        };
        Self::new(weights, means, covars)
    }

    fn n_free_parameters(&self, params: &Letters) -> usize {
        let (k, m) = self.weights.dim();
        let d = self.n_features();
        let mut n = 0;
        if params.has('m') {
            n += k * m * d;
        }
        if params.has('c') {
            n += match self.covars.kind() {
                Covariance::Spherical => k * m,
                Covariance::Diag => k * m * d,
                Covariance::Full => k * m * d * (d + 1) / 2,
                Covariance::Tied => k * d * (d + 1) / 2,
            };
        }
        if params.has('w') {
            // hmmlearn 0.3.3 counts M − 1; every state has its own weights, so K (M − 1).
            n += k * (m - 1);
        }
        n
    }

    fn sample_from_state<R: Rng>(&self, state: usize, rng: &mut R) -> Array1<f64> {
        let m = self.n_mix();
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut j = m - 1;
        for (i, &w) in self.weights.row(state).iter().enumerate() {
            acc += w;
            if u < acc {
                j = i;
                break;
            }
        }
        self.densities[state * m + j].sample(rng)
    }
}

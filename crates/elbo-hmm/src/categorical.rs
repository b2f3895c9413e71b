//! Categorical emissions (hmmlearn's `CategoricalHMM`): every state emits one of `M` symbols.
//!
//! Data are one column of symbols `0..M` (stored as `f64`, integer-valued). The statistics are
//! the expected symbol counts per state, `Σ_t γ_tk [x_t = m]`; the M-step is hmmlearn's
//! Dirichlet-MAP update `B_km ∝ max(α_km − 1 + counts_km, 0)`. A state whose row has no mass
//! left keeps its previous emission probabilities (with a `tracing` warning) instead of a row
//! of zeros.

use elbo_distributions::Categorical;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::model::check_probabilities;
use crate::params::Letters;

/// Settings of categorical emissions, hmmlearn's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategoricalSettings {
    /// Number of symbols `M`; `None`: the largest symbol in the data plus one.
    pub n_features: Option<usize>,
    /// Dirichlet concentration of every emission row (1: no prior).
    pub emissionprob_prior: f64,
}

impl Default for CategoricalSettings {
    fn default() -> Self {
        Self {
            n_features: None,
            emissionprob_prior: 1.0,
        }
    }
}

/// Categorical emissions: `K × M` emission probabilities, rows summing to 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "CategoricalRepr", into = "CategoricalRepr")]
pub struct CategoricalEmission {
    emissionprob: Array2<f64>,
    ln_emissionprob: Array2<f64>,
}

impl PartialEq for CategoricalEmission {
    fn eq(&self, other: &Self) -> bool {
        self.emissionprob == other.emissionprob
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoricalRepr {
    emissionprob: Array2<f64>,
}

impl TryFrom<CategoricalRepr> for CategoricalEmission {
    type Error = HmmError;
    fn try_from(r: CategoricalRepr) -> Result<Self, HmmError> {
        Self::new(r.emissionprob)
    }
}

impl From<CategoricalEmission> for CategoricalRepr {
    fn from(e: CategoricalEmission) -> Self {
        Self {
            emissionprob: e.emissionprob,
        }
    }
}

impl CategoricalEmission {
    /// Emissions from a `K × M` matrix whose rows sum to 1.
    ///
    /// # Errors
    /// [`HmmError::Given`] for an empty matrix or a row that is not a distribution.
    pub fn new(emissionprob: Array2<f64>) -> Result<Self, HmmError> {
        let mut e = Self {
            ln_emissionprob: Array2::zeros(emissionprob.dim()),
            emissionprob,
        };
        e.validate()?;
        Ok(e)
    }

    /// Emission probabilities `B` (`K × M`).
    pub fn emissionprob(&self) -> ArrayView2<'_, f64> {
        self.emissionprob.view()
    }
}

/// The symbol in a data value, if it is one of `0..m`.
fn symbol(v: f64, m: usize) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && v < m as f64).then_some(v as usize)
}

fn check_symbols(x: ArrayView2<'_, f64>, m: usize) -> Result<(), HmmError> {
    if x.ncols() != 1 {
        return Err(HmmError::Dimension {
            expected: 1,
            got: x.ncols(),
        });
    }
    for (row, &value) in x.column(0).iter().enumerate() {
        if symbol(value, m).is_none() {
            return Err(HmmError::BadSymbol {
                row,
                value,
                n_features: m,
            });
        }
    }
    Ok(())
}

/// Number of symbols for the data: the setting, or the largest symbol plus one.
fn n_symbols(s: &CategoricalSettings, x: ArrayView2<'_, f64>) -> usize {
    s.n_features
        .unwrap_or_else(|| x.iter().copied().fold(0.0f64, f64::max) as usize + 1)
}

impl Emission for CategoricalEmission {
    type Settings = CategoricalSettings;
    type Stats = Array2<f64>;
    type Scratch = ();

    const KIND: &'static str = "categorical";
    const LETTERS: &'static str = "e";

    fn n_states(&self) -> usize {
        self.emissionprob.nrows()
    }

    fn n_features(&self) -> usize {
        self.emissionprob.ncols()
    }

    fn data_columns(&self) -> usize {
        1
    }

    fn check_settings(s: &CategoricalSettings, _k: usize) -> Result<(), HmmError> {
        if s.n_features == Some(0) {
            return Err(HmmError::InvalidParam {
                name: "n_features",
                message: "must be ≥ 1, got 0".into(),
            });
        }
        if !s.emissionprob_prior.is_finite() {
            return Err(HmmError::InvalidParam {
                name: "emissionprob_prior",
                message: format!("must be finite, got {}", s.emissionprob_prior),
            });
        }
        Ok(())
    }

    fn check_fit_data(s: &CategoricalSettings, x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
        // Negative or fractional values are errors whatever the symbol count.
        check_symbols(x, s.n_features.unwrap_or(usize::MAX >> 12))?;
        check_symbols(x, n_symbols(s, x))
    }

    fn check_data(&self, x: ArrayView2<'_, f64>) -> Result<(), HmmError> {
        check_symbols(x, self.n_features())
    }

    fn validate(&mut self) -> Result<(), HmmError> {
        let (k, m) = self.emissionprob.dim();
        if k == 0 || m == 0 {
            return Err(HmmError::Given {
                name: "emissionprob_",
                message: format!("must be K × M with K, M ≥ 1, got ({k}, {m})"),
            });
        }
        for row in self.emissionprob.rows() {
            check_probabilities("emissionprob_", row)?;
        }
        self.ln_emissionprob = self.emissionprob.mapv(f64::ln);
        Ok(())
    }

    fn log_likelihood(&self, x: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>) {
        let m = self.n_features();
        for (t, &v) in x.column(0).iter().enumerate() {
            let sym = symbol(v, m).expect("symbols were checked");
            out.row_mut(t).assign(&self.ln_emissionprob.column(sym));
        }
    }

    fn new_stats(&self) -> Array2<f64> {
        Array2::zeros(self.emissionprob.dim())
    }

    fn new_scratch(&self) {}

    fn accumulate(
        &self,
        x: ArrayView2<'_, f64>,
        gamma: ArrayView2<'_, f64>,
        _: &mut (),
        stats: &mut Array2<f64>,
    ) {
        let m = self.n_features();
        for (&v, g) in x.column(0).iter().zip(gamma.rows()) {
            let sym = symbol(v, m).expect("symbols were checked");
            let mut col = stats.column_mut(sym);
            col += &g;
        }
    }

    fn merge_stats(into: &mut Array2<f64>, from: &Array2<f64>) {
        *into += from;
    }

    fn m_step(
        &self,
        stats: &Array2<f64>,
        st: &CategoricalSettings,
        params: &Letters,
    ) -> Result<Self, HmmError> {
        let mut b = self.emissionprob.clone();
        if params.has('e') {
            for (c, (mut row, counts)) in b.rows_mut().into_iter().zip(stats.rows()).enumerate() {
                let new: Array1<f64> = counts.mapv(|n| (st.emissionprob_prior - 1.0 + n).max(0.0));
                let total = new.sum();
                if total > 0.0 && total.is_finite() {
                    row.assign(&(new / total));
                } else {
                    tracing::warn!(
                        state = c,
                        "emissionprob_: state {c} has no emission mass left; keeping its previous row"
                    );
                }
            }
        }
        Self::new(b)
    }

    fn expected_log_likelihood(&self, stats: &Array2<f64>) -> Option<f64> {
        Some(
            stats
                .iter()
                .zip(self.ln_emissionprob.iter())
                .map(|(&n, &l)| if n == 0.0 { 0.0 } else { n * l })
                .sum(),
        )
    }

    fn initialize(
        x: ArrayView2<'_, f64>,
        k: usize,
        st: &CategoricalSettings,
        init: &Letters,
        given: Option<&Self>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, HmmError> {
        match given {
            Some(g) if !init.has('e') => Ok(g.clone()),
            _ => {
                let m = given.map_or_else(
                    || n_symbols(st, x),
                    |g| g.n_features().max(n_symbols(st, x)),
                );
                let mut b = Array2::from_shape_fn((k, m), |_| rng.random::<f64>());
                for mut row in b.rows_mut() {
                    let total = row.sum();
                    row /= total;
                }
                Self::new(b)
            }
        }
    }

    fn n_free_parameters(&self, params: &Letters) -> usize {
        if params.has('e') {
            self.n_states() * (self.n_features() - 1)
        } else {
            0
        }
    }

    fn sample_from_state<R: Rng>(&self, state: usize, rng: &mut R) -> Array1<f64> {
        let dist = Categorical::from_weights(self.emissionprob.row(state).to_owned())
            .expect("validated rows are distributions");
        Array1::from_elem(1, dist.sample(rng) as f64)
    }
}

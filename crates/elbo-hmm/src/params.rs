//! Settings: the unchecked builder [`HmmParams`] and the checked [`ValidHmmParams`].

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::emission::Emission;
use crate::error::HmmError;
use crate::model::Hmm;

/// How the forward–backward recursions keep their numbers in range (hmmlearn's
/// `implementation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// Forward and backward variables stored as logarithms (hmmlearn's default).
    #[default]
    Log,
    /// Probabilities renormalised at every step.
    Scaling,
}

impl std::str::FromStr for Implementation {
    type Err = HmmError;
    fn from_str(s: &str) -> Result<Self, HmmError> {
        match s {
            "log" => Ok(Self::Log),
            "scaling" => Ok(Self::Scaling),
            _ => Err(HmmError::InvalidParam {
                name: "implementation",
                message: format!("{s:?} is not one of \"log\", \"scaling\""),
            }),
        }
    }
}

/// How `decode` picks the states (hmmlearn's `algorithm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecodeAlgorithm {
    /// The single most probable state path (max-product).
    #[default]
    Viterbi,
    /// The most probable state of every step on its own (argmax of the posteriors).
    Map,
}

impl std::str::FromStr for DecodeAlgorithm {
    type Err = HmmError;
    fn from_str(s: &str) -> Result<Self, HmmError> {
        match s {
            "viterbi" => Ok(Self::Viterbi),
            "map" => Ok(Self::Map),
            _ => Err(HmmError::InvalidParam {
                name: "algorithm",
                message: format!("{s:?} is not one of \"viterbi\", \"map\""),
            }),
        }
    }
}

/// A set of parameter letters (hmmlearn's `params` / `init_params`): `s` start probabilities,
/// `t` transitions, and the emission's letters (Gaussian `m` `c`, categorical `e`, mixture
/// `m` `c` `w`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letters(String);

impl Letters {
    /// Whether `c` is in the set.
    pub fn has(&self, c: char) -> bool {
        self.0.contains(c)
    }

    /// The letters as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn check(name: &'static str, s: &str, allowed: &str) -> Result<Self, HmmError> {
        for c in s.chars() {
            if !allowed.contains(c) {
                return Err(HmmError::InvalidParam {
                    name,
                    message: format!("letter {c:?} is not one of {allowed:?}"),
                });
            }
        }
        Ok(Self(s.to_string()))
    }
}

/// Settings of an HMM fit, unchecked; [`HmmParams::check`] (or `fit`) validates them.
///
/// Defaults are hmmlearn 0.3.3's: `n_iter` 10, `tol` 1e-2 (an absolute change of the total
/// log-likelihood), every parameter initialised and updated, priors 1 (no prior), `"log"`
/// implementation; plus `n_init` 1 and `seed` 0.
#[derive(Clone, Debug)]
pub struct HmmParams<E: Emission> {
    pub(crate) n_components: usize,
    pub(crate) n_iter: usize,
    pub(crate) tol: f64,
    pub(crate) params: Option<String>,
    pub(crate) init_params: Option<String>,
    pub(crate) startprob_prior: Vec<f64>,
    pub(crate) transmat_prior: Vec<f64>,
    pub(crate) implementation: Implementation,
    pub(crate) n_init: usize,
    pub(crate) seed: u64,
    pub(crate) emission: E::Settings,
    pub(crate) given: Option<Hmm<E>>,
}

impl<E: Emission> HmmParams<E> {
    /// hmmlearn's defaults for `n_components` states.
    pub fn new(n_components: usize) -> Self {
        Self {
            n_components,
            n_iter: 10,
            tol: 1e-2,
            params: None,
            init_params: None,
            startprob_prior: vec![1.0],
            transmat_prior: vec![1.0],
            implementation: Implementation::Log,
            n_init: 1,
            seed: 0,
            emission: E::Settings::default(),
            given: None,
        }
    }

    /// Maximum number of EM iterations.
    pub fn n_iter(mut self, n_iter: usize) -> Self {
        self.n_iter = n_iter;
        self
    }

    /// Stop when the total log-likelihood gains less than `tol` in an iteration.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// The parameters the M-step updates (letters; default all).
    pub fn params(mut self, letters: &str) -> Self {
        self.params = Some(letters.to_string());
        self
    }

    /// The parameters initialised before EM (letters; default all). Parameters not listed
    /// come from [`HmmParams::given`] (and are initialised if no model is given, as hmmlearn
    /// does for attributes that are not set).
    pub fn init_params(mut self, letters: &str) -> Self {
        self.init_params = Some(letters.to_string());
        self
    }

    /// Dirichlet prior on the start probabilities, the same concentration for every state.
    pub fn startprob_prior(mut self, alpha: f64) -> Self {
        self.startprob_prior = vec![alpha];
        self
    }

    /// Dirichlet prior on the start probabilities, one concentration per state.
    pub fn startprob_prior_vec(mut self, alpha: Array1<f64>) -> Self {
        self.startprob_prior = alpha.to_vec();
        self
    }

    /// Dirichlet prior on each transition row, the same concentration everywhere.
    pub fn transmat_prior(mut self, alpha: f64) -> Self {
        self.transmat_prior = vec![alpha];
        self
    }

    /// Dirichlet priors on the transition rows, `K × K`.
    pub fn transmat_prior_matrix(mut self, alpha: Array2<f64>) -> Self {
        self.transmat_prior = alpha.iter().copied().collect();
        self
    }

    /// Forward–backward in log space or with scaling.
    pub fn implementation(mut self, implementation: Implementation) -> Self {
        self.implementation = implementation;
        self
    }

    /// Number of initialisations (each from its own seed stream); the best final
    /// log-likelihood wins. hmmlearn has no such setting (it is 1 there).
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }

    /// Seed of every random choice of the fit.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Starting parameters for the letters not in `init_params`.
    pub fn given(mut self, model: Hmm<E>) -> Self {
        self.given = Some(model);
        self
    }

    /// The emission's settings, to change them in place.
    pub fn emission_settings(mut self, f: impl FnOnce(&mut E::Settings)) -> Self {
        f(&mut self.emission);
        self
    }

    /// Validates every setting.
    ///
    /// # Errors
    /// [`HmmError::InvalidParam`] naming the setting and its allowed range, or
    /// [`HmmError::Given`] for a given model of the wrong size.
    pub fn check(self) -> Result<ValidHmmParams<E>, HmmError> {
        let k = self.n_components;
        if k == 0 {
            return Err(HmmError::InvalidParam {
                name: "n_components",
                message: "must be ≥ 1, got 0".into(),
            });
        }
        if self.tol.is_nan() || self.tol < 0.0 || !self.tol.is_finite() {
            return Err(HmmError::InvalidParam {
                name: "tol",
                message: format!("must be finite and ≥ 0, got {}", self.tol),
            });
        }
        if self.n_init == 0 {
            return Err(HmmError::InvalidParam {
                name: "n_init",
                message: "must be ≥ 1, got 0".into(),
            });
        }
        let allowed = format!("st{}", E::LETTERS);
        let params = Letters::check(
            "params",
            self.params.as_deref().unwrap_or(&allowed),
            &allowed,
        )?;
        let init_params = Letters::check(
            "init_params",
            self.init_params.as_deref().unwrap_or(&allowed),
            &allowed,
        )?;
        let startprob_prior = broadcast("startprob_prior", &self.startprob_prior, k)?;
        let transmat_prior = broadcast("transmat_prior", &self.transmat_prior, k * k)?;
        E::check_settings(&self.emission, k)?;
        if let Some(g) = &self.given
            && g.n_components() != k
        {
            return Err(HmmError::Given {
                name: "model",
                message: format!("has {} states, n_components is {k}", g.n_components()),
            });
        }
        Ok(ValidHmmParams {
            n_components: k,
            n_iter: self.n_iter,
            tol: self.tol,
            params,
            init_params,
            startprob_prior: Array1::from(startprob_prior),
            transmat_prior: Array2::from_shape_vec((k, k), transmat_prior)
                .expect("broadcast to k × k"),
            implementation: self.implementation,
            n_init: self.n_init,
            seed: self.seed,
            emission: self.emission,
            given: self.given,
        })
    }
}

fn broadcast(name: &'static str, v: &[f64], n: usize) -> Result<Vec<f64>, HmmError> {
    let out = match v.len() {
        1 => vec![v[0]; n],
        len if len == n => v.to_vec(),
        len => {
            return Err(HmmError::InvalidParam {
                name,
                message: format!("has {len} values, expected 1 or {n}"),
            });
        }
    };
    if let Some(bad) = out.iter().find(|x| !x.is_finite()) {
        return Err(HmmError::InvalidParam {
            name,
            message: format!("must be finite, got {bad}"),
        });
    }
    Ok(out)
}

/// Checked settings: what the fit accepts.
#[derive(Clone, Debug)]
pub struct ValidHmmParams<E: Emission> {
    pub(crate) n_components: usize,
    pub(crate) n_iter: usize,
    pub(crate) tol: f64,
    pub(crate) params: Letters,
    pub(crate) init_params: Letters,
    pub(crate) startprob_prior: Array1<f64>,
    pub(crate) transmat_prior: Array2<f64>,
    pub(crate) implementation: Implementation,
    pub(crate) n_init: usize,
    pub(crate) seed: u64,
    pub(crate) emission: E::Settings,
    pub(crate) given: Option<Hmm<E>>,
}

impl<E: Emission> ValidHmmParams<E> {
    /// Number of states.
    pub fn n_components(&self) -> usize {
        self.n_components
    }

    /// The forward–backward implementation.
    pub fn implementation(&self) -> Implementation {
        self.implementation
    }

    /// The emission settings.
    pub fn emission(&self) -> &E::Settings {
        &self.emission
    }
}

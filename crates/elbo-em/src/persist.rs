//! Saving and loading fitted models as JSON, with a format name and version.
//!
//! The models implement `Serialize` / `Deserialize` through the records below, so they can be
//! embedded in other serde documents too; deserialising always validates (shapes, finiteness,
//! weights summing to 1, positive-definite covariances, factors consistent with them).
//! Floats are written in shortest round-trip form and read back exactly, so a loaded model
//! predicts bit for bit like the saved one.

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::bayesian::{
    BayesianGaussianMixture, Priors, VariationalTrace, WeightConcentration, WeightPrior,
};
use crate::bernoulli::BernoulliMixture;
use crate::error::EmError;
use crate::gaussian::GaussianMixture;
use crate::params::{Covariance, Covariances};

/// Format name of a saved Gaussian mixture.
pub const GAUSSIAN_FORMAT: &str = "elbo-em/gaussian-mixture";
/// Format name of a saved Bernoulli mixture.
pub const BERNOULLI_FORMAT: &str = "elbo-em/bernoulli-mixture";
/// Format name of a saved variational Bayesian Gaussian mixture.
pub const BAYESIAN_FORMAT: &str = "elbo-em/bayesian-gaussian-mixture";
/// Version of the formats written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// The saved form of a [`GaussianMixture`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedGaussian {
    format: String,
    version: u32,
    covariance_type: Covariance,
    weights: Array1<f64>,
    means: Array2<f64>,
    covariances: Covariances,
    precisions_cholesky: Covariances,
}

/// The saved form of a [`BayesianGaussianMixture`] (the precision factors are recomputed
/// from the covariances on loading, exactly as the fit computed them).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedBayesian {
    format: String,
    version: u32,
    covariance_type: Covariance,
    weight_concentration_prior_type: WeightPrior,
    priors: Priors,
    weight_concentration: WeightConcentration,
    mean_precision: Array1<f64>,
    degrees_of_freedom: Array1<f64>,
    means: Array2<f64>,
    covariances: Covariances,
    weights: Array1<f64>,
    trace: VariationalTrace,
}

impl From<BayesianGaussianMixture> for SavedBayesian {
    fn from(m: BayesianGaussianMixture) -> Self {
        Self {
            format: BAYESIAN_FORMAT.to_owned(),
            version: FORMAT_VERSION,
            covariance_type: m.kind,
            weight_concentration_prior_type: m.prior_type,
            priors: m.priors,
            weight_concentration: m.weight_concentration,
            mean_precision: m.mean_precision,
            degrees_of_freedom: m.degrees_of_freedom,
            means: m.means,
            covariances: m.covariances,
            weights: m.weights,
            trace: m.trace,
        }
    }
}

impl TryFrom<SavedBayesian> for BayesianGaussianMixture {
    type Error = EmError;

    fn try_from(s: SavedBayesian) -> Result<Self, EmError> {
        check_format(&s.format, s.version, BAYESIAN_FORMAT)?;
        let mut model = BayesianGaussianMixture {
            kind: s.covariance_type,
            prior_type: s.weight_concentration_prior_type,
            priors: s.priors,
            weight_concentration: s.weight_concentration,
            mean_precision: s.mean_precision,
            degrees_of_freedom: s.degrees_of_freedom,
            means: s.means,
            precisions_cholesky: s.covariances.clone(),
            covariances: s.covariances,
            weights: s.weights,
            trace: s.trace,
        };
        model.validate()?;
        model.precisions_cholesky =
            crate::gaussian::precisions_cholesky_from_covariances(&model.covariances, 0.0)?;
        Ok(model)
    }
}

/// The saved form of a [`BernoulliMixture`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedBernoulli {
    format: String,
    version: u32,
    weights: Array1<f64>,
    probs: Array2<f64>,
}

fn check_format(format: &str, version: u32, expected: &'static str) -> Result<(), EmError> {
    if format != expected || version != FORMAT_VERSION {
        return Err(EmError::Format {
            format: format.to_owned(),
            version,
            expected_format: expected,
            expected_version: FORMAT_VERSION,
        });
    }
    Ok(())
}

impl From<GaussianMixture> for SavedGaussian {
    fn from(m: GaussianMixture) -> Self {
        Self {
            format: GAUSSIAN_FORMAT.to_owned(),
            version: FORMAT_VERSION,
            covariance_type: m.kind,
            weights: m.weights,
            means: m.means,
            covariances: m.covariances,
            precisions_cholesky: m.precisions_cholesky,
        }
    }
}

impl TryFrom<SavedGaussian> for GaussianMixture {
    type Error = EmError;

    fn try_from(s: SavedGaussian) -> Result<Self, EmError> {
        check_format(&s.format, s.version, GAUSSIAN_FORMAT)?;
        if s.covariances.kind() != s.covariance_type
            || s.precisions_cholesky.kind() != s.covariance_type
        {
            return Err(EmError::GivenShape {
                name: "covariances",
                expected: format!("{} arrays", s.covariance_type),
                found: format!(
                    "{} covariances and {} factors",
                    s.covariances.kind(),
                    s.precisions_cholesky.kind()
                ),
                hint: "the covariance arrays must match covariance_type",
            });
        }
        // Validates everything and recomputes the factors from the covariances…
        let model = GaussianMixture::from_covariances(s.weights, s.means, s.covariances)?;
        if s.precisions_cholesky.shape() != model.precisions_cholesky.shape() {
            return Err(EmError::shape(
                "precisions_cholesky",
                &model.precisions_cholesky.shape(),
                &s.precisions_cholesky.shape(),
                "save and load with the same elbo-em format",
            ));
        }
        // …which must agree with the saved ones (kept, so predictions are bit-identical).
        let (saved, fresh) = (
            flat(&s.precisions_cholesky),
            flat(&model.precisions_cholesky),
        );
        let scale = fresh.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if let Some((i, (a, b))) = saved
            .iter()
            .zip(&fresh)
            .enumerate()
            .find(|(_, (a, b))| (*a - *b).abs().is_nan() || (*a - *b).abs() > 1e-8 * scale)
        {
            return Err(EmError::GivenValue {
                name: "precisions_cholesky",
                reason: format!(
                    "entry {i} is {a} but the covariances give {b}; the file is inconsistent"
                ),
            });
        }
        Ok(GaussianMixture {
            precisions_cholesky: s.precisions_cholesky,
            ..model
        })
    }
}

/// All entries of a covariance-shaped array, row-major.
fn flat(c: &Covariances) -> Vec<f64> {
    c.values().collect()
}

impl From<BernoulliMixture> for SavedBernoulli {
    fn from(m: BernoulliMixture) -> Self {
        Self {
            format: BERNOULLI_FORMAT.to_owned(),
            version: FORMAT_VERSION,
            weights: m.weights,
            probs: m.probs,
        }
    }
}

impl TryFrom<SavedBernoulli> for BernoulliMixture {
    type Error = EmError;

    fn try_from(s: SavedBernoulli) -> Result<Self, EmError> {
        check_format(&s.format, s.version, BERNOULLI_FORMAT)?;
        BernoulliMixture::from_probs(s.weights, s.probs)
    }
}

fn write(path: &Path, text: &str) -> Result<(), EmError> {
    std::fs::write(path, text).map_err(|source| EmError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<String, EmError> {
    std::fs::read_to_string(path).map_err(|source| EmError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Implements the JSON convenience methods for a model type.
macro_rules! json_methods {
    ($model:ty, $saved:ty) => {
        impl $model {
            /// The model as a JSON document (with its format name and version).
            ///
            /// # Errors
            /// [`EmError::Json`] if serialisation fails (it does not for valid models).
            pub fn to_json(&self) -> Result<String, EmError> {
                Ok(serde_json::to_string_pretty(self)?)
            }

            /// Reads and validates a model from JSON written by [`Self::to_json`].
            ///
            /// # Errors
            /// [`EmError::Json`] for malformed JSON or invalid parameters (the message names
            /// them), [`EmError::Format`] for another format or version.
            pub fn from_json(text: &str) -> Result<Self, EmError> {
                let saved: $saved = serde_json::from_str(text)?;
                Self::try_from(saved)
            }

            /// Writes the model to a JSON file.
            ///
            /// # Errors
            /// [`EmError::Io`] naming the file.
            pub fn save(&self, path: impl AsRef<Path>) -> Result<(), EmError> {
                write(path.as_ref(), &self.to_json()?)
            }

            /// Reads and validates a model from a JSON file.
            ///
            /// # Errors
            /// [`EmError::Io`] naming the file, and the errors of [`Self::from_json`].
            pub fn load(path: impl AsRef<Path>) -> Result<Self, EmError> {
                Self::from_json(&read(path.as_ref())?)
            }
        }
    };
}

json_methods!(GaussianMixture, SavedGaussian);
json_methods!(BernoulliMixture, SavedBernoulli);
json_methods!(BayesianGaussianMixture, SavedBayesian);

//! Saving and loading models as versioned JSON.
//!
//! A file is `{"format": "elbo-hmm", "version": 1, "kind": "gaussian" | "categorical" | "gmm",
//! "model": {"startprob": …, "transmat": …, "emission": {…}}}`; arrays are ndarray's serde form
//! (`{"v": 1, "dim": […], "data": […]}`), floats written so that they read back bit for bit.
//! Loading checks the header and every parameter (shapes, probabilities, positive-definite
//! covariances) before a model exists.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::categorical::CategoricalEmission;
use crate::emission::Emission;
use crate::error::HmmError;
use crate::gaussian::GaussianEmission;
use crate::gmm::GmmEmission;
use crate::model::Hmm;

/// The `format` field of a saved model.
pub const FORMAT: &str = "elbo-hmm";
/// The `version` field this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

#[derive(Serialize)]
struct SavedRef<'a, E: Emission> {
    format: &'static str,
    version: u64,
    kind: &'static str,
    model: &'a Hmm<E>,
}

/// The header of a saved model: its kind, after checking format and version.
fn header(value: &Value) -> Result<&str, HmmError> {
    let format = value.get("format").and_then(Value::as_str);
    if format != Some(FORMAT) {
        return Err(HmmError::Format(format!(
            "not an elbo-hmm model (format {format:?}, expected {FORMAT:?})"
        )));
    }
    let version = value.get("version").and_then(Value::as_u64);
    if version != Some(FORMAT_VERSION) {
        return Err(HmmError::Format(format!(
            "version {version:?} is not supported (this build reads version {FORMAT_VERSION})"
        )));
    }
    value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| HmmError::Format("missing \"kind\"".into()))
}

impl<E: Emission> Hmm<E> {
    /// The model as versioned JSON.
    ///
    /// # Errors
    /// Serialisation errors (none expected for valid models).
    pub fn to_json(&self) -> Result<String, HmmError> {
        Ok(serde_json::to_string_pretty(&SavedRef {
            format: FORMAT,
            version: FORMAT_VERSION,
            kind: E::KIND,
            model: self,
        })?)
    }

    /// A model from [`Hmm::to_json`]'s output.
    ///
    /// # Errors
    /// [`HmmError::Format`] for another format, version or kind; [`HmmError::Json`] for bad
    /// JSON; [`HmmError::Given`] and density errors for invalid parameters.
    pub fn from_json(s: &str) -> Result<Self, HmmError> {
        let value: Value = serde_json::from_str(s)?;
        Self::from_value(value)
    }

    fn from_value(mut value: Value) -> Result<Self, HmmError> {
        let kind = header(&value)?;
        if kind != E::KIND {
            return Err(HmmError::Format(format!(
                "the file holds a {kind:?} HMM, not a {:?} one",
                E::KIND
            )));
        }
        let model = value
            .get_mut("model")
            .map(Value::take)
            .ok_or_else(|| HmmError::Format("missing \"model\"".into()))?;
        let mut model: Self = serde_json::from_value(model)?;
        model.validate()?;
        Ok(model)
    }

    /// Writes [`Hmm::to_json`] to `path`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<(), HmmError> {
        std::fs::write(path, self.to_json()?)?;
        Ok(())
    }

    /// Reads a model written by [`Hmm::save`].
    ///
    /// # Errors
    /// I/O errors and those of [`Hmm::from_json`].
    pub fn load(path: &Path) -> Result<Self, HmmError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }
}

/// A saved model of any kind, for tools that read whatever a file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyHmm {
    /// Gaussian emissions.
    Gaussian(Hmm<GaussianEmission>),
    /// Categorical emissions.
    Categorical(Hmm<CategoricalEmission>),
    /// Gaussian-mixture emissions.
    Gmm(Hmm<GmmEmission>),
}

impl AnyHmm {
    /// Reads a model of any kind.
    ///
    /// # Errors
    /// As [`Hmm::from_json`].
    pub fn from_json(s: &str) -> Result<Self, HmmError> {
        let value: Value = serde_json::from_str(s)?;
        match header(&value)? {
            "gaussian" => Ok(Self::Gaussian(Hmm::from_value(value)?)),
            "categorical" => Ok(Self::Categorical(Hmm::from_value(value)?)),
            "gmm" => Ok(Self::Gmm(Hmm::from_value(value)?)),
            other => Err(HmmError::Format(format!("unknown kind {other:?}"))),
        }
    }

    /// Reads a model file of any kind.
    ///
    /// # Errors
    /// As [`AnyHmm::from_json`], and I/O errors.
    pub fn load(path: &Path) -> Result<Self, HmmError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }
}

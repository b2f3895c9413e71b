//! Model families as plug-ins. A family is one module here: its preset entry (a `*Spec`), its
//! checks against the data (run by [`crate::preset::Preset::check`], before any work), and its
//! [`Family::fit`], which fits or trains the model and scores it on the run's
//! [`EvalSet`] — the same rows for every family — into one table row, figures and notes.
//!
//! Adding a family: a module with a spec and an `impl Family`, a variant of [`ModelSpec`], a
//! preset, and a line in `docs/architecture.md`. Nothing in the other families changes.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::data::{DataFacts, PreparedData};
use crate::eval::EvalSet;
use crate::figures;
use crate::preset::Experiment;
use crate::report::{FigureRef, ModelRow};
use crate::rundir::{MetricLine, RunDir};

pub mod bgmm;
pub mod bmm;
pub mod em;
pub mod gmm;
pub mod vae;

pub use bgmm::BayesianGmmSpec;
pub use bmm::BernoulliSpec;
pub use gmm::GmmSpec;
pub use vae::VaeSpec;

/// One model of an experiment, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// A Gaussian mixture fitted by the EM family (a grid of K × covariance is selected by BIC).
    Gmm(GmmSpec),
    /// A Bernoulli mixture fitted by the EM family.
    BernoulliMixture(BernoulliSpec),
    /// A variational Bayesian Gaussian mixture (mean-field variational EM).
    BayesianGmm(BayesianGmmSpec),
    /// A variational autoencoder (needs the `torch` feature).
    Vae(VaeSpec),
}

impl ModelSpec {
    /// The family that fits this entry.
    pub fn family(&self) -> &dyn Family {
        match self {
            ModelSpec::Gmm(m) => m,
            ModelSpec::BernoulliMixture(m) => m,
            ModelSpec::BayesianGmm(m) => m,
            ModelSpec::Vae(m) => m,
        }
    }

    /// The model's name in the report.
    pub fn name(&self) -> &str {
        self.family().name()
    }

    /// The `kind` key.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Gmm(_) => "gmm",
            ModelSpec::BernoulliMixture(_) => "bernoulli-mixture",
            ModelSpec::BayesianGmm(_) => "bayesian-gmm",
            ModelSpec::Vae(_) => "vae",
        }
    }
}

/// One value or a list of values (a grid to select from by BIC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a value or a list of values")]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// Several values.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A model family: check a preset entry, then fit and score it.
pub trait Family {
    /// The model's name (unique in a preset; it names files).
    fn name(&self) -> &str;

    /// Checks the entry against the data it will see, with the library's own validation;
    /// errors start with `at` (e.g. `models[2]`) and the key.
    fn check(&self, exp: &Experiment, at: &str, data: &DataFacts) -> anyhow::Result<()>;

    /// Everything beyond the spec, the data, the seed and the evaluation settings that the
    /// result depends on (e.g. the training loop's settings); a saved result is reused by
    /// `--resume` only when all of it is unchanged.
    fn extra_settings(&self, _exp: &Experiment) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Fits (or trains) the model and scores it on `ctx.eval`. `Ok(None)` when Ctrl-C stopped
    /// it with its progress saved.
    fn fit(&self, ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>>;
}

/// What a family's [`Family::fit`] sees.
pub struct FitContext<'a> {
    /// The checked experiment.
    pub exp: &'a Experiment,
    /// The model's position in the preset (its own random streams).
    pub index: usize,
    /// The prepared splits.
    pub data: &'a PreparedData,
    /// The rows every model is scored on.
    pub eval: &'a EvalSet,
    /// The run directory.
    pub run: &'a RunDir,
    /// metrics.jsonl lines, and the call that writes them out.
    pub metrics: &'a mut dyn MetricSink,
    /// Ctrl-C.
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for FitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitContext")
            .field("index", &self.index)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl FitContext<'_> {
    /// The run directory's path.
    pub fn dir(&self) -> &Path {
        &self.run.path
    }

    /// The preset's seed.
    pub fn seed(&self) -> u64 {
        self.exp.preset().seed
    }
}

/// Where a family's metric lines go.
pub trait MetricSink {
    /// Appends a line.
    fn push(&mut self, line: MetricLine);
    /// Drops the lines of `model` (a resumed training replaces them with its full history).
    fn drop_model(&mut self, model: &str);
    /// Writes `metrics.jsonl` now.
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// What a fitted model contributes to the report.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// Its row of the table.
    pub row: ModelRow,
    /// Its figures (already written under `figures/`).
    pub figures: Vec<FigureRef>,
    /// Notes under the table.
    pub notes: Vec<String>,
}

impl ModelOutput {
    /// An output with its row and nothing else yet.
    pub fn new(row: ModelRow) -> Self {
        ModelOutput {
            row,
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Writes a PNG under `figures/` and records it with its title and caption.
    pub fn figure(
        &mut self,
        dir: &Path,
        file: &str,
        title: String,
        caption: String,
        png: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.figures
            .push(write_figure(dir, file, title, caption, &png)?);
        Ok(())
    }
}

/// Writes a PNG to `figures/<file>` in the run directory `dir` and returns its reference.
pub(crate) fn write_figure(
    dir: &Path,
    file: &str,
    title: String,
    caption: String,
    png: &[u8],
) -> anyhow::Result<FigureRef> {
    let rel = format!("figures/{file}");
    crate::atomic::write_atomic(&dir.join(&rel), png)?;
    Ok(FigureRef {
        file: rel,
        title,
        caption,
    })
}

/// A line chart at the report's size.
pub(crate) fn chart(
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<figures::Series>,
) -> anyhow::Result<Vec<u8>> {
    let chart = figures::LineChart {
        title,
        x_label: x_label.to_owned(),
        y_label: y_label.to_owned(),
        series,
    };
    figures::line_chart_png(&chart, 800, 450)
}

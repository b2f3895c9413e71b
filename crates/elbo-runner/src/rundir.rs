//! The run directory: created new (never reused) or reopened for `--resume`; its
//! `config.toml`, `metrics.jsonl` and the per-model results that `--resume` reuses.
//!
//! ```text
//! runs/<preset>/<timestamp>/
//!   config.toml      the resolved preset (overrides applied)
//!   metrics.jsonl    one line per EM iteration or training epoch, per model
//!   models/          mixtures as JSON; each neural model in models/<name>/
//!   results/         one JSON per finished model (what `--resume` reuses)
//!   figures/         PNG
//!   summary.json     what the report is made of (`elbo report` rebuilds from it)
//!   report.md, report.html
//!   log.txt          written by the binary's log subscriber
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use elbo_em::IterationTrace;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::clock::utc_timestamp;
use crate::family::{MetricSink, ModelSpec};
use crate::preset::Experiment;
use crate::report::{FigureRef, ModelRow};

/// A run directory, created (new) or reopened (`--resume`).
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub path: PathBuf,
    /// Whether it existed before (a resumed run).
    pub resumed: bool,
}

/// Creates `runs_dir/<name>/<UTC timestamp>/` (never an existing one) and writes
/// `config.toml`.
pub fn create_run_dir(exp: &Experiment, runs_dir: &Path) -> anyhow::Result<RunDir> {
    let parent = runs_dir.join(&exp.preset().name);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("could not create {}", parent.display()))?;
    let stamp = utc_timestamp(SystemTime::now());
    let mut path = parent.join(&stamp);
    let mut n = 1;
    // `create_dir` fails if the directory exists: that is what keeps two runs apart.
    loop {
        match std::fs::create_dir(&path) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                n += 1;
                path = parent.join(format!("{stamp}-{n}"));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("could not create {}", path.display()));
            }
        }
    }
    write_config(exp, &path)?;
    Ok(RunDir {
        path,
        resumed: false,
    })
}

/// Reopens a run directory for `--resume`: its `config.toml` with `overrides` applied.
pub fn reopen_run_dir(dir: &Path, overrides: &[String]) -> anyhow::Result<(Experiment, RunDir)> {
    let config = dir.join("config.toml");
    if !config.is_file() {
        bail!(
            "{} is not a run directory (it has no config.toml); pass the directory a run printed, e.g. runs/quickstart/<timestamp>",
            dir.display()
        );
    }
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("could not read {}", config.display()))?;
    let exp = crate::preset::parse(&text, overrides)
        .with_context(|| format!("invalid preset {}", config.display()))?;
    write_config(&exp, dir)?;
    Ok((
        exp,
        RunDir {
            path: dir.to_path_buf(),
            resumed: true,
        },
    ))
}

fn write_config(exp: &Experiment, dir: &Path) -> anyhow::Result<()> {
    write_atomic(
        &dir.join("config.toml"),
        crate::preset::to_toml(exp)?.as_bytes(),
    )
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricLine {
    /// Model name.
    pub model: String,
    /// `em-iteration` or `epoch`.
    pub step: String,
    /// 1-based iteration or epoch.
    pub index: usize,
    /// EM: the per-sample lower bound (= log-likelihood after the E-step).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lower_bound: Option<f64>,
    /// EM: the log-likelihood and the ELBO after the E-step and after the M-step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<IterationTrace>,
    /// EM: the strategy that produced the line (`exact`, `monte-carlo`, …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub strategy: Option<String>,
    /// A training epoch's metrics (one JSON object per family).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub epoch: Option<serde_json::Value>,
}

/// The lines of `metrics.jsonl`, rewritten whole (atomically) on every flush.
#[derive(Debug)]
pub struct Metrics {
    dir: PathBuf,
    /// Every line so far.
    pub lines: Vec<MetricLine>,
}

impl Metrics {
    /// No lines yet, for the run in `dir`.
    pub fn new(dir: &Path) -> Self {
        Metrics {
            dir: dir.to_path_buf(),
            lines: Vec::new(),
        }
    }
}

impl MetricSink for Metrics {
    fn push(&mut self, line: MetricLine) {
        self.lines.push(line);
    }

    fn drop_model(&mut self, model: &str) {
        self.lines.retain(|l| l.model != model);
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let mut text = String::new();
        for m in &self.lines {
            text.push_str(&serde_json::to_string(m)?);
            text.push('\n');
        }
        write_atomic(&self.dir.join("metrics.jsonl"), text.as_bytes())
    }
}

/// What a finished model leaves in `results/<name>.json`, reused by `--resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelResult {
    /// Everything the result depends on (model, data, seed, training, evaluation): a saved
    /// result is reused only when this is unchanged.
    pub settings: serde_json::Value,
    /// The preset entry.
    pub spec: ModelSpec,
    /// Its table row.
    pub row: ModelRow,
    /// Its figures.
    pub figures: Vec<FigureRef>,
    /// Its metric lines.
    pub metrics: Vec<MetricLine>,
    /// Its notes.
    pub notes: Vec<String>,
}

/// What a model's result depends on.
pub fn model_settings(exp: &Experiment, spec: &ModelSpec) -> anyhow::Result<serde_json::Value> {
    let p = exp.preset();
    Ok(serde_json::json!({
        "seed": p.seed,
        "data": serde_json::to_value(&p.data)?,
        "model": serde_json::to_value(spec)?,
        "extra": spec.family().extra_settings(exp),
        "eval": serde_json::to_value(&p.eval)?,
    }))
}

/// The saved result at `path` if it was made with `settings`; `None` when there is none or
/// the settings changed.
pub fn read_result(
    path: &Path,
    settings: &serde_json::Value,
) -> anyhow::Result<Option<ModelResult>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let saved: ModelResult = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a model result; delete it to refit",
            path.display()
        )
    })?;
    Ok((saved.settings == *settings).then_some(saved))
}

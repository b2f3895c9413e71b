//! One run of an experiment, by stage: the data prepared once ([`crate::data`]) → one
//! evaluation set ([`crate::eval`]) → every model fitted by its family ([`crate::family`]) and
//! scored on those rows → the EM-family comparison → `summary.json` and the report, all in the
//! run directory ([`crate::rundir`]). Every file is written atomically; a new run never reuses an
//! existing directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use anyhow::{Context as _, bail};

use crate::atomic::write_atomic;
use crate::clock::utc_timestamp;
use crate::data::prepare_data;
use crate::eval::EvalSet;
use crate::family::{FitContext, MetricSink as _, em};
use crate::preset::Experiment;
use crate::report::{self, DataSummary, Summary};
use crate::rundir::{Metrics, ModelResult, RunDir, model_settings, read_result};

pub use crate::rundir::{MetricLine, create_run_dir, reopen_run_dir};

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent of `runs/<preset>/…` directories (default `runs` in the working directory).
    pub runs_dir: PathBuf,
    /// The data directory of the named data sets.
    pub data_dir: PathBuf,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run directory.
    pub dir: PathBuf,
    /// The report's content.
    pub summary: Summary,
    /// `report.html`.
    pub report_html: PathBuf,
}

/// The run was stopped by Ctrl-C; everything finished so far is saved.
#[derive(Debug)]
pub struct Interrupted {
    /// The run directory to pass to `--resume`.
    pub dir: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted; what finished is saved in {} — continue with: elbo run --resume {}",
            self.dir.display(),
            self.dir.display()
        )
    }
}

impl std::error::Error for Interrupted {}

/// A named data set that is not installed is an error (with the fetch command) before
/// anything is written.
pub fn check_data(exp: &Experiment, data_dir: &Path) -> anyhow::Result<()> {
    let Some(name) = exp.data().source.named() else {
        return Ok(());
    };
    let manifest = elbo_datasets::manifest(name)?;
    if elbo_datasets::is_installed(data_dir, &manifest) {
        return Ok(());
    }
    bail!(
        "data set `{name}` is not installed in {}; fetch it with: cargo xtask fetch-data {name}",
        data_dir.display()
    )
}

/// Runs every model of `exp` into `run`, then writes the summary and the report. With
/// `run.resumed`, models whose results are saved (with the same settings) are reused and
/// neural models continue from their last checkpoint. `cancel` (Ctrl-C) stops at the next batch
/// or model with everything so far saved, and returns an [`Interrupted`] error.
pub fn execute(
    exp: &Experiment,
    run: &RunDir,
    opts: &RunOptions,
    cancel: &AtomicBool,
) -> anyhow::Result<RunResult> {
    let p = exp.preset();
    let dir = &run.path;
    for sub in ["models", "figures", "results"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("could not create {}", dir.join(sub).display()))?;
    }
    tracing::info!(preset = %p.name, dir = %dir.display(), "run started");
    let data = prepare_data(exp, &opts.data_dir)?;
    let eval = EvalSet::choose(
        &data.train,
        &data.test,
        p.eval.n_test,
        p.eval.n_train,
        p.seed,
    )?;
    tracing::info!(
        train = data.train.n_examples(),
        test = data.test.n_examples(),
        features = data.n_features(),
        eval_test_rows = eval.id.n_test,
        eval_train_rows = eval.id.n_train,
        "data ready: {}",
        data.preprocessing
    );
    let true_test_ll = data
        .truth
        .as_ref()
        .map(|t| t.score(eval.test.view()))
        .transpose()?;
    let mut metrics = Metrics::new(dir);
    let mut rows = Vec::new();
    let mut figures_all = Vec::new();
    let mut notes = Vec::new();
    if let Some(t) = true_test_ll {
        notes.push(format!(
            "True mean log-likelihood of the evaluation set's test rows under the generating mixture: {t:.4} nats (the ceiling for any model)."
        ));
    }
    for (index, spec) in p.models.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            metrics.flush()?;
            return Err(Interrupted { dir: dir.clone() }.into());
        }
        let name = spec.name();
        let result_path = dir.join("results").join(format!("{name}.json"));
        let settings = model_settings(exp, spec)?;
        if run.resumed
            && let Some(saved) = read_result(&result_path, &settings)?
        {
            tracing::info!(model = name, "reusing the finished model's results");
            metrics.lines.extend(saved.metrics);
            rows.push(saved.row);
            figures_all.extend(saved.figures);
            notes.extend(saved.notes);
            continue;
        }
        let output = {
            let mut ctx = FitContext {
                exp,
                index,
                data: &data,
                eval: &eval,
                run,
                metrics: &mut metrics,
                cancel,
            };
            spec.family()
                .fit(&mut ctx)
                .with_context(|| format!("model `{name}` ({})", spec.kind()))?
        };
        let Some(out) = output else {
            metrics.flush()?;
            return Err(Interrupted { dir: dir.clone() }.into());
        };
        metrics.flush()?;
        // Names are unique, so a model's lines are those with its name.
        let own: Vec<MetricLine> = metrics
            .lines
            .iter()
            .filter(|l| l.model == name)
            .cloned()
            .collect();
        let saved = ModelResult {
            settings,
            spec: spec.clone(),
            row: out.row.clone(),
            figures: out.figures.clone(),
            metrics: own,
            notes: out.notes.clone(),
        };
        write_atomic(
            &result_path,
            serde_json::to_string_pretty(&saved)?.as_bytes(),
        )?;
        rows.push(out.row);
        figures_all.extend(out.figures);
        notes.extend(out.notes);
    }
    metrics.flush()?;
    let family = em::family_figures(dir, &metrics.lines)?;
    figures_all.splice(0..0, family);
    let summary = Summary {
        preset: p.name.clone(),
        title: p.title.clone().unwrap_or_else(|| p.name.clone()),
        description: p.description.clone().unwrap_or_default(),
        created: utc_timestamp(SystemTime::now()),
        elbo_version: env!("CARGO_PKG_VERSION").to_owned(),
        data: DataSummary {
            dataset: data.name.clone(),
            provenance: data.provenance.clone(),
            n_train: data.train.n_examples(),
            n_test: data.test.n_examples(),
            n_features: data.n_features(),
            preprocessing: data.preprocessing.clone(),
            true_test_ll,
        },
        eval: Some(eval.id.clone()),
        models: rows,
        figures: figures_all,
        notes,
    };
    report::write_summary(dir, &summary)?;
    report::write_report(dir, &summary)?;
    tracing::info!(dir = %dir.display(), "run finished");
    Ok(RunResult {
        dir: dir.clone(),
        report_html: dir.join("report.html"),
        summary,
    })
}

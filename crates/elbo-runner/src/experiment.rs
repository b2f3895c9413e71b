//! One run of an experiment: data → every model fitted and evaluated the same way → a run
//! directory.
//!
//! ```text
//! runs/<preset>/<timestamp>/
//!   config.toml      the resolved preset (overrides applied)
//!   metrics.jsonl    one line per EM iteration or VAE epoch, per model
//!   models/          mixtures as JSON; each VAE in models/<name>/ (safetensors + config)
//!   results/         one JSON per finished model (what `--resume` reuses)
//!   figures/         PNG
//!   summary.json     what the report is made of (`elbo report` rebuilds from it)
//!   report.md, report.html
//!   log.txt          written by the binary's log subscriber
//! ```
//!
//! Every file is written atomically, and a new run never reuses an existing directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use elbo_datasets::{Dataset, Splits};
use elbo_distributions::{LogDensity as _, MvNormal};
use elbo_em::{
    BayesianGaussianMixture, BernoulliMixture, Bound, Covariances, Fit, GaussianMixture, Init,
    IterationTrace, Strategy, VariationalTrace,
};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::figures::{self, Ellipse, LineChart, Series};
use crate::preset::{
    BayesianGmmSpec, BernoulliSpec, Binarize, CovarianceName, Experiment, GmmSpec, InitName,
    ModelSpec, VaeSpec, WeightPriorName,
};
use crate::report::{self, DataSummary, FigureRef, ModelRow, Summary};
use crate::train::{self, EpochMetrics, StopReason, TrainData};

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent of `runs/<preset>/…` directories (default `runs` in the working directory).
    pub runs_dir: PathBuf,
    /// The data directory of the named data sets.
    pub data_dir: PathBuf,
}

/// A run directory, created (new) or reopened (`--resume`).
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub path: PathBuf,
    /// Whether it existed before (a resumed run).
    pub resumed: bool,
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
    let name = &exp.preset().data.dataset;
    if name.starts_with("synthetic-") {
        return Ok(());
    }
    let manifest = elbo_datasets::manifest(name)?;
    if elbo_datasets::is_installed(data_dir, &manifest) {
        return Ok(());
    }
    bail!(
        "data set `{name}` is not installed in {}; fetch it with: cargo xtask fetch-data {name}",
        data_dir.display()
    )
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
    let text = toml::to_string(exp.preset()).context("could not serialise the preset")?;
    write_atomic(&dir.join("config.toml"), text.as_bytes())
}

/// `YYYYMMDDTHHMMSSZ` for a time (UTC, no dependency on a time crate).
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// well-known civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The data every model of a run sees.
#[derive(Debug, Clone)]
pub struct PreparedData {
    /// Data set name.
    pub name: String,
    /// Where it came from.
    pub provenance: String,
    /// What was done to it, in words.
    pub preprocessing: String,
    /// Training rows as the mixtures see them (binary when binarised).
    pub train: Array2<f32>,
    /// Grey-level training rows for dynamic binarisation (VAE), when that is on.
    pub train_grey: Option<Array2<f32>>,
    /// Validation rows (binarised once), if any.
    pub validation: Option<Array2<f32>>,
    /// Test rows (binarised once).
    pub test: Array2<f32>,
    /// Test labels, if any.
    pub test_labels: Option<Vec<usize>>,
    /// (height, width) of image data.
    pub image: Option<(usize, usize)>,
    /// Whether the models see binary values.
    pub binary: bool,
    /// The true mean log-likelihood of the test rows, for generated data.
    pub true_test_ll: Option<f64>,
    /// Standardisation applied (mean, std per feature), to report natural units.
    pub standardized: bool,
}

/// Loads and prepares the data of `exp` (seeded: the same preset gives the same rows).
pub fn prepare_data(exp: &Experiment, data_dir: &Path) -> anyhow::Result<PreparedData> {
    let p = exp.preset();
    let d = &p.data;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x0da7_a5e7);
    let mut steps: Vec<String> = Vec::new();
    let mut truth_gmm: Option<GaussianMixture> = None;
    let mut truth_bmm: Option<BernoulliMixture> = None;
    let (splits, provenance) = match d.dataset.as_str() {
        "synthetic-gmm" | "synthetic-bernoulli" => {
            let s = d.synthetic.context("data.synthetic is required")?;
            let (all, provenance) = if d.dataset == "synthetic-gmm" {
                let cov = match s.covariance.unwrap_or(CovarianceName::Full) {
                    CovarianceName::Full => elbo_datasets::CovarianceType::Full,
                    CovarianceName::Tied => elbo_datasets::CovarianceType::Tied,
                    CovarianceName::Diag => elbo_datasets::CovarianceType::Diag,
                    CovarianceName::Spherical => elbo_datasets::CovarianceType::Spherical,
                };
                let (data, truth) = elbo_datasets::synthetic_gmm(&elbo_datasets::SyntheticGmm {
                    n_samples: s.n_samples,
                    n_features: s.n_features,
                    n_components: s.n_components,
                    covariance: cov,
                    seed: p.seed,
                })?;
                truth_gmm = Some(GaussianMixture::from_covariances(
                    truth.weights.clone(),
                    truth.means.clone(),
                    Covariances::Full(truth.covariances.clone()),
                )?);
                let prov = format!(
                    "generated: {} points from a {}-component Gaussian mixture in {} dimensions ({} covariances), seed {}",
                    s.n_samples,
                    s.n_components,
                    s.n_features,
                    s.covariance.unwrap_or(CovarianceName::Full).as_str(),
                    p.seed
                );
                (data, prov)
            } else {
                let (data, truth) =
                    elbo_datasets::synthetic_bernoulli(&elbo_datasets::SyntheticBernoulli {
                        n_samples: s.n_samples,
                        n_features: s.n_features,
                        n_components: s.n_components,
                        seed: p.seed,
                    })?;
                truth_bmm = Some(BernoulliMixture::from_probs(
                    truth.weights.clone(),
                    truth.probs.clone(),
                )?);
                let prov = format!(
                    "generated: {} binary vectors of {} pixels from a {}-component Bernoulli mixture, seed {}",
                    s.n_samples, s.n_features, s.n_components, p.seed
                );
                (data, prov)
            };
            let (train, test) = test_split(&all, d.test_fraction, &mut rng)?;
            steps.push(format!(
                "{:.0} % of the rows held out as the test split",
                d.test_fraction * 100.0
            ));
            (
                Splits {
                    train,
                    validation: None,
                    test: Some(test),
                },
                provenance,
            )
        }
        name => {
            let splits = elbo_datasets::load(name, data_dir)?;
            let provenance = splits.train.provenance().to_owned();
            (splits, provenance)
        }
    };
    let Splits {
        train, mut test, ..
    } = splits;
    let mut train = train;
    if test.is_none() {
        let (tr, te) = test_split(&train, d.test_fraction, &mut rng)?;
        steps.push(format!(
            "{:.0} % of the rows held out as the test split (seeded)",
            d.test_fraction * 100.0
        ));
        train = tr;
        test = Some(te);
    }
    let mut test = test.context("a test split")?;
    if let Some(sub) = d.subset {
        if let Some(n) = sub.train {
            train = elbo_datasets::stratified_subset(&train, n, &mut rng)
                .context("data.subset.train")?;
            steps.push(format!("a stratified subset of {n} training rows"));
        }
        if let Some(n) = sub.test {
            test =
                elbo_datasets::stratified_subset(&test, n, &mut rng).context("data.subset.test")?;
            steps.push(format!("a stratified subset of {n} test rows"));
        }
    }
    let mut validation = None;
    if d.validation > 0.0 {
        let (tr, va) = elbo_datasets::train_validation_split(&train, d.validation, &mut rng)?;
        steps.push(format!(
            "{:.0} % of the training rows held out for validation",
            d.validation * 100.0
        ));
        train = tr;
        validation = Some(va);
    }
    if d.standardize {
        let st = elbo_datasets::Standardizer::fit(&train)?;
        train = st.transform(train)?;
        test = st.transform(test)?;
        validation = validation.map(|v| st.transform(v)).transpose()?;
        steps.push("standardised with the training split's mean and standard deviation".into());
    }
    let mut train_grey = None;
    match d.binarize {
        Binarize::None => {}
        Binarize::Threshold => {
            let t = d.threshold;
            train = elbo_datasets::binarize(train, t);
            test = elbo_datasets::binarize(test, t);
            validation = validation.map(|v| elbo_datasets::binarize(v, t));
            steps.push(format!("binarised at the threshold {t}"));
        }
        Binarize::Stochastic | Binarize::Dynamic => {
            if d.binarize == Binarize::Dynamic {
                train_grey = Some(train.features().clone());
            }
            train = elbo_datasets::binarize_stochastic(train, &mut rng)?;
            test = elbo_datasets::binarize_stochastic(test, &mut rng)?;
            validation = validation
                .map(|v| elbo_datasets::binarize_stochastic(v, &mut rng))
                .transpose()?;
            steps.push(if d.binarize == Binarize::Dynamic {
                "binarised by one seeded draw x ~ Bernoulli(grey level) for the mixtures, validation and test; redrawn every epoch for the VAEs (dynamic binarisation)".into()
            } else {
                "binarised by one seeded draw x ~ Bernoulli(grey level)".into()
            });
        }
    }
    let true_test_ll = match (&truth_gmm, &truth_bmm) {
        (Some(t), _) => Some(t.score(test.features().view())?),
        (_, Some(t)) => Some(t.score(test.features().view())?),
        _ => None,
    };
    let binary = d.binarize.is_binary() || d.dataset == "synthetic-bernoulli";
    Ok(PreparedData {
        name: d.dataset.clone(),
        provenance,
        preprocessing: if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join("; ")
        },
        image: train.image_shape(),
        train: train.features().clone(),
        train_grey,
        validation: validation.map(|v| v.features().clone()),
        test_labels: test.labels().map(<[usize]>::to_vec),
        test: test.features().clone(),
        binary,
        true_test_ll,
        standardized: d.standardize,
    })
}

/// (train, test) with `test_fraction` of the rows in test: elbo-datasets' seeded split
/// (stratified by class when there are labels).
fn test_split(
    data: &Dataset,
    test_fraction: f64,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(Dataset, Dataset)> {
    elbo_datasets::train_validation_split(data, test_fraction, rng)
        .with_context(|| format!("data.test_fraction = {test_fraction}"))
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
    /// VAE: the epoch's metrics.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub epoch: Option<EpochMetrics>,
}

impl MetricLine {
    /// The line of one VAE epoch.
    fn epoch(model: &str, m: &EpochMetrics) -> Self {
        MetricLine {
            model: model.to_owned(),
            step: "epoch".into(),
            index: m.epoch,
            lower_bound: None,
            trace: None,
            epoch: Some(m.clone()),
        }
    }
}

/// What a finished model leaves in `results/<name>.json`, reused by `--resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelResult {
    /// Everything the result depends on (model, data, seed, training, evaluation): a saved
    /// result is reused only when this is unchanged.
    settings: serde_json::Value,
    spec: ModelSpec,
    row: ModelRow,
    figures: Vec<FigureRef>,
    metrics: Vec<MetricLine>,
    notes: Vec<String>,
}

/// Everything accumulated during a run.
struct Progress {
    dir: PathBuf,
    metrics: Vec<MetricLine>,
}

impl Progress {
    fn flush_metrics(&self) -> anyhow::Result<()> {
        let mut text = String::new();
        for m in &self.metrics {
            text.push_str(&serde_json::to_string(m)?);
            text.push('\n');
        }
        write_atomic(&self.dir.join("metrics.jsonl"), text.as_bytes())
    }
}

/// Runs every model of `exp` into `run`, then writes the summary and the report. With
/// `run.resumed`, models whose results are saved (with the same settings) are reused and VAEs
/// continue from their last checkpoint. `cancel` (Ctrl-C) stops at the next batch or model
/// with everything so far saved, and returns an [`Interrupted`] error.
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
    tracing::info!(
        train = data.train.nrows(),
        test = data.test.nrows(),
        features = data.train.ncols(),
        "data ready: {}",
        data.preprocessing
    );
    let mut progress = Progress {
        dir: dir.clone(),
        metrics: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut figures_all = Vec::new();
    let mut notes = Vec::new();
    if let Some(t) = data.true_test_ll {
        notes.push(format!(
            "True mean log-likelihood of the test rows under the generating mixture: {t:.4} nats (the ceiling for any model)."
        ));
    }
    for spec in &p.models {
        if cancel.load(Ordering::SeqCst) {
            progress.flush_metrics()?;
            return Err(Interrupted { dir: dir.clone() }.into());
        }
        let result_path = dir.join("results").join(format!("{}.json", spec.name()));
        if run.resumed
            && let Some(saved) = read_result(&result_path, &model_settings(exp, spec)?)?
        {
            tracing::info!(model = spec.name(), "reusing the finished model's results");
            progress.metrics.extend(saved.metrics);
            rows.push(saved.row);
            figures_all.extend(saved.figures);
            notes.extend(saved.notes);
            continue;
        }
        let mut out = ModelOutput::default();
        let started = progress.metrics.len();
        match spec {
            ModelSpec::Gmm(g) => fit_gmm(exp, g, &data, dir, &mut progress, &mut out)?,
            ModelSpec::BernoulliMixture(b) => fit_bmm(exp, b, &data, dir, &mut progress, &mut out)?,
            ModelSpec::BayesianGmm(g) => fit_bgmm(exp, g, &data, dir, &mut progress, &mut out)?,
            ModelSpec::Vae(v) => {
                let finished = fit_vae(exp, v, &data, run, &mut progress, &mut out, cancel)?;
                if !finished {
                    progress.flush_metrics()?;
                    return Err(Interrupted { dir: dir.clone() }.into());
                }
            }
        }
        progress.flush_metrics()?;
        let row = out.row.context("a model produced no result row")?;
        let saved = ModelResult {
            settings: model_settings(exp, spec)?,
            spec: spec.clone(),
            row: row.clone(),
            figures: out.figures.clone(),
            metrics: progress.metrics[started..].to_vec(),
            notes: out.notes.clone(),
        };
        write_atomic(
            &result_path,
            serde_json::to_string_pretty(&saved)?.as_bytes(),
        )?;
        rows.push(row);
        figures_all.extend(out.figures);
        notes.extend(out.notes);
    }
    progress.flush_metrics()?;
    let mut family = ModelOutput::default();
    family_figures(dir, &progress.metrics, &mut family)?;
    figures_all.splice(0..0, family.figures);
    let summary = Summary {
        preset: p.name.clone(),
        title: p.title.clone().unwrap_or_else(|| p.name.clone()),
        description: p.description.clone().unwrap_or_default(),
        created: utc_timestamp(SystemTime::now()),
        elbo_version: env!("CARGO_PKG_VERSION").to_owned(),
        data: DataSummary {
            dataset: data.name.clone(),
            provenance: data.provenance.clone(),
            n_train: data.train.nrows(),
            n_test: data.test.nrows(),
            n_features: data.train.ncols(),
            preprocessing: data.preprocessing.clone(),
            true_test_ll: data.true_test_ll,
        },
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

/// What a model's result depends on.
fn model_settings(exp: &Experiment, spec: &ModelSpec) -> anyhow::Result<serde_json::Value> {
    let p = exp.preset();
    let train = match spec {
        ModelSpec::Vae(v) => Some(exp.train_config(v)),
        _ => None,
    };
    Ok(serde_json::json!({
        "seed": p.seed,
        "data": serde_json::to_value(&p.data)?,
        "model": serde_json::to_value(spec)?,
        "train": serde_json::to_value(&train)?,
        "eval": serde_json::to_value(&p.eval)?,
    }))
}

fn read_result(path: &Path, settings: &serde_json::Value) -> anyhow::Result<Option<ModelResult>> {
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
    // Changed settings mean the saved result is not this model's any more.
    Ok((saved.settings == *settings).then_some(saved))
}

#[derive(Default)]
struct ModelOutput {
    row: Option<ModelRow>,
    figures: Vec<FigureRef>,
    notes: Vec<String>,
}

impl ModelOutput {
    fn figure(
        &mut self,
        dir: &Path,
        file: &str,
        title: String,
        caption: String,
        png: Vec<u8>,
    ) -> anyhow::Result<()> {
        let rel = format!("figures/{file}");
        write_atomic(&dir.join(&rel), &png)?;
        self.figures.push(FigureRef {
            file: rel,
            title,
            caption,
        });
        Ok(())
    }
}

fn init_of<G>(name: InitName) -> Init<G> {
    match name {
        InitName::Kmeans => Init::KMeans,
        InitName::KmeansPlusPlus => Init::KMeansPlusPlus,
        InitName::Random => Init::Random,
        InitName::RandomFromData => Init::RandomFromData,
    }
}

fn bits_per_dim(ll: Option<f64>, d: usize, binary: bool) -> Option<f64> {
    // Only for binary data is −log p(x) a code length of the data itself.
    if binary {
        ll.map(|l| -l / (d as f64 * std::f64::consts::LN_2))
    } else {
        None
    }
}

fn em_metrics(progress: &mut Progress, name: &str, bounds: &[f64], trace: &[IterationTrace]) {
    for (i, lb) in bounds.iter().enumerate() {
        progress.metrics.push(MetricLine {
            model: name.to_owned(),
            step: "em-iteration".into(),
            index: i + 1,
            lower_bound: Some(*lb),
            trace: trace.get(i).copied(),
            epoch: None,
        });
    }
}

/// A line chart at the report's size.
fn chart(
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
) -> anyhow::Result<Vec<u8>> {
    let chart = LineChart {
        title,
        x_label: x_label.to_owned(),
        y_label: y_label.to_owned(),
        series,
    };
    figures::line_chart_png(&chart, 800, 450)
}

/// The trace of an EM fit: log p(x) and the ELBO after each E-step and M-step.
fn em_curve(name: &str, strategy: &Strategy, trace: &[IterationTrace]) -> anyhow::Result<Vec<u8>> {
    let series = |label: &str, f: &dyn Fn(&IterationTrace) -> f64| Series {
        label: label.into(),
        points: trace
            .iter()
            .enumerate()
            .map(|(i, t)| ((i + 1) as f64, f(t)))
            .filter(|(_, v)| v.is_finite())
            .collect(),
    };
    chart(
        format!("{name}: {strategy}, the ELBO and log p(x) per iteration"),
        "EM iteration",
        "nats per example (train)",
        vec![
            series("log p(x; θ_t)", &|t| t.after_e_step.log_likelihood),
            series("ELBO after the E-step", &|t| t.after_e_step.elbo),
            series("ELBO after the M-step", &|t| t.after_m_step.elbo),
        ],
    )
}

/// When two or more mixtures were fitted by EM, one chart each of their log-likelihood and of
/// their gap after the E-step, iteration by iteration: the EM family side by side.
fn family_figures(dir: &Path, metrics: &[MetricLine], out: &mut ModelOutput) -> anyhow::Result<()> {
    let mut models: Vec<(String, Vec<(usize, IterationTrace)>)> = Vec::new();
    for m in metrics {
        let Some(t) = m.trace else { continue };
        match models.iter_mut().find(|(name, _)| *name == m.model) {
            Some((_, v)) => v.push((m.index, t)),
            None => models.push((m.model.clone(), vec![(m.index, t)])),
        }
    }
    if models.len() < 2 {
        return Ok(());
    }
    let series = |f: &dyn Fn(&IterationTrace) -> f64| -> Vec<Series> {
        models
            .iter()
            .map(|(name, v)| Series {
                label: name.clone(),
                points: v
                    .iter()
                    .map(|(i, t)| (*i as f64, f(t)))
                    .filter(|(_, y)| y.is_finite())
                    .collect(),
            })
            .collect()
    };
    // The first iterations of a k-means++ start can sit orders of magnitude lower; start the
    // log-likelihood chart where every model is within 10 nats of its final value.
    let mut ll = series(&|t| t.after_e_step.log_likelihood);
    for s in &mut ll {
        if let Some(&(_, last)) = s.points.last() {
            s.points.retain(|(_, y)| *y > last - 10.0);
        }
    }
    out.figure(
        dir,
        "em-family-log-likelihood.png",
        "The EM family: log p(x) per iteration".into(),
        "Mean train log-likelihood under each iteration's parameters, one line per mixture: exact EM climbs fastest per iteration; generalized EM climbs more slowly but never falls; Monte Carlo EM jitters near the top; online EM gets close within its first epochs.".into(),
        chart(
            "log p(x; θ_t) per EM iteration".into(),
            "EM iteration",
            "nats per example (train)",
            ll,
        )?,
    )?;
    out.figure(
        dir,
        "em-family-gap.png",
        "The EM family: the gap after each E-step".into(),
        "log p(x) − ELBO = KL(q ‖ p(z | x)) after the E-step: 0 when q is the exact posterior (exact, generalized and online EM), positive when q is sampled (Monte Carlo EM) or restricted (variational EM).".into(),
        chart(
            "the gap log p(x) − ELBO after the E-step".into(),
            "EM iteration",
            "nats per example (train)",
            series(&|t| t.after_e_step.gap()),
        )?,
    )?;
    Ok(())
}

/// The caption of an EM trace figure, saying what the strategy's gap does.
fn em_caption(strategy: &Strategy, trace: &[IterationTrace]) -> String {
    let max_gap = trace
        .iter()
        .map(|t| t.after_e_step.gap())
        .fold(0.0f64, |a, g| a.max(g.abs()));
    let mean_gap =
        trace.iter().map(|t| t.after_e_step.gap()).sum::<f64>() / trace.len().max(1) as f64;
    match strategy {
        Strategy::Exact => format!(
            "Coordinate ascent on the ELBO: each E-step closes the gap to log p(x) (largest gap {max_gap:.1e} nats), each M-step raises the ELBO, and log p(x) never decreases."
        ),
        Strategy::Generalized { step } => format!(
            "Generalized EM: the E-step is exact (largest gap {max_gap:.1e}), the M-step moves {step} of the way to the optimum, so the ELBO and log p(x) rise more slowly but never fall."
        ),
        Strategy::MonteCarlo { samples } => format!(
            "Monte Carlo EM: q is the empirical distribution of {samples} draw(s) per row from the posterior, so the ELBO after the E-step stays below log p(x) (mean gap {mean_gap:.3} nats = KL(q ‖ posterior)) and log p(x) fluctuates near its maximum."
        ),
        Strategy::Online { .. } => format!(
            "Online EM: each iteration is an epoch of mini-batch updates; the full-data E-step that opens it closes the gap (largest {max_gap:.1e}), the epoch's updates follow the batches rather than the full ELBO."
        ),
    }
}

/// Mean ELBO of a mixture under q = its posterior: E_q[log p(x, z)] − E_q[log q(z)], computed
/// from the per-component log joint, independently of the E-step that fitted it.
fn mixture_elbo(log_joint: &Array2<f64>, resp: &Array2<f64>) -> f64 {
    let mut total = 0.0;
    for (lj, q) in log_joint.rows().into_iter().zip(resp.rows()) {
        for (l, &r) in lj.iter().zip(q.iter()) {
            if r > 0.0 {
                total += r * (l - r.ln());
            }
        }
    }
    total / log_joint.nrows().max(1) as f64
}

/// Component `c`'s covariance as a full matrix, whatever the covariance type.
fn component_cov(model: &GaussianMixture, c: usize) -> Array2<f64> {
    match model.covariances() {
        Covariances::Full(c3) => c3.index_axis(Axis(0), c).to_owned(),
        Covariances::Tied(t) => t.clone(),
        Covariances::Diag(v) => Array2::from_diag(&v.row(c)),
        Covariances::Spherical(v) => Array2::eye(model.n_features()) * v[c],
    }
}

fn gmm_log_joint(model: &GaussianMixture, x: ArrayView2<'_, f32>) -> anyhow::Result<Array2<f64>> {
    let k = model.n_components();
    let x64 = x.mapv(f64::from);
    let mut out = Array2::zeros((x.nrows(), k));
    for c in 0..k {
        let normal = MvNormal::new(model.means().row(c).to_owned(), component_cov(model, c))?;
        let mut col = Array1::zeros(x.nrows());
        normal.ln_prob_batch(x64.view(), col.view_mut());
        let lw = model.weights()[c].ln();
        out.column_mut(c).assign(&col.mapv(|v| v + lw));
    }
    Ok(out)
}

fn bmm_log_joint(model: &BernoulliMixture, x: ArrayView2<'_, f32>) -> Array2<f64> {
    let p = model.probs();
    let x64 = x.mapv(f64::from);
    let lp = p.mapv(f64::ln);
    let lq = p.mapv(|v| (-v).ln_1p());
    // x ln p + (1 − x) ln(1 − p) = x (ln p − ln(1 − p)) + ln(1 − p)
    let mut out = x64.dot(&(&lp - &lq).t());
    let base = lq.sum_axis(Axis(1));
    for (c, mut col) in out.columns_mut().into_iter().enumerate() {
        let add = base[c] + model.weights()[c].ln();
        col.mapv_inplace(|v| v + add);
    }
    out
}

fn fit_gmm(
    exp: &Experiment,
    g: &GmmSpec,
    data: &PreparedData,
    dir: &Path,
    progress: &mut Progress,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let seed = exp.preset().seed;
    let ks = g.n_components.to_vec();
    let covs: Vec<CovarianceName> = g.covariance.to_vec();
    let base = GaussianMixture::params(ks[0])
        .covariance(covs[0].to_em())
        .reg_covar(g.reg_covar)
        .tol(g.tol)
        .max_iter(g.max_iter)
        .n_init(g.n_init)
        .init(init_of(g.init))
        .strategy(g.strategy)
        .seed(seed);
    let started = Instant::now();
    let x = data.train.view();
    let (fit, method): (Fit<GaussianMixture>, String) = if ks.len() == 1 && covs.len() == 1 {
        (base.fit(x)?, g.strategy.to_string())
    } else {
        let em_covs: Vec<_> = covs.iter().map(|c| c.to_em()).collect();
        let sel = elbo_em::select_model(x, ks.iter().copied(), &em_covs, &base)?;
        let mut table = String::from("BIC of every candidate (lower is better): ");
        let cells: Vec<String> = sel
            .table
            .iter()
            .map(|r| match r.bic {
                Some(b) => format!("K={} {:?}: {b:.1}", r.n_components, r.covariance),
                None => format!("K={} {:?}: failed", r.n_components, r.covariance),
            })
            .collect();
        table.push_str(&cells.join(", "));
        let best = &sel.table[sel.best_row];
        out.notes.push(format!(
            "{}: {table}. Chosen: K={} {:?}.",
            g.name, best.n_components, best.covariance
        ));
        let method = format!(
            "{}, BIC over K ∈ {:?} × {} (chose K={}, {:?})",
            g.strategy,
            ks,
            covs.iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            best.n_components,
            best.covariance
        );
        (sel.best, method)
    };
    let seconds = started.elapsed().as_secs_f64();
    em_metrics(progress, &g.name, &fit.lower_bounds, &fit.trace);
    let model = &fit.model;
    model.save(dir.join("models").join(format!("{}.json", g.name)))?;
    let train_ll = model.score(data.train.view())?;
    let test_ll = model.score(data.test.view())?;
    let test_elbo = mixture_elbo(
        &gmm_log_joint(model, data.test.view())?,
        &model.predict_proba(data.test.view())?,
    );
    let train_elbo = mixture_elbo(
        &gmm_log_joint(model, data.train.view())?,
        &model.predict_proba(data.train.view())?,
    );
    out.row = Some(ModelRow {
        name: g.name.clone(),
        kind: "gmm".into(),
        method,
        n_parameters: model.n_parameters(),
        train_seconds: seconds,
        train_ll: Some(train_ll),
        test_ll: Some(test_ll),
        train_elbo: Some(train_elbo),
        test_elbo: Some(test_elbo),
        kl_gap: Some(test_ll - test_elbo),
        iwae_k: None,
        bits_per_dim: None,
        converged: Some(fit.converged),
        iterations: Some(fit.n_iter),
    });
    out.figure(
        dir,
        &format!("{}-em-bound.png", g.name),
        format!("{}: the ELBO and log p(x) per EM iteration", g.name),
        em_caption(&g.strategy, &fit.trace),
        em_curve(&g.name, &g.strategy, &fit.trace)?,
    )?;
    scatter_figures(exp, &g.name, model, data, dir, out)?;
    tracing::info!(model = %g.name, test_ll, seconds, "mixture fitted");
    Ok(())
}

/// For 2-D data: the test points coloured by component with the fitted ellipses, and samples.
fn scatter_figures(
    exp: &Experiment,
    name: &str,
    model: &GaussianMixture,
    data: &PreparedData,
    dir: &Path,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let seed = exp.preset().seed;
    if model.n_features() == 2 {
        let ellipses: Vec<Ellipse> = (0..model.n_components())
            .map(|c| {
                let cov = component_cov(model, c);
                Ellipse {
                    mean: [model.means()[[c, 0]], model.means()[[c, 1]]],
                    cov: [[cov[[0, 0]], cov[[0, 1]]], [cov[[1, 0]], cov[[1, 1]]]],
                }
            })
            .collect();
        let pts = data.test.mapv(f64::from);
        let labels = model.predict(data.test.view())?.to_vec();
        let units = if data.standardized {
            " (standardised)"
        } else {
            ""
        };
        out.figure(
            dir,
            &format!("{}-fit.png", name),
            format!("{}: test points and the fitted components", name),
            "Test points coloured by their most probable component; ellipses at two standard deviations of each fitted Gaussian.".into(),
            figures::scatter_png_named(
                pts.view(),
                Some(&labels),
                "component",
                &ellipses,
                &format!("{}: fitted mixture over the test points", name),
                &format!("x1{units}"),
                &format!("x2{units}"),
                800,
                600,
            )?,
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a3b);
        let n = exp.preset().eval.n_samples.max(data.test.nrows().min(1000));
        let (samples, comp) = model.sample(n, &mut rng);
        out.figure(
            dir,
            &format!("{}-samples.png", name),
            format!("{}: samples", name),
            "Points drawn from the fitted mixture, coloured by the component they came from."
                .into(),
            figures::scatter_png_named(
                samples.view(),
                Some(&comp.to_vec()),
                "component",
                &ellipses,
                &format!("{}: samples from the model", name),
                &format!("x1{units}"),
                &format!("x2{units}"),
                800,
                600,
            )?,
        )?;
    }
    Ok(())
}

/// The variational trace as the EM family's: entry t after the E-step of iteration t + 1
/// (the parameters before that step), its after-M values from the next entry.
fn variational_iterations(trace: &VariationalTrace) -> Vec<IterationTrace> {
    let n = trace.elbo.len().min(trace.log_likelihood.len());
    (0..n)
        .map(|t| {
            let at = |i: usize| Bound {
                log_likelihood: trace.log_likelihood.get(i).copied().unwrap_or(f64::NAN),
                elbo: trace.elbo.get(i).copied().unwrap_or(f64::NAN),
            };
            IterationTrace {
                after_e_step: at(t),
                after_m_step: at(t + 1),
            }
        })
        .collect()
}

/// One value of the bound after each E-step, per iteration.
fn after_e_series(label: &str, trace: &[IterationTrace], f: impl Fn(&Bound) -> f64) -> Series {
    Series {
        label: label.into(),
        points: trace
            .iter()
            .enumerate()
            .map(|(i, t)| ((i + 1) as f64, f(&t.after_e_step)))
            .collect(),
    }
}

fn fit_bgmm(
    exp: &Experiment,
    g: &BayesianGmmSpec,
    data: &PreparedData,
    dir: &Path,
    progress: &mut Progress,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let seed = exp.preset().seed;
    let mut params = BayesianGaussianMixture::params(g.n_components)
        .covariance(g.covariance.to_em())
        .weight_concentration_prior_type(g.weight_prior.to_em())
        .reg_covar(g.reg_covar)
        .tol(g.tol)
        .max_iter(g.max_iter)
        .n_init(g.n_init)
        .init(init_of(g.init))
        .seed(seed);
    if let Some(a) = g.weight_concentration_prior {
        params = params.weight_concentration_prior(a);
    }
    let started = Instant::now();
    let fit = params.fit(data.train.view())?;
    let seconds = started.elapsed().as_secs_f64();
    let trace = variational_iterations(fit.model.trace());
    em_metrics(progress, &g.name, &fit.lower_bounds, &trace);
    let bayes = &fit.model;
    bayes.save(dir.join("models").join(format!("{}.json", g.name)))?;
    // Held-out log-likelihood in nats: of the point estimate (posterior-mean weights, means
    // and covariances), so that it compares with the maximum-likelihood mixtures.
    let model = bayes.to_gaussian_mixture();
    let train_ll = model.score(data.train.view())?;
    let test_ll = model.score(data.test.view())?;
    let train_elbo = bayes.trace().elbo.last().copied();
    let used = bayes.n_effective_components(g.prune_threshold);
    let prior = match g.weight_prior {
        WeightPriorName::DirichletProcess => "Dirichlet-process",
        WeightPriorName::DirichletDistribution => "Dirichlet",
    };
    out.row = Some(ModelRow {
        name: g.name.clone(),
        kind: "bayesian-gmm".into(),
        method: format!(
            "variational EM, {prior} prior, K ≤ {} ({used} with weight > {})",
            g.n_components, g.prune_threshold
        ),
        n_parameters: model.n_parameters(),
        train_seconds: seconds,
        train_ll: Some(train_ll),
        test_ll: Some(test_ll),
        train_elbo,
        test_elbo: None,
        kl_gap: None,
        iwae_k: None,
        bits_per_dim: None,
        converged: Some(fit.converged),
        iterations: Some(fit.n_iter),
    });
    if let Some(elbo) = train_elbo {
        out.notes.push(format!(
            "{}: the complete ELBO, {elbo:.4} nats per train example, bounds the log marginal likelihood ln p(X) of the Bayesian model (parameters integrated out); the log-likelihoods in the table are of its point estimate. Their difference ({:.4}) is not a KL of q(z) alone: it also pays for the uncertainty of the parameters, so variational EM's gap does not close.",
            g.name,
            train_ll - elbo
        ));
    }
    out.figure(
        dir,
        &format!("{}-em-bound.png", g.name),
        format!("{}: the ELBO and log p(x) per iteration", g.name),
        format!(
            "Variational EM: the complete ELBO (a bound on ln p(X) with the parameters integrated out) and the log-likelihood of the point estimate, per iteration; the gap stays open. {used} of {} components keep a weight above {}.",
            g.n_components, g.prune_threshold
        ),
        chart(
            format!("{}: variational EM, the ELBO and log p(x) per iteration", g.name),
            "EM iteration",
            "nats per example (train)",
            vec![
                after_e_series("log p(x; point estimate)", &trace, |b| b.log_likelihood),
                after_e_series("complete ELBO", &trace, |b| b.elbo),
            ],
        )?,
    )?;
    let mut order: Vec<usize> = (0..bayes.n_components()).collect();
    order.sort_by(|&a, &b| bayes.weights()[b].total_cmp(&bayes.weights()[a]));
    out.figure(
        dir,
        &format!("{}-weights.png", g.name),
        format!("{}: the weights, heaviest first", g.name),
        format!("Posterior-mean weights of the {} components in decreasing order: the prior prunes what the data do not need.", g.n_components),
        chart(
            format!("{}: component weights", g.name),
            "component (by weight)",
            "weight",
            vec![Series {
                label: "E[π_k]".into(),
                points: order
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| ((i + 1) as f64, bayes.weights()[c]))
                    .collect(),
            }],
        )?,
    )?;
    scatter_figures(exp, &g.name, &model, data, dir, out)?;
    tracing::info!(model = %g.name, test_ll, used, seconds, "variational mixture fitted");
    Ok(())
}

fn fit_bmm(
    exp: &Experiment,
    b: &BernoulliSpec,
    data: &PreparedData,
    dir: &Path,
    progress: &mut Progress,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let seed = exp.preset().seed;
    let started = Instant::now();
    let fit = BernoulliMixture::params(b.n_components)
        .tol(b.tol)
        .max_iter(b.max_iter)
        .n_init(b.n_init)
        .init(init_of(b.init))
        .strategy(b.strategy)
        .seed(seed)
        .fit(data.train.view())?;
    let seconds = started.elapsed().as_secs_f64();
    em_metrics(progress, &b.name, &fit.lower_bounds, &fit.trace);
    let model = &fit.model;
    model.save(dir.join("models").join(format!("{}.json", b.name)))?;
    let train_ll = model.score(data.train.view())?;
    let test_ll = model.score(data.test.view())?;
    let test_elbo = mixture_elbo(
        &bmm_log_joint(model, data.test.view()),
        &model.predict_proba(data.test.view())?,
    );
    let train_elbo = mixture_elbo(
        &bmm_log_joint(model, data.train.view()),
        &model.predict_proba(data.train.view())?,
    );
    let d = data.train.ncols();
    out.row = Some(ModelRow {
        name: b.name.clone(),
        kind: "bernoulli-mixture".into(),
        method: format!("{}, K = {}", b.strategy, b.n_components),
        n_parameters: model.n_parameters(),
        train_seconds: seconds,
        train_ll: Some(train_ll),
        test_ll: Some(test_ll),
        train_elbo: Some(train_elbo),
        test_elbo: Some(test_elbo),
        kl_gap: Some(test_ll - test_elbo),
        iwae_k: None,
        bits_per_dim: bits_per_dim(Some(test_ll), d, true),
        converged: Some(fit.converged),
        iterations: Some(fit.n_iter),
    });
    out.figure(
        dir,
        &format!("{}-em-bound.png", b.name),
        format!("{}: the ELBO and log p(x) per EM iteration", b.name),
        em_caption(&b.strategy, &fit.trace),
        em_curve(&b.name, &b.strategy, &fit.trace)?,
    )?;
    if let Some((h, w)) = data.image {
        // Components by weight, heaviest first.
        let mut order: Vec<usize> = (0..model.n_components()).collect();
        order.sort_by(|&a, &c| model.weights()[c].total_cmp(&model.weights()[a]));
        let shown = order.len().min(100);
        let mut means = Array2::<f32>::zeros((shown, d));
        for (row, &c) in order.iter().take(shown).enumerate() {
            means
                .row_mut(row)
                .assign(&model.probs().row(c).mapv(|v| v as f32));
        }
        out.figure(
            dir,
            &format!("{}-components.png", b.name),
            format!("{}: the component means", b.name),
            "Each component's pixel probabilities p_kd, heaviest component first: the mixture's prototypes.".into(),
            figures::image_grid_png(means.view(), h, w, 10, 2)?,
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a3b);
        let (samples, _) = model.sample(exp.preset().eval.n_samples, &mut rng);
        out.figure(
            dir,
            &format!("{}-samples.png", b.name),
            format!("{}: samples", b.name),
            "Binary images drawn from the mixture: a component by its weight, then every pixel independently.".into(),
            figures::image_grid_png(samples.mapv(|v| v as f32).view(), h, w, 8, 2)?,
        )?;
    }
    tracing::info!(model = %b.name, test_ll, seconds, "mixture fitted");
    Ok(())
}

/// Trains and evaluates one VAE; `Ok(false)` when interrupted (its checkpoint is saved).
fn fit_vae(
    exp: &Experiment,
    v: &VaeSpec,
    data: &PreparedData,
    run: &RunDir,
    progress: &mut Progress,
    out: &mut ModelOutput,
    cancel: &AtomicBool,
) -> anyhow::Result<bool> {
    let dir = &run.path;
    let p = exp.preset();
    let d = data.train.ncols();
    let config = exp.vae_config(v, d, data.image);
    let tc = exp.train_config(v);
    let ckpt = dir.join("models").join(&v.name);
    std::fs::create_dir_all(&ckpt)
        .with_context(|| format!("could not create {}", ckpt.display()))?;
    let resume = run.resumed && ckpt.join("state.json").is_file();
    let train_rows = data.train_grey.as_ref().unwrap_or(&data.train);
    let before = progress.metrics.len();
    let name = v.name.clone();
    let outcome = {
        let mut on_epoch = |m: &EpochMetrics| -> anyhow::Result<()> {
            progress.metrics.push(MetricLine::epoch(&name, m));
            progress.flush_metrics()
        };
        train::train_vae(
            &config,
            &tc,
            TrainData {
                train: train_rows.view(),
                validation: data.validation.as_ref().map(Array2::view),
            },
            &ckpt,
            resume,
            cancel,
            &mut on_epoch,
        )?
    };
    // The full history (a resumed run includes the epochs before the interruption) replaces
    // the lines appended live, so metrics.jsonl holds each epoch once.
    progress.metrics.truncate(before);
    for m in &outcome.history {
        progress.metrics.push(MetricLine::epoch(&v.name, m));
    }
    if let StopReason::Interrupted { epoch } = outcome.stop {
        tracing::warn!(model = %v.name, epoch, "training interrupted; checkpoint saved");
        return Ok(false);
    }
    let k = p.eval.iwae_k;
    let n_iwae = p.eval.n_test.map(|n| n.min(data.test.nrows()));
    let eval_seed = p.seed ^ 0xe7a1;
    let test_eval = train::evaluate_vae(
        &outcome.vae,
        data.test.view(),
        k,
        n_iwae.or(Some(data.test.nrows())),
        eval_seed,
    )?;
    // The training-set figure on a bounded number of rows: enough to see over-fitting.
    let n_train_eval = data
        .train
        .nrows()
        .min(n_iwae.unwrap_or(data.test.nrows()))
        .min(2000);
    let train_eval = train::evaluate_vae(
        &outcome.vae,
        data.train.slice(s![..n_train_eval, ..]),
        k,
        Some(n_train_eval),
        eval_seed ^ 1,
    )?;
    let n_parameters: usize = outcome
        .vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel())
        .sum();
    let method = format!(
        "VAE ({} latent, β = {}), IWAE k = {k}{}",
        v.latent_dim,
        v.beta,
        match n_iwae {
            Some(n) if n < data.test.nrows() => format!(" on {n} test rows"),
            _ => String::new(),
        }
    );
    out.row = Some(ModelRow {
        name: v.name.clone(),
        kind: "vae".into(),
        method,
        n_parameters,
        train_seconds: outcome.train_seconds,
        train_ll: train_eval.iwae,
        test_ll: test_eval.iwae,
        train_elbo: Some(train_eval.elbo),
        test_elbo: Some(test_eval.elbo),
        kl_gap: test_eval.iwae.map(|l| l - test_eval.elbo),
        iwae_k: Some(k),
        bits_per_dim: bits_per_dim(test_eval.iwae, d, data.binary),
        converged: None,
        iterations: Some(outcome.history.len()),
    });
    if let StopReason::EarlyStopped { best_epoch } = outcome.stop {
        out.notes.push(format!(
            "{}: early stopping after epoch {}; the weights of epoch {best_epoch} (best validation ELBO) are kept.",
            v.name,
            outcome.history.len()
        ));
    }
    vae_figures(exp, v, data, &outcome, dir, out)?;
    tracing::info!(model = %v.name, test_iwae = ?test_eval.iwae, test_elbo = test_eval.elbo, "VAE trained and evaluated");
    Ok(true)
}

fn vae_figures(
    exp: &Experiment,
    v: &VaeSpec,
    data: &PreparedData,
    outcome: &train::TrainOutcome,
    dir: &Path,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let p = exp.preset();
    let h = &outcome.history;
    let series = |label: &str, f: &dyn Fn(&EpochMetrics) -> Option<f64>| Series {
        label: label.to_owned(),
        points: h
            .iter()
            .filter_map(|m| f(m).map(|y| (m.epoch as f64, y)))
            .collect(),
    };
    let mut elbo_series = vec![series("train ELBO", &|m| Some(m.train_elbo))];
    if h.iter().any(|m| m.val_elbo.is_some()) {
        elbo_series.push(series("validation ELBO", &|m| m.val_elbo));
    }
    out.figure(
        dir,
        &format!("{}-elbo.png", v.name),
        format!("{}: ELBO per epoch", v.name),
        "The bound the VAE climbs, on the training batches (averaged over the epoch) and on the validation split.".into(),
        chart(
            format!("{}: ELBO per epoch", v.name),
            "epoch",
            "nats / example",
            elbo_series,
        )?,
    )?;
    let mut parts = vec![
        series("train reconstruction E[log p(x|z)]", &|m| {
            Some(m.train_recon)
        }),
        series("train KL(q(z|x) ‖ p(z))", &|m| Some(m.train_kl)),
    ];
    if h.iter().any(|m| m.val_recon.is_some()) {
        parts.push(series("validation reconstruction", &|m| m.val_recon));
        parts.push(series("validation KL", &|m| m.val_kl));
    }
    out.figure(
        dir,
        &format!("{}-terms.png", v.name),
        format!("{}: reconstruction and KL per epoch", v.name),
        "The ELBO's two terms: distortion (reconstruction log-likelihood) and rate (KL to the prior).".into(),
        chart(
            format!("{}: the ELBO's terms", v.name),
            "epoch",
            "nats / example",
            parts,
        )?,
    )?;
    let vae = &outcome.vae;
    let device = vae.device();
    tch::manual_seed((p.seed ^ 0x5a3b) as i64);
    let n_test = data.test.nrows();
    let to_tensor = |a: ArrayView2<'_, f32>| elbo_vae::array2_to_tensor(a, device);
    if let Some((hh, ww)) = data.image {
        let samples = elbo_vae::tensor_to_array2::<f32>(&vae.sample(p.eval.n_samples))?;
        out.figure(
            dir,
            &format!("{}-samples.png", v.name),
            format!("{}: samples", v.name),
            "E[x | z] for z drawn from the prior N(0, I): the decoder's pixel probabilities."
                .into(),
            figures::image_grid_png(samples.view(), hh, ww, 8, 2)?,
        )?;
        // Evenly spaced test rows: the splits are ordered by class, so this shows them all.
        let n = n_test.min(16);
        let picks: Vec<usize> = (0..n).map(|i| i * n_test / n).collect();
        let x = data.test.select(Axis(0), &picks);
        let x = x.view();
        let recon = elbo_vae::tensor_to_array2::<f32>(&vae.reconstruct(&to_tensor(x))?)?;
        // Originals on odd rows, reconstructions under them.
        let cols = 8;
        let mut grid = Array2::<f32>::zeros((2 * n.div_ceil(cols) * cols, x.ncols()));
        for i in 0..n {
            let (r, c) = (i / cols, i % cols);
            grid.row_mut(2 * r * cols + c).assign(&x.row(i));
            grid.row_mut((2 * r + 1) * cols + c).assign(&recon.row(i));
        }
        out.figure(
            dir,
            &format!("{}-reconstructions.png", v.name),
            format!("{}: reconstructions", v.name),
            "Test examples, evenly spaced through the test split (first, third row), and E[x | z = μ(x)] under each (second, fourth row)."
                .into(),
            figures::image_grid_png(grid.view(), hh, ww, cols, 2)?,
        )?;
    } else if data.train.ncols() == 2 {
        let n = n_test.clamp(p.eval.n_samples, 1000);
        let samples = elbo_vae::tensor_to_array2::<f64>(
            &vae.sample_observations(n).to_kind(tch::Kind::Double),
        )?;
        out.figure(
            dir,
            &format!("{}-samples.png", v.name),
            format!("{}: samples", v.name),
            "Points x ~ p(x | z), z ~ N(0, I), drawn from the trained VAE.".into(),
            figures::scatter_png(
                samples.view(),
                None,
                &[],
                &format!("{}: samples from the model", v.name),
                "x1",
                "x2",
                800,
                600,
            )?,
        )?;
    }
    // The latent space: posterior means of the test rows, their first two principal axes.
    let post = vae.encode(&to_tensor(data.test.view()))?;
    let means = elbo_vae::tensor_to_array2::<f64>(&post.mean.to_kind(tch::Kind::Double))?;
    let (xy, axes) = project_2d(&means);
    out.figure(
        dir,
        &format!("{}-latent.png", v.name),
        format!("{}: the latent space", v.name),
        format!(
            "Posterior means μ(x) of the test rows{}{}.",
            axes,
            if data.test_labels.is_some() {
                ", coloured by label"
            } else {
                ""
            }
        ),
        figures::scatter_png(
            xy.view(),
            data.test_labels.as_deref(),
            &[],
            &format!("{}: q(z | x) means of the test set", v.name),
            "z axis 1",
            "z axis 2",
            800,
            600,
        )?,
    )?;
    Ok(())
}

/// The rows of `z` in 2-D: as they are for 1 or 2 dimensions, else projected on their first
/// two principal axes (power iteration on the covariance, deflated once).
fn project_2d(z: &Array2<f64>) -> (Array2<f64>, &'static str) {
    let (n, k) = z.dim();
    if k == 2 {
        return (z.clone(), "");
    }
    if k == 1 {
        let mut out = Array2::zeros((n, 2));
        out.column_mut(0).assign(&z.column(0));
        return (out, "");
    }
    let mean = z.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(k));
    let c = z - &mean;
    let mut cov = c.t().dot(&c) / (n.max(2) - 1) as f64;
    let mut axes = Array2::zeros((k, 2));
    for a in 0..2 {
        let mut v = Array1::from_shape_fn(k, |i| 1.0 + i as f64 * 0.01);
        for _ in 0..200 {
            let w = cov.dot(&v);
            let norm = w.dot(&w).sqrt();
            if norm <= f64::MIN_POSITIVE {
                break;
            }
            v = w / norm;
        }
        let lambda = v.dot(&cov.dot(&v));
        let outer = v
            .view()
            .insert_axis(Axis(1))
            .dot(&v.view().insert_axis(Axis(0)));
        cov = cov - outer * lambda;
        axes.column_mut(a).assign(&v);
    }
    (c.dot(&axes), " on their first two principal axes")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        // 2000-02-29T12:34:56Z and 1970-01-01T00:00:00Z, known instants.
        let t = UNIX_EPOCH + std::time::Duration::from_secs(951_827_696);
        assert_eq!(utc_timestamp(t), "20000229T123456Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_796_083_200);
        assert_eq!(utc_timestamp(t), "20261201T000000Z");
    }

    #[test]
    fn mixture_elbo_equals_log_likelihood_under_the_posterior() {
        let x = Array2::from_shape_fn((60, 6), |(i, j)| ((i * 7 + j * 3) % 5 < 2) as u8 as f32);
        let fit = BernoulliMixture::params(3).seed(1).fit(x.view()).unwrap();
        let elbo = mixture_elbo(
            &bmm_log_joint(&fit.model, x.view()),
            &fit.model.predict_proba(x.view()).unwrap(),
        );
        let ll = fit.model.score(x.view()).unwrap();
        assert!((elbo - ll).abs() < 1e-9, "{elbo} vs {ll}");
        // Under another q the ELBO is strictly below log p(x).
        let uniform = Array2::from_elem((60, 3), 1.0 / 3.0);
        let worse = mixture_elbo(&bmm_log_joint(&fit.model, x.view()), &uniform);
        assert!(worse < ll - 1e-3, "{worse} vs {ll}");
    }

    #[test]
    fn gmm_log_joint_matches_score_samples() {
        let x = Array2::from_shape_fn((80, 2), |(i, j)| {
            ((i * 13 + j * 7) % 17) as f32 / 4.0 + if i % 2 == 0 { 5.0 } else { 0.0 }
        });
        for cov in [
            elbo_em::Covariance::Full,
            elbo_em::Covariance::Tied,
            elbo_em::Covariance::Diag,
            elbo_em::Covariance::Spherical,
        ] {
            let fit = GaussianMixture::params(2)
                .covariance(cov)
                .seed(0)
                .fit(x.view())
                .unwrap();
            let lj = gmm_log_joint(&fit.model, x.view()).unwrap();
            let ss = fit.model.score_samples(x.view()).unwrap();
            for (row, s) in lj.rows().into_iter().zip(ss.iter()) {
                let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                assert!(
                    (lse - s).abs() < 1e-9 * s.abs().max(1.0),
                    "{cov:?}: {lse} vs {s}"
                );
            }
        }
    }

    #[test]
    fn projection_keeps_the_main_spread() {
        let z = Array2::from_shape_fn((200, 4), |(i, j)| {
            let t = i as f64 / 20.0;
            match j {
                0 => t,
                1 => -t,
                2 => (i % 3) as f64 * 0.01,
                _ => 0.0,
            }
        });
        let (xy, _) = project_2d(&z);
        let spread = xy.column(0).mapv(|v| v * v).sum();
        let total = {
            let m = z.mean_axis(Axis(0)).unwrap();
            (&z - &m).mapv(|v| v * v).sum()
        };
        assert!(spread > 0.99 * total, "{spread} of {total}");
    }
}

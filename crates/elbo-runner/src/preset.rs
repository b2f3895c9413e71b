//! Experiment presets: the TOML schema, `--set` overrides, and validation.
//!
//! A preset is read into [`Preset`] (serde, unknown keys rejected), optionally changed by
//! `--set key.path=value` overrides applied to the TOML tree first, and then [`Preset::check`]ed
//! into an [`Experiment`], the only thing [`crate::experiment`] runs. Every error names the key
//! path, the bad value and what is allowed, e.g.
//! `models[1].latent_dim: must be ≥ 1, got 0`.
//!
//! ```toml
//! name = "quickstart"
//! seed = 0
//! [data]
//! dataset = "mnist-10k"
//! binarize = "dynamic"
//! [[models]]
//! kind = "bernoulli-mixture"
//! name = "bmm-10"
//! n_components = 10
//! [[models]]
//! kind = "vae"
//! name = "vae-20"
//! latent_dim = 20
//! [train]
//! epochs = 20
//! [eval]
//! iwae_k = 1000
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::train::TrainConfig;

/// The presets that ship with elbo (the repository's `presets/` folder, embedded).
pub const BUILTIN: [(&str, &str); 6] = [
    (
        "quickstart",
        include_str!("../../../presets/quickstart.toml"),
    ),
    ("faithful", include_str!("../../../presets/faithful.toml")),
    ("synthetic", include_str!("../../../presets/synthetic.toml")),
    (
        "fashion-mnist",
        include_str!("../../../presets/fashion-mnist.toml"),
    ),
    (
        "beta-sweep",
        include_str!("../../../presets/beta-sweep.toml"),
    ),
    ("em-family", include_str!("../../../presets/em-family.toml")),
];

/// A preset as written: deserialised, not yet validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Short name; the run directory is `runs/<name>/<timestamp>/`.
    pub name: String,
    /// Report title.
    #[serde(default)]
    pub title: Option<String>,
    /// A paragraph for the report: what the experiment shows.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of everything random in the run (data splits, binarisation, inits, training).
    #[serde(default)]
    pub seed: u64,
    /// Where the data come from and how they are prepared.
    pub data: DataSpec,
    /// The models, fitted in order.
    pub models: Vec<ModelSpec>,
    /// The VAE training loop (ignored when there is no VAE).
    #[serde(default)]
    pub train: TrainSpec,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSpec,
}

/// The data of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A named data set (`elbo datasets list`): `mnist-10k`, `fashion-mnist`, `mnist`,
    /// `faithful`, or the generated `synthetic-gmm` / `synthetic-bernoulli`.
    pub dataset: String,
    /// How grey levels become binary values.
    #[serde(default)]
    pub binarize: Binarize,
    /// Threshold for `binarize = "threshold"`.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Standardise features with the training split's mean and standard deviation.
    #[serde(default)]
    pub standardize: bool,
    /// Use only this many examples (stratified by label where there are labels).
    #[serde(default)]
    pub subset: Option<SubsetSpec>,
    /// Fraction of the training split held out for validation (VAE early stopping and curves).
    #[serde(default)]
    pub validation: f64,
    /// Fraction of the data used as the test split when the data set has none (`faithful`,
    /// the synthetic sets).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Parameters of a generated data set.
    #[serde(default)]
    pub synthetic: Option<SyntheticSpec>,
}

fn default_threshold() -> f32 {
    0.5
}

fn default_test_fraction() -> f64 {
    0.25
}

/// Binarisation of grey-level data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Binarize {
    /// Keep the values.
    #[default]
    None,
    /// `x > threshold`.
    Threshold,
    /// One seeded draw x ~ Bernoulli(grey level), fixed for the run.
    Stochastic,
    /// Like `stochastic` for the mixtures and the test set, and a fresh draw of the training
    /// set every epoch for the VAEs (dynamic binarisation).
    Dynamic,
}

impl Binarize {
    /// Whether the models see binary data.
    pub fn is_binary(self) -> bool {
        !matches!(self, Binarize::None)
    }
}

/// Subset sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetSpec {
    /// Training examples kept.
    #[serde(default)]
    pub train: Option<usize>,
    /// Test examples kept.
    #[serde(default)]
    pub test: Option<usize>,
}

/// Parameters of `synthetic-gmm` / `synthetic-bernoulli`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Number of examples generated (train and test together).
    pub n_samples: usize,
    /// Dimension.
    pub n_features: usize,
    /// Number of true components.
    pub n_components: usize,
    /// Covariance type of the true components (`synthetic-gmm` only).
    #[serde(default)]
    pub covariance: Option<CovarianceName>,
}

/// Covariance types by their scikit-learn names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CovarianceName {
    /// One full matrix per component.
    Full,
    /// One full matrix shared by all components.
    Tied,
    /// Per-component, per-dimension variances.
    Diag,
    /// One variance per component.
    Spherical,
}

impl CovarianceName {
    /// The elbo-em type.
    pub fn to_em(self) -> elbo_em::Covariance {
        match self {
            CovarianceName::Full => elbo_em::Covariance::Full,
            CovarianceName::Tied => elbo_em::Covariance::Tied,
            CovarianceName::Diag => elbo_em::Covariance::Diag,
            CovarianceName::Spherical => elbo_em::Covariance::Spherical,
        }
    }

    /// The scikit-learn name.
    pub fn as_str(self) -> &'static str {
        match self {
            CovarianceName::Full => "full",
            CovarianceName::Tied => "tied",
            CovarianceName::Diag => "diag",
            CovarianceName::Spherical => "spherical",
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

/// One model of an experiment, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// A Gaussian mixture fitted by exact EM (a grid of K × covariance is selected by BIC).
    Gmm(GmmSpec),
    /// A Bernoulli mixture fitted by exact EM.
    BernoulliMixture(BernoulliSpec),
    /// A variational Bayesian Gaussian mixture (mean-field variational EM).
    BayesianGmm(BayesianGmmSpec),
    /// A variational autoencoder.
    Vae(VaeSpec),
}

impl ModelSpec {
    /// The model's name in the report.
    pub fn name(&self) -> &str {
        match self {
            ModelSpec::Gmm(m) => &m.name,
            ModelSpec::BernoulliMixture(m) => &m.name,
            ModelSpec::BayesianGmm(m) => &m.name,
            ModelSpec::Vae(m) => &m.name,
        }
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

/// Initialisation of a mixture, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InitName {
    /// k-means (scikit-learn's default).
    #[default]
    Kmeans,
    /// k-means++ seeding only (cheaper; the first bound is far below the rest, as in
    /// scikit-learn, because each component starts from one point).
    #[serde(rename = "kmeans++")]
    KmeansPlusPlus,
    /// Random responsibilities.
    Random,
    /// Random data points as means.
    RandomFromData,
}

/// A Gaussian mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmmSpec {
    /// Name in the report (unique).
    pub name: String,
    /// K, or a list of K to select from by BIC.
    pub n_components: OneOrMany<usize>,
    /// Covariance type, or a list to select from by BIC.
    #[serde(default = "default_covariance")]
    pub covariance: OneOrMany<CovarianceName>,
    /// Added to the diagonal of every covariance.
    #[serde(default = "default_reg_covar")]
    pub reg_covar: f64,
    /// Stop when the per-sample bound changes less than this.
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// At most this many EM iterations.
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Restarts; the best bound wins.
    #[serde(default = "default_n_init")]
    pub n_init: usize,
    /// Initialisation.
    #[serde(default)]
    pub init: InitName,
    /// Member of the EM family: `{ kind = "exact" }` (default), `{ kind = "monte-carlo",
    /// samples = 1 }`, `{ kind = "generalized", step = 0.5 }`, `{ kind = "online",
    /// batch_size = 1000, decay = 0.6 }`.
    #[serde(default)]
    pub strategy: elbo_em::Strategy,
}

fn default_covariance() -> OneOrMany<CovarianceName> {
    OneOrMany::One(CovarianceName::Full)
}
fn default_reg_covar() -> f64 {
    1e-6
}
fn default_tol() -> f64 {
    1e-3
}
fn default_max_iter() -> usize {
    100
}
fn default_n_init() -> usize {
    1
}

/// A Bernoulli mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BernoulliSpec {
    /// Name in the report (unique).
    pub name: String,
    /// K.
    pub n_components: usize,
    /// Stop when the per-sample bound changes less than this.
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// At most this many EM iterations.
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Restarts; the best bound wins.
    #[serde(default = "default_n_init")]
    pub n_init: usize,
    /// Initialisation.
    #[serde(default)]
    pub init: InitName,
    /// Member of the EM family (see [`GmmSpec::strategy`]).
    #[serde(default)]
    pub strategy: elbo_em::Strategy,
}

/// The prior on a variational mixture's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WeightPriorName {
    /// Truncated Dirichlet process (stick breaking; scikit-learn's default).
    #[default]
    DirichletProcess,
    /// Symmetric Dirichlet distribution.
    DirichletDistribution,
}

impl WeightPriorName {
    /// The elbo-em type.
    pub fn to_em(self) -> elbo_em::WeightPrior {
        match self {
            WeightPriorName::DirichletProcess => elbo_em::WeightPrior::DirichletProcess,
            WeightPriorName::DirichletDistribution => elbo_em::WeightPrior::DirichletDistribution,
        }
    }
}

/// A variational Bayesian Gaussian mixture: K is an upper bound, the prior prunes the
/// components the data do not need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayesianGmmSpec {
    /// Name in the report (unique).
    pub name: String,
    /// The truncation K (an upper bound on the components used).
    pub n_components: usize,
    /// Covariance type.
    #[serde(default = "default_covariance_one")]
    pub covariance: CovarianceName,
    /// Prior on the weights.
    #[serde(default)]
    pub weight_prior: WeightPriorName,
    /// Its concentration α₀ (default 1/K); smaller prunes harder.
    #[serde(default)]
    pub weight_concentration_prior: Option<f64>,
    /// Added to the diagonal of every covariance.
    #[serde(default = "default_reg_covar")]
    pub reg_covar: f64,
    /// Stop when scikit-learn's bound changes less than this.
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// At most this many iterations.
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    /// Restarts; the best bound wins.
    #[serde(default = "default_n_init")]
    pub n_init: usize,
    /// Initialisation.
    #[serde(default)]
    pub init: InitName,
    /// Weight below which a component counts as pruned in the report.
    #[serde(default = "default_prune_threshold")]
    pub prune_threshold: f64,
}

fn default_covariance_one() -> CovarianceName {
    CovarianceName::Full
}
fn default_prune_threshold() -> f64 {
    1e-2
}

/// A VAE: the model's settings (elbo-vae's config, with the input filled in from the data)
/// and optional per-model changes to the training loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeSpec {
    /// Name in the report (unique).
    pub name: String,
    /// Dimension of z.
    pub latent_dim: usize,
    /// Encoder and decoder networks (default: an MLP with one hidden layer of 400).
    #[serde(default)]
    pub architecture: elbo_vae::Architecture,
    /// Non-linearity.
    #[serde(default)]
    pub activation: elbo_vae::Activation,
    /// p(x | z) (default Bernoulli).
    #[serde(default)]
    pub likelihood: elbo_vae::Likelihood,
    /// Weight of the KL term (β-VAE); only β = 1 is a bound on log p(x).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Free bits per latent dimension.
    #[serde(default)]
    pub free_bits: Option<f64>,
    /// Epochs for this model instead of `train.epochs`.
    #[serde(default)]
    pub epochs: Option<usize>,
}

fn default_beta() -> f64 {
    1.0
}

/// The training loop of the VAEs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Passes over the training data.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Mini-batch size.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// KL warm-up: epochs over which the KL weight ramps from 0 to β.
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Clip the global gradient norm to this.
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// Stop after this many epochs without a better validation ELBO.
    #[serde(default)]
    pub early_stop: Option<usize>,
    /// libtorch threads (default: libtorch's choice).
    #[serde(default)]
    pub threads: Option<usize>,
}

fn default_epochs() -> usize {
    10
}
fn default_batch() -> usize {
    128
}
fn default_lr() -> f64 {
    1e-3
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            epochs: default_epochs(),
            batch_size: default_batch(),
            lr: default_lr(),
            warmup_epochs: 0,
            grad_clip: None,
            early_stop: None,
            threads: None,
        }
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Importance samples of the IWAE estimate of log p(x) (Burda et al. report k = 5000).
    #[serde(default = "default_iwae_k")]
    pub iwae_k: usize,
    /// Test examples that get the IWAE estimate (default: all). The ELBO uses all of them.
    #[serde(default)]
    pub n_test: Option<usize>,
    /// Samples drawn from each model for the figures.
    #[serde(default = "default_n_samples")]
    pub n_samples: usize,
}

fn default_iwae_k() -> usize {
    1000
}
fn default_n_samples() -> usize {
    64
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            iwae_k: default_iwae_k(),
            n_test: None,
            n_samples: default_n_samples(),
        }
    }
}

/// A checked preset: everything in range, names unique, the data set known.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    preset: Preset,
}

impl Experiment {
    /// The validated preset.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// The training loop's settings for `vae` (its own `epochs`, if any, win).
    pub fn train_config(&self, vae: &VaeSpec) -> TrainConfig {
        let t = &self.preset.train;
        TrainConfig {
            epochs: vae.epochs.unwrap_or(t.epochs),
            batch_size: t.batch_size,
            lr: t.lr,
            warmup_epochs: t.warmup_epochs,
            grad_clip: t.grad_clip,
            early_stop: t.early_stop,
            dynamic_binarization: self.preset.data.binarize == Binarize::Dynamic,
            seed: self.preset.seed,
            threads: t.threads,
        }
    }

    /// The elbo-vae config of `vae` for examples of `input_dim` values (an image shape when
    /// the data have one and the architecture is convolutional).
    pub fn vae_config(
        &self,
        vae: &VaeSpec,
        input_dim: usize,
        image: Option<(usize, usize)>,
    ) -> elbo_vae::VaeConfig {
        let input = match (&vae.architecture, image) {
            (elbo_vae::Architecture::Conv { .. }, Some((h, w))) => {
                elbo_vae::InputShape::Image([1, h, w])
            }
            _ => elbo_vae::InputShape::Vector(input_dim),
        };
        elbo_vae::VaeConfig {
            input,
            architecture: vae.architecture.clone(),
            activation: vae.activation,
            latent_dim: vae.latent_dim,
            likelihood: vae.likelihood,
            beta: vae.beta,
            free_bits: vae.free_bits,
            seed: self.preset.seed,
        }
    }
}

/// The resolved preset as TOML (what `config.toml` holds).
pub fn to_toml(exp: &Experiment) -> anyhow::Result<String> {
    toml::to_string(exp.preset()).context("could not serialise the preset")
}

/// Reads a preset: `name_or_path` is a file if one exists there, else a built-in name.
/// `overrides` are `key.path=value` strings applied before validation.
pub fn load(name_or_path: &str, overrides: &[String]) -> anyhow::Result<Experiment> {
    let (origin, text) = source(name_or_path)?;
    parse(&text, overrides).with_context(|| format!("invalid preset {origin}"))
}

/// The text of a preset and where it came from (for messages).
pub fn source(name_or_path: &str) -> anyhow::Result<(String, String)> {
    let path = Path::new(name_or_path);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read preset {}", path.display()))?;
        return Ok((path.display().to_string(), text));
    }
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return Ok((format!("`{name}` (built in)"), (*text).to_owned()));
    }
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    bail!(
        "no preset file `{name_or_path}` and no built-in preset of that name; built-in presets: {}",
        names.join(", ")
    )
}

/// Parses preset text, applies overrides and validates.
pub fn parse(text: &str, overrides: &[String]) -> anyhow::Result<Experiment> {
    let mut value: toml::Value = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    for o in overrides {
        apply_override(&mut value, o)?;
    }
    let preset: Preset = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        // The TOML deserialiser appends "\nin `table`"; the path already says where.
        let inner = e.into_inner().to_string();
        let inner = inner.lines().next().unwrap_or_default().to_owned();
        if path == "." {
            anyhow::anyhow!("{inner}")
        } else {
            anyhow::anyhow!("{path}: {inner}")
        }
    })?;
    preset.check()
}

/// Applies one `key.path=value` override. Path segments are table keys; a model is addressed
/// by its name or index (`models.vae-20.latent_dim`, `models.1.latent_dim`). The value is
/// read as TOML (`3`, `1e-3`, `true`, `[1, 2]`, `"text"`), or as a string if it is not TOML.
pub fn apply_override(root: &mut toml::Value, spec: &str) -> anyhow::Result<()> {
    let Some((path, raw)) = spec.split_once('=') else {
        bail!("--set {spec}: expected key.path=value, e.g. --set train.epochs=2");
    };
    let path = path.trim();
    if path.is_empty() {
        bail!("--set {spec}: the key path is empty");
    }
    let value = parse_value(raw.trim());
    let keys: Vec<&str> = path.split('.').collect();
    let mut node = root;
    let mut walked = String::new();
    for (i, key) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(key);
        node = match node {
            toml::Value::Table(table) => {
                if last {
                    table.insert((*key).to_owned(), value);
                    return Ok(());
                }
                table
                    .entry((*key).to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(items) => {
                let index = match key.parse::<usize>() {
                    Ok(i) => i,
                    Err(_) => items
                        .iter()
                        .position(|m| m.get("name").and_then(toml::Value::as_str) == Some(key))
                        .with_context(|| {
                            format!("--set {spec}: no entry named `{key}` at `{walked}`")
                        })?,
                };
                let len = items.len();
                let item = items.get_mut(index).with_context(|| {
                    format!(
                        "--set {spec}: index {index} is out of range at `{walked}` ({len} entries)"
                    )
                })?;
                if last {
                    *item = value;
                    return Ok(());
                }
                item
            }
            _ => bail!("--set {spec}: `{walked}` is inside a value that is not a table"),
        };
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

/// Known data set names (named and generated).
fn known_datasets() -> Vec<String> {
    elbo_datasets::dataset_names()
        .into_iter()
        .map(|s| s.to_string())
        .collect()
}

macro_rules! ensure_field {
    ($cond:expr, $path:expr, $($msg:tt)+) => {{
        let ok: bool = $cond;
        if !ok {
            anyhow::bail!("{}: {}", $path, format!($($msg)+));
        }
    }};
}

impl Preset {
    /// Validates every value; the error names the key path, the value and what is allowed.
    pub fn check(self) -> anyhow::Result<Experiment> {
        let p = &self;
        ensure_field!(
            !p.name.is_empty()
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "name",
            "must be letters, digits, `-` or `_` (it names the run directory), got {:?}",
            p.name
        );
        let d = &p.data;
        let known = known_datasets();
        ensure_field!(
            known.contains(&d.dataset),
            "data.dataset",
            "unknown data set {:?}; known: {}",
            d.dataset,
            known.join(", ")
        );
        let synthetic = d.dataset.starts_with("synthetic-");
        ensure_field!(
            !synthetic || d.synthetic.is_some(),
            "data.synthetic",
            "a generated data set needs `[data.synthetic]` with n_samples, n_features and n_components"
        );
        ensure_field!(
            synthetic || d.synthetic.is_none(),
            "data.synthetic",
            "only for the generated data sets (synthetic-gmm, synthetic-bernoulli), not {:?}",
            d.dataset
        );
        if let Some(s) = &d.synthetic {
            ensure_field!(
                s.n_samples >= 10,
                "data.synthetic.n_samples",
                "must be ≥ 10, got {}",
                s.n_samples
            );
            ensure_field!(
                s.n_features >= 1,
                "data.synthetic.n_features",
                "must be ≥ 1, got {}",
                s.n_features
            );
            ensure_field!(
                s.n_components >= 1,
                "data.synthetic.n_components",
                "must be ≥ 1, got {}",
                s.n_components
            );
        }
        ensure_field!(
            d.threshold.is_finite() && (0.0..1.0).contains(&d.threshold),
            "data.threshold",
            "must be in [0, 1), got {}",
            d.threshold
        );
        ensure_field!(
            d.validation.is_finite() && (0.0..0.9).contains(&d.validation),
            "data.validation",
            "must be a fraction in [0, 0.9), got {}",
            d.validation
        );
        ensure_field!(
            d.test_fraction.is_finite() && d.test_fraction > 0.0 && d.test_fraction < 0.9,
            "data.test_fraction",
            "must be a fraction in (0, 0.9), got {}",
            d.test_fraction
        );
        if let Some(s) = &d.subset {
            for (key, v) in [("train", s.train), ("test", s.test)] {
                if let Some(v) = v {
                    ensure_field!(v >= 2, format!("data.subset.{key}"), "must be ≥ 2, got {v}");
                }
            }
        }
        ensure_field!(
            !(d.standardize && d.binarize.is_binary()),
            "data.standardize",
            "cannot be combined with binarize = {:?}: binary data are not standardised",
            d.binarize
        );
        ensure_field!(
            !p.models.is_empty(),
            "models",
            "at least one model is needed"
        );
        let mut names = BTreeSet::new();
        for (i, m) in p.models.iter().enumerate() {
            let at = format!("models[{i}]");
            ensure_field!(
                !m.name().is_empty()
                    && m.name()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                format!("{at}.name"),
                "must be letters, digits, `-`, `_` or `.` (it names files), got {:?}",
                m.name()
            );
            ensure_field!(
                names.insert(m.name().to_owned()),
                format!("{at}.name"),
                "{:?} is used by two models; names must be unique",
                m.name()
            );
            match m {
                ModelSpec::Gmm(g) => {
                    ensure_field!(
                        !d.binarize.is_binary(),
                        format!("{at}.kind"),
                        "a Gaussian mixture on binarised data is not a density model of it; use kind = \"bernoulli-mixture\" or data.binarize = \"none\""
                    );
                    let ks = g.n_components.to_vec();
                    ensure_field!(
                        !ks.is_empty() && ks.iter().all(|&k| k >= 1),
                        format!("{at}.n_components"),
                        "must be ≥ 1 (or a non-empty list of such), got {:?}",
                        ks
                    );
                    ensure_field!(
                        !g.covariance.to_vec().is_empty(),
                        format!("{at}.covariance"),
                        "the list is empty; allowed: full, tied, diag, spherical"
                    );
                    check_em(&at, g.tol, g.max_iter, g.n_init)?;
                    check_strategy(&at, &g.strategy)?;
                    ensure_field!(
                        g.reg_covar.is_finite() && g.reg_covar >= 0.0,
                        format!("{at}.reg_covar"),
                        "must be ≥ 0, got {}",
                        g.reg_covar
                    );
                }
                ModelSpec::BayesianGmm(g) => {
                    ensure_field!(
                        !d.binarize.is_binary(),
                        format!("{at}.kind"),
                        "a Gaussian mixture on binarised data is not a density model of it; use kind = \"bernoulli-mixture\" or data.binarize = \"none\""
                    );
                    ensure_field!(
                        g.n_components >= 1,
                        format!("{at}.n_components"),
                        "must be ≥ 1, got {}",
                        g.n_components
                    );
                    check_em(&at, g.tol, g.max_iter, g.n_init)?;
                    if let Some(a) = g.weight_concentration_prior {
                        ensure_field!(
                            a.is_finite() && a > 0.0,
                            format!("{at}.weight_concentration_prior"),
                            "must be > 0 (e.g. 0.01 to prune hard, 1/K by default), got {a}"
                        );
                    }
                    ensure_field!(
                        g.reg_covar.is_finite() && g.reg_covar >= 0.0,
                        format!("{at}.reg_covar"),
                        "must be ≥ 0, got {}",
                        g.reg_covar
                    );
                    ensure_field!(
                        g.prune_threshold > 0.0 && g.prune_threshold < 1.0,
                        format!("{at}.prune_threshold"),
                        "must lie in (0, 1), got {}",
                        g.prune_threshold
                    );
                }
                ModelSpec::BernoulliMixture(b) => {
                    ensure_field!(
                        d.binarize.is_binary() || d.dataset == "synthetic-bernoulli",
                        format!("{at}.kind"),
                        "a Bernoulli mixture needs binary data: set data.binarize to \"threshold\", \"stochastic\" or \"dynamic\""
                    );
                    ensure_field!(
                        b.n_components >= 1,
                        format!("{at}.n_components"),
                        "must be ≥ 1, got {}",
                        b.n_components
                    );
                    check_em(&at, b.tol, b.max_iter, b.n_init)?;
                    check_strategy(&at, &b.strategy)?;
                }
                ModelSpec::Vae(v) => {
                    ensure_field!(
                        v.latent_dim >= 1,
                        format!("{at}.latent_dim"),
                        "must be ≥ 1, got {}",
                        v.latent_dim
                    );
                    ensure_field!(
                        v.beta.is_finite() && v.beta > 0.0,
                        format!("{at}.beta"),
                        "must be > 0, got {}",
                        v.beta
                    );
                    if let Some(fb) = v.free_bits {
                        ensure_field!(
                            fb.is_finite() && fb >= 0.0,
                            format!("{at}.free_bits"),
                            "must be ≥ 0, got {fb}"
                        );
                    }
                    if let Some(e) = v.epochs {
                        ensure_field!(e >= 1, format!("{at}.epochs"), "must be ≥ 1, got {e}");
                    }
                    let binary_data = d.binarize.is_binary() || d.dataset == "synthetic-bernoulli";
                    match v.likelihood {
                        elbo_vae::Likelihood::Bernoulli => ensure_field!(
                            binary_data,
                            format!("{at}.likelihood"),
                            "a Bernoulli decoder needs binary data: set data.binarize, or use likelihood = {{ gaussian = {{ variance = \"learned\" }} }}"
                        ),
                        elbo_vae::Likelihood::Gaussian { .. } => ensure_field!(
                            !binary_data,
                            format!("{at}.likelihood"),
                            "a Gaussian decoder on binary data is not comparable with the mixtures' nats; use likelihood = \"bernoulli\""
                        ),
                    }
                    if let elbo_vae::Architecture::Conv { .. } = v.architecture {
                        ensure_field!(
                            !synthetic && d.dataset != "faithful",
                            format!("{at}.architecture"),
                            "the convolutional VAE needs image data (mnist-10k, mnist, fashion-mnist)"
                        );
                    }
                }
            }
        }
        let t = &p.train;
        ensure_field!(
            t.epochs >= 1,
            "train.epochs",
            "must be ≥ 1, got {}",
            t.epochs
        );
        ensure_field!(
            t.batch_size >= 1,
            "train.batch_size",
            "must be ≥ 1, got {}",
            t.batch_size
        );
        ensure_field!(
            t.lr.is_finite() && t.lr > 0.0 && t.lr < 1.0,
            "train.lr",
            "must be in (0, 1), got {}",
            t.lr
        );
        if let Some(c) = t.grad_clip {
            ensure_field!(
                c.is_finite() && c > 0.0,
                "train.grad_clip",
                "must be > 0, got {c}"
            );
        }
        if let Some(th) = t.threads {
            ensure_field!(th >= 1, "train.threads", "must be ≥ 1, got {th}");
        }
        if t.early_stop.is_some() {
            ensure_field!(
                d.validation > 0.0,
                "train.early_stop",
                "needs a validation split: set data.validation (e.g. 0.1)"
            );
        }
        let e = &p.eval;
        ensure_field!(
            (1..=100_000).contains(&e.iwae_k),
            "eval.iwae_k",
            "must be in 1..=100000, got {}",
            e.iwae_k
        );
        if let Some(n) = e.n_test {
            ensure_field!(n >= 1, "eval.n_test", "must be ≥ 1, got {n}");
        }
        ensure_field!(
            (1..=1024).contains(&e.n_samples),
            "eval.n_samples",
            "must be in 1..=1024, got {}",
            e.n_samples
        );
        Ok(Experiment { preset: self })
    }
}

/// The EM strategy's own rules, reported under the model's key path.
fn check_strategy(at: &str, strategy: &elbo_em::Strategy) -> anyhow::Result<()> {
    match strategy.check() {
        Ok(()) => Ok(()),
        Err(elbo_em::EmError::InvalidParam {
            name,
            value,
            allowed,
        }) => bail!("{at}.{name}: {allowed}, got {value}"),
        Err(e) => bail!("{at}.strategy: {e}"),
    }
}

fn check_em(at: &str, tol: f64, max_iter: usize, n_init: usize) -> anyhow::Result<()> {
    ensure_field!(
        tol.is_finite() && tol >= 0.0,
        format!("{at}.tol"),
        "must be ≥ 0, got {tol}"
    );
    ensure_field!(
        max_iter >= 1,
        format!("{at}.max_iter"),
        "must be ≥ 1, got {max_iter}"
    );
    ensure_field!(
        n_init >= 1,
        format!("{at}.n_init"),
        "must be ≥ 1, got {n_init}"
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TINY: &str = r#"
        name = "tiny"
        seed = 3
        [data]
        dataset = "synthetic-gmm"
        synthetic = { n_samples = 400, n_features = 2, n_components = 2 }
        [[models]]
        kind = "gmm"
        name = "gmm"
        n_components = [1, 2, 3]
        covariance = ["full", "diag"]
        [[models]]
        kind = "vae"
        name = "vae"
        latent_dim = 2
        likelihood = { gaussian = { variance = "learned" } }
        [train]
        epochs = 2
    "#;

    fn err(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        format!("{:#}", parse(text, &o).unwrap_err())
    }

    #[test]
    fn every_builtin_preset_is_valid() {
        for (name, text) in BUILTIN {
            let exp = parse(text, &[]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(exp.preset().name, name);
        }
    }

    #[test]
    fn a_valid_preset_round_trips_through_toml() {
        let exp = parse(TINY, &[]).unwrap();
        let text = toml::to_string(exp.preset()).unwrap();
        let again = parse(&text, &[]).unwrap();
        assert_eq!(exp, again);
        assert_eq!(exp.preset().models[0].kind(), "gmm");
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let e = err(&TINY.replace("epochs = 2", "epochs = 2\nepoch = 3"), &[]);
        assert!(e.contains("train") && e.contains("epoch"), "{e}");
        let e = err(
            &TINY.replace("latent_dim = 2", "latent_dim = 2\nlatnet = 1"),
            &[],
        );
        assert!(e.contains("models[1]") && e.contains("latnet"), "{e}");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = err(&TINY.replace("epochs = 2", "epochs = \"two\""), &[]);
        assert!(e.contains("train.epochs"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_path_value_and_rule() {
        let e = err(TINY, &["train.lr=2.0"]);
        assert!(e.contains("train.lr: must be in (0, 1), got 2"), "{e}");
        let e = err(TINY, &["models.vae.latent_dim=0"]);
        assert!(
            e.contains("models[1].latent_dim: must be ≥ 1, got 0"),
            "{e}"
        );
        let e = err(TINY, &["data.dataset=\"nope\""]);
        assert!(e.contains("data.dataset: unknown data set \"nope\""), "{e}");
        let e = err(TINY, &["eval.iwae_k=0"]);
        assert!(e.contains("eval.iwae_k"), "{e}");
    }

    #[test]
    fn duplicate_names_and_mismatched_likelihoods_are_errors() {
        let e = err(TINY, &["models.1.name=\"gmm\""]);
        assert!(e.contains("used by two models"), "{e}");
        let e = err(TINY, &["models.vae.likelihood=\"bernoulli\""]);
        assert!(e.contains("models[1].likelihood"), "{e}");
    }

    #[test]
    fn overrides_reach_tables_arrays_and_names() {
        let exp = parse(
            TINY,
            &[
                "train.epochs=5".into(),
                "models.vae.latent_dim=4".into(),
                "models.0.n_components=2".into(),
                "eval.n_test=10".into(),
            ],
        )
        .unwrap();
        let p = exp.preset();
        assert_eq!(p.train.epochs, 5);
        assert_eq!(p.eval.n_test, Some(10));
        match (&p.models[0], &p.models[1]) {
            (ModelSpec::Gmm(g), ModelSpec::Vae(v)) => {
                assert_eq!(g.n_components, OneOrMany::One(2));
                assert_eq!(v.latent_dim, 4);
            }
            other => panic!("{other:?}"),
        }
        let e = err(TINY, &["models.nosuch.latent_dim=4"]);
        assert!(e.contains("no entry named `nosuch`"), "{e}");
        let e = err(TINY, &["train.epochs"]);
        assert!(e.contains("expected key.path=value"), "{e}");
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let e = format!("{:#}", load("no-such-preset", &[]).unwrap_err());
        assert!(e.contains("quickstart"), "{e}");
    }
}

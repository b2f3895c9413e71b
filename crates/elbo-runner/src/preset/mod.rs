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

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::data::DataFacts;
use crate::family::ModelSpec;
use crate::train::TrainConfig;

mod check;
mod overrides;

pub use overrides::apply_override;

/// The presets that ship with elbo (the repository's `presets/` folder, embedded).
pub const BUILTIN: [(&str, &str); 6] = [
    (
        "quickstart",
        include_str!("../../../../presets/quickstart.toml"),
    ),
    (
        "faithful",
        include_str!("../../../../presets/faithful.toml"),
    ),
    (
        "synthetic",
        include_str!("../../../../presets/synthetic.toml"),
    ),
    (
        "fashion-mnist",
        include_str!("../../../../presets/fashion-mnist.toml"),
    ),
    (
        "beta-sweep",
        include_str!("../../../../presets/beta-sweep.toml"),
    ),
    (
        "em-family",
        include_str!("../../../../presets/em-family.toml"),
    ),
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
    /// The training loop of the neural models (ignored when there are none). Its `seed` and
    /// `dynamic_binarization` come from the preset's `seed` and `data.binarize`.
    #[serde(default)]
    pub train: TrainConfig,
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
    pub covariance: Option<elbo_em::Covariance>,
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Importance samples of the IWAE estimate of log p(x) (Burda et al. report k = 5000).
    #[serde(default = "default_iwae_k")]
    pub iwae_k: usize,
    /// Test rows of the evaluation set (default: all of the test split): a seeded,
    /// class-stratified, shuffled subset on which every model computes every column.
    #[serde(default)]
    pub n_test: Option<usize>,
    /// Training rows of the evaluation set, for the "train" columns (default: as many as the
    /// test rows, at most 2,000 and at most the training split).
    #[serde(default)]
    pub n_train: Option<usize>,
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
            n_train: None,
            n_samples: default_n_samples(),
        }
    }
}

/// A checked preset: everything in range, names unique, the data set known, every model's
/// settings accepted by its library. The only thing [`crate::experiment`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    preset: Preset,
    data: DataFacts,
}

impl Experiment {
    /// The validated preset.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// What is known of the data before loading them (source, binary, image shape).
    pub fn data(&self) -> &DataFacts {
        &self.data
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

/// Without libtorch a preset with a VAE is refused at its check, EM presets are not.
#[cfg(all(test, not(feature = "torch")))]
#[allow(clippy::unwrap_used)]
mod without_torch {
    use super::*;

    #[test]
    fn vae_presets_are_refused_in_one_line_and_em_presets_pass() {
        let e = format!("{:#}", load("quickstart", &[]).unwrap_err());
        assert!(
            e.contains("models[2].kind: this elbo was built without libtorch"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        load("em-family", &[]).unwrap();
    }
}

// The schema's tests use a VAE, so they need the `torch` feature.
#[cfg(all(test, feature = "torch"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::family::OneOrMany;

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

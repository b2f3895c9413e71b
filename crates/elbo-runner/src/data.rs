//! Data preparation: the preset's data source loaded or generated, split, subset, standardised
//! or binarised once for every model of the run (seeded from the run's data stream).

use std::path::Path;

use anyhow::{Context as _, bail};
use elbo_datasets::{Dataset, Splits};
use elbo_em::{BernoulliMixture, Covariances, GaussianMixture};
use ndarray::Array2;
use rand_chacha::ChaCha8Rng;

use crate::preset::{Binarize, DataSpec, Experiment, SyntheticSpec};
use crate::seeds::{self, Stream};

/// Where a run's data come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// A named data set with a manifest (`elbo datasets list`).
    Named(String),
    /// Generated from a seeded Gaussian mixture (the truth is known).
    SyntheticGmm(SyntheticSpec),
    /// Generated from a seeded Bernoulli mixture (the truth is known).
    SyntheticBernoulli(SyntheticSpec),
}

impl DataSource {
    /// The source a `[data]` table names; errors name the key.
    pub fn of(d: &DataSpec) -> anyhow::Result<DataSource> {
        let synthetic = |what: &str| {
            d.synthetic.with_context(|| {
                format!(
                    "data.synthetic: {what} needs `[data.synthetic]` with n_samples, n_features and n_components"
                )
            })
        };
        let source = match d.dataset.as_str() {
            "synthetic-gmm" => DataSource::SyntheticGmm(synthetic("synthetic-gmm")?),
            "synthetic-bernoulli" => {
                DataSource::SyntheticBernoulli(synthetic("synthetic-bernoulli")?)
            }
            name => {
                let known = elbo_datasets::dataset_names();
                if !known.contains(&name) {
                    bail!(
                        "data.dataset: unknown data set {name:?}; known: {}",
                        known.join(", ")
                    );
                }
                if d.synthetic.is_some() {
                    bail!(
                        "data.synthetic: only for the generated data sets (synthetic-gmm, synthetic-bernoulli), not {name:?}"
                    );
                }
                DataSource::Named(name.to_owned())
            }
        };
        Ok(source)
    }

    /// The named data set, if this is one (it must be installed before a run).
    pub fn named(&self) -> Option<&str> {
        match self {
            DataSource::Named(n) => Some(n),
            _ => None,
        }
    }
}

/// What is known of the data before loading them: enough to check every model against them.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFacts {
    /// The source.
    pub source: DataSource,
    /// Whether the models see binary values.
    pub binary: bool,
    /// (height, width) of image data, from the manifest.
    pub image: Option<(usize, usize)>,
    /// Values per example, when known without loading (images, generated data).
    pub n_features: Option<usize>,
}

impl DataFacts {
    /// The facts of a `[data]` table.
    pub fn of(d: &DataSpec) -> anyhow::Result<DataFacts> {
        let source = DataSource::of(d)?;
        let (image, n_features, binary) = match &source {
            DataSource::SyntheticGmm(s) => (None, Some(s.n_features), d.binarize.is_binary()),
            DataSource::SyntheticBernoulli(s) => (None, Some(s.n_features), true),
            DataSource::Named(name) => {
                let m = elbo_datasets::manifest(name)?;
                let image = m.image_height.zip(m.image_width);
                (image, image.map(|(h, w)| h * w), d.binarize.is_binary())
            }
        };
        Ok(DataFacts {
            source,
            binary,
            image,
            n_features,
        })
    }
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
    /// Training rows as the mixtures see them (binary when binarised), with labels if any.
    pub train: Dataset,
    /// Grey-level training rows for dynamic binarisation (VAE), when that is on.
    pub train_grey: Option<Array2<f32>>,
    /// Validation rows (binarised once), if any.
    pub validation: Option<Array2<f32>>,
    /// Test rows (binarised once), with labels if any.
    pub test: Dataset,
    /// (height, width) of image data.
    pub image: Option<(usize, usize)>,
    /// Whether the models see binary values.
    pub binary: bool,
    /// The generating mixture's mean log-likelihood of the evaluation rows, for generated data.
    pub truth: Option<Truth>,
    /// Standardisation applied (models and figures are in standardised units).
    pub standardized: bool,
}

/// The model that generated synthetic data.
#[derive(Debug, Clone)]
pub enum Truth {
    /// A Gaussian mixture.
    Gmm(GaussianMixture),
    /// A Bernoulli mixture.
    Bmm(BernoulliMixture),
}

impl Truth {
    /// Mean log-likelihood of `x` under the truth.
    pub fn score(&self, x: ndarray::ArrayView2<'_, f32>) -> anyhow::Result<f64> {
        Ok(match self {
            Truth::Gmm(t) => t.score(x)?,
            Truth::Bmm(t) => t.score(x)?,
        })
    }
}

impl PreparedData {
    /// Values per example.
    pub fn n_features(&self) -> usize {
        self.train.n_features()
    }
}

/// Loads and prepares the data of `exp` (seeded: the same preset gives the same rows).
pub fn prepare_data(exp: &Experiment, data_dir: &Path) -> anyhow::Result<PreparedData> {
    let p = exp.preset();
    let d = &p.data;
    let mut rng = seeds::rng(p.seed, Stream::Data, 0);
    let mut steps: Vec<String> = Vec::new();
    let mut truth = None;
    let (splits, provenance) = match &exp.data().source {
        DataSource::SyntheticGmm(s) => {
            let cov = s.covariance.unwrap_or_default();
            let (data, t) = elbo_datasets::synthetic_gmm(&elbo_datasets::SyntheticGmm {
                n_samples: s.n_samples,
                n_features: s.n_features,
                n_components: s.n_components,
                covariance: cov,
                seed: p.seed,
            })?;
            truth = Some(Truth::Gmm(GaussianMixture::from_covariances(
                t.weights.clone(),
                t.means.clone(),
                Covariances::Full(t.covariances.clone()),
            )?));
            let prov = format!(
                "generated: {} points from a {}-component Gaussian mixture in {} dimensions ({cov} covariances), seed {}",
                s.n_samples, s.n_components, s.n_features, p.seed
            );
            (held_out(data, d.test_fraction, &mut rng, &mut steps)?, prov)
        }
        DataSource::SyntheticBernoulli(s) => {
            let (data, t) =
                elbo_datasets::synthetic_bernoulli(&elbo_datasets::SyntheticBernoulli {
                    n_samples: s.n_samples,
                    n_features: s.n_features,
                    n_components: s.n_components,
                    seed: p.seed,
                })?;
            truth = Some(Truth::Bmm(BernoulliMixture::from_probs(
                t.weights.clone(),
                t.probs.clone(),
            )?));
            let prov = format!(
                "generated: {} binary vectors of {} pixels from a {}-component Bernoulli mixture, seed {}",
                s.n_samples, s.n_features, s.n_components, p.seed
            );
            (held_out(data, d.test_fraction, &mut rng, &mut steps)?, prov)
        }
        DataSource::Named(name) => {
            let splits = elbo_datasets::load(name, data_dir)?;
            let provenance = splits.train.provenance().to_owned();
            (splits, provenance)
        }
    };
    let Splits {
        mut train, test, ..
    } = splits;
    let mut test = match test {
        Some(t) => t,
        None => {
            let (tr, te) = test_split(&train, d.test_fraction, &mut rng)?;
            steps.push(format!(
                "{:.0} % of the rows held out as the test split (seeded)",
                d.test_fraction * 100.0
            ));
            train = tr;
            te
        }
    };
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
    Ok(PreparedData {
        name: d.dataset.clone(),
        provenance,
        preprocessing: if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join("; ")
        },
        image: train.image_shape(),
        train_grey,
        validation: validation.map(|v| v.features().clone()),
        binary: exp.data().binary,
        truth,
        standardized: d.standardize,
        train,
        test,
    })
}

/// Generated data have no test split: hold one out.
fn held_out(
    all: Dataset,
    test_fraction: f64,
    rng: &mut ChaCha8Rng,
    steps: &mut Vec<String>,
) -> anyhow::Result<Splits> {
    let (train, test) = test_split(&all, test_fraction, rng)?;
    steps.push(format!(
        "{:.0} % of the rows held out as the test split",
        test_fraction * 100.0
    ));
    Ok(Splits {
        train,
        validation: None,
        test: Some(test),
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

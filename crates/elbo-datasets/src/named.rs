//! Loading the named data sets from a data directory.
//!
//! The directory is always an argument: this library reads no environment variable (the CLI
//! and xtask resolve `--data-dir`, `ELBO_DATA` and the user cache). A data set that is not
//! installed is a [`DatasetError::NotInstalled`] whose message is the exact fetch command.

use std::path::Path;

use ndarray::{Array2, Axis, concatenate};

use crate::csv::{CsvOptions, read_csv};
use crate::dataset::{Dataset, DatasetParts, Splits};
use crate::error::{DatasetError, Result};
use crate::idx::load_idx;
use crate::manifest::{Format, Manifest, installed_file, manifest};
use crate::mnist_json::read_mnist_json;

/// Fraction of each `mnist-10k` digit class that goes to train (see its manifest).
const MNIST_10K_TRAIN_TENTHS: usize = 8;

/// Loads the named data set `name` from `data_dir` with its documented split.
///
/// Image data sets come as grey levels in [0, 1] with the image shape set and class labels;
/// `faithful` comes as its two raw columns (minutes) with no test split. Generated data sets
/// are made by [`crate::synthetic_gmm`] and [`crate::synthetic_bernoulli`], not loaded.
pub fn load(name: &str, data_dir: &Path) -> Result<Splits> {
    let manifest = manifest(name)?;
    let splits = match manifest.format {
        Format::MnistJson => load_mnist_10k(&manifest, data_dir)?,
        Format::Idx => load_idx_pair(&manifest, data_dir)?,
        Format::Csv => load_faithful(&manifest, data_dir)?,
        Format::Generated => {
            return Err(DatasetError::invalid(
                "data set",
                format!(
                    "`{name}` is generated, not loaded: call synthetic_gmm / synthetic_bernoulli \
                     with a seed"
                ),
            ));
        }
    };
    tracing::info!(
        name,
        train = splits.train.n_examples(),
        test = splits.test.as_ref().map_or(0, Dataset::n_examples),
        "loaded data set"
    );
    Ok(splits)
}

/// The number of a class's `n` digits that go to train: round(0.8 n), halves up.
pub fn mnist_10k_train_count(n: usize) -> usize {
    (n * MNIST_10K_TRAIN_TENTHS + 5) / 10
}

fn load_mnist_10k(manifest: &Manifest, data_dir: &Path) -> Result<Splits> {
    let mut train_parts: Vec<Array2<f32>> = Vec::new();
    let mut test_parts: Vec<Array2<f32>> = Vec::new();
    let (mut train_labels, mut test_labels) = (Vec::new(), Vec::new());
    for digit in 0..10usize {
        let path = installed_file(data_dir, manifest, &format!("{digit}.json"))?;
        let pixels = read_mnist_json(&path)?;
        let n_train = mnist_10k_train_count(pixels.nrows());
        let (train, test) = pixels.view().split_at(Axis(0), n_train);
        train_labels.extend(std::iter::repeat_n(digit, train.nrows()));
        test_labels.extend(std::iter::repeat_n(digit, test.nrows()));
        train_parts.push(train.to_owned());
        test_parts.push(test.to_owned());
    }
    let stack = |parts: &[Array2<f32>]| {
        let views: Vec<_> = parts.iter().map(Array2::view).collect();
        concatenate(Axis(0), &views)
            .map_err(|e| DatasetError::invalid("digit arrays", e.to_string()))
    };
    let provenance = format!("{}; split: {}", manifest.provenance(), manifest.split);
    let make = |part: &str, features, labels| -> Result<Dataset> {
        Ok(Dataset::new(format!("{}/{part}", manifest.name), features)
            .with_labels(labels)?
            .with_image_shape(28, 28)?
            .with_provenance(provenance.clone()))
    };
    Ok(Splits {
        train: make("train", stack(&train_parts)?, train_labels)?,
        validation: None,
        test: Some(make("test", stack(&test_parts)?, test_labels)?),
    })
}

fn load_idx_pair(manifest: &Manifest, data_dir: &Path) -> Result<Splits> {
    let find = |stem: &str| -> Result<std::path::PathBuf> {
        let file = manifest
            .files
            .iter()
            .find(|f| f.name.starts_with(stem))
            .ok_or_else(|| DatasetError::Manifest {
                name: manifest.name.clone(),
                reason: format!("no file starting with {stem}"),
            })?;
        installed_file(data_dir, manifest, &file.name)
    };
    let part = |prefix: &str, split: &str| -> Result<Dataset> {
        let images = find(&format!("{prefix}-images"))?;
        let labels = find(&format!("{prefix}-labels"))?;
        let raw = load_idx(
            &format!("{}/{split}", manifest.name),
            &images,
            Some(&labels),
        )?;
        let provenance = format!(
            "{}; {}; grey levels / 255",
            manifest.provenance(),
            raw.provenance()
        );
        let DatasetParts {
            name,
            features: mut pixels,
            labels,
            image_shape,
            ..
        } = raw.into_parts();
        pixels.mapv_inplace(|v| v / 255.0);
        let (h, w) = image_shape.unwrap_or((28, 28));
        Dataset::new(name, pixels)
            .with_labels(labels.unwrap_or_default())?
            .with_image_shape(h, w)
            .map(|d| d.with_provenance(provenance))
    };
    Ok(Splits {
        train: part("train", "train")?,
        validation: None,
        test: Some(part("t10k", "test")?),
    })
}

fn load_faithful(manifest: &Manifest, data_dir: &Path) -> Result<Splits> {
    let file = manifest
        .files
        .first()
        .ok_or_else(|| DatasetError::Manifest {
            name: manifest.name.clone(),
            reason: "no file listed".to_owned(),
        })?;
    let path = installed_file(data_dir, manifest, &file.name)?;
    let train = read_csv(
        &format!("{}/train", manifest.name),
        &path,
        &CsvOptions::new().skip_column(""),
    )?
    .with_provenance(format!("{}; {}", manifest.provenance(), path.display()));
    Ok(Splits {
        train,
        validation: None,
        test: None,
    })
}

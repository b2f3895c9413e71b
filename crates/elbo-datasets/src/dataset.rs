//! The `Dataset` type: plain arrays, no tensors, so every model family can share it.

use ndarray::{Array2, Axis};

use crate::error::{DatasetError, Result};

/// A table of examples: one row per example, `f32` features, optional class labels.
///
/// It knows nothing of tensors (the VAE crate converts), and it keeps its invariants: labels,
/// when present, are one per row; an image shape, when present, multiplies out to the number of
/// columns. The fields are private so these hold; use the accessors or [`Dataset::into_parts`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    provenance: String,
    features: Array2<f32>,
    labels: Option<Vec<usize>>,
    image_shape: Option<(usize, usize)>,
}

impl Dataset {
    /// A data set of `features` (row = example) with no labels and no image shape.
    pub fn new(name: impl Into<String>, features: Array2<f32>) -> Self {
        Self {
            name: name.into(),
            provenance: String::new(),
            features,
            labels: None,
            image_shape: None,
        }
    }

    /// Attaches one class label per row; fails if the counts differ.
    pub fn with_labels(mut self, labels: Vec<usize>) -> Result<Self> {
        if labels.len() != self.features.nrows() {
            return Err(DatasetError::LabelCount {
                images: format!("data set `{}`", self.name).into(),
                n_images: self.features.nrows(),
                labels: "the labels given".into(),
                n_labels: labels.len(),
            });
        }
        self.labels = Some(labels);
        Ok(self)
    }

    /// Declares that each row is a `height × width` image stored row-major.
    pub fn with_image_shape(mut self, height: usize, width: usize) -> Result<Self> {
        if height.checked_mul(width) != Some(self.features.ncols()) {
            return Err(DatasetError::invalid(
                "image shape",
                format!(
                    "{height} x {width} does not match the {} features per example of `{}`",
                    self.features.ncols(),
                    self.name
                ),
            ));
        }
        self.image_shape = Some((height, width));
        Ok(self)
    }

    /// Records where the data came from (package, version, file, transforms applied).
    pub fn with_provenance(mut self, provenance: impl Into<String>) -> Self {
        self.provenance = provenance.into();
        self
    }

    /// Renames the data set (e.g. `mnist-10k/train`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The data set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the data came from, and what was done to it.
    pub fn provenance(&self) -> &str {
        &self.provenance
    }

    /// The features, one row per example.
    pub fn features(&self) -> &Array2<f32> {
        &self.features
    }

    /// The class labels, one per row, if the data set has them.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_deref()
    }

    /// `(height, width)` when each row is an image.
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        self.image_shape
    }

    /// Number of examples (rows).
    pub fn n_examples(&self) -> usize {
        self.features.nrows()
    }

    /// Number of features (columns).
    pub fn n_features(&self) -> usize {
        self.features.ncols()
    }

    /// Number of classes: one more than the largest label (0 without labels).
    pub fn n_classes(&self) -> usize {
        self.labels
            .as_ref()
            .and_then(|l| l.iter().max())
            .map_or(0, |&m| m + 1)
    }

    /// How many examples carry each label, indexed by label (empty without labels).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes()];
        for &label in self.labels.iter().flatten() {
            if let Some(c) = counts.get_mut(label) {
                *c += 1;
            }
        }
        counts
    }

    /// Splits the data set into its parts, for consumers that want to own the arrays.
    pub fn into_parts(self) -> DatasetParts {
        DatasetParts {
            name: self.name,
            provenance: self.provenance,
            features: self.features,
            labels: self.labels,
            image_shape: self.image_shape,
        }
    }

    /// The rows at `indices`, in that order, with their labels; fails on an index out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.n_examples()) {
            return Err(DatasetError::invalid(
                "row index",
                format!(
                    "{bad} is out of range for `{}` with {} rows",
                    self.name,
                    self.n_examples()
                ),
            ));
        }
        let features = self.features.select(Axis(0), indices);
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().filter_map(|&i| l.get(i).copied()).collect());
        Ok(Self {
            name: self.name.clone(),
            provenance: self.provenance.clone(),
            features,
            labels,
            image_shape: self.image_shape,
        })
    }

    /// Replaces the features by a same-shaped array (used by the transforms).
    pub(crate) fn map_features(mut self, features: Array2<f32>, note: &str) -> Self {
        debug_assert_eq!(features.dim(), self.features.dim());
        self.features = features;
        if self.provenance.is_empty() {
            self.provenance = note.to_owned();
        } else {
            self.provenance = format!("{}; {note}", self.provenance);
        }
        self
    }
}

/// The owned parts of a [`Dataset`], from [`Dataset::into_parts`].
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetParts {
    /// The data set's name.
    pub name: String,
    /// Where it came from.
    pub provenance: String,
    /// The features, one row per example.
    pub features: Array2<f32>,
    /// One class label per row, if any.
    pub labels: Option<Vec<usize>>,
    /// `(height, width)` when rows are images.
    pub image_shape: Option<(usize, usize)>,
}

/// Which part of a data set: the model is fitted on train, tuned on validation, scored on test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Fit the model on it.
    Train,
    /// Choose hyper-parameters and stop early on it.
    Validation,
    /// Report held-out numbers on it, once.
    Test,
}

impl Split {
    /// The lower-case name used in file names and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A data set cut into train, and optionally validation and test, parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// The training part (always present).
    pub train: Dataset,
    /// The validation part, if one was made (see [`crate::train_validation_split`]).
    pub validation: Option<Dataset>,
    /// The test part, if the data set defines one.
    pub test: Option<Dataset>,
}

impl Splits {
    /// The part named by `split`, if present.
    pub fn get(&self, split: Split) -> Option<&Dataset> {
        match split {
            Split::Train => Some(&self.train),
            Split::Validation => self.validation.as_ref(),
            Split::Test => self.test.as_ref(),
        }
    }
}

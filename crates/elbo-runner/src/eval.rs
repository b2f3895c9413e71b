//! The evaluation set of a run: one seeded, class-stratified, shuffled choice of test rows (and
//! one of training rows) on which every model — mixture, Bayesian mixture, VAE, and every family
//! added later — computes every column of the table. Its row count and a hash of its row
//! indices go into `summary.json`, so two rows of a table can be checked to share their rows.

use anyhow::Context as _;
use elbo_datasets::Dataset;
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::seeds::{self, Stream};

/// The training rows scored by default at most: the "train" columns only show over-fitting, and
/// a VAE's IWAE costs k forward passes per row (fashion-mnist's k = 5000 on all 60,000 rows
/// would take hours more).
pub const DEFAULT_MAX_TRAIN_ROWS: usize = 2000;

/// The rows every model is scored on.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// Indices into the prepared test split, in the (shuffled) order used.
    pub test_rows: Vec<usize>,
    /// Indices into the prepared training split.
    pub train_rows: Vec<usize>,
    /// The test rows themselves, as the models see them.
    pub test: Array2<f32>,
    /// The training rows.
    pub train: Array2<f32>,
    /// Labels of the test rows, when the data have labels.
    pub test_labels: Option<Vec<usize>>,
    /// What `summary.json` records.
    pub id: EvalId,
}

/// The evaluation set as recorded: sizes and a fingerprint of the row indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalId {
    /// Test rows scored.
    pub n_test: usize,
    /// Training rows scored.
    pub n_train: usize,
    /// SHA-256 (first 16 hex digits) of both index lists.
    pub hash: String,
}

impl EvalSet {
    /// Chooses `n_test` of `test`'s rows (all when `None`) and `n_train` of `train`'s (when
    /// `None`: as many as the test rows, at most [`DEFAULT_MAX_TRAIN_ROWS`] and at most all),
    /// stratified by label and shuffled, from the run's evaluation stream of `seed`.
    pub fn choose(
        train: &Dataset,
        test: &Dataset,
        n_test: Option<usize>,
        n_train: Option<usize>,
        seed: u64,
    ) -> anyhow::Result<EvalSet> {
        let mut rng = seeds::rng(seed, Stream::EvalRows, 0);
        let n_test = n_test.unwrap_or(test.n_examples());
        anyhow::ensure!(
            n_test <= test.n_examples(),
            "eval.n_test: {n_test} rows asked of a test split of {}; use at most {}",
            test.n_examples(),
            test.n_examples()
        );
        let n_train = n_train
            .unwrap_or(n_test.min(DEFAULT_MAX_TRAIN_ROWS))
            .min(train.n_examples());
        let mut test_rows =
            elbo_datasets::stratified_rows(test, n_test, &mut rng).context("eval.n_test")?;
        test_rows.shuffle(&mut rng);
        let mut train_rows =
            elbo_datasets::stratified_rows(train, n_train, &mut rng).context("eval.n_train")?;
        train_rows.shuffle(&mut rng);
        let hash = row_hash(&test_rows, &train_rows);
        Ok(EvalSet {
            test: test.features().select(Axis(0), &test_rows),
            train: train.features().select(Axis(0), &train_rows),
            test_labels: test
                .labels()
                .map(|l| test_rows.iter().map(|&i| l[i]).collect()),
            id: EvalId {
                n_test: test_rows.len(),
                n_train: train_rows.len(),
                hash,
            },
            test_rows,
            train_rows,
        })
    }
}

/// SHA-256 over both index lists (each index as 8 little-endian bytes, a separator between).
fn row_hash(test: &[usize], train: &[usize]) -> String {
    let mut h = Sha256::new();
    for (tag, rows) in [(b"test", test), (b"tran", train)] {
        h.update(tag);
        h.update((rows.len() as u64).to_le_bytes());
        for &r in rows {
            h.update((r as u64).to_le_bytes());
        }
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// −log₂ p(x) per feature, for binary data only (only there is it a code length of the data).
pub fn bits_per_dim(ll: Option<f64>, d: usize, binary: bool) -> Option<f64> {
    if binary {
        ll.map(|l| -l / (d as f64 * std::f64::consts::LN_2))
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 10 classes, sorted by class as the mnist-10k splits are, of uneven sizes.
    fn sorted(n_per: &[usize]) -> Dataset {
        let labels: Vec<usize> = n_per
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
            .collect();
        let x = Array2::from_shape_fn((labels.len(), 3), |(i, j)| (i * 3 + j) as f32);
        Dataset::new("sorted", x).with_labels(labels).unwrap()
    }

    #[test]
    fn class_histogram_matches_the_split_within_one_row() {
        let sizes = [98, 113, 103, 101, 98, 89, 96, 103, 97, 102];
        let test = sorted(&sizes);
        let train = sorted(&[400; 10]);
        let total: usize = sizes.iter().sum();
        for n in [50, 200, 500, 999] {
            let set = EvalSet::choose(&train, &test, Some(n), None, 3).unwrap();
            assert_eq!(set.id.n_test, n);
            let mut hist = [0usize; 10];
            for &l in set.test_labels.as_ref().unwrap() {
                hist[l] += 1;
            }
            for (c, (&h, &s)) in hist.iter().zip(&sizes).enumerate() {
                let want = s as f64 * n as f64 / total as f64;
                assert!(
                    (h as f64 - want).abs() <= 1.0,
                    "n={n} class {c}: {h} vs {want:.2}"
                );
            }
            // Shuffled: the first rows are not all of class 0.
            let first: Vec<usize> = set.test_labels.as_ref().unwrap()[..20].to_vec();
            assert!(first.iter().any(|&l| l != first[0]), "{first:?}");
            // The rows are the features of the chosen indices.
            for (k, &i) in set.test_rows.iter().enumerate() {
                assert_eq!(set.test.row(k), test.features().row(i));
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_rows_and_hash() {
        let test = sorted(&[30, 30, 40]);
        let train = sorted(&[100, 100, 100]);
        let a = EvalSet::choose(&train, &test, Some(50), None, 9).unwrap();
        let b = EvalSet::choose(&train, &test, Some(50), None, 9).unwrap();
        let c = EvalSet::choose(&train, &test, Some(50), None, 10).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.test_rows, b.test_rows);
        assert_ne!(a.id.hash, c.id.hash);
        assert_eq!(a.id.n_train, 50);
        let all = EvalSet::choose(&train, &test, None, Some(1000), 9).unwrap();
        assert_eq!((all.id.n_test, all.id.n_train), (100, 300));
        let big = sorted(&[3000; 3]);
        let capped = EvalSet::choose(&big, &big, None, None, 9).unwrap();
        assert_eq!(
            (capped.id.n_test, capped.id.n_train),
            (9000, DEFAULT_MAX_TRAIN_ROWS)
        );
        let e = EvalSet::choose(&train, &test, Some(101), None, 9).unwrap_err();
        assert!(format!("{e:#}").contains("eval.n_test"), "{e:#}");
    }
}

//! Real data, read from the installed data directory (never the network).
//!
//! The directory is `ELBO_DATA`, else `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data` (tests may
//! read the environment; the library never does). A data set that is not installed fails the
//! test with the command that installs it, unless `ELBO_SKIP_REAL_DATA=1`, which skips with a
//! note. `.ci/run` fetches first. Reference numbers (class counts, mean grey levels, pixel
//! sums) were computed from the same files with Python's `json`, `gzip` and `struct` modules.

use std::path::PathBuf;

use elbo_datasets::{Dataset, is_installed, load, manifest, verify_installed};

fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ELBO_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME or ELBO_DATA")).join(".cache")
        });
    cache.join("elbo").join("data")
}

/// The data directory if `name` is installed; `None` (skip) if not and skipping is allowed.
fn installed(name: &str) -> Option<PathBuf> {
    let dir = data_dir();
    if is_installed(&dir, &manifest(name).expect("a known data set")) {
        return Some(dir);
    }
    #[allow(clippy::print_stderr)] // The skip note is meant for the person running the tests.
    if std::env::var_os("ELBO_SKIP_REAL_DATA").is_some_and(|v| v == "1") {
        eprintln!(
            "note: skipping: `{name}` is not installed in {} (ELBO_SKIP_REAL_DATA=1)",
            dir.display()
        );
        return None;
    }
    panic!(
        "`{name}` is not installed in {}: run `cargo xtask fetch-data {name}` \
         (or set ELBO_SKIP_REAL_DATA=1 to skip real-data tests)",
        dir.display()
    );
}

fn mean(ds: &Dataset) -> f64 {
    ds.features().iter().map(|&v| f64::from(v)).sum::<f64>() / ds.features().len() as f64
}

fn in_unit_range(ds: &Dataset) -> bool {
    ds.features().iter().all(|&v| (0.0..=1.0).contains(&v))
}

#[test]
fn real_data_mnist_10k() {
    let Some(dir) = installed("mnist-10k") else {
        return;
    };
    verify_installed(&dir, "mnist-10k").unwrap();
    let s = load("mnist-10k", &dir).unwrap();
    let (train, test) = (&s.train, s.test.as_ref().unwrap());
    assert_eq!(train.features().dim(), (8000, 784));
    assert_eq!(test.features().dim(), (2000, 784));
    assert_eq!(train.image_shape(), Some((28, 28)));
    assert_eq!(
        train.class_counts(),
        vec![801, 902, 793, 826, 784, 690, 811, 856, 755, 782]
    );
    assert_eq!(
        test.class_counts(),
        vec![200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    );
    assert!(in_unit_range(train) && in_unit_range(test));
    let all_mean = (mean(train) * 8000.0 + mean(test) * 2000.0) / 10_000.0;
    assert!((all_mean - 0.131_116_007).abs() < 1e-6, "{all_mean}");
    // Row sums: train row 0 = digit 0 record 0; train row 801 = digit 1 record 0;
    // test row 0 = digit 0 record 801.
    let row_sum = |ds: &Dataset, r: usize| {
        ds.features()
            .row(r)
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>()
    };
    assert!((row_sum(train, 0) - 121.921).abs() < 1e-3);
    assert!((row_sum(train, 801) - 67.188).abs() < 1e-3);
    assert!((row_sum(test, 0) - 114.096).abs() < 1e-3);
}

#[test]
fn real_data_fashion_mnist() {
    let Some(dir) = installed("fashion-mnist") else {
        return;
    };
    verify_installed(&dir, "fashion-mnist").unwrap();
    let s = load("fashion-mnist", &dir).unwrap();
    let (train, test) = (&s.train, s.test.as_ref().unwrap());
    assert_eq!(train.features().dim(), (60_000, 784));
    assert_eq!(test.features().dim(), (10_000, 784));
    assert_eq!(train.image_shape(), Some((28, 28)));
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    assert_eq!(&train.labels().unwrap()[..5], &[9, 0, 0, 3, 0]);
    assert_eq!(&test.labels().unwrap()[..5], &[9, 2, 1, 1, 6]);
    assert!(in_unit_range(train) && in_unit_range(test));
    assert!(
        (mean(train) - 0.286_040_597).abs() < 1e-6,
        "{}",
        mean(train)
    );
    assert!((mean(test) - 0.286_849_281).abs() < 1e-6, "{}", mean(test));
}

#[test]
fn real_data_faithful() {
    let Some(dir) = installed("faithful") else {
        return;
    };
    verify_installed(&dir, "faithful").unwrap();
    let s = load("faithful", &dir).unwrap();
    assert_eq!(s.train.features().dim(), (272, 2));
    let col_mean = |j: usize| {
        s.train
            .features()
            .column(j)
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>()
            / 272.0
    };
    // R: mean(faithful$eruptions) = 3.487783, mean(faithful$waiting) = 70.89706.
    assert!((col_mean(0) - 3.487_783).abs() < 1e-6);
    assert!((col_mean(1) - 70.897_06).abs() < 1e-5);
}

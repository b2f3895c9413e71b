//! Making libtorch available: the user's own (`LIBTORCH`, `LIBTORCH_USE_PYTORCH`) or a venv
//! with the PyPI wheel of PyTorch, created once in a user cache directory.
//!
//! The PyPI wheel is the CUDA build and pulls the nvidia-* wheels, but it runs on CPU-only
//! machines; `libtorch_cpu.so` itself links `libcudart`, so the CPU libraries alone are not
//! enough (see `docs/architecture.md`).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cache_root, say};

/// The PyTorch release that `tch` 0.26 is built against.
pub const TORCH_VERSION: &str = "2.13.0";

/// Written into the venv after a verified install; its absence means "install or repair".
const MARKER: &str = ".elbo-verified";

/// Libraries that must be present in `torch/lib` for the binary to link and run.
const REQUIRED_LIBS: &[&str] = &["libtorch_cpu.so", "libtorch.so", "libc10.so"];

/// Where libtorch comes from, once set-up has succeeded.
#[derive(Debug, Clone)]
pub enum Libtorch {
    /// `LIBTORCH` set by the user: a libtorch directory with `include/` and `lib/`.
    UserDir(PathBuf),
    /// `LIBTORCH_USE_PYTORCH` set by the user: torch-sys asks the active python.
    UserPython,
    /// Our own venv in the cache; `torch_dir` is its `site-packages/torch`.
    Venv { torch_dir: PathBuf },
}

impl Libtorch {
    /// Environment variables that let plain `cargo` build and test against this libtorch.
    pub fn env_vars(&self) -> Vec<(String, OsString)> {
        match self {
            // The user's own settings are already in the environment; leave them alone.
            Libtorch::UserDir(_) | Libtorch::UserPython => Vec::new(),
            Libtorch::Venv { torch_dir, .. } => vec![
                ("LIBTORCH".to_owned(), torch_dir.clone().into_os_string()),
                // The PyPI wheels of torch 2.x use the C++11 ABI.
                ("LIBTORCH_CXX11_ABI".to_owned(), "1".into()),
            ],
        }
    }

    /// Where libtorch comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            Libtorch::UserDir(d) => format!("LIBTORCH={}", d.display()),
            Libtorch::UserPython => "LIBTORCH_USE_PYTORCH (the active python's torch)".to_owned(),
            Libtorch::Venv { torch_dir, .. } => format!("{}", torch_dir.display()),
        }
    }
}

/// The venv directory: `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/torch-2.13.0`.
pub fn venv_dir() -> Result<PathBuf> {
    Ok(cache_root()?.join(format!("torch-{TORCH_VERSION}")))
}

/// Find libtorch without installing anything; `None` if set-up has not been done.
pub fn locate() -> Result<Option<Libtorch>> {
    if let Some(user) = user_choice()? {
        return Ok(Some(user));
    }
    let venv = venv_dir()?;
    if venv.join(MARKER).is_file()
        && let Some(torch_dir) = torch_dir_of(&venv)
        && missing_libs(&torch_dir).is_empty()
    {
        return Ok(Some(Libtorch::Venv { torch_dir }));
    }
    Ok(None)
}

/// `cargo xtask setup`: make libtorch available, installing or repairing the venv if needed.
pub fn setup() -> Result<Libtorch> {
    if let Some(user) = user_choice()? {
        say(&format!("libtorch: using your own, {}", user.describe()));
        return Ok(user);
    }
    let venv = venv_dir()?;
    if let Some(found) = locate()? {
        // The quick path: marker present and libraries on disk. No python is started.
        say(&format!(
            "libtorch: PyTorch {TORCH_VERSION} ready in {}",
            venv.display()
        ));
        return Ok(found);
    }
    install(&venv)
}

/// Honour the user's own libtorch, checking that it is usable.
fn user_choice() -> Result<Option<Libtorch>> {
    if let Some(dir) = std::env::var_os("LIBTORCH").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        let missing = missing_libs(&dir);
        if !missing.is_empty() {
            bail!(
                "LIBTORCH={} does not look like libtorch: {} missing under lib/. \
                 Point LIBTORCH at a libtorch {TORCH_VERSION} directory (with include/ and lib/), \
                 or unset it to let `cargo xtask setup` install PyTorch in a venv.",
                dir.display(),
                missing.join(", ")
            );
        }
        return Ok(Some(Libtorch::UserDir(dir)));
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        let out = Command::new(python)
            .args(["-c", "import torch; print(torch.__version__)"])
            .output()
            .with_context(|| {
                format!("LIBTORCH_USE_PYTORCH is set but `{python}` could not be started")
            })?;
        if !out.status.success() {
            bail!(
                "LIBTORCH_USE_PYTORCH is set but `{python} -c 'import torch'` failed: \
                 install torch=={TORCH_VERSION} in that python, or unset LIBTORCH_USE_PYTORCH"
            );
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !version.starts_with(TORCH_VERSION) {
            bail!(
                "LIBTORCH_USE_PYTORCH is set but that python has torch {version}; \
                 tch 0.26 needs {TORCH_VERSION} (pip install torch=={TORCH_VERSION})"
            );
        }
        return Ok(Some(Libtorch::UserPython));
    }
    Ok(None)
}

fn install(venv: &Path) -> Result<Libtorch> {
    let python = find_python()?;
    let started = Instant::now();
    let venv_python = venv.join("bin").join("python");
    if !venv_python.is_file() || !runs_ok(Command::new(&venv_python).arg("-c").arg("pass")) {
        if venv.exists() {
            say(&format!(
                "libtorch: the venv at {} is broken; recreating it",
                venv.display()
            ));
            fs::remove_dir_all(venv)
                .with_context(|| format!("could not remove the broken venv {}", venv.display()))?;
        }
        if let Some(parent) = venv.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("could not create {}", parent.display()))?;
        }
        say(&format!("libtorch: creating a venv in {}", venv.display()));
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(venv)
            .stdout(std::io::stderr())
            .status()
            .with_context(|| format!("could not run {} -m venv", python.display()))?;
        if !status.success() {
            bail!(
                "`{} -m venv` failed; on Debian/Ubuntu install the venv module: \
                 apt-get install python3-venv",
                python.display()
            );
        }
    } else {
        say(&format!(
            "libtorch: the venv in {} has no verified PyTorch yet (a first run, or an interrupted \
             one); installing or repairing it",
            venv.display()
        ));
    }
    say(&format!(
        "libtorch: installing torch=={TORCH_VERSION} from PyPI: the CUDA build with its nvidia-* \
         wheels, about 4.7 GB to download and 6 GB on disk; it runs fine on CPU. This happens once."
    ));
    pip_install(&venv_python, &[])?;
    let mut torch_dir = verify(&venv_python, venv);
    if let Err(problem) = &torch_dir {
        // A partly extracted wheel can pass pip's own bookkeeping: reinstall torch itself.
        say(&format!(
            "libtorch: the install is incomplete ({problem:#}); reinstalling torch"
        ));
        pip_install(&venv_python, &["--force-reinstall", "--no-deps"])?;
        torch_dir = verify(&venv_python, venv);
    }
    let torch_dir = torch_dir.context(
        "PyTorch was installed but does not import; remove the venv directory named above and \
         run `cargo xtask setup` again",
    )?;
    fs::write(venv.join(MARKER), format!("torch {TORCH_VERSION}\n"))
        .with_context(|| format!("could not write {}", venv.join(MARKER).display()))?;
    say(&format!(
        "libtorch: PyTorch {TORCH_VERSION} ready in {} ({:.0} s)",
        venv.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(Libtorch::Venv { torch_dir })
}

fn pip_install(venv_python: &Path, extra: &[&str]) -> Result<()> {
    let status = Command::new(venv_python)
        .args(["-m", "pip", "install", "--disable-pip-version-check"])
        .args(extra)
        .arg(format!("torch=={TORCH_VERSION}"))
        // pip's output goes to stderr so that `eval "$(cargo xtask env)"` sees only exports.
        .stdout(std::io::stderr())
        .status()
        .context("could not start pip in the venv")?;
    if !status.success() {
        bail!(
            "pip could not install torch=={TORCH_VERSION} (exit {status}); check that PyPI is \
             reachable and that there are about 6 GB free, then run `cargo xtask setup` again"
        );
    }
    Ok(())
}

/// The import works, the version is right and the shared libraries are on disk.
fn verify(venv_python: &Path, venv: &Path) -> Result<PathBuf> {
    let out = Command::new(venv_python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .context("could not start the venv's python")?;
    if !out.status.success() {
        bail!("`import torch` fails: {}", last_line(&out.stderr));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !version.starts_with(TORCH_VERSION) {
        bail!("found torch {version}, need {TORCH_VERSION}");
    }
    let torch_dir = torch_dir_of(venv).context("no site-packages/torch in the venv")?;
    let missing = missing_libs(&torch_dir);
    if !missing.is_empty() {
        bail!("missing {}", missing.join(", "));
    }
    Ok(torch_dir)
}

fn torch_dir_of(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    fs::read_dir(lib).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name();
        let dir = entry.path().join("site-packages").join("torch");
        (name.to_string_lossy().starts_with("python") && dir.is_dir()).then_some(dir)
    })
}

fn missing_libs(torch_dir: &Path) -> Vec<String> {
    let mut missing: Vec<String> = REQUIRED_LIBS
        .iter()
        .filter(|lib| !torch_dir.join("lib").join(lib).is_file())
        .map(|lib| format!("lib/{lib}"))
        .collect();
    if !torch_dir.join("include").join("torch").is_dir() {
        missing.push("include/torch".to_owned());
    }
    missing
}

/// `python3` on PATH, with the venv module (Debian splits it into python3-venv).
pub fn find_python() -> Result<PathBuf> {
    let Some(python) = which("python3") else {
        bail!(
            "python3 not found on PATH: install Python 3.9 or newer with venv and pip \
             (Debian/Ubuntu: apt-get install python3 python3-venv python3-pip), \
             or set LIBTORCH to an existing libtorch {TORCH_VERSION}"
        );
    };
    if !runs_ok(Command::new(&python).args(["-c", "import venv, ensurepip"])) {
        bail!(
            "{} has no venv/ensurepip module: install it (Debian/Ubuntu: apt-get install \
             python3-venv), or set LIBTORCH to an existing libtorch {TORCH_VERSION}",
            python.display()
        );
    }
    Ok(python)
}

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn runs_ok(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .last()
        .unwrap_or("")
        .to_owned()
}

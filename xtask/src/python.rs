//! The Python package's tests: a venv in the user cache with maturin, scikit-learn, pytest and
//! numpy; the package installed into it by `pip install crates/elbo-py`; pytest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cache_root, say, torch};

/// What the venv holds; a change here reinstalls (the marker file records it).
/// scikit-learn is pinned: the parity tests compare with its numbers.
const REQUIREMENTS: &[&str] = &["maturin>=1.16,<2", "scikit-learn==1.9.1", "pytest", "numpy"];

/// Written into the venv after a successful install, holding `REQUIREMENTS`.
const MARKER: &str = ".elbo-py-verified";

/// The venv: `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/python-tests`, computed at run time.
pub fn venv_dir() -> Result<PathBuf> {
    Ok(cache_root()?.join("python-tests"))
}

/// Creates or reuses the venv; returns its python.
pub fn setup() -> Result<PathBuf> {
    let venv = venv_dir()?;
    let python = venv.join("bin").join("python");
    let wanted = REQUIREMENTS.join("\n");
    let marker = venv.join(MARKER);
    if python.is_file() && fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        say(&format!("python tests: venv ready in {}", venv.display()));
        return Ok(python);
    }
    if !python.is_file() {
        let base = torch::find_python()?;
        fs::create_dir_all(&venv)
            .with_context(|| format!("could not create {}", venv.display()))?;
        say(&format!(
            "python tests: creating a venv in {}",
            venv.display()
        ));
        run(
            Command::new(&base).args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
    }
    say(&format!(
        "python tests: pip install {}",
        REQUIREMENTS.join(" ")
    ));
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--upgrade"])
            .args(REQUIREMENTS),
        "pip install",
    )?;
    fs::write(&marker, wanted).with_context(|| format!("could not write {}", marker.display()))?;
    Ok(python)
}

/// The venv's python (which may not exist yet).
pub fn venv_python() -> Result<PathBuf> {
    Ok(venv_dir()?.join("bin").join("python"))
}

/// Creates or reuses the venv and installs the package into it the way users do,
/// `pip install crates/elbo-py` (PEP 517: pip fetches maturin into an isolated build
/// environment, maturin builds the release wheel); returns the venv's python.
pub fn install(root: &Path) -> Result<PathBuf> {
    let python = setup()?;
    crate::step("pip install crates/elbo-py (maturin builds the wheel)");
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(root.join("crates").join("elbo-py"))
            .current_dir(root),
        "pip install crates/elbo-py",
    )?;
    Ok(python)
}

/// Builds the package into the venv and runs its tests. pytest's exit code 5 (no tests
/// collected) is a failure: a suite that silently ran nothing is not a pass.
pub fn test(root: &Path) -> Result<()> {
    let python = install(root)?;
    let bin = venv_dir()?.join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))
        .context("PATH holds a directory that cannot be joined")?;
    crate::step("pytest crates/elbo-py/tests");
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("crates").join("elbo-py").join("tests"))
        .env("PATH", &path)
        .current_dir(root)
        .status()
        .context("could not start pytest")?;
    check_pytest(status.code())
}

/// pytest's exit code as a result: 0 passes; 5 means no test was collected.
fn check_pytest(code: Option<i32>) -> Result<()> {
    match code {
        Some(0) => Ok(()),
        Some(5) => bail!(
            "pytest collected no tests in crates/elbo-py/tests: the Python suite did not run \
             (a renamed file, or a skip at module level?)"
        ),
        Some(c) => bail!("the Python tests failed (pytest exit code {c})"),
        None => bail!("pytest was killed by a signal"),
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_pytest;

    #[test]
    fn no_tests_collected_is_a_failure() {
        assert!(check_pytest(Some(0)).is_ok());
        match check_pytest(Some(5)) {
            Err(e) => assert!(e.to_string().contains("collected no tests"), "{e}"),
            Ok(()) => panic!("exit code 5 (no tests collected) passed"),
        }
        assert!(check_pytest(Some(1)).is_err());
        assert!(check_pytest(None).is_err());
    }
}

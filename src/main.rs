//! The `elbo` command line: argument parsing, the tracing subscriber, and dispatch into
//! `elbo-runner`. The work itself lives in the crates.

// A command-line program prints its results.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Latent-variable generative models, from exact EM to the VAE.
#[derive(Debug, Parser)]
#[command(name = "elbo", version, about, long_about = None)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show elbo's version, the libtorch version, device, threads and where libtorch was found.
    ///
    /// The smoke test to run first on a new machine.
    ///
    /// Example: elbo info
    Info,

    /// Named data sets: what is installed and how to fetch the rest.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
}

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
    /// List every named data set: installed or not, size on disk, and the fetch command.
    ///
    /// Example: elbo datasets list --data-dir ./data
    List {
        /// The data directory [default: $ELBO_DATA, else ${XDG_CACHE_HOME:-~/.cache}/elbo/data]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Info => {
            println!("{}", elbo_runner::info::Info::gather());
            Ok(())
        }
        Command::Datasets(DatasetsCommand::List { data_dir }) => {
            let dir = match data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            print!("{}", elbo_runner::datasets::list_table(&dir)?);
            Ok(())
        }
    }
}

/// `$ELBO_DATA`, else `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data` (the same rule as
/// `cargo xtask fetch-data`). Only the binary reads the environment; libraries take the path.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ELBO_DATA").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "neither ELBO_DATA, XDG_CACHE_HOME nor HOME is set: pass --data-dir"
                    )
                })?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(cache.join("elbo").join("data"))
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

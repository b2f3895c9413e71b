//! The `elbo` command line: argument parsing, the tracing subscriber, Ctrl-C, and dispatch
//! into `elbo-runner`. The work itself lives in the crates.

// A command-line program prints its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod logging;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use elbo_em::{Covariance, GaussianMixture, InitMethod};
use elbo_runner::{commands, experiment, preset, report};

/// Latent-variable generative models, from exact EM to the VAE.
#[derive(Debug, Parser)]
#[command(name = "elbo", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment preset: fit every model, evaluate, write runs/<preset>/<time>/ and a report.
    ///
    /// Examples:
    ///   elbo run quickstart
    ///   elbo run presets/faithful.toml --set train.epochs=50
    ///   elbo run --resume runs/quickstart/20261201T120000Z --set train.epochs=40
    #[command(verbatim_doc_comment)]
    Run {
        /// A built-in preset name (quickstart, faithful, synthetic, fashion-mnist, beta-sweep) or a TOML file.
        #[arg(required_unless_present = "resume")]
        preset: Option<String>,
        /// Override a preset value, e.g. --set train.epochs=2 or --set models.vae-20.latent_dim=10 (repeatable).
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        set: Vec<String>,
        /// Continue an interrupted run in its directory (its config.toml, plus any --set).
        #[arg(long, value_name = "RUN_DIR", conflicts_with = "preset")]
        resume: Option<PathBuf>,
        /// Where run directories go.
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs_dir: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Presets: check one without running it, list or print the built-in ones.
    #[command(subcommand)]
    Preset(PresetCommand),
    /// Gaussian (or Bernoulli) mixtures on a data file, like scikit-learn's GaussianMixture.
    #[command(subcommand)]
    Gmm(GmmCommand),
    /// Hidden Markov models on a data file, like hmmlearn's GaussianHMM / CategoricalHMM / GMMHMM.
    #[command(subcommand)]
    Hmm(elbo_runner::hmm_commands::HmmCommand),
    /// Trained VAEs (a run's models/<name>/ checkpoint).
    #[cfg(feature = "torch")]
    #[command(subcommand)]
    Vae(VaeCommand),
    /// Held-out log-likelihood of a saved model on a data file: exact for a mixture (.json),
    /// the ELBO and the IWAE-k bound for a VAE checkpoint.
    ///
    /// Example: elbo eval --model runs/quickstart/<time>/models/vae-20 --data test.npy --iwae-k 5000
    Eval {
        /// A mixture JSON or a VAE checkpoint (directory or .safetensors).
        #[arg(long, value_name = "PATH")]
        model: PathBuf,
        /// Rows to evaluate (.npy or .csv).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Importance samples of the IWAE bound (VAE only).
        #[arg(long, default_value_t = 5000)]
        iwae_k: usize,
        /// Use only the first N rows.
        #[arg(short, long)]
        n: Option<usize>,
        /// Seed of the importance samples.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Rebuild report.md and report.html of a run from its summary.json.
    ///
    /// Example: elbo report runs/quickstart/20261201T120000Z
    Report {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Show elbo's version, the libtorch version, device, threads and where libtorch was found.
    ///
    /// The smoke test to run first on a new machine. Example: elbo info
    Info,
    /// Named data sets: what is installed and how to fetch the rest.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
}

#[derive(Debug, Args)]
struct DataDir {
    /// The data directory [default: $ELBO_DATA, else ${XDG_CACHE_HOME:-~/.cache}/elbo/data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PresetCommand {
    /// Validate a preset (file or built-in name) and print it resolved; runs nothing.
    ///
    /// Example: elbo preset check presets/quickstart.toml --set train.epochs=2
    Check {
        /// A TOML file or a built-in preset name.
        preset: String,
        /// Overrides to apply before checking.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        set: Vec<String>,
    },
    /// List the built-in presets. Example: elbo preset list
    List,
}

#[derive(Debug, Subcommand)]
enum GmmCommand {
    /// Fit a Gaussian mixture to the rows of a .npy or .csv file and save it as JSON.
    ///
    /// Example: elbo gmm fit --data points.csv -k 3 --covariance full --out model.json
    Fit {
        /// The rows (.npy or .csv with a header).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Number of components.
        #[arg(short = 'k', long = "n-components")]
        k: usize,
        /// Covariance type: full, tied, diag or spherical.
        #[arg(long, default_value_t = Covariance::Full)]
        covariance: Covariance,
        /// Added to the diagonal of every covariance.
        #[arg(long, default_value_t = 1e-6)]
        reg_covar: f64,
        /// Convergence tolerance on the per-sample lower bound.
        #[arg(long, default_value_t = 1e-3)]
        tol: f64,
        /// Maximum EM iterations.
        #[arg(long, default_value_t = 100)]
        max_iter: usize,
        /// Restarts (the best bound wins).
        #[arg(long, default_value_t = 1)]
        n_init: usize,
        /// Initialisation: kmeans, kmeans++, random or random-from-data.
        #[arg(long, default_value_t = InitMethod::KMeans)]
        init: InitMethod,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the model.
        #[arg(long, value_name = "MODEL.json")]
        out: PathBuf,
    },
    /// Most probable component and responsibilities of each row, as CSV on stdout.
    ///
    /// Example: elbo gmm predict --model model.json --data points.csv > labels.csv
    Predict {
        /// The model JSON.
        #[arg(long, value_name = "MODEL.json")]
        model: PathBuf,
        /// The rows.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// Mean log-likelihood per row, in nats.
    ///
    /// Example: elbo gmm score --model model.json --data test.csv
    Score {
        /// The model JSON.
        #[arg(long, value_name = "MODEL.json")]
        model: PathBuf,
        /// The rows.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
}

#[cfg(feature = "torch")]
#[derive(Debug, Subcommand)]
enum VaeCommand {
    /// Draw samples from a trained VAE into a PNG grid.
    ///
    /// Example: elbo vae sample --checkpoint runs/quickstart/<time>/models/vae-20 -n 64 --out grid.png
    Sample {
        /// A run's models/<name>/ directory or a .safetensors file.
        #[arg(long, value_name = "PATH")]
        checkpoint: PathBuf,
        /// Number of samples.
        #[arg(short, long, default_value_t = 64)]
        n: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The PNG to write.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
    /// List every named data set: installed or not, size on disk, and the fetch command.
    ///
    /// Example: elbo datasets list --data-dir ./data
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = logging::init(cli.verbose);
    match run(cli.command, &log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let interrupted = err.downcast_ref::<experiment::Interrupted>().is_some();
            eprintln!("error: {err:#}");
            // 130 is the shell's code for a program stopped by SIGINT.
            ExitCode::from(if interrupted { 130 } else { 1 })
        }
    }
}

fn run(command: Command, log: &logging::LogFile) -> anyhow::Result<()> {
    match command {
        Command::Run {
            preset,
            set,
            resume,
            runs_dir,
            data,
        } => {
            let (exp, dir) = match (resume, preset) {
                (Some(dir), _) => experiment::reopen_run_dir(&dir, &set)?,
                (None, Some(name)) => {
                    let exp = preset::load(&name, &set)?;
                    // The data must be there before a run directory is made for nothing.
                    experiment::check_data(&exp, &data_dir(data.data_dir.clone())?)?;
                    let dir = experiment::create_run_dir(&exp, &runs_dir)?;
                    (exp, dir)
                }
                (None, None) => anyhow::bail!("give a preset, or --resume RUN_DIR"),
            };
            log.open(&dir.path.join("log.txt"))?;
            let cancel = ctrl_c()?;
            eprintln!(
                "elbo: {} preset `{}` in {}",
                if dir.resumed { "resuming" } else { "running" },
                exp.preset().name,
                dir.path.display()
            );
            let opts = experiment::RunOptions {
                runs_dir,
                data_dir: data_dir(data.data_dir)?,
            };
            let result = experiment::execute(&exp, &dir, &opts, &cancel)?;
            println!("{}", report::markdown_table(&result.summary));
            println!("report: {}", result.report_html.display());
            Ok(())
        }
        Command::Preset(PresetCommand::Check { preset: p, set }) => {
            let exp = preset::load(&p, &set)?;
            print!("{}", preset::to_toml(&exp)?);
            eprintln!("preset `{}` is valid", exp.preset().name);
            Ok(())
        }
        Command::Preset(PresetCommand::List) => {
            for (name, _) in preset::BUILTIN {
                let exp = preset::load(name, &[])?;
                println!(
                    "{name:<14} {}",
                    exp.preset().title.clone().unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Gmm(GmmCommand::Fit {
            data,
            k,
            covariance,
            reg_covar,
            tol,
            max_iter,
            n_init,
            init,
            seed,
            out,
        }) => {
            let params = GaussianMixture::params(k)
                .covariance(covariance)
                .reg_covar(reg_covar)
                .tol(tol)
                .max_iter(max_iter)
                .n_init(n_init)
                .init(init.into())
                .seed(seed);
            println!("{}", commands::gmm_fit(&data, &params, &out)?);
            Ok(())
        }
        Command::Hmm(cmd) => {
            print!("{}", elbo_runner::hmm_commands::run(&cmd)?);
            Ok(())
        }
        Command::Gmm(GmmCommand::Predict { model, data }) => {
            print!("{}", commands::gmm_predict(&model, &data)?);
            Ok(())
        }
        Command::Gmm(GmmCommand::Score { model, data }) => {
            println!("{:.6}", commands::gmm_score(&model, &data)?);
            Ok(())
        }
        #[cfg(feature = "torch")]
        Command::Vae(VaeCommand::Sample {
            checkpoint,
            n,
            seed,
            out,
        }) => {
            println!("{}", commands::vae_sample(&checkpoint, n, seed, &out)?);
            Ok(())
        }
        Command::Eval {
            model,
            data,
            iwae_k,
            n,
            seed,
        } => {
            println!("{}", commands::eval(&model, &data, iwae_k, n, seed)?);
            Ok(())
        }
        Command::Report { run_dir } => {
            let html = report::rebuild(&run_dir)?;
            println!("report: {}", html.display());
            Ok(())
        }
        Command::Info => {
            println!("{}", elbo_runner::info::Info::gather());
            Ok(())
        }
        Command::Datasets(DatasetsCommand::List { data }) => {
            print!(
                "{}",
                elbo_runner::datasets::list_table(&data_dir(data.data_dir)?)?
            );
            Ok(())
        }
    }
}

/// The first Ctrl-C asks the run to stop at the next batch and save; the second quits now.
fn ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nelbo: second Ctrl-C, quitting now");
            std::process::exit(130);
        }
        eprintln!(
            "\nelbo: Ctrl-C: saving and stopping after the current batch (Ctrl-C again to quit now)"
        );
    })?;
    Ok(flag)
}

/// `--data-dir`, else `$ELBO_DATA`, else `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data` (the same
/// rule as `cargo xtask fetch-data`). Only the binary reads the environment.
fn data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
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

//! `elbo hmm fit | decode | score | sample`: hidden Markov models (elbo-hmm) on data files.
//!
//! Data are a `.csv` (a header line; R's unnamed row-name column, if first, is dropped) or a
//! `.npy` file read by elbo-datasets, one row per time step; `--lengths FILE` cuts the rows
//! into sequences (integers separated by commas, spaces or newlines, summing to the row
//! count). Categorical models read one column of symbols `0..M`. Models are elbo-hmm's
//! versioned JSON; every file is written atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use elbo_datasets::CsvOptions;
use elbo_hmm::{
    AnyHmm, CategoricalEmission, Covariance, DecodeAlgorithm, Emission, GaussianEmission,
    GmmEmission, Hmm, HmmFit, HmmParams, Implementation,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::atomic::write_atomic;

/// The `elbo hmm` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum HmmCommand {
    /// Fit an HMM by Baum–Welch and save it as JSON.
    ///
    /// Example: elbo hmm fit --data x.csv --lengths lengths.txt -k 3 --covariance-type full --out model.json
    #[command(verbatim_doc_comment)]
    Fit(HmmFitArgs),
    /// The state of every row (Viterbi or MAP), one per line.
    Decode(HmmDecodeArgs),
    /// The total log-likelihood of the data (nats), and optionally the posteriors.
    Score(HmmScoreArgs),
    /// Draw one sequence from a saved model, as CSV (features, then the state).
    Sample(HmmSampleArgs),
}

/// Emission family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmissionArg {
    /// A Gaussian per state (hmmlearn's GaussianHMM).
    Gaussian,
    /// Symbols 0..M (CategoricalHMM).
    Categorical,
    /// A Gaussian mixture per state (GMMHMM).
    Gmm,
}

/// Covariance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CovarianceArg {
    /// One full matrix per state.
    Full,
    /// One full matrix for all states.
    Tied,
    /// Per-dimension variances per state.
    Diag,
    /// One variance per state.
    Spherical,
}

impl From<CovarianceArg> for Covariance {
    fn from(c: CovarianceArg) -> Self {
        match c {
            CovarianceArg::Full => Covariance::Full,
            CovarianceArg::Tied => Covariance::Tied,
            CovarianceArg::Diag => Covariance::Diag,
            CovarianceArg::Spherical => Covariance::Spherical,
        }
    }
}

/// Forward–backward implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImplementationArg {
    /// Log space (hmmlearn's default).
    Log,
    /// Scaled probabilities.
    Scaling,
}

/// Decoding algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    /// The most probable path.
    Viterbi,
    /// The most probable state of each step.
    Map,
}

/// The data file and how it is cut into sequences.
#[derive(Debug, Clone, Args)]
pub struct HmmData {
    /// Data: .csv (header line) or .npy, one row per time step.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Sequence lengths (integers summing to the row count); default: one sequence.
    #[arg(long, value_name = "FILE")]
    pub lengths: Option<PathBuf>,
    /// CSV columns to ignore (repeatable).
    #[arg(long = "skip-column", value_name = "NAME")]
    pub skip_columns: Vec<String>,
}

/// Settings of `elbo hmm fit` (hmmlearn's names and defaults, plus n_init and seed).
#[derive(Debug, Clone, Args)]
pub struct HmmFitArgs {
    #[command(flatten)]
    pub input: HmmData,
    /// Number of hidden states.
    #[arg(short = 'k', long = "n-components", value_name = "K")]
    pub n_components: usize,
    /// Emission family.
    #[arg(long, value_enum, default_value = "gaussian")]
    pub emission: EmissionArg,
    /// Covariance type (Gaussian and mixture emissions).
    #[arg(long, value_enum, default_value = "diag")]
    pub covariance_type: CovarianceArg,
    /// Mixture components per state (mixture emissions).
    #[arg(long, default_value_t = 1)]
    pub n_mix: usize,
    /// Number of symbols (categorical; default: the largest symbol + 1).
    #[arg(long)]
    pub n_features: Option<usize>,
    /// EM iterations at most.
    #[arg(long, default_value_t = 10)]
    pub n_iter: usize,
    /// Stop when the log-likelihood gains less than this in an iteration.
    #[arg(long, default_value_t = 1e-2)]
    pub tol: f64,
    /// Added to the initial covariances' diagonal, and to a covariance that is not positive definite.
    #[arg(long, default_value_t = 1e-3)]
    pub min_covar: f64,
    /// Parameters to update (letters: s t, and m c / e / m c w).
    #[arg(long)]
    pub params: Option<String>,
    /// Parameters to initialise (same letters).
    #[arg(long)]
    pub init_params: Option<String>,
    /// Dirichlet prior on the start probabilities.
    #[arg(long, default_value_t = 1.0)]
    pub startprob_prior: f64,
    /// Dirichlet prior on each transition row.
    #[arg(long, default_value_t = 1.0)]
    pub transmat_prior: f64,
    /// Forward–backward implementation.
    #[arg(long, value_enum, default_value = "log")]
    pub implementation: ImplementationArg,
    /// Initialisations; the best final log-likelihood wins.
    #[arg(long, default_value_t = 1)]
    pub n_init: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the model (JSON).
    #[arg(long, value_name = "MODEL.json")]
    pub out: PathBuf,
}

/// Arguments of `elbo hmm decode`.
#[derive(Debug, Clone, Args)]
pub struct HmmDecodeArgs {
    /// A model written by `elbo hmm fit`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: HmmData,
    /// Viterbi (best path) or MAP (best state per step).
    #[arg(long, value_enum, default_value = "viterbi")]
    pub algorithm: AlgorithmArg,
    /// Write the states here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `elbo hmm score`.
#[derive(Debug, Clone, Args)]
pub struct HmmScoreArgs {
    /// A model written by `elbo hmm fit`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: HmmData,
    /// Also write the posteriors p(z_t = k | x) as CSV here.
    #[arg(long, value_name = "FILE")]
    pub posteriors: Option<PathBuf>,
}

/// Arguments of `elbo hmm sample`.
#[derive(Debug, Clone, Args)]
pub struct HmmSampleArgs {
    /// A model written by `elbo hmm fit`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    /// Steps to draw.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub n: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the CSV.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs one `elbo hmm` command; returns the text to print.
pub fn run(command: &HmmCommand) -> anyhow::Result<String> {
    match command {
        HmmCommand::Fit(a) => fit(a),
        HmmCommand::Decode(a) => decode(a),
        HmmCommand::Score(a) => score(a),
        HmmCommand::Sample(a) => sample(a),
    }
}

/// Reads the data rows (as f64) and the lengths.
pub fn read_sequences(input: &HmmData) -> anyhow::Result<(Array2<f64>, Option<Vec<usize>>)> {
    let path = &input.data;
    let name = path
        .file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let data = match ext.as_deref() {
        Some("npy") => elbo_datasets::read_npy(&name, path)?,
        Some("csv") => {
            let mut options = CsvOptions::new();
            for c in &input.skip_columns {
                options = options.skip_column(c.clone());
            }
            // R's write.csv puts unnamed row names first: they are not data.
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let first = text.lines().next().unwrap_or_default();
            let first_name = first
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"');
            if first_name.is_empty() && !input.skip_columns.iter().any(String::is_empty) {
                options = options.skip_column("");
            }
            elbo_datasets::read_csv(&name, path, &options)?
        }
        _ => bail!(
            "{}: unknown data format; give a .csv or .npy file",
            path.display()
        ),
    };
    let x = data.features().mapv(f64::from);
    let lengths = match &input.lengths {
        None => None,
        Some(p) => Some(read_lengths(p)?),
    };
    Ok((x, lengths))
}

/// Reads a lengths file: non-negative integers separated by commas, whitespace or newlines.
pub fn read_lengths(path: &Path) -> anyhow::Result<Vec<usize>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| {
            t.parse::<usize>().with_context(|| {
                format!(
                    "{}: entry {i} is {t:?}, not a sequence length",
                    path.display()
                )
            })
        })
        .collect()
}

fn common<E: Emission>(a: &HmmFitArgs, p: HmmParams<E>) -> HmmParams<E> {
    let mut p = p
        .n_iter(a.n_iter)
        .tol(a.tol)
        .startprob_prior(a.startprob_prior)
        .transmat_prior(a.transmat_prior)
        .implementation(match a.implementation {
            ImplementationArg::Log => Implementation::Log,
            ImplementationArg::Scaling => Implementation::Scaling,
        })
        .n_init(a.n_init)
        .seed(a.seed);
    if let Some(s) = &a.params {
        p = p.params(s);
    }
    if let Some(s) = &a.init_params {
        p = p.init_params(s);
    }
    p
}

fn report<E: Emission>(
    fit: &HmmFit<E>,
    x: &Array2<f64>,
    lengths: Option<&[usize]>,
    out: &Path,
) -> anyhow::Result<String> {
    write_atomic(out, fit.model.to_json()?.as_bytes())?;
    let m = &fit.model;
    let mut r = String::new();
    let ll = fit.log_likelihoods.last().copied().unwrap_or(f64::NAN);
    writeln!(r, "model: {}", out.display())?;
    writeln!(
        r,
        "{} states, {} rows in {} sequence(s)",
        m.n_components(),
        x.nrows(),
        lengths.map_or(1, <[usize]>::len)
    )?;
    writeln!(
        r,
        "EM: {} iterations, converged: {}, log-likelihood (last E-step) {ll:.6}",
        fit.n_iter, fit.converged
    )?;
    writeln!(
        r,
        "final log-likelihood {:.6}, BIC {:.3}, AIC {:.3}, {} free parameters",
        m.score(x.view(), lengths)?,
        m.bic(x.view(), lengths)?,
        m.aic(x.view(), lengths)?,
        m.n_free_parameters()
    )?;
    write!(r, "transmat:")?;
    for row in m.transmat().rows() {
        write!(r, "\n  ")?;
        for v in row {
            write!(r, " {v:.4}")?;
        }
    }
    Ok(r)
}

fn fit(a: &HmmFitArgs) -> anyhow::Result<String> {
    let (x, lengths) = read_sequences(&a.input)?;
    let l = lengths.as_deref();
    let k = a.n_components;
    match a.emission {
        EmissionArg::Gaussian => {
            let p = common(a, Hmm::<GaussianEmission>::params(k))
                .covariance_type(a.covariance_type.into())
                .min_covar(a.min_covar);
            report(&p.fit(x.view(), l)?, &x, l, &a.out)
        }
        EmissionArg::Categorical => {
            let mut p = common(a, Hmm::<CategoricalEmission>::params(k));
            if let Some(m) = a.n_features {
                p = p.n_features(m);
            }
            report(&p.fit(x.view(), l)?, &x, l, &a.out)
        }
        EmissionArg::Gmm => {
            let p = common(a, Hmm::<GmmEmission>::params(k))
                .n_mix(a.n_mix)
                .covariance_type(a.covariance_type.into())
                .min_covar(a.min_covar);
            report(&p.fit(x.view(), l)?, &x, l, &a.out)
        }
    }
}

fn load(path: &Path) -> anyhow::Result<AnyHmm> {
    AnyHmm::load(path).with_context(|| format!("loading the model {}", path.display()))
}

fn decode(a: &HmmDecodeArgs) -> anyhow::Result<String> {
    let (x, lengths) = read_sequences(&a.input)?;
    let l = lengths.as_deref();
    let alg = match a.algorithm {
        AlgorithmArg::Viterbi => DecodeAlgorithm::Viterbi,
        AlgorithmArg::Map => DecodeAlgorithm::Map,
    };
    let (_, states) = match load(&a.model)? {
        AnyHmm::Gaussian(m) => m.decode(x.view(), l, alg)?,
        AnyHmm::Categorical(m) => m.decode(x.view(), l, alg)?,
        AnyHmm::Gmm(m) => m.decode(x.view(), l, alg)?,
    };
    let mut text = String::with_capacity(states.len() * 2);
    for s in states {
        writeln!(text, "{s}")?;
    }
    match &a.out {
        Some(out) => {
            write_atomic(out, text.as_bytes())?;
            Ok(format!("states: {}\n", out.display()))
        }
        None => Ok(text),
    }
}

fn score(a: &HmmScoreArgs) -> anyhow::Result<String> {
    let (x, lengths) = read_sequences(&a.input)?;
    let l = lengths.as_deref();
    let (ll, post) = match load(&a.model)? {
        AnyHmm::Gaussian(m) => m.score_samples(x.view(), l)?,
        AnyHmm::Categorical(m) => m.score_samples(x.view(), l)?,
        AnyHmm::Gmm(m) => m.score_samples(x.view(), l)?,
    };
    if let Some(out) = &a.posteriors {
        let mut text = (0..post.ncols())
            .map(|k| format!("state{k}"))
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
        for row in post.rows() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:e}")).collect();
            writeln!(text, "{}", cells.join(","))?;
        }
        write_atomic(out, text.as_bytes())?;
    }
    Ok(format!("{ll:.9}\n"))
}

fn sample(a: &HmmSampleArgs) -> anyhow::Result<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let (x, states) = match load(&a.model)? {
        AnyHmm::Gaussian(m) => m.sample(a.n, &mut rng, None),
        AnyHmm::Categorical(m) => m.sample(a.n, &mut rng, None),
        AnyHmm::Gmm(m) => m.sample(a.n, &mut rng, None),
    };
    let mut text = (0..x.ncols())
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str(",state\n");
    for (row, s) in x.rows().into_iter().zip(&states) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        writeln!(text, "{},{s}", cells.join(","))?;
    }
    write_atomic(&a.out, text.as_bytes())?;
    Ok(format!("{} steps: {}\n", a.n, a.out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_files_parse_and_name_bad_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.txt");
        std::fs::write(&p, "3, 4\n5\n").expect("write");
        assert_eq!(read_lengths(&p).expect("parse"), vec![3, 4, 5]);
        std::fs::write(&p, "3 x 5").expect("write");
        let err = read_lengths(&p).expect_err("bad").to_string();
        assert!(err.contains("entry 1 is \"x\""), "{err}");
    }
}

//! `cargo xtask bench [--quick]`: elbo against its peers, case by case, on the same inputs.
//!
//! Each case is an elbo command and (usually) a peer command, each printing one JSON object
//! whose `seconds` is the time of one unit (an EM iteration, a training step, an IWAE
//! evaluation, a whole fit). The two run alternately, A B A B …, after one warm-up run each;
//! the report gives the medians, the min–max and the ratio of each pair (peer ÷ elbo, so > 1
//! means elbo is faster), checks that both sides reached the same bounds where they started
//! from the same parameters, and compares the ratio with the case's target.
//!
//! Adding a case is one [`Case`] in [`cases`]: a label, two commands, a unit, and optionally a
//! target, a FLOP floor and a check.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::torch::{self, Libtorch};
use crate::{data, say, step, workspace_root};

/// The machine's measured fp64 / fp32 FMA peaks on 2 cores (`facts.md`), GFLOP/s.
const PEAK_FP64: f64 = 116.6e9;
const PEAK_FP32: f64 = 231.9e9;
/// The scikit-learn release the peers are installed at when missing.
const SKLEARN_VERSION: &str = "1.9.1";
/// The hmmlearn the HMM peer runs (the version elbo-hmm's parity fixtures come from).
const HMMLEARN_VERSION: &str = "0.3.3";

const HELP: &str = "\
cargo xtask bench [--quick] [--out DIR] [--only SUBSTR]... [--threads N]

Builds elbo in release, installs the peers (scikit-learn, numpy) into the libtorch venv, then
runs every case: elbo and its peer alternately (A B A B ..., one warm-up each, then 5 pairs;
--quick: 2 pairs, no warm-up, reduced sizes) with the same thread count on both sides.

  (default)  writes docs/benchmarks.md and docs/benchmarks.json (raw outputs under
             target/bench/<time>/)
  --quick    reduced sizes, about 3 minutes: a regression check; writes benchmarks.md/.json to
             --out DIR (default target/bench/quick-<time>/), never to docs/
  --out DIR  where the report goes (with --quick) or the raw outputs go (without)
  --only S   only the cases whose id contains S (repeatable); never writes docs/
  --threads  threads on both sides (default 2)

ELBO_BENCH_PYTHON  the peers' python (default: the libtorch venv's, where torch already is)
";

/// Command-line options.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    quick: bool,
    out: Option<PathBuf>,
    only: Vec<String>,
    threads: u32,
}

fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        out: None,
        only: Vec::new(),
        threads: 2,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value; see `cargo xtask bench --help`"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            "--only" => o.only.push(value("--only")?),
            "--threads" => {
                let v = value("--threads")?;
                o.threads = v
                    .parse()
                    .ok()
                    .filter(|&t| t > 0)
                    .with_context(|| format!("--threads {v}: expected a positive integer"))?;
            }
            "--help" | "-h" => return Ok(None),
            other => bail!("unknown option `{other}` for `cargo xtask bench`; see --help"),
        }
    }
    Ok(Some(o))
}

/// Sizes of a run: the full one for docs/, or the reduced `--quick` one.
#[derive(Debug, Clone)]
struct Sizes {
    pairs: usize,
    warmup: bool,
    gmm_n_div: usize,
    gmm_iters: usize,
    fit_max_iter: usize,
    bmm_n: usize,
    bmm_iters: usize,
    mlp_steps: usize,
    conv_steps: usize,
    step_reps: usize,
    warmup_steps: usize,
    train_steps: usize,
    iwae_k: usize,
    iwae_n_test: usize,
    /// `--set` overrides of the quickstart run (none: the preset as shipped).
    quickstart_sets: Vec<&'static str>,
    /// Rows of the streamed fits (the larger; the smaller is a tenth) and of online EM.
    stream_rows: usize,
    online_rows: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                pairs: 2,
                warmup: false,
                gmm_n_div: 10,
                gmm_iters: 5,
                fit_max_iter: 5,
                bmm_n: 6_000,
                bmm_iters: 5,
                mlp_steps: 20,
                conv_steps: 3,
                step_reps: 3,
                warmup_steps: 3,
                train_steps: 20,
                iwae_k: 500,
                iwae_n_test: 20,
                quickstart_sets: vec![
                    "train.epochs=1",
                    "models.bmm-10.max_iter=5",
                    "models.bmm-50.max_iter=5",
                    "eval.iwae_k=20",
                    "eval.n_test=200",
                ],
                stream_rows: 1_000_000,
                online_rows: 100_000,
            }
        } else {
            Sizes {
                pairs: 5,
                warmup: true,
                gmm_n_div: 1,
                gmm_iters: 10,
                fit_max_iter: 30,
                bmm_n: 60_000,
                bmm_iters: 10,
                mlp_steps: 100,
                conv_steps: 15,
                step_reps: 5,
                warmup_steps: 20,
                train_steps: 200,
                iwae_k: 5000,
                iwae_n_test: 100,
                quickstart_sets: Vec::new(),
                stream_rows: 10_000_000,
                online_rows: 1_000_000,
            }
        }
    }
}

/// One command of a case.
#[derive(Debug, Clone)]
struct Side {
    program: PathBuf,
    args: Vec<String>,
}

impl Side {
    fn new(program: &Path, args: &[&str]) -> Side {
        Side {
            program: program.to_path_buf(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn shell(&self, root: &Path) -> String {
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| p.file_name().map(PathBuf::from).unwrap_or_default())
                .display()
                .to_string()
        };
        let mut out = rel(&self.program);
        for a in &self.args {
            out.push(' ');
            let p = Path::new(a);
            out.push_str(&if p.is_absolute() { rel(p) } else { a.clone() });
        }
        out
    }
}

/// How a case's `seconds` is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Milliseconds per EM iteration.
    MsPerIter,
    /// Seconds per unit (a whole fit, an IWAE evaluation, a run).
    Seconds,
    /// Items per second, `items` per timed unit (training samples per step).
    PerSecond { items: f64 },
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::MsPerIter => "ms/iter",
            Unit::Seconds => "s",
            Unit::PerSecond { .. } => "samples/s",
        }
    }

    /// The displayed value of a time in seconds.
    fn show(self, seconds: f64) -> f64 {
        match self {
            Unit::MsPerIter => 1e3 * seconds,
            Unit::Seconds => seconds,
            Unit::PerSecond { items } => items / seconds,
        }
    }
}

/// What is checked between the two sides.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    None,
    /// Same start: the first and last `bounds` must agree to this relative tolerance.
    SameBounds(f64),
    /// Different starts (each side's own k-means++): the final bounds are shown, not compared.
    ShowBounds,
}

/// How a side's time is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// The `seconds` field of the JSON the command prints.
    Json,
    /// The wall time of the whole command (it prints no JSON).
    Wall,
}

/// One benchmark case.
#[derive(Debug, Clone)]
struct Case {
    /// Stable id, the key in benchmarks.json.
    id: String,
    /// Section of the report.
    group: &'static str,
    label: String,
    unit: Unit,
    elbo: Side,
    peer: Option<Side>,
    /// Name of the peer in the table.
    peer_name: &'static str,
    measure: Measure,
    check: Check,
    /// Required ratio peer ÷ elbo (median of the pairs).
    target: Option<f64>,
    /// Time of one unit at the FLOP floor, seconds (a range when the count is).
    floor: Option<(f64, f64)>,
    /// Runs of each side: (warm-up, timed). A case that takes minutes runs once.
    runs: Option<(bool, usize)>,
}

/// Paths and settings every case needs.
#[derive(Debug, Clone)]
struct Ctx {
    examples: PathBuf,
    elbo_bin: PathBuf,
    python: PathBuf,
    /// The python of the Python package's venv (elbo installed, scikit-learn 1.9.1).
    elbo_python: PathBuf,
    peers: PathBuf,
    gmm_dir: PathBuf,
    bmm_dir: PathBuf,
    hmm_dir: PathBuf,
    runs_dir: PathBuf,
    data_dir: PathBuf,
    threads: u32,
}

/// A Gaussian-mixture case of `crates/elbo-em/benches/support/cases.rs`.
#[derive(Debug, Clone, Copy)]
struct Gmm {
    /// The name `bench_gmm write` gives its files.
    name: &'static str,
    n: usize,
    d: usize,
    k: usize,
    covariance: &'static str,
    /// Required ratio of the per-iteration case.
    target: f64,
    /// FLOP floor of one iteration (`facts.md`), seconds.
    floor: (f64, f64),
}

const GMM_CASES: [Gmm; 3] = [
    Gmm {
        name: "n100k_d16_k16_full",
        n: 100_000,
        d: 16,
        k: 16,
        covariance: "full",
        target: 10.0,
        floor: (10e-3, 18e-3),
    },
    Gmm {
        name: "n100k_d16_k16_diag",
        n: 100_000,
        d: 16,
        k: 16,
        covariance: "diag",
        target: 8.0,
        floor: (2.6e-3, 2.6e-3),
    },
    Gmm {
        name: "n1m_d8_k8_diag",
        n: 1_000_000,
        d: 8,
        k: 8,
        covariance: "diag",
        target: 10.0,
        floor: (8e-3, 8e-3),
    },
];

/// The table of cases. Each is a few lines; the order is the report's.
fn cases(c: &Ctx, s: &Sizes) -> Vec<Case> {
    let ex = |name: &str| c.examples.join(name);
    let py = |script: &str| c.peers.join(script).display().to_string();
    let threads = c.threads.to_string();
    let gmm_dir = c.gmm_dir.display().to_string();
    let bmm_dir = c.bmm_dir.display().to_string();
    let mut out = Vec::new();

    for Gmm {
        name,
        n,
        d,
        k,
        covariance: cov,
        target,
        floor: (lo, hi),
    } in GMM_CASES
    {
        let n = n / s.gmm_n_div;
        let iters = s.gmm_iters.to_string();
        out.push(Case {
            id: format!("gmm-iter-{name}"),
            group: "gmm-iter",
            label: format!("N={}, d={d}, K={k}, {cov}", count(n)),
            unit: Unit::MsPerIter,
            elbo: Side::new(
                &ex("bench_gmm"),
                &["iter", &gmm_dir, name, "--iters", &iters],
            ),
            peer: Some(Side::new(
                &c.python,
                &[
                    &py("gmm_sklearn.py"),
                    "iter",
                    &gmm_dir,
                    name,
                    "--iters",
                    &iters,
                ],
            )),
            peer_name: "scikit-learn",
            measure: Measure::Json,
            check: Check::SameBounds(1e-8),
            target: Some(target),
            floor: Some((lo / s.gmm_n_div as f64, hi / s.gmm_n_div as f64)),
            runs: None,
        });
    }
    for Gmm {
        name,
        n,
        d,
        k,
        covariance: cov,
        ..
    } in GMM_CASES
    {
        let n = n / s.gmm_n_div;
        let max_iter = s.fit_max_iter.to_string();
        let fit = [
            "fit",
            &gmm_dir,
            name,
            "--max-iter",
            &max_iter,
            "--tol",
            "1e-3",
        ];
        let mut peer = vec![py("gmm_sklearn.py")];
        peer.extend(fit.iter().map(|a| (*a).to_owned()));
        out.push(Case {
            id: format!("gmm-fit-{name}"),
            group: "gmm-fit",
            label: format!("N={}, d={d}, K={k}, {cov}", count(n)),
            unit: Unit::Seconds,
            elbo: Side::new(&ex("bench_gmm"), &fit),
            peer: Some(Side {
                program: c.python.clone(),
                args: peer,
            }),
            peer_name: "scikit-learn",
            measure: Measure::Json,
            check: Check::ShowBounds,
            target: None,
            floor: None,
            runs: None,
        });
    }

    // From Python: the binding's overhead on top of the per-iteration cases above.
    for Gmm {
        name,
        n,
        d,
        k,
        covariance: cov,
        target,
        ..
    } in GMM_CASES
    {
        let n = n / s.gmm_n_div;
        let iters = s.gmm_iters.to_string();
        let side = |imp: &str| {
            Side::new(
                &c.elbo_python,
                &[&py("gmm_python.py"), imp, &gmm_dir, name, "--iters", &iters],
            )
        };
        out.push(Case {
            id: format!("gmm-py-{name}"),
            group: "gmm-py",
            label: format!("N={}, d={d}, K={k}, {cov}", count(n)),
            unit: Unit::MsPerIter,
            elbo: side("elbo"),
            peer: Some(side("sklearn")),
            peer_name: "scikit-learn",
            measure: Measure::Json,
            check: Check::SameBounds(1e-8),
            target: Some(target),
            floor: None,
            runs: None,
        });
    }

    // elbo-hmm against hmmlearn 0.3.3: one Baum–Welch iteration, GaussianHMM, full covariances,
    // K = 8, d = 4, the same data and starting parameters on both sides.
    let hmm_dir = c.hmm_dir.display().to_string();
    let hmm_iters = s.gmm_iters.min(6).to_string();
    for (name, label) in [
        (
            "hmm_100k",
            format!("one sequence of {} steps", count(100_000 / s.gmm_n_div)),
        ),
        (
            "hmm_1000x100",
            format!("{} sequences × 100 steps", count(1000 / s.gmm_n_div)),
        ),
    ] {
        out.push(Case {
            id: format!("hmm-iter-{}", name.trim_start_matches("hmm_")),
            group: "hmm",
            label: format!("Baum–Welch iteration, GaussianHMM full, K=8, d=4, {label}"),
            unit: Unit::MsPerIter,
            elbo: Side::new(
                &ex("bench_hmm"),
                &["iter", &hmm_dir, name, "--iters", &hmm_iters],
            ),
            peer: Some(Side::new(
                &c.python,
                &[
                    &py("hmm_hmmlearn.py"),
                    "iter",
                    &hmm_dir,
                    name,
                    "--iters",
                    &hmm_iters,
                ],
            )),
            peer_name: "hmmlearn",
            measure: Measure::Json,
            check: Check::SameBounds(1e-8),
            target: Some(10.0),
            floor: None,
            runs: None,
        });
    }

    let bmm_iters = s.bmm_iters.to_string();
    let (n, d, k) = (s.bmm_n as f64, 784.0, 100.0);
    // Two GEMMs of 2·N·d·K (E-step log-probabilities, M-step sums) and one exp per entry.
    let bmm_floor = 4.0 * n * d * k / PEAK_FP64 + n * k * 0.85e-9;
    out.push(Case {
        id: "bmm-iter-fashion-mnist-k100".to_owned(),
        group: "bmm",
        label: format!("fashion-mnist N={}, d=784, K=100", count(s.bmm_n)),
        unit: Unit::MsPerIter,
        elbo: Side::new(&ex("bench_bmm"), &["iter", &bmm_dir, "--iters", &bmm_iters]),
        peer: Some(Side::new(
            &c.python,
            &[&py("bmm_numpy.py"), &bmm_dir, "--iters", &bmm_iters],
        )),
        peer_name: "numpy",
        measure: Measure::Json,
        check: Check::SameBounds(1e-8),
        target: None,
        floor: Some((bmm_floor, bmm_floor)),
        runs: None,
    });

    let vae = |what: &str, arch: &str, steps: usize| {
        let mut a: Vec<String> = [
            "--what",
            what,
            "--arch",
            arch,
            "--threads",
            &threads,
            "--steps",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend([
            steps.to_string(),
            "--reps".to_owned(),
            s.step_reps.to_string(),
            "--k".to_owned(),
            s.iwae_k.to_string(),
            "--n-test".to_owned(),
            s.iwae_n_test.to_string(),
            "--iwae-reps".to_owned(),
            "1".to_owned(),
            "--warmup-steps".to_owned(),
            s.warmup_steps.to_string(),
            "--train-steps".to_owned(),
            s.train_steps.to_string(),
        ]);
        let mut peer = vec![py("vae_step.py")];
        peer.extend(a.iter().cloned());
        (
            Side {
                program: ex("bench_step"),
                args: a,
            },
            Side {
                program: c.python.clone(),
                args: peer,
            },
        )
    };
    // FLOP of one training sample: forward 2·MACs, backward twice that, minus the input
    // gradient of the first layer (not needed).
    let train_flop = |macs: f64, first: f64| 2.0 * (3.0 * macs - first);
    let mlp_macs = 784.0 * 400.0 + 400.0 * 40.0 + 20.0 * 400.0 + 400.0 * 784.0;
    let conv_macs = 32.0 * 16.0 * 196.0       // conv0 1→32, 14×14 out
        + 64.0 * 32.0 * 16.0 * 49.0           // conv1 32→64, 7×7 out
        + 3136.0 * 256.0 + 256.0 * 40.0       // fc 3136→256→40
        + 20.0 * 256.0 + 256.0 * 3136.0       // fc 20→256→3136
        + 49.0 * 64.0 * 32.0 * 16.0           // deconv0 64→32, from 7×7
        + 196.0 * 32.0 * 16.0; // deconv1 32→1, from 14×14
    for (arch, label, steps, macs, first) in [
        (
            "mlp",
            "MLP 784-400-20, Bernoulli, Adam, batch 128",
            s.mlp_steps,
            mlp_macs,
            784.0 * 400.0,
        ),
        (
            "conv",
            "conv [1,28,28] 32-64 / 256 / 20, Bernoulli, Adam, batch 128",
            s.conv_steps,
            conv_macs,
            32.0 * 16.0 * 196.0,
        ),
    ] {
        let (elbo, peer) = vae("step", arch, steps);
        let floor = 128.0 * train_flop(macs, first) / PEAK_FP32;
        out.push(Case {
            id: format!("vae-train-{arch}"),
            group: "vae",
            label: format!("training, {label}"),
            unit: Unit::PerSecond { items: 128.0 },
            elbo,
            peer: Some(peer),
            peer_name: "PyTorch",
            measure: Measure::Json,
            check: Check::None,
            target: Some(1.0),
            floor: Some((floor, floor)),
            runs: None,
        });
    }
    let (elbo, peer) = vae("iwae", "mlp", s.mlp_steps);
    // The decoder on every one of the k·n codes dominates: 2·(20·400 + 400·784) FLOP each.
    let codes = (s.iwae_k * s.iwae_n_test) as f64;
    let iwae_floor = codes * 2.0 * (20.0 * 400.0 + 400.0 * 784.0) / PEAK_FP32;
    out.push(Case {
        id: "vae-iwae-mlp".to_owned(),
        group: "vae",
        label: format!(
            "IWAE k={} on {} points, MLP 784-400-20",
            s.iwae_k, s.iwae_n_test
        ),
        unit: Unit::Seconds,
        elbo,
        peer: Some(peer),
        peer_name: "PyTorch",
        measure: Measure::Json,
        check: Check::None,
        target: Some(1.3),
        floor: Some((iwae_floor, iwae_floor)),
        runs: None,
    });

    // elbo-em's streaming EM: memory must stay flat as N grows tenfold.
    for rows in [s.stream_rows / 10, s.stream_rows] {
        let n = rows.to_string();
        out.push(Case {
            id: format!("gmm-stream-{}", count(rows)),
            group: "stream",
            label: format!(
                "fit_stream, diag, d=8, K=8, N={} generated on the fly in chunks of 100k (generation included)",
                count(rows)
            ),
            unit: Unit::PerSecond { items: rows as f64 },
            elbo: Side::new(
                &ex("bench_stream"),
                &["stream", "--rows", &n, "--iters", "5", "--chunk", "100000"],
            ),
            peer: None,
            peer_name: "",
            measure: Measure::Json,
            check: Check::None,
            target: None,
            floor: None,
            runs: Some((false, 1)),
        });
    }
    let n = s.online_rows.to_string();
    out.push(Case {
        id: "gmm-online-vs-batch".to_owned(),
        group: "stream",
        label: format!(
            "time to within 1 % of batch EM's converged ln p, N={}, diag, d=8, K=8: online EM (batches of 10k) vs batch EM",
            count(s.online_rows)
        ),
        unit: Unit::Seconds,
        elbo: Side::new(&ex("bench_stream"), &["online", "--rows", &n]),
        peer: Some(Side::new(&ex("bench_stream"), &["batch", "--rows", &n])),
        peer_name: "batch EM (elbo-em)",
        measure: Measure::Json,
        check: Check::None,
        target: None,
        floor: None,
        runs: None,
    });

    let runs_dir = c.runs_dir.display().to_string();
    let data_dir = c.data_dir.display().to_string();
    let mut args = vec![
        "run".to_owned(),
        "quickstart".to_owned(),
        "--runs-dir".to_owned(),
        runs_dir,
        "--data-dir".to_owned(),
        data_dir,
    ];
    for set in &s.quickstart_sets {
        args.extend(["--set".to_owned(), (*set).to_owned()]);
    }
    out.push(Case {
        id: "e2e-quickstart".to_owned(),
        group: "e2e",
        label: if s.quickstart_sets.is_empty() {
            "`elbo run quickstart` (as shipped), wall time".to_owned()
        } else {
            "`elbo run quickstart`, reduced by `--set` (see Commands), wall time".to_owned()
        },
        unit: Unit::Seconds,
        elbo: Side {
            program: c.elbo_bin.clone(),
            args,
        },
        peer: None,
        peer_name: "",
        measure: Measure::Wall,
        check: Check::None,
        target: None,
        floor: None,
        runs: Some((false, 1)),
    });
    out
}

/// 100000 → "100k", 1000000 → "1M", 6000 → "6k", 60000 → "60k".
fn count(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// One run of one side.
#[derive(Debug, Clone)]
struct Sample {
    seconds: f64,
    wall: f64,
    peak_rss_mib: f64,
    json: Value,
}

/// All runs of a case, or why it failed.
#[derive(Debug, Clone)]
struct Outcome {
    case: Case,
    elbo: Vec<Sample>,
    peer: Vec<Sample>,
    error: Option<String>,
}

pub fn bench(args: &[String]) -> Result<()> {
    let Some(opts) = parse_options(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let started = Instant::now();
    let root = workspace_root();
    let sizes = Sizes::new(opts.quick);
    let stamp = utc_stamp(SystemTime::now());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| root.join(t));
    let writes_docs = !opts.quick && opts.only.is_empty();
    let out_dir = match &opts.out {
        Some(d) => d.clone(),
        None if opts.quick => target_dir.join("bench").join(format!("quick-{stamp}")),
        None => target_dir.join("bench").join(stamp.clone()),
    };
    let raw_dir = out_dir.join("raw");
    fs::create_dir_all(&raw_dir)
        .with_context(|| format!("could not create {}", raw_dir.display()))?;

    let libtorch = torch::setup()?;
    let python = peers_python(&libtorch)?;
    ensure_peers(&python)?;
    let data_dir = data::data_dir(None)?;
    step("cargo xtask fetch-data fashion-mnist (the Bernoulli-mixture case)");
    data::fetch_data(&["fashion-mnist".to_owned()])?;
    step("cargo build --release: the elbo binary and the benchmark examples");
    crate::cargo(
        &root,
        &libtorch,
        &[
            "build",
            "--release",
            "-p",
            "elbo",
            "-p",
            "elbo-em",
            "-p",
            "elbo-vae",
            "-p",
            "elbo-hmm",
            "--bin",
            "elbo",
            "--example",
            "bench_gmm",
            "--example",
            "bench_bmm",
            "--example",
            "bench_step",
            "--example",
            "bench_stream",
            "--example",
            "bench_hmm",
        ],
    )?;
    let release = target_dir.join("release");
    let kind = if opts.quick { "quick" } else { "full" };
    let work = target_dir.join("bench").join(format!("data-{kind}"));
    let ctx = Ctx {
        examples: release.join("examples"),
        elbo_bin: release.join("elbo"),
        python: python.clone(),
        elbo_python: crate::python::venv_python()?,
        peers: root.join("bench").join("peers"),
        gmm_dir: work.join("gmm"),
        bmm_dir: work.join("bmm"),
        hmm_dir: work.join("hmm"),
        runs_dir: out_dir.join("runs"),
        data_dir: data_dir.clone(),
        threads: opts.threads,
    };
    let env = child_env(opts.threads);
    let all = cases(&ctx, &sizes);
    let selected: Vec<Case> = all
        .into_iter()
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|o| c.id.contains(o)))
        .collect();
    if selected.is_empty() {
        bail!("no case id contains any of {:?}", opts.only);
    }

    if selected.iter().any(|c| c.group == "gmm-py") {
        step("the Python package: pip install crates/elbo-py into its venv");
        crate::python::install(&root)?;
    }

    step("writing the inputs both sides read");
    if selected.iter().any(|c| c.group.starts_with("gmm")) {
        let gmm = ctx.gmm_dir.display().to_string();
        let n_div = sizes.gmm_n_div.to_string();
        let side = Side::new(
            &ctx.examples.join("bench_gmm"),
            &["write", &gmm, "--n-div", &n_div],
        );
        run_child(&side, &env, &raw_dir.join("write-gmm"), Measure::Wall)?;
    }
    if selected.iter().any(|c| c.group == "bmm") {
        let bmm = ctx.bmm_dir.display().to_string();
        let n = sizes.bmm_n.to_string();
        let data = data_dir.display().to_string();
        let side = Side::new(
            &ctx.examples.join("bench_bmm"),
            &["write", &bmm, "--data-dir", &data, "--n", &n],
        );
        run_child(&side, &env, &raw_dir.join("write-bmm"), Measure::Wall)?;
    }

    if selected.iter().any(|c| c.group == "hmm") {
        let hmm = ctx.hmm_dir.display().to_string();
        let n_div = sizes.gmm_n_div.to_string();
        let side = Side::new(
            &ctx.examples.join("bench_hmm"),
            &["write", &hmm, "--n-div", &n_div],
        );
        run_child(&side, &env, &raw_dir.join("write-hmm"), Measure::Wall)?;
    }

    let mut load = vec![load_average()];
    let mut outcomes = Vec::new();
    for case in selected {
        load.push(load_average());
        let (warmup, timed) = case.runs.unwrap_or((sizes.warmup, sizes.pairs));
        step(&format!(
            "{} — {} ({}{} timed run{}{})",
            case.id,
            case.label,
            if warmup { "1 warm-up + " } else { "" },
            timed,
            if timed == 1 { "" } else { "s" },
            if case.peer.is_some() {
                " of each side, alternating"
            } else {
                ""
            }
        ));
        let outcome = measure(&case, warmup, timed, &env, &raw_dir);
        if let Some(e) = &outcome.error {
            say(&format!("{}: FAILED: {e}", case.id));
        } else {
            say(&summary_line(&outcome));
        }
        outcomes.push(outcome);
    }
    load.push(load_average());

    let meta = Meta {
        date: stamp_human(SystemTime::now()),
        mode: if opts.quick { "quick" } else { "full" }.to_owned(),
        threads: opts.threads,
        machine: machine(),
        load,
        versions: versions(&root, &python),
        minutes: started.elapsed().as_secs_f64() / 60.0,
        fit_max_iter: sizes.fit_max_iter,
        commands: commands_text(&outcomes, &root),
    };
    let markdown = render_markdown(&meta, &outcomes);
    let report = render_json(&meta, &outcomes);
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let (md_path, json_path) = if writes_docs && failed == 0 {
        (
            root.join("docs").join("benchmarks.md"),
            root.join("docs").join("benchmarks.json"),
        )
    } else {
        (
            out_dir.join("benchmarks.md"),
            out_dir.join("benchmarks.json"),
        )
    };
    write_atomic(&md_path, markdown.as_bytes())?;
    write_atomic(
        &json_path,
        format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes(),
    )?;
    say(&format!(
        "report: {} and {} ({:.1} min; raw outputs in {})",
        md_path.display(),
        json_path.display(),
        meta.minutes,
        raw_dir.display()
    ));
    if failed > 0 {
        bail!(
            "{failed} case(s) failed; see the report and the logs in {}",
            raw_dir.display()
        );
    }
    Ok(())
}

/// The python the peers run in: the libtorch venv's (the same torch as tch), or the user's own
/// when they chose `LIBTORCH_USE_PYTORCH`; `ELBO_BENCH_PYTHON` overrides both.
fn peers_python(libtorch: &Libtorch) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ELBO_BENCH_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let venv_python = torch::venv_dir()?.join("bin").join("python");
    match libtorch {
        Libtorch::Venv { .. } => Ok(venv_python),
        Libtorch::UserPython => Ok(PathBuf::from(
            if std::env::var_os("VIRTUAL_ENV").is_some() {
                "python"
            } else {
                "python3"
            },
        )),
        Libtorch::UserDir(_) if venv_python.is_file() => Ok(venv_python),
        Libtorch::UserDir(dir) => bail!(
            "the PyTorch peers need a python with torch {}: LIBTORCH={} is set and there is no \
             cached venv; set ELBO_BENCH_PYTHON to a python with torch, or unset LIBTORCH and \
             run `cargo xtask setup`",
            torch::TORCH_VERSION,
            dir.display()
        ),
    }
}

/// scikit-learn and numpy in the peers' python, installed with its pip when missing.
fn ensure_peers(python: &Path) -> Result<()> {
    let ok = |code: &str| {
        Command::new(python)
            .args(["-c", code])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok("import torch") {
        bail!(
            "`{} -c 'import torch'` fails: the PyTorch peer needs torch {} in that python",
            python.display(),
            torch::TORCH_VERSION
        );
    }
    if ok("import sklearn, numpy, threadpoolctl, hmmlearn") {
        say(&format!(
            "peers: scikit-learn, hmmlearn and numpy present in {}",
            python.display()
        ));
        return Ok(());
    }
    step(&format!(
        "pip install scikit-learn=={SKLEARN_VERSION} hmmlearn=={HMMLEARN_VERSION} numpy (into {})",
        python.display()
    ));
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--disable-pip-version-check"])
        .arg(format!("scikit-learn=={SKLEARN_VERSION}"))
        .arg(format!("hmmlearn=={HMMLEARN_VERSION}"))
        .arg("numpy")
        .stdout(std::io::stderr())
        .status()
        .context("could not start pip for the peers")?;
    if !status.success() || !ok("import sklearn, numpy, hmmlearn") {
        bail!(
            "could not install scikit-learn and numpy into {}",
            python.display()
        );
    }
    Ok(())
}

/// The same thread count for every library either side may use.
fn child_env(threads: u32) -> Vec<(String, OsString)> {
    let t: OsString = threads.to_string().into();
    [
        "RAYON_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), t.clone()))
    .collect()
}

/// Every run of a case, alternating elbo and the peer.
fn measure(
    case: &Case,
    warmup: bool,
    timed: usize,
    env: &[(String, OsString)],
    raw: &Path,
) -> Outcome {
    let mut out = Outcome {
        case: case.clone(),
        elbo: Vec::new(),
        peer: Vec::new(),
        error: None,
    };
    let total = timed + usize::from(warmup);
    for i in 0..total {
        let tag = if warmup && i == 0 {
            "warmup".to_owned()
        } else {
            format!("{}", i + 1 - usize::from(warmup))
        };
        let e = run_child(
            &case.elbo,
            env,
            &raw.join(format!("{}-elbo-{tag}", case.id)),
            case.measure,
        );
        let p = case.peer.as_ref().map(|p| {
            run_child(
                p,
                env,
                &raw.join(format!("{}-peer-{tag}", case.id)),
                case.measure,
            )
        });
        match (e, p.transpose()) {
            (Ok(e), Ok(p)) => {
                if !(warmup && i == 0) {
                    out.elbo.push(e);
                    out.peer.extend(p);
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                out.error = Some(format!("{err:#}"));
                return out;
            }
        }
    }
    out
}

/// Runs one command with stdout and stderr in files next to `log`, polling its peak resident
/// memory (`VmHWM`) while it runs.
fn run_child(
    side: &Side,
    env: &[(String, OsString)],
    log: &Path,
    measure: Measure,
) -> Result<Sample> {
    let stdout_path = log.with_extension("out");
    let stderr_path = log.with_extension("err");
    let started = Instant::now();
    let mut child = Command::new(&side.program)
        .args(&side.args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path)?)
        .stderr(fs::File::create(&stderr_path)?)
        .spawn()
        .with_context(|| format!("could not start {}", side.program.display()))?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(kib) = fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let wall = started.elapsed().as_secs_f64();
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    if !status.success() {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        bail!(
            "`{}` failed ({status}):\n{}",
            side.program.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let json = match measure {
        Measure::Wall => Value::Null,
        Measure::Json => {
            let line = stdout
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .with_context(|| format!("`{}` printed no JSON object", side.program.display()))?;
            serde_json::from_str(line)
                .with_context(|| format!("`{}` printed invalid JSON", side.program.display()))?
        }
    };
    let seconds = match measure {
        Measure::Wall => wall,
        Measure::Json => json["seconds"]
            .as_f64()
            .with_context(|| format!("`{}`: no `seconds` in its JSON", side.program.display()))?,
    };
    Ok(Sample {
        seconds,
        wall,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        json,
    })
}

/// `VmHWM` (peak resident set) in KiB from the text of `/proc/<pid>/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Statistics.

/// Median, min and max of some numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(values: &[f64]) -> Option<Stats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    Some(Stats {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// Peer time ÷ elbo time of each pair (> 1: elbo is faster).
fn pair_ratios(elbo: &[f64], peer: &[f64]) -> Vec<f64> {
    elbo.iter().zip(peer).map(|(e, p)| p / e).collect()
}

/// |a − b| / max(|a|, |b|), 0 when both are equal.
fn rel_diff(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

/// The bounds of one run's JSON.
fn bounds(json: &Value) -> Vec<f64> {
    json["bounds"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Agreement of the bounds of both sides over all pairs.
#[derive(Debug, Clone, PartialEq)]
struct BoundCheck {
    first: (f64, f64),
    last: (f64, f64),
    iterations: usize,
    worst_rel: f64,
    ok: bool,
}

fn check_bounds(elbo: &[Sample], peer: &[Sample], tol: f64) -> Option<BoundCheck> {
    let mut result: Option<BoundCheck> = None;
    for (e, p) in elbo.iter().zip(peer) {
        let (be, bp) = (bounds(&e.json), bounds(&p.json));
        let (Some(&e0), Some(&p0), Some(&el), Some(&pl)) =
            (be.first(), bp.first(), be.last(), bp.last())
        else {
            return Some(BoundCheck {
                first: (f64::NAN, f64::NAN),
                last: (f64::NAN, f64::NAN),
                iterations: 0,
                worst_rel: f64::INFINITY,
                ok: false,
            });
        };
        let worst = rel_diff(e0, p0).max(rel_diff(el, pl));
        let same_length = be.len() == bp.len();
        let this = BoundCheck {
            first: (e0, p0),
            last: (el, pl),
            iterations: be.len(),
            worst_rel: if same_length { worst } else { f64::INFINITY },
            ok: same_length && worst <= tol,
        };
        result = Some(match result {
            Some(r) if r.worst_rel >= this.worst_rel => BoundCheck {
                ok: r.ok && this.ok,
                ..r
            },
            Some(r) => BoundCheck {
                ok: r.ok && this.ok,
                ..this
            },
            None => this,
        });
    }
    result
}

/// Everything the report says about one case.
#[derive(Debug, Clone)]
struct Row {
    elbo: Option<Stats>,
    peer: Option<Stats>,
    ratios: Vec<f64>,
    ratio: Option<Stats>,
    met: Option<bool>,
    floor_share: Option<(f64, f64)>,
    bounds: Option<BoundCheck>,
    elbo_rss: f64,
    peer_rss: f64,
}

fn row(o: &Outcome) -> Row {
    let secs = |s: &[Sample]| s.iter().map(|x| x.seconds).collect::<Vec<_>>();
    let (es, ps) = (secs(&o.elbo), secs(&o.peer));
    let elbo = stats(&es);
    let peer = stats(&ps);
    let ratios = pair_ratios(&es, &ps);
    let ratio = stats(&ratios);
    let met = match (o.case.target, ratio) {
        (Some(t), Some(r)) => Some(r.median >= t),
        _ => None,
    };
    let floor_share = match (o.case.floor, elbo) {
        (Some((lo, hi)), Some(e)) => Some((lo / e.median, hi / e.median)),
        _ => None,
    };
    let bounds = match o.case.check {
        Check::SameBounds(tol) => check_bounds(&o.elbo, &o.peer, tol),
        _ => None,
    };
    let rss = |s: &[Sample]| s.iter().map(|x| x.peak_rss_mib).fold(0.0, f64::max);
    Row {
        elbo,
        peer,
        ratios,
        ratio,
        met,
        floor_share,
        bounds,
        elbo_rss: rss(&o.elbo),
        peer_rss: rss(&o.peer),
    }
}

fn summary_line(o: &Outcome) -> String {
    let r = row(o);
    let unit = o.case.unit;
    let show = |s: Option<Stats>| s.map_or("—".to_owned(), |s| fmt_sig(unit.show(s.median)));
    let mut line = format!("{}: elbo {} {}", o.case.id, show(r.elbo), unit.name());
    if o.case.peer.is_some() {
        let _ = write!(line, ", {} {}", o.case.peer_name, show(r.peer));
        if let Some(ratio) = r.ratio {
            let _ = write!(line, ", ratio {:.2}×", ratio.median);
        }
    }
    if let Some(b) = &r.bounds {
        let _ = write!(
            line,
            ", bounds agree to {:.1e} ({})",
            b.worst_rel,
            if b.ok { "ok" } else { "MISMATCH" }
        );
    }
    line
}

// ---------------------------------------------------------------------------------------------
// The report.

/// Facts about the run shown in the header.
#[derive(Debug, Clone)]
struct Meta {
    date: String,
    mode: String,
    threads: u32,
    machine: Value,
    /// 1-minute load averages: at the start, before each case, at the end.
    load: Vec<f64>,
    versions: Value,
    minutes: f64,
    fit_max_iter: usize,
    commands: String,
}

/// Three significant digits, no exponent for ordinary magnitudes.
fn fmt_sig(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_owned();
    }
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// "median (min–max)" in the case's unit; a throughput's min comes from the slowest run.
fn fmt_stats(unit: Unit, s: Option<Stats>) -> String {
    let Some(s) = s else { return "—".to_owned() };
    let (a, b) = (unit.show(s.min), unit.show(s.max));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!(
        "{} ({}–{})",
        fmt_sig(unit.show(s.median)),
        fmt_sig(lo),
        fmt_sig(hi)
    )
}

fn fmt_share((lo, hi): (f64, f64)) -> String {
    let num = |v: f64| {
        if v >= 0.1 {
            format!("{:.0}", 100.0 * v)
        } else {
            format!("{:.1}", 100.0 * v)
        }
    };
    if rel_diff(lo, hi) < 1e-9 {
        format!("{} %", num(lo))
    } else {
        format!("{}–{} %", num(lo), num(hi))
    }
}

/// The report's sections: group id, short name for the summary, title.
const GROUPS: [(&str, &str, &str); 8] = [
    (
        "gmm-iter",
        "GMM iteration",
        "Gaussian mixture, one EM iteration from identical parameters (elbo-em vs scikit-learn)",
    ),
    (
        "gmm-fit",
        "GMM whole fit",
        "Gaussian mixture, whole fit with k-means++ initialisation (elbo-em vs scikit-learn)",
    ),
    (
        "gmm-py",
        "GMM from Python",
        "Gaussian mixture from Python: elbo.GaussianMixture(...).fit(X) vs scikit-learn's, same start",
    ),
    (
        "bmm",
        "BMM iteration",
        "Bernoulli mixture, one EM iteration on binarised Fashion-MNIST (elbo-em vs numpy)",
    ),
    (
        "hmm",
        "HMM iteration",
        "Hidden Markov model, one Baum–Welch iteration from identical parameters (elbo-hmm vs hmmlearn)",
    ),
    (
        "vae",
        "VAE",
        "VAE on the same libtorch (elbo-vae/tch vs PyTorch)",
    ),
    ("e2e", "End to end", "End to end"),
    (
        "stream",
        "EM at scale",
        "elbo-em's streaming and online EM (no peer: fit_stream over generated chunks; online against batch EM)",
    ),
];

fn render_markdown(meta: &Meta, outcomes: &[Outcome]) -> String {
    let mut md = String::new();
    let v = &meta.versions;
    let m = &meta.machine;
    let s = |x: &Value| x.as_str().unwrap_or("?").to_owned();
    let busy = meta
        .load
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(0.0, f64::max);
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench{}` on {}; do not edit by hand (the narrative is in \
         `xtask/src/bench.rs`). Reproduce with `cargo xtask bench` (about 15–20 minutes on 2 \
         cores; rewrites this file and `docs/benchmarks.json`), or check for regressions with \
         `cargo xtask bench --quick` (reduced sizes, about 3 minutes, writes to \
         `target/bench/quick-<time>/` or `--out DIR`).\n",
        if meta.mode == "quick" { " --quick" } else { "" },
        meta.date
    );
    let _ = writeln!(
        md,
        "- **Machine**: {}, {} logical CPUs, {} RAM; 1-minute load average {:.1} at the start, \
         up to {:.1} before a case, {:.1} at the end (above 0.5: other jobs were running).",
        s(&m["cpu"]),
        m["cpus"],
        s(&m["memory"]),
        meta.load.first().copied().unwrap_or(f64::NAN),
        busy,
        meta.load.last().copied().unwrap_or(f64::NAN),
    );
    let _ = writeln!(
        md,
        "- **elbo** {} (git {}), {}; **peers** scikit-learn {}, numpy {}, PyTorch {}, Python {}.",
        s(&v["elbo"]),
        s(&v["git"]),
        s(&v["rustc"]),
        s(&v["sklearn"]),
        s(&v["numpy"]),
        s(&v["torch"]),
        s(&v["python"])
    );
    let _ = writeln!(
        md,
        "- **Threads**: {} on both sides (`RAYON_NUM_THREADS`, `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS`; `tch::set_num_threads` / `torch.set_num_threads`).",
        meta.threads
    );
    let _ = writeln!(
        md,
        "- **Run**: {} mode, {:.1} minutes in all.\n",
        meta.mode, meta.minutes
    );
    if busy > 1.0 {
        let _ = writeln!(
            md,
            "**The machine was busy during this run** (load average up to {busy:.1} on {} CPUs): \
             every side ran slower than on a quiet machine, and the multi-threaded ones (OpenBLAS \
             under scikit-learn and numpy, libtorch's OpenMP pool) lose most when their threads \
             wait for a core, so single runs scatter widely and the ratios are less reliable than \
             the pairing makes them on a quiet machine.\n",
            m["cpus"]
        );
    }

    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "| case | unit | elbo: median (min–max) | peer: median (min–max) | ratio, median of pairs (min–max) | target | | share of FLOP floor |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (group, short, _) in GROUPS {
        for o in outcomes.iter().filter(|o| o.case.group == group) {
            let r = row(o);
            let unit = o.case.unit;
            let label = format!("{short}: {}", o.case.label);
            if let Some(e) = &o.error {
                let _ = writeln!(
                    md,
                    "| {} | {} | failed: {} | | | | | |",
                    label,
                    unit.name(),
                    e.lines().next().unwrap_or("")
                );
                continue;
            }
            let peer = if o.case.peer.is_some() {
                format!("{} {}", o.case.peer_name, fmt_stats(unit, r.peer))
            } else {
                format!("no peer; elbo's peak RSS {:.0} MiB", r.elbo_rss)
            };
            let ratio = r.ratio.map_or("—".to_owned(), |q| {
                format!("**{:.2}×** ({:.2}–{:.2})", q.median, q.min, q.max)
            });
            let target = o.case.target.map_or("—".to_owned(), |t| format!("≥ {t}×"));
            let met = match r.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            let floor = r.floor_share.map_or("—".to_owned(), fmt_share);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                label,
                unit.name(),
                fmt_stats(unit, r.elbo),
                peer,
                ratio,
                target,
                met,
                floor
            );
        }
    }
    let _ = writeln!(
        md,
        "\n{}",
        METHOD.replace("{fit_max_iter}", &meta.fit_max_iter.to_string())
    );

    for (group, _, title) in GROUPS {
        let of_group: Vec<&Outcome> = outcomes.iter().filter(|o| o.case.group == group).collect();
        if of_group.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {title}\n");
        let _ = writeln!(
            md,
            "{}\n",
            narrative(group).replace("{fit_max_iter}", &meta.fit_max_iter.to_string())
        );
        let _ = writeln!(
            md,
            "| case | pair ratios (peer ÷ elbo) | check | peak RSS elbo / peer |"
        );
        let _ = writeln!(md, "|---|---|---|---|");
        for o in &of_group {
            let r = row(o);
            let ratios = if r.ratios.is_empty() {
                "—".to_owned()
            } else {
                r.ratios
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let check = match (o.case.check, &r.bounds) {
                (Check::SameBounds(tol), Some(b)) => format!(
                    "bounds of iteration 1: {:.12} / {:.12}; of iteration {}: {:.12} / {:.12}; largest relative difference {:.1e} ({} ≤ {tol:.0e})",
                    b.first.0,
                    b.first.1,
                    b.iterations,
                    b.last.0,
                    b.last.1,
                    b.worst_rel,
                    if b.ok { "ok," } else { "**FAILED**, not" }
                ),
                (Check::ShowBounds, _) => {
                    let last = |s: &[Sample]| {
                        s.last().map(|x| {
                            (
                                bounds(&x.json).last().copied().unwrap_or(f64::NAN),
                                x.json["n_iter"].as_u64().unwrap_or(0),
                                x.json["converged"].as_bool().unwrap_or(false),
                            )
                        })
                    };
                    match (last(&o.elbo), last(&o.peer)) {
                        (Some(e), Some(p)) => format!(
                            "final bound {:.6} after {} iterations{} / {:.6} after {}{} (different k-means++ seeds, not compared)",
                            e.0,
                            e.1,
                            if e.2 { "" } else { " (cap)" },
                            p.0,
                            p.1,
                            if p.2 { "" } else { " (cap)" }
                        ),
                        _ => "—".to_owned(),
                    }
                }
                _ => "—".to_owned(),
            };
            let rss = if o.case.peer.is_some() {
                format!("{:.0} / {:.0} MiB", r.elbo_rss, r.peer_rss)
            } else {
                format!("{:.0} MiB", r.elbo_rss)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                o.case.label, ratios, check, rss
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "## Commands\n\nWhat `cargo xtask bench` ran for each case (paths relative to the repository or the \
        run's data directory; each prints one JSON object, kept under `target/bench/<time>/raw/`):\n\n```text\n{}```",
        meta.commands
    );
    md
}

const METHOD: &str = "\
**Method.** For every case xtask runs elbo's command and the peer's alternately, A B A B …:
one warm-up run of each, then 5 timed runs of each (`--quick`: 2, no warm-up). Each run is a
fresh process that prints one JSON object; its `seconds` is the median time of one unit inside
that process (an EM iteration after the first, a training step over 5 × N steps, one IWAE
evaluation, one whole fit). The table shows the median and the range of those per-run values,
and the **ratio** is peer ÷ elbo computed pair by pair (run i of elbo against run i of the
peer, which ran right after it), then the median and range of those ratios: above 1, elbo is
faster. A target is met when the median ratio reaches it. The **share of the FLOP floor** is the
time of the unit at the machine's peak (the GMM floors of `facts.md`; otherwise the FLOP count
of the case at the measured FMA peak of 116.6 GFLOP/s in f64 and 231.9 in f32) divided by
elbo's median. Where both sides start from the same parameters (the EM cases), the run also
checks that they reach the same lower bounds, at the first and the last iteration, to 1e-8
relative. The machine is shared: single runs vary by ±5–20 %, which is why the ratios are
paired.";

fn narrative(group: &str) -> &'static str {
    match group {
        "gmm-iter" => {
            "\
Same data, same initial parameters, same process count: the data are seeded Gaussian-mixture
samples generated in Rust (`crates/elbo-em/benches/support/cases.rs`) and written once as
`.npy` with the initial weights, means and covariances (uniform weights, means at the first K
rows, every covariance the identity times the mean per-feature variance); `bench_gmm iter`
(elbo-em's `GaussianEm` stepper) and `bench/peers/gmm_sklearn.py iter` (`GaussianMixture` with
`weights_init`/`means_init`/`precisions_init`, `tol = 0` so every iteration runs, its
`_e_step` + `_m_step` timed by wrapping the instance's methods) read the same files.

Where elbo-em's time goes (perf, diag cases): about 35–45 % in the log-sum-exp normalisation
(one `exp` per entry, a branch-free polynomial in an AVX2+FMA variant chosen at run time), about
45 % in the two GEMMs per chunk (matrixmultiply's AVX2/FMA kernel) and the rest in forming the
per-row features; the full case runs the packed, register-blocked `MvNormal::ln_prob_batch`.
scikit-learn spends most of its E-step in `logsumexp` and per-component Python loops."
        }
        "gmm-fit" => {
            "\
A whole `fit` from each library's own k-means++ initialisation (`Init::KMeansPlusPlus` /
`init_params=\"k-means++\"`, seed 0, `tol = 1e-3`), capped at **max_iter = {fit_max_iter}** so
that scikit-learn's side stays bounded (a capped fit is marked \"(cap)\"). The two libraries
draw different seeds, so the fits take different paths: the time includes the initialisation
and the iterations each needed, and the final bounds are shown side by side, not compared."
        }
        "bmm" => {
            "\
The Fashion-MNIST training images (60,000 × 784 from `cargo xtask fetch-data fashion-mnist`),
binarised at grey level > 0.5, K = 100, from the same start (uniform weights, probabilities
drawn uniformly from [0.25, 0.75] with seed 0). The peer, `bench/peers/bmm_numpy.py`, was
written for the bench as a numpy user would: the E-step `X @ logit(P).T` plus the constant
and a log-sum-exp, the M-step `R.T @ X / N_k` clipped to [1e-6, 1 − 1e-6] with the same
`N_k` floor as elbo-em. elbo-em does the same two GEMMs chunk by chunk in f64, so the floor is
4·N·d·K FLOP at the f64 peak."
        }
        "vae" => {
            "\
The same model on the same libtorch (the PyTorch 2.13.0 wheel in the cached venv), CPU, same
thread count: the Rust side is `crates/elbo-vae/examples/bench_step.rs` (elbo-vae's `Vae`,
`elbo()` and `iwae_chunked()`, tch's Adam), the peer `bench/peers/vae_step.py` (the same
networks written in PyTorch the usual way: `binary_cross_entropy_with_logits`, per-point IWAE
under `inference_mode`). **Training** is forward, loss (−ELBO, Bernoulli logits, one
reparameterised sample), backward and an Adam step (lr 1e-3) on a fixed batch of 128 binary
vectors, 20 warm-up steps then 5 × N steps (`--quick`: 3, then 3 × N), shown as samples per second (so the unit is
inverted: higher is better, and the ratio is still elbo's speed-up). The conv VAE mirrors
`Architecture::Conv` (kernel 4, stride 2, padding 1: 28 → 14 → 7, 3136 → 256 → 2·20, then
back with transposed convolutions). **IWAE** is the importance-weighted estimate of log p(x)
after a 200-step training run (`--quick`: 20), one warm-up evaluation on 2 points, then one timed evaluation.
The step runs the same kernels on both sides; the Rust loop saves the Python dispatch of
≈ 100 ops per step and uses libtorch's C++ Adam. The IWAE is dominated by the decoder's second
GEMM (20 → 400 → 784 on k·n codes); elbo-vae processes all points together in chunks of ≈ 1000
codes, computes Σ_d x_d l_d as a batched matrix–vector product instead of materialising x k
times, and does not build the BCE temporaries."
        }
        "gmm-py" => {
            "\
The per-iteration cases again, from Python: `bench/peers/gmm_python.py` builds
`elbo.GaussianMixture` (the `crates/elbo-py` package, built by maturin into its venv) or
scikit-learn's with the same `weights_init` / `means_init` / `precisions_init`, `tol = 0` and
`max_iter = iters`, and times the whole `fit(X)`: the time per iteration includes each
library's validation, start-up and final pass. Both sides run in the same python. The binding
reads the numpy array in place and releases the GIL, so its ratio should stay within about
10 % of the Rust ratio of the same case (one iteration from identical parameters, above)."
        }
        "stream" => {
            "\
`crates/elbo-em/examples/bench_stream.rs`. **fit_stream**: a diagonal Gaussian mixture
(d = 8, K = 8, k-means++ on the first chunk, 5 iterations) fitted over rows generated chunk by
chunk (100k rows each, seeded per chunk so every pass sees the same rows) and never held in
memory at once; the unit is rows per second per iteration, generation included (it is the
stream's source), and the peak resident memory of the ten-times-larger N must be the same
as the smaller one's. **Online vs batch**: on the rows of the label, in memory, the time each strategy needs
until the model's log-likelihood comes within 1 % of batch EM's converged value (the
evaluation is not timed); online EM is `Strategy::Online { batch_size: 10000, decay: 0.6 }`,
one iteration = a full E-step pass plus an epoch of mini-batch updates. The \"peer\" here is
elbo-em's own batch EM: a ratio above 1 means online EM got there first."
        }
        "hmm" => {
            "\
`crates/elbo-hmm/examples/bench_hmm.rs` against `bench/peers/hmm_hmmlearn.py` (hmmlearn 0.3.3):
one Baum–Welch iteration of a GaussianHMM with full covariances, K = 8 states, d = 4, on data
drawn from a fixed 8-state HMM, (a) one sequence of 100,000 steps, (b) 1,000 sequences of 100
steps; both sides start from the same written parameters and run single-iteration fits in a
row (`n_iter = 1`, `init_params = \"\"`, the \"log\" implementation, hmmlearn's default), so
the log-likelihoods of the first and last iterations are compared too."
        }
        "e2e" => {
            "\
The release `elbo` binary running the `quickstart` preset (Bernoulli mixtures with 10 and 50
components by EM and a 784-400-20 VAE on the 10,000 `mnist-10k` digits, IWAE evaluation,
report) into a scratch runs directory: wall time of the process and its peak resident memory
(`VmHWM`, polled every 25 ms). There is no peer."
        }
        _ => "",
    }
}

fn render_json(meta: &Meta, outcomes: &[Outcome]) -> Value {
    let cases: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let r = row(o);
            let side = |s: &[Sample], st: Option<Stats>, rss: f64| {
                json!({
                    "impl": s.first().and_then(|x| x.json["impl"].as_str()).unwrap_or(""),
                    "seconds": s.iter().map(|x| x.seconds).collect::<Vec<_>>(),
                    "wall_seconds": s.iter().map(|x| x.wall).collect::<Vec<_>>(),
                    "median_seconds": st.map(|x| x.median),
                    "min_seconds": st.map(|x| x.min),
                    "max_seconds": st.map(|x| x.max),
                    "median_shown": st.map(|x| o.case.unit.show(x.median)),
                    "peak_rss_mib": rss,
                })
            };
            json!({
                "id": o.case.id,
                "group": o.case.group,
                "label": o.case.label,
                "unit": o.case.unit.name(),
                "error": o.error,
                "elbo": side(&o.elbo, r.elbo, r.elbo_rss),
                "peer": o.case.peer.as_ref().map(|_| side(&o.peer, r.peer, r.peer_rss)),
                "peer_name": o.case.peer_name,
                "ratios": r.ratios,
                "ratio_median": r.ratio.map(|x| x.median),
                "ratio_min": r.ratio.map(|x| x.min),
                "ratio_max": r.ratio.map(|x| x.max),
                "target": o.case.target,
                "met": r.met,
                "floor_seconds": o.case.floor.map(|f| [f.0, f.1]),
                "floor_share": r.floor_share.map(|f| [f.0, f.1]),
                "bounds_check": r.bounds.map(|b| json!({
                    "first": [b.first.0, b.first.1],
                    "last": [b.last.0, b.last.1],
                    "iterations": b.iterations,
                    "worst_rel": if b.worst_rel.is_finite() { json!(b.worst_rel) } else { Value::Null },
                    "ok": b.ok,
                })),
            })
        })
        .collect();
    json!({
        "schema": 1,
        "date": meta.date,
        "mode": meta.mode,
        "threads": meta.threads,
        "minutes": meta.minutes,
        "machine": meta.machine,
        "load_average": meta.load,
        "versions": meta.versions,
        "cases": cases,
    })
}

fn commands_text(outcomes: &[Outcome], root: &Path) -> String {
    let mut out = String::new();
    for o in outcomes {
        let _ = writeln!(out, "# {}", o.case.id);
        let _ = writeln!(out, "{}", o.case.elbo.shell(root));
        if let Some(p) = &o.case.peer {
            let _ = writeln!(out, "{}", p.shell(root));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The machine, versions, time.

fn machine() -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.0} GiB", kib / 1024.0 / 1024.0)
        });
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    json!({ "cpu": cpu, "cpus": cpus, "memory": memory, "os": std::env::consts::OS })
}

fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn versions(root: &Path, python: &Path) -> Value {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc = output_of(Command::new(rustc).arg("-V")).unwrap_or_else(|| "rustc ?".to_owned());
    let git = output_of(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root),
    );
    let dirty = output_of(
        Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(root),
    )
    .is_some_and(|s| !s.is_empty());
    let git = git.map_or("?".to_owned(), |g| {
        if dirty {
            format!("{g}, with local changes")
        } else {
            g
        }
    });
    let peers = output_of(Command::new(python).args([
        "-c",
        "import json, platform, sklearn, numpy, torch; print(json.dumps({'sklearn': sklearn.__version__, \
         'numpy': numpy.__version__, 'torch': torch.__version__, 'python': platform.python_version()}))",
    ]))
    .and_then(|s| serde_json::from_str::<Value>(&s).ok())
    .unwrap_or(Value::Null);
    json!({
        "elbo": env!("CARGO_PKG_VERSION"),
        "git": git,
        "rustc": rustc,
        "sklearn": peers["sklearn"],
        "numpy": peers["numpy"],
        "torch": peers["torch"],
        "python": peers["python"],
    })
}

/// (year, month, day, hour, minute, second) of a time, in UTC.
fn utc_fields(t: SystemTime) -> (i32, u8, u8, u8, u8, u8) {
    let t = OffsetDateTime::from(t);
    (
        t.year(),
        t.month().into(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

/// `20261201T213000Z`, for directory names.
fn utc_stamp(t: SystemTime) -> String {
    let (y, m, d, hh, mm, ss) = utc_fields(t);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// `2026-12-01 21:30 UTC`, for the report.
fn stamp_human(t: SystemTime) -> String {
    let (y, m, d, hh, mm, _) = utc_fields(t);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// Writes a file whole: a temporary file in the same directory (so that the rename stays on
/// one file system), flushed to disk, then renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let write = || -> std::io::Result<()> {
        let mut builder = tempfile::Builder::new();
        // fs::write's mode (0666 less the umask), not tempfile's owner-only 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64, bounds: &[f64]) -> Sample {
        Sample {
            seconds,
            wall: seconds,
            peak_rss_mib: 10.0,
            json: json!({ "seconds": seconds, "bounds": bounds, "impl": "x" }),
        }
    }

    #[test]
    fn median_min_max_by_hand() {
        let s = stats(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = stats(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(stats(&[]).is_none());
        assert!(stats(&[f64::NAN]).is_none());
    }

    #[test]
    fn ratios_are_peer_over_elbo_pair_by_pair() {
        // elbo 10, 20, 40 ms; peer 100, 100, 100 ms → 10, 5, 2.5; median 5.
        let r = pair_ratios(&[0.010, 0.020, 0.040], &[0.1, 0.1, 0.1]);
        let expect = [10.0, 5.0, 2.5];
        for (a, b) in r.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let s = stats(&r).unwrap();
        assert!((s.median - 5.0).abs() < 1e-12);
        assert!((s.min - 2.5).abs() < 1e-12 && (s.max - 10.0).abs() < 1e-12);
    }

    #[test]
    fn relative_difference_and_bound_check() {
        assert_eq!(rel_diff(-2.0, -2.0), 0.0);
        assert!((rel_diff(-100.0, -100.000001) - 1e-8).abs() < 1e-12);
        let e = [sample(1.0, &[-30.0, -20.0]), sample(1.0, &[-30.0, -20.0])];
        let p = [
            sample(2.0, &[-30.0, -20.0 * (1.0 + 1e-10)]),
            sample(2.0, &[-30.0, -20.0]),
        ];
        let b = check_bounds(&e, &p, 1e-8).unwrap();
        assert!(b.ok);
        assert_eq!(b.iterations, 2);
        assert!((b.worst_rel - 1e-10).abs() < 1e-14, "{}", b.worst_rel);
        let p_bad = [sample(2.0, &[-30.0, -20.001]), sample(2.0, &[-30.0, -20.0])];
        assert!(!check_bounds(&e, &p_bad, 1e-8).unwrap().ok);
        // A different number of iterations is a failure, whatever the values.
        let p_short = [sample(2.0, &[-30.0]), sample(2.0, &[-30.0, -20.0])];
        assert!(!check_bounds(&e, &p_short, 1e-8).unwrap().ok);
    }

    #[test]
    fn units_and_number_formatting() {
        assert_eq!(Unit::MsPerIter.show(0.0229), 22.9);
        assert_eq!(Unit::PerSecond { items: 128.0 }.show(0.005), 25_600.0);
        assert_eq!(fmt_sig(22.94), "22.9");
        assert_eq!(fmt_sig(323.4), "323");
        assert_eq!(fmt_sig(2.944), "2.94");
        assert_eq!(fmt_sig(25_600.4), "25600");
        // A throughput's range is flipped: the slowest run gives the lowest rate.
        let s = Stats {
            median: 0.005,
            min: 0.004,
            max: 0.008,
        };
        assert_eq!(
            fmt_stats(Unit::PerSecond { items: 128.0 }, Some(s)),
            "25600 (16000–32000)"
        );
        assert_eq!(fmt_share((0.44, 0.79)), "44–79 %");
        assert_eq!(fmt_share((0.31, 0.31)), "31 %");
        assert_eq!(count(100_000), "100k");
        assert_eq!(count(1_000_000), "1M");
        assert_eq!(count(6000), "6k");
        assert_eq!(count(1234), "1234");
    }

    #[test]
    fn write_atomic_creates_the_folder_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs").join("b.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("b.json")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let plain = dir.path().join("plain");
            fs::write(&plain, b"x").unwrap();
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&path), mode(&plain), "the mode fs::write gives");
        }
    }

    #[test]
    fn dates_by_hand() {
        use std::time::UNIX_EPOCH;
        let day = |d: u64| UNIX_EPOCH + Duration::from_secs(d * 86_400);
        assert_eq!(utc_stamp(day(0)), "19700101T000000Z");
        assert_eq!(utc_stamp(day(11_016)), "20000229T000000Z");
        // 2026-12-01 is day 20,788.
        assert_eq!(utc_stamp(day(20_788)), "20261201T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(20_788 * 86_400 + 21 * 3600 + 30 * 60 + 5);
        assert_eq!(utc_stamp(t), "20261201T213005Z");
        assert_eq!(stamp_human(t), "2026-12-01 21:30 UTC");
    }

    #[test]
    fn vm_hwm_is_read_from_proc_status_text() {
        let text = "Name:\telbo\nVmPeak:\t  9000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(vm_hwm_kib(text), Some(123_456));
        assert_eq!(vm_hwm_kib("Name: x\n"), None);
    }

    #[test]
    fn options() {
        let o = parse_options(&[
            "--quick".into(),
            "--out".into(),
            "x".into(),
            "--only".into(),
            "gmm".into(),
        ])
        .unwrap()
        .unwrap();
        assert!(o.quick);
        assert_eq!(o.out, Some(PathBuf::from("x")));
        assert_eq!(o.only, vec!["gmm".to_owned()]);
        assert_eq!(o.threads, 2);
        assert!(parse_options(&["--threads".into(), "0".into()]).is_err());
        assert!(parse_options(&["--bogus".into()]).is_err());
        assert!(parse_options(&["--help".into()]).unwrap().is_none());
    }

    fn outcome(elbo: &[f64], peer: &[f64], target: Option<f64>) -> Outcome {
        let side = Side::new(Path::new("/x/bench"), &[]);
        Outcome {
            case: Case {
                id: "t".into(),
                group: "gmm-iter",
                label: "test case".into(),
                unit: Unit::MsPerIter,
                elbo: side.clone(),
                peer: Some(side),
                peer_name: "peer",
                measure: Measure::Json,
                check: Check::SameBounds(1e-8),
                target,
                floor: Some((0.005, 0.005)),
                runs: None,
            },
            elbo: elbo.iter().map(|&s| sample(s, &[-3.0, -2.0])).collect(),
            peer: peer.iter().map(|&s| sample(s, &[-3.0, -2.0])).collect(),
            error: None,
        }
    }

    #[test]
    fn row_target_and_floor_share() {
        // elbo 10 / 20 ms, peer 100 / 150 ms: ratios 10 and 7.5, median 8.75.
        let r = row(&outcome(&[0.010, 0.020], &[0.100, 0.150], Some(8.0)));
        assert!((r.ratio.unwrap().median - 8.75).abs() < 1e-12);
        assert_eq!(r.met, Some(true));
        // elbo median 15 ms against a 5 ms floor: a third.
        let (lo, hi) = r.floor_share.unwrap();
        assert!((lo - 1.0 / 3.0).abs() < 1e-12 && (hi - lo).abs() < 1e-15);
        let r = row(&outcome(&[0.010, 0.020], &[0.100, 0.150], Some(9.0)));
        assert_eq!(r.met, Some(false));
    }

    #[test]
    fn markdown_shows_target_verdict_and_check() {
        let meta = Meta {
            date: "2026-12-01 21:30 UTC".into(),
            mode: "quick".into(),
            threads: 2,
            machine: json!({"cpu": "cpu", "cpus": 2, "memory": "24 GiB"}),
            load: vec![1.0, 2.0],
            versions: json!({}),
            minutes: 1.0,
            fit_max_iter: 30,
            commands: "x\n".into(),
        };
        let md = render_markdown(
            &meta,
            &[outcome(&[0.010, 0.020], &[0.100, 0.150], Some(9.0))],
        );
        assert!(md.contains("| GMM iteration: test case | ms/iter | 15.0 (10.0–20.0) | peer 125 (100–150) | **8.75×** (7.50–10.00) | ≥ 9× | **missed** | 33 % |"), "{md}");
        assert!(
            md.contains("largest relative difference 0.0e0 (ok,"),
            "{md}"
        );
        let j = render_json(&meta, &[outcome(&[0.010], &[0.100], Some(8.0))]);
        assert_eq!(j["cases"][0]["met"], json!(true));
        assert_eq!(j["cases"][0]["ratio_median"], json!(10.0));
    }

    #[test]
    fn every_case_has_a_unique_id_and_the_quick_run_is_smaller() {
        let root = PathBuf::from("/r");
        let c = Ctx {
            examples: PathBuf::from("/r/target/release/examples"),
            elbo_bin: PathBuf::from("/r/target/release/elbo"),
            python: PathBuf::from("/v/bin/python"),
            elbo_python: PathBuf::from("/p/bin/python"),
            peers: PathBuf::from("/r/bench/peers"),
            gmm_dir: PathBuf::from("/r/target/bench/gmm"),
            hmm_dir: PathBuf::from("/r/target/bench/hmm"),
            bmm_dir: PathBuf::from("/r/target/bench/bmm"),
            runs_dir: PathBuf::from("/r/target/bench/runs"),
            data_dir: PathBuf::from("/d"),
            threads: 2,
        };
        let full = cases(&c, &Sizes::new(false));
        let quick = cases(&c, &Sizes::new(true));
        let mut ids: Vec<&str> = full.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), full.len());
        assert_eq!(full.len(), quick.len());
        for (f, q) in full.iter().zip(&quick) {
            assert!(
                f.group == "e2e" || f.group == "stream" || f.peer.is_some(),
                "{}",
                f.id
            );
            if let (Some((fl, _)), Some((ql, _))) = (f.floor, q.floor) {
                assert!(ql <= fl, "{}", f.id);
            }
        }
        assert_eq!(
            full[0].elbo.shell(&root),
            "target/release/examples/bench_gmm iter target/bench/gmm n100k_d16_k16_full --iters 10"
        );
    }
}

//! Streaming and online EM at scale (issue: the EM family, "performance and scale").
//!
//! 1. `fit_stream` of a diagonal Gaussian mixture (d = 8, K = 8) over `--rows` rows (default
//!    10 million) generated chunk by chunk from a seeded mixture, never held in memory at once:
//!    rows/s per EM iteration (with and without the generator's share) and the peak resident
//!    memory of the fit, next to the same fit over a tenth of the rows (memory must not grow
//!    with N).
//! 2. Online EM against batch EM on 1M rows in memory: the time each needs to come within 1 %
//!    of batch EM's converged log-likelihood.
//!
//! Prints one JSON object on stdout (for `cargo xtask bench`, which runs the modes as cases)
//! and a readable line on stderr.
//!
//! ```text
//! cargo run --release -p elbo-em --example bench_stream -- stream [--rows 10000000] [--iters 5] [--chunk 100000]
//! cargo run --release -p elbo-em --example bench_stream -- online [--rows 1000000]
//! cargo run --release -p elbo-em --example bench_stream -- batch  [--rows 1000000]
//! ```

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    missing_docs
)]

use std::convert::Infallible;
use std::time::Instant;

use elbo_em::{Covariance, Covariances, GaussianEm, GaussianMixture, Init, Strategy};
use ndarray::{Array1, Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const D: usize = 8;
const K: usize = 8;

/// Peak resident set size of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Resets the peak-RSS counter to the current RSS (Linux ≥ 4.0; ignored elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The generating mixture: means N(0, 3²), diagonal variances in [0.3, 2], weights uniform on
/// [0.5, 1.5] normalised.
fn truth(seed: u64) -> GaussianMixture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut weights = Array1::from_shape_fn(K, |_| rng.random_range(0.5..1.5));
    weights /= weights.sum();
    let means = Array2::from_shape_fn((K, D), |_| {
        3.0 * (rng.random::<f64>() + rng.random::<f64>() + rng.random::<f64>() - 1.5)
    });
    let covs = Array3::from_shape_fn((K, D, D), |(_, i, j)| {
        if i == j {
            0.3 + 1.7 * rng.random::<f64>()
        } else {
            0.0
        }
    });
    GaussianMixture::from_covariances(weights, means, Covariances::Full(covs)).unwrap()
}

/// Chunk `i` of the stream: its own random stream of the seed, so every pass sees the same
/// rows. A cheap generator (the benchmark times EM, not sampling): a component uniformly, then
/// each coordinate its mean plus its standard deviation times a centred sum of four uniforms
/// (variance 1 after scaling; close enough to normal for a benchmark).
fn chunk(model: &GaussianMixture, i: usize, rows: usize) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    rng.set_stream(i as u64);
    let sd = match model.covariances() {
        Covariances::Full(c) => Array2::from_shape_fn((K, D), |(k, j)| c[[k, j, j]].sqrt()),
        _ => unreachable!("the truth is built with full (diagonal) covariances"),
    };
    let means = model.means();
    let mut x = Array2::zeros((rows, D));
    for mut row in x.rows_mut() {
        let c = (rng.random::<u32>() as usize) % K;
        for (j, v) in row.iter_mut().enumerate() {
            let u: u64 = rng.random();
            let sum: f64 = (0..4)
                .map(|s| ((u >> (16 * s)) & 0xffff) as f64)
                .sum::<f64>()
                / 65_536.0
                - 2.0;
            *v = means[[c, j]] + sd[[c, j]] * sum * 3.0f64.sqrt();
        }
    }
    x
}

struct StreamResult {
    rows: usize,
    iters: usize,
    seconds_per_iter: f64,
    generate_seconds: f64,
    peak_rss_mib: f64,
    lower_bound: f64,
}

fn stream_fit(
    model: &GaussianMixture,
    rows: usize,
    chunk_rows: usize,
    iters: usize,
) -> StreamResult {
    let n_chunks = rows.div_ceil(chunk_rows);
    let size = |i: usize| chunk_rows.min(rows - i * chunk_rows);
    // The generator alone, for its share of a pass.
    let t = Instant::now();
    let mut sink = 0.0;
    for i in 0..n_chunks {
        sink += chunk(model, i, size(i))[[0, 0]];
    }
    let generate_seconds = t.elapsed().as_secs_f64();
    assert!(sink.is_finite());
    reset_peak_rss();
    let t = Instant::now();
    let fit = GaussianMixture::params(K)
        .covariance(Covariance::Diag)
        .init(Init::KMeansPlusPlus)
        .tol(0.0)
        .max_iter(iters)
        .seed(0)
        .fit_stream(|| (0..n_chunks).map(|i| Ok::<_, Infallible>(chunk(model, i, size(i)))))
        .unwrap();
    let total = t.elapsed().as_secs_f64();
    // n_iter passes plus the initialisation's and the trace's closing pass.
    let passes = fit.n_iter + 1;
    StreamResult {
        rows,
        iters: fit.n_iter,
        seconds_per_iter: total / passes as f64,
        generate_seconds,
        peak_rss_mib: peak_rss_mib(),
        lower_bound: fit.lower_bound,
    }
}

/// Seconds until the model's log-likelihood first comes within 1 % of `target`, stepping `em`
/// (the evaluation is not timed), or `None` within `max_steps`.
fn time_to_within(
    em: &mut GaussianEm<'_, f64>,
    x: &Array2<f64>,
    target: f64,
    max_steps: usize,
) -> (Option<f64>, usize) {
    let mut elapsed = 0.0;
    for step in 1..=max_steps {
        let t = Instant::now();
        em.step().unwrap();
        elapsed += t.elapsed().as_secs_f64();
        let ll = em.model().score(x.view()).unwrap();
        if ll >= target - 0.01 * target.abs() {
            return (Some(elapsed), step);
        }
    }
    (None, max_steps)
}

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let rows = flag(&args, "--rows", 10_000_000);
    let iters = flag(&args, "--iters", 5);
    let chunk_rows = flag(&args, "--chunk", 100_000);
    let model = truth(1);
    match mode {
        // fit_stream over `rows` generated rows: one JSON line, `seconds` per iteration.
        "stream" => {
            let r = stream_fit(&model, rows, chunk_rows, iters);
            eprintln!(
                "fit_stream N={}: {:.3} s/iter = {:.3e} rows/s (generating the rows: {:.3} s of each pass), peak RSS {:.1} MiB",
                r.rows,
                r.seconds_per_iter,
                r.rows as f64 / r.seconds_per_iter,
                r.generate_seconds,
                r.peak_rss_mib
            );
            println!(
                "{{\"seconds\": {}, \"rows\": {}, \"iterations\": {}, \"generate_seconds\": {}, \"peak_rss_mib\": {}, \"bounds\": [{}]}}",
                r.seconds_per_iter,
                r.rows,
                r.iters,
                r.generate_seconds,
                r.peak_rss_mib,
                r.lower_bound
            );
        }
        // Seconds of online (or batch) EM until within 1 % of batch EM's converged ln p.
        "online" | "batch" => {
            let x = chunk(&model, 1_000_000, rows);
            let base = GaussianMixture::params(K)
                .covariance(Covariance::Diag)
                .init(Init::KMeansPlusPlus)
                .seed(0);
            let converged = base.clone().tol(1e-6).max_iter(500).fit(x.view()).unwrap();
            let target = converged.model.score(x.view()).unwrap();
            let params = if mode == "online" {
                base.strategy(Strategy::Online {
                    batch_size: 10_000,
                    decay: 0.6,
                })
            } else {
                base
            }
            .check()
            .unwrap();
            let mut em = GaussianEm::new(&params, x.view(), None).unwrap();
            let (seconds, steps) = time_to_within(&mut em, &x, target, 500);
            let Some(seconds) = seconds else {
                eprintln!("{mode} EM did not come within 1 % of {target} in {steps} iterations");
                std::process::exit(1);
            };
            eprintln!(
                "{mode} EM: within 1 % of batch EM's converged ln p ({target:.6}) after {seconds:.3} s ({steps} iterations)"
            );
            println!("{{\"seconds\": {seconds}, \"iterations\": {steps}, \"target\": {target}}}");
        }
        _ => {
            eprintln!(
                "usage: bench_stream stream [--rows N] [--iters I] [--chunk C] | online [--rows N] | batch [--rows N]"
            );
            std::process::exit(2);
        }
    }
}

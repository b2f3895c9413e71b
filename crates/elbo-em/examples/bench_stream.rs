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
//! Prints one JSON object on stdout (for `cargo xtask bench`) and a readable summary on
//! stderr.
//!
//! ```text
//! cargo run --release -p elbo-em --example bench_stream -- [--rows 10000000] [--iters 5]
//!     [--chunk 100000] [--online-rows 1000000]
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

/// Chunk `i` of the stream: its own random stream of the seed, so every pass sees the same rows.
fn chunk(model: &GaussianMixture, i: usize, rows: usize) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    rng.set_stream(i as u64);
    model.sample(rows, &mut rng).0
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

fn main() {
    let mut rows = 10_000_000usize;
    let mut iters = 5usize;
    let mut chunk_rows = 100_000usize;
    let mut online_rows = 1_000_000usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<usize>().ok());
        match a.as_str() {
            "--rows" => rows = value().unwrap_or(rows),
            "--iters" => iters = value().unwrap_or(iters),
            "--chunk" => chunk_rows = value().unwrap_or(chunk_rows),
            "--online-rows" => online_rows = value().unwrap_or(online_rows),
            other => {
                eprintln!("unknown argument {other}; see the file's header for the flags");
                std::process::exit(2);
            }
        }
    }
    let model = truth(1);

    let small = stream_fit(&model, rows / 10, chunk_rows, iters);
    let large = stream_fit(&model, rows, chunk_rows, iters);
    for r in [&small, &large] {
        eprintln!(
            "fit_stream N={:>10}: {:.3} s/iter = {:.2e} rows/s ({:.2e} without the generator's {:.3} s), peak RSS {:.1} MiB, bound {:.6}",
            r.rows,
            r.seconds_per_iter,
            r.rows as f64 / r.seconds_per_iter,
            r.rows as f64 / (r.seconds_per_iter - r.generate_seconds).max(1e-9),
            r.generate_seconds,
            r.peak_rss_mib,
            r.lower_bound
        );
    }

    // Online against batch EM, in memory, from the same k-means++ start.
    let x = chunk(&model, 1_000_000, online_rows);
    let base = GaussianMixture::params(K)
        .covariance(Covariance::Diag)
        .init(Init::KMeansPlusPlus)
        .seed(0);
    let converged = base.clone().tol(1e-6).max_iter(500).fit(x.view()).unwrap();
    let target = converged.model.score(x.view()).unwrap();
    let batch_params = base.clone().check().unwrap();
    let mut batch = GaussianEm::new(&batch_params, x.view(), None).unwrap();
    let (batch_time, batch_steps) = time_to_within(&mut batch, &x, target, 500);
    let online_params = base
        .strategy(Strategy::Online {
            batch_size: 10_000,
            decay: 0.6,
        })
        .check()
        .unwrap();
    let mut online = GaussianEm::new(&online_params, x.view(), None).unwrap();
    let (online_time, online_steps) = time_to_within(&mut online, &x, target, 50);
    let show = |t: Option<f64>| t.map_or("not reached".to_owned(), |t| format!("{t:.3} s"));
    eprintln!(
        "within 1 % of batch EM's converged ln p ({target:.6}) on {online_rows} rows: batch EM {} ({batch_steps} iterations), online EM {} ({online_steps} epochs of batches of 10000)",
        show(batch_time),
        show(online_time)
    );
    let opt = |t: Option<f64>| t.map_or("null".to_owned(), |t| format!("{t}"));
    println!(
        "{{\"stream\": [{}], \"online\": {{\"rows\": {online_rows}, \"target\": {target}, \"batch_seconds\": {}, \"batch_iterations\": {batch_steps}, \"online_seconds\": {}, \"online_epochs\": {online_steps}, \"batch_size\": 10000, \"decay\": 0.6}}}}",
        [&small, &large]
            .iter()
            .map(|r| format!(
                "{{\"rows\": {}, \"iterations\": {}, \"seconds_per_iter\": {}, \"generate_seconds\": {}, \"rows_per_second\": {}, \"peak_rss_mib\": {}, \"lower_bound\": {}}}",
                r.rows,
                r.iters,
                r.seconds_per_iter,
                r.generate_seconds,
                r.rows as f64 / r.seconds_per_iter,
                r.peak_rss_mib,
                r.lower_bound
            ))
            .collect::<Vec<_>>()
            .join(", "),
        opt(batch_time),
        opt(online_time)
    );
}

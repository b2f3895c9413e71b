//! The elbo-em side of the Gaussian-mixture cases of `cargo xtask bench`; the scikit-learn side
//! is `bench/peers/gmm_sklearn.py`, which reads the same files and prints the same JSON shape.
//!
//! ```text
//! bench_gmm write DIR [--n-div D]          # data + initial parameters of every case
//! bench_gmm iter DIR CASE [--iters N]      # N EM iterations from the written start
//! bench_gmm fit DIR CASE [--max-iter M] [--tol T] [--seed S]   # a whole fit, k-means++ init
//! ```
//! `write` puts `<case>_X.npy` (f64, C order) and `<case>_init.json` (weights, means and
//! covariances in scikit-learn's layout) in DIR for each case of `benches/support/cases.rs`,
//! with N divided by D (reduced sizes for `--quick`). `iter` and `fit` print one JSON object:
//! `seconds` (median time of an iteration after the first, or of the whole fit), the per-sample
//! lower bound of every iteration (`bounds`, scikit-learn's `lower_bounds_`), `n_iter` and the
//! peak resident memory of the process.

#![allow(clippy::print_stdout, missing_docs)] // a benchmark's only output is its report

#[path = "../benches/support/cases.rs"]
mod cases;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use elbo_em::{Covariance, Covariances, GaussianEm, GaussianGiven, GaussianMixture, Init};
use ndarray::{Array1, Array2, Array3};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let positional: Vec<&String> = {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a.starts_with("--") {
                it.next();
            } else {
                out.push(a);
            }
        }
        out
    };
    match positional.as_slice() {
        [cmd, dir] if cmd.as_str() == "write" => {
            write_cases(Path::new(dir), flag("--n-div", "1").parse()?)
        }
        [cmd, dir, case] if cmd.as_str() == "iter" => {
            let iters: usize = flag("--iters", "10").parse()?;
            iterate(Path::new(dir), case, iters)
        }
        [cmd, dir, case] if cmd.as_str() == "fit" => fit(
            Path::new(dir),
            case,
            flag("--max-iter", "100").parse()?,
            flag("--tol", "1e-3").parse()?,
            flag("--seed", "0").parse()?,
        ),
        _ => Err(
            "usage: bench_gmm write DIR [--n-div D] | iter DIR CASE [--iters N] | \
                  fit DIR CASE [--max-iter M] [--tol T] [--seed S]"
                .into(),
        ),
    }
}

fn write_cases(dir: &Path, n_div: usize) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for case in &cases::CASES {
        let case = cases::Case {
            n: case.n / n_div.max(1),
            ..*case
        };
        let x = cases::data(&case);
        let given = cases::start(&case, &x);
        elbo_datasets::write_npy(&dir.join(format!("{}_X.npy", case.name)), x.view())?;
        let covariances = match &given.spread {
            elbo_em::GivenSpread::Covariances(Covariances::Full(c)) => json!(
                c.outer_iter()
                    .map(|m| m.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            ),
            elbo_em::GivenSpread::Covariances(Covariances::Diag(c)) => {
                json!(c.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
            }
            _ => return Err("the cases are full or diag".into()),
        };
        let init = json!({
            "covariance_type": case.covariance.name(),
            "n_components": case.k,
            "weights": given.weights.to_vec(),
            "means": given.means.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
            "covariances": covariances,
        });
        std::fs::write(
            dir.join(format!("{}_init.json", case.name)),
            init.to_string(),
        )?;
        written.push(json!({"case": case.name, "n": case.n, "d": case.d, "k": case.k}));
    }
    println!("{}", json!({ "written": written }));
    Ok(())
}

/// The data and the start of a written case.
fn load(dir: &Path, case: &str) -> Res<(Array2<f64>, Covariance, usize, GaussianGiven)> {
    let x: Array2<f64> = elbo_datasets::read_npy_array(&dir.join(format!("{case}_X.npy")))?;
    let path: PathBuf = dir.join(format!("{case}_init.json"));
    let init: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let k = init["n_components"].as_u64().ok_or("n_components")? as usize;
    let d = x.ncols();
    let floats = |v: &Value| -> Res<Vec<f64>> {
        let mut out = Vec::new();
        flatten(v, &mut out)?;
        Ok(out)
    };
    let weights = Array1::from(floats(&init["weights"])?);
    let means = Array2::from_shape_vec((k, d), floats(&init["means"])?)?;
    let (covariance, spread) = match init["covariance_type"].as_str() {
        Some("full") => (
            Covariance::Full,
            Covariances::Full(Array3::from_shape_vec(
                (k, d, d),
                floats(&init["covariances"])?,
            )?),
        ),
        Some("diag") => (
            Covariance::Diag,
            Covariances::Diag(Array2::from_shape_vec(
                (k, d),
                floats(&init["covariances"])?,
            )?),
        ),
        other => return Err(format!("{}: covariance_type {other:?}", path.display()).into()),
    };
    Ok((
        x,
        covariance,
        k,
        GaussianGiven::from_covariances(weights, means, spread),
    ))
}

fn flatten(v: &Value, out: &mut Vec<f64>) -> Res<()> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        Value::Number(n) => {
            out.push(n.as_f64().ok_or("not a float")?);
            Ok(())
        }
        other => Err(format!("expected numbers, got {other}").into()),
    }
}

fn iterate(dir: &Path, case: &str, iters: usize) -> Res<()> {
    let (x, covariance, k, given) = load(dir, case)?;
    let params = GaussianMixture::params(k)
        .covariance(covariance)
        .init(Init::Given(given))
        .check()?;
    let mut em = GaussianEm::new(&params, x.view(), None)?;
    let mut bounds = Vec::with_capacity(iters);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(2) {
        let t = Instant::now();
        bounds.push(em.step()?);
        times.push(t.elapsed().as_secs_f64());
    }
    // The first iteration warms the caches and the thread pool; it is not timed.
    let timed = times[1..].to_vec();
    println!(
        "{}",
        json!({
            "impl": format!("elbo-em {}", env!("CARGO_PKG_VERSION")),
            "case": case,
            "n": x.nrows(), "d": x.ncols(), "k": k,
            "seconds": median(&timed),
            "seconds_all": timed,
            "bounds": bounds,
            "n_iter": bounds.len(),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

fn fit(dir: &Path, case: &str, max_iter: usize, tol: f64, seed: u64) -> Res<()> {
    let (x, covariance, k, _) = load(dir, case)?;
    let t = Instant::now();
    let fit = GaussianMixture::params(k)
        .covariance(covariance)
        .init(Init::KMeansPlusPlus)
        .max_iter(max_iter)
        .tol(tol)
        .seed(seed)
        .fit(x.view())?;
    let seconds = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "impl": format!("elbo-em {}", env!("CARGO_PKG_VERSION")),
            "case": case,
            "init": "k-means++",
            "seconds": seconds,
            "bounds": fit.lower_bounds,
            "n_iter": fit.n_iter,
            "converged": fit.converged,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Peak resident set size of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

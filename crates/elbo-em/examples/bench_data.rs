//! Times one EM iteration of elbo-em on the benchmark cases, reports peak memory, and writes
//! the same data and initial parameters for the scikit-learn side.
//!
//! ```text
//! cargo run --release -p elbo-em --example bench_data -- [OUT_DIR] [--steps N] [--only SUBSTR]
//! python crates/elbo-em/scripts/bench_sklearn.py OUT_DIR
//! ```
//! With `OUT_DIR`, writes `<case>_X.npy` (f64, row-major) and `<case>_init.json` (weights,
//! means, covariances in scikit-learn's layout) per case. Prints, per case, the median time of
//! an iteration, the bound of the first iteration (scikit-learn started from the same
//! parameters must print the same number) and the peak resident memory during the fit.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

#[path = "../benches/support/cases.rs"]
mod cases;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use elbo_em::{Covariances, GaussianEm, GaussianMixture, Init};
use ndarray::Array2;

/// Writes a C-order f64 matrix as NumPy `.npy` (format 1.0).
fn write_npy(path: &Path, x: &Array2<f64>) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        x.nrows(),
        x.ncols()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in x.as_standard_layout().iter() {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()
}

/// Peak resident set size of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Resets the peak-RSS counter to the current RSS (Linux ≥ 4.0; ignored elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out_dir: Option<PathBuf> = None;
    let mut steps = 20usize;
    let mut only = String::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--steps" => steps = it.next().and_then(|v| v.parse().ok()).unwrap_or(steps),
            "--only" => only = it.next().cloned().unwrap_or_default(),
            other => out_dir = Some(PathBuf::from(other)),
        }
    }
    println!("case | elbo ms/iter (median of {steps}) | first bound | peak RSS MiB | limit MiB");
    for case in cases::CASES.iter().filter(|c| c.name.contains(&only)) {
        let x = cases::data(case);
        let given = cases::start(case, &x);
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).unwrap();
            write_npy(&dir.join(format!("{}_X.npy", case.name)), &x).unwrap();
            let covariances = match &given.spread {
                elbo_em::GivenSpread::Covariances(Covariances::Full(c)) => serde_json::to_value(
                    c.outer_iter()
                        .map(|m| m.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                ),
                elbo_em::GivenSpread::Covariances(Covariances::Diag(c)) => serde_json::to_value(
                    c.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                ),
                _ => unreachable!("the cases are full or diag"),
            }
            .unwrap();
            let init = serde_json::json!({
                "covariance_type": case.covariance.name(),
                "n_components": case.k,
                "weights": given.weights.to_vec(),
                "means": given.means.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                "covariances": covariances,
            });
            std::fs::write(
                dir.join(format!("{}_init.json", case.name)),
                init.to_string(),
            )
            .unwrap();
        }
        let params = GaussianMixture::params(case.k)
            .covariance(case.covariance)
            .init(Init::Given(given))
            .check()
            .unwrap();
        reset_peak_rss();
        let mut em = GaussianEm::new(&params, x.view(), None).unwrap();
        let first = em.step().unwrap();
        let mut times: Vec<f64> = (0..steps)
            .map(|_| {
                let t = Instant::now();
                em.step().unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let data_mib = (x.len() * 8) as f64 / (1024.0 * 1024.0);
        let nk_mib = (case.n * case.k * 8) as f64 / (1024.0 * 1024.0);
        println!(
            "{} | {:.2} | {:.12} | {:.1} | {:.1}",
            case.name,
            times[times.len() / 2],
            first,
            peak_rss_mib(),
            2.0 * (data_mib + nk_mib)
        );
    }
}

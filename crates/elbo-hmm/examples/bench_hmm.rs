//! The elbo-hmm side of the HMM cases of `cargo xtask bench`; the hmmlearn side is
//! `bench/peers/hmm_hmmlearn.py`, which reads the same files and prints the same JSON shape.
//!
//! ```text
//! bench_hmm write DIR [--n-div D]                       # data + initial parameters
//! bench_hmm iter DIR CASE [--iters N] [--implementation log|scaling]
//! ```
//! `write` puts `<case>_X.npy` (f64, C order) and `<case>_init.json` (start probabilities,
//! transitions, means, full covariances, lengths) in DIR for the two cases: `hmm_100k` (one
//! sequence of 100,000 steps) and `hmm_1000x100` (1,000 sequences of 100 steps), both K = 8
//! states and d = 4 with full covariances, drawn from a fixed HMM (N divided by D for
//! `--quick`). `iter` runs N single Baum–Welch iterations in a row (each a fit with
//! `n_iter = 1` from the previous one's model, as the peer does) and prints one JSON object:
//! `seconds` (median time of an iteration after the first), `bounds` (the log-likelihood per
//! row of every iteration, for the side-by-side check), `impl` and the peak resident memory.

#![allow(clippy::print_stdout, missing_docs)] // a benchmark's only output is its report

use std::error::Error;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use elbo_hmm::{Covariance, Covariances, GaussianHmm, Implementation};
use ndarray::{Array1, Array2, Array3, Axis, concatenate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error>>;

const K: usize = 8;
const D: usize = 4;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a.starts_with("--") {
            it.next();
        } else {
            positional.push(a.as_str());
        }
    }
    match positional.as_slice() {
        ["write", dir] => write_cases(Path::new(dir), flag("--n-div", "1").parse()?),
        ["iter", dir, case] => {
            let imp = match flag("--implementation", "log").as_str() {
                "scaling" => Implementation::Scaling,
                _ => Implementation::Log,
            };
            iter(Path::new(dir), case, flag("--iters", "5").parse()?, imp)
        }
        _ => Err("usage: bench_hmm write DIR [--n-div D] | iter DIR CASE [--iters N] [--implementation log|scaling]".into()),
    }
}

/// The HMM the data come from: 8 states on a ring of means, sticky transitions.
fn truth() -> Res<GaussianHmm> {
    let mut trans = Array2::from_elem((K, K), 0.1 / (K - 1) as f64);
    trans.diag_mut().fill(0.9);
    let means = Array2::from_shape_fn((K, D), |(k, j)| {
        let a = k as f64 * std::f64::consts::TAU / K as f64;
        match j {
            0 => 3.0 * a.cos(),
            1 => 3.0 * a.sin(),
            2 => (k % 2) as f64,
            _ => 0.5 * (k % 3) as f64,
        }
    });
    let mut covars = Array3::zeros((K, D, D));
    for k in 0..K {
        for a in 0..D {
            for b in 0..D {
                covars[[k, a, b]] = if a == b { 0.5 + 0.05 * k as f64 } else { 0.1 };
            }
        }
    }
    Ok(GaussianHmm::from_parts(
        Array1::from_elem(K, 1.0 / K as f64),
        trans,
        means,
        Covariances::Full(covars),
    )?)
}

/// Deliberately off starting parameters, the same for both sides.
fn start(x: &Array2<f64>) -> Value {
    let mut trans = Array2::from_elem((K, K), 0.3 / (K - 1) as f64);
    trans.diag_mut().fill(0.7);
    let step = x.nrows() / K;
    let means = Array2::from_shape_fn((K, D), |(k, j)| x[[k * step + step / 2, j]] + 0.1);
    let mean = x.mean_axis(Axis(0)).expect("rows");
    let centred = x - &mean;
    let cov = centred.t().dot(&centred) / (x.nrows() as f64 - 1.0);
    let covars: Vec<Vec<Vec<f64>>> = (0..K)
        .map(|_| cov.rows().into_iter().map(|r| r.to_vec()).collect())
        .collect();
    json!({
        "startprob": vec![1.0 / K as f64; K],
        "transmat": trans.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "means": means.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "covars": covars,
    })
}

fn write_cases(dir: &Path, n_div: usize) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let model = truth()?;
    for (name, n_seq, len) in [
        ("hmm_100k", 1usize, 100_000usize),
        ("hmm_1000x100", 1000, 100),
    ] {
        let (n_seq, len) = if n_seq == 1 {
            (1, len / n_div)
        } else {
            (n_seq / n_div, len)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(20261207);
        let parts: Vec<Array2<f64>> = (0..n_seq)
            .map(|_| model.sample(len, &mut rng, None).0)
            .collect();
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let x = concatenate(Axis(0), &views)?;
        write_npy(&dir.join(format!("{name}_X.npy")), &x)?;
        let mut init = start(&x);
        init["lengths"] = json!(vec![len; n_seq]);
        std::fs::write(
            dir.join(format!("{name}_init.json")),
            serde_json::to_string(&init)?,
        )?;
    }
    Ok(())
}

fn iter(dir: &Path, case: &str, iters: usize, imp: Implementation) -> Res<()> {
    let x = read_npy(&dir.join(format!("{case}_X.npy")))?;
    let init: Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join(format!("{case}_init.json")),
    )?)?;
    let vec1 = |v: &Value| -> Array1<f64> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect()
    };
    let mat = |v: &Value| -> Res<Array2<f64>> {
        let rows: Vec<Array1<f64>> = v.as_array().ok_or("matrix")?.iter().map(vec1).collect();
        let views: Vec<_> = rows.iter().map(|r| r.view().insert_axis(Axis(0))).collect();
        Ok(concatenate(Axis(0), &views)?)
    };
    let covs: Vec<Array2<f64>> = init["covars"]
        .as_array()
        .ok_or("covars")?
        .iter()
        .map(mat)
        .collect::<Res<_>>()?;
    let views: Vec<_> = covs.iter().map(|c| c.view().insert_axis(Axis(0))).collect();
    let lengths: Vec<usize> = init["lengths"]
        .as_array()
        .ok_or("lengths")?
        .iter()
        .filter_map(Value::as_u64)
        .map(|v| v as usize)
        .collect();
    let mut model = GaussianHmm::from_parts(
        vec1(&init["startprob"]),
        mat(&init["transmat"])?,
        mat(&init["means"])?,
        Covariances::Full(concatenate(Axis(0), &views)?),
    )?;
    let mut times = Vec::with_capacity(iters);
    let mut bounds = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let fit = GaussianHmm::params(K)
            .covariance_type(Covariance::Full)
            .n_iter(1)
            .tol(0.0)
            .init_params("")
            .implementation(imp)
            .given(model)
            .fit(x.view(), Some(&lengths))?;
        times.push(t.elapsed().as_secs_f64());
        bounds.push(fit.log_likelihoods[0] / x.nrows() as f64);
        model = fit.model;
    }
    let mut later: Vec<f64> = times.iter().skip(1).copied().collect();
    if later.is_empty() {
        later = times.clone();
    }
    later.sort_by(f64::total_cmp);
    let median = later[later.len() / 2];
    println!(
        "{}",
        json!({
            "seconds": median,
            "times": times,
            "bounds": bounds,
            "n_iter": iters,
            "impl": format!("elbo-hmm {imp:?}, {} threads", rayon::current_num_threads()),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Writes an f64 matrix as `.npy` (format 1.0, C order).
fn write_npy(path: &Path, x: &Array2<f64>) -> Res<()> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        x.nrows(),
        x.ncols()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 8 * x.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in x.as_standard_layout().iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::File::create(path)?.write_all(&out)?;
    Ok(())
}

/// Reads an f64 `.npy` matrix (format 1.0, C order) written by [`write_npy`] or numpy.
fn read_npy(path: &Path) -> Res<Array2<f64>> {
    let bytes = std::fs::read(path)?;
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen])?;
    if !header.contains("'<f8'") || header.contains("'fortran_order': True") {
        return Err(format!("{}: expected a C-order <f8 array", path.display()).into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let data: Vec<f64> = bytes[10 + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok(Array2::from_shape_vec((dims[0], dims[1]), data)?)
}

//! The elbo-em side of the Bernoulli-mixture case of `cargo xtask bench`: EM on binarised
//! Fashion-MNIST; the peer is `bench/peers/bmm_numpy.py` (numpy, the same E- and M-step and
//! clip), which reads the same files and prints the same JSON shape.
//!
//! ```text
//! bench_bmm write DIR --data-dir DATA [--k 100] [--n N] [--seed 0]
//! bench_bmm iter DIR [--iters N]
//! ```
//! `write` loads the Fashion-MNIST training images from the data directory (`cargo xtask
//! fetch-data fashion-mnist`), binarises them at grey level > 0.5, keeps the first N rows
//! (all 60,000 by default) and writes `bmm_X.npy` (u8 0/1, C order) and `bmm_init.json`
//! (uniform weights, probabilities drawn uniformly from [0.25, 0.75] with the seed, the clip).
//! `iter` runs N EM iterations from that start and prints one JSON object: `seconds` (median
//! time of an iteration after the first) and the per-sample bound of every iteration.

#![allow(clippy::print_stdout, missing_docs)] // a benchmark's only output is its report

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use elbo_em::{BernoulliEm, BernoulliGiven, BernoulliMixture, Init};
use ndarray::{Array1, Array2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error>>;

/// The probability clip of both sides (elbo-em's default).
const CLIP: f64 = 1e-6;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("write"), Some(dir)) => {
            let data_dir = flag("--data-dir").ok_or("write needs --data-dir DATA")?;
            write(
                Path::new(dir),
                Path::new(&data_dir),
                flag("--k").map_or(Ok(100), |v| v.parse())?,
                flag("--n").map(|v| v.parse()).transpose()?,
                flag("--seed").map_or(Ok(0), |v| v.parse())?,
            )
        }
        (Some("iter"), Some(dir)) => iterate(
            Path::new(dir),
            flag("--iters").map_or(Ok(10), |v| v.parse())?,
        ),
        _ => Err(
            "usage: bench_bmm write DIR --data-dir DATA [--k 100] [--n N] [--seed 0] | \
                  iter DIR [--iters N]"
                .into(),
        ),
    }
}

fn write(dir: &Path, data_dir: &Path, k: usize, n: Option<usize>, seed: u64) -> Res<()> {
    let splits = elbo_datasets::load("fashion-mnist", data_dir)?;
    let grey = splits.train.features();
    let rows = n.unwrap_or(grey.nrows()).min(grey.nrows());
    let x: Array2<u8> = grey
        .slice(s![..rows, ..])
        .mapv(|v| if v > 0.5 { 1u8 } else { 0u8 });
    std::fs::create_dir_all(dir)?;
    elbo_datasets::write_npy(&dir.join("bmm_X.npy"), x.view())?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let probs: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            (0..x.ncols())
                .map(|_| rng.random_range(0.25..0.75))
                .collect()
        })
        .collect();
    let init = json!({
        "n_components": k,
        "clip": CLIP,
        "weights": vec![1.0 / k as f64; k],
        "probs": probs,
    });
    std::fs::write(dir.join("bmm_init.json"), init.to_string())?;
    println!(
        "{}",
        json!({"written": [{"case": "bmm", "n": x.nrows(), "d": x.ncols(), "k": k}]})
    );
    Ok(())
}

fn iterate(dir: &Path, iters: usize) -> Res<()> {
    let x: Array2<u8> = elbo_datasets::read_npy_array(&dir.join("bmm_X.npy"))?;
    let init: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("bmm_init.json"))?)?;
    let k = init["n_components"].as_u64().ok_or("n_components")? as usize;
    let floats = |v: &Value| -> Res<Vec<f64>> {
        v.as_array()
            .ok_or("expected an array")?
            .iter()
            .flat_map(|r| r.as_array().cloned().unwrap_or_else(|| vec![r.clone()]))
            .map(|v| v.as_f64().ok_or_else(|| "expected a number".into()))
            .collect()
    };
    let given = BernoulliGiven {
        weights: Array1::from(floats(&init["weights"])?),
        probs: Array2::from_shape_vec((k, x.ncols()), floats(&init["probs"])?)?,
    };
    let clip = init["clip"].as_f64().unwrap_or(CLIP);
    let params = BernoulliMixture::params(k)
        .init(Init::Given(given))
        .clip(clip)
        .check()?;
    let mut em = BernoulliEm::new(&params, x.view(), None)?;
    let mut bounds = Vec::with_capacity(iters);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(2) {
        let t = Instant::now();
        bounds.push(em.step()?);
        times.push(t.elapsed().as_secs_f64());
    }
    let timed = times[1..].to_vec();
    let mut sorted = timed.clone();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let median = if m % 2 == 1 {
        sorted[m / 2]
    } else {
        0.5 * (sorted[m / 2 - 1] + sorted[m / 2])
    };
    println!(
        "{}",
        json!({
            "impl": format!("elbo-em {}", env!("CARGO_PKG_VERSION")),
            "case": "bmm",
            "n": x.nrows(), "d": x.ncols(), "k": k,
            "seconds": median,
            "seconds_all": timed,
            "bounds": bounds,
            "n_iter": bounds.len(),
        })
    );
    Ok(())
}

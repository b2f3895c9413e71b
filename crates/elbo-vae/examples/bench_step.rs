//! Timing of the two hot paths of the VAE, for docs/benchmarks.md: one training step (forward,
//! loss, backward, Adam) of the classic 784-400-20 MLP on a batch of 128, and the IWAE estimate
//! of log p(x) with k = 5000 on 100 points. Prints one JSON object.
//!
//! `cargo run --release -p elbo-vae --example bench_step -- [--threads 2] [--k 5000]
//!  [--n-test 100] [--chunk-rows 2048] [--reps 5] [--steps 100] [--iwae-reps 3]`
//!
//! The PyTorch peer, `bench/peers/vae_step.py`, builds the same model and times the same
//! things with the same libtorch; compare the two side by side, alternating runs.
#![allow(clippy::print_stdout)] // a benchmark's only output is its report

use std::time::Instant;

use elbo_vae::{Architecture, Vae, VaeConfig};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

struct Args {
    threads: i32,
    k: usize,
    n_test: i64,
    chunk_rows: usize,
    reps: usize,
    steps: usize,
    iwae_reps: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        threads: 2,
        k: 5000,
        n_test: 100,
        chunk_rows: elbo_vae::DEFAULT_IWAE_CHUNK_ROWS,
        reps: 5,
        steps: 100,
        iwae_reps: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--threads" => a.threads = value.parse().map_err(bad)?,
            "--k" => a.k = value.parse().map_err(bad)?,
            "--n-test" => a.n_test = value.parse().map_err(bad)?,
            "--chunk-rows" => a.chunk_rows = value.parse().map_err(bad)?,
            "--reps" => a.reps = value.parse().map_err(bad)?,
            "--steps" => a.steps = value.parse().map_err(bad)?,
            "--iwae-reps" => a.iwae_reps = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Binary data like the peer's: x ~ Bernoulli(sigmoid(Z W + b)), Z ~ N(0, I_10). Its content
/// does not change the timings.
fn synthetic(n: i64) -> Tensor {
    let opts = (Kind::Float, Device::Cpu);
    let w = Tensor::randn([10, 784], opts);
    let b = Tensor::randn([784], opts) - 1.0;
    let p = (Tensor::randn([n, 10], opts).matmul(&w) + b).sigmoid();
    Tensor::rand([n, 784], opts)
        .lt_tensor(&p)
        .to_kind(Kind::Float)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    tch::set_num_threads(args.threads);
    let config = VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![400] },
        ..VaeConfig::new(784, 20)
    };
    let (vs, vae) = Vae::build(&config, Device::Cpu)?;
    let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
    let train = synthetic(128 * 50);
    let test = synthetic(args.n_test);

    // A short training run so the IWAE sees a model that has learnt something.
    for i in 0..200 {
        let x = train.narrow(0, (i % 50) * 128, 128);
        opt.backward_step(&vae.elbo(&x)?.loss);
    }

    let mut iwae_s = Vec::new();
    let mut iwae_ll = Vec::new();
    for r in 0..args.iwae_reps {
        tch::manual_seed(100 + r as i64);
        let t0 = Instant::now();
        let ll = vae.iwae_chunked(&test, args.k, args.chunk_rows)?;
        iwae_s.push(t0.elapsed().as_secs_f64());
        iwae_ll.push(ll.mean(Kind::Double).double_value(&[]));
    }

    // Pure step timing on one fixed batch (no data indexing), like the peer.
    let x = train.narrow(0, 0, 128);
    for _ in 0..20 {
        opt.backward_step(&vae.elbo(&x)?.loss);
    }
    let mut step_s = Vec::new();
    for _ in 0..args.reps {
        let t0 = Instant::now();
        for _ in 0..args.steps {
            opt.backward_step(&vae.elbo(&x)?.loss);
        }
        step_s.push(t0.elapsed().as_secs_f64() / args.steps as f64);
    }
    let step_median = median(&mut step_s.clone());
    let iwae_median = median(&mut iwae_s.clone());
    println!(
        "{{\"impl\": \"elbo-vae (tch)\", \"threads\": {}, \"step_ms_median\": {:.4}, \"steps_per_s\": {:.1}, \
         \"step_ms_all\": {:?}, \"iwae_k\": {}, \"iwae_n_test\": {}, \"iwae_chunk_rows\": {}, \
         \"iwae_s_median\": {:.4}, \"iwae_s_all\": {:?}, \"iwae_mean_ll\": {:?}}}",
        args.threads,
        1e3 * step_median,
        1.0 / step_median,
        step_s
            .iter()
            .map(|s| (1e6 * s).round() / 1e3)
            .collect::<Vec<_>>(),
        args.k,
        args.n_test,
        args.chunk_rows,
        iwae_median,
        iwae_s
            .iter()
            .map(|s| (1e4 * s).round() / 1e4)
            .collect::<Vec<_>>(),
        iwae_ll
            .iter()
            .map(|v| (1e3 * v).round() / 1e3)
            .collect::<Vec<_>>(),
    );
    Ok(())
}

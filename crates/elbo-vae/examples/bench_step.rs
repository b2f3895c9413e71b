//! Timing of the two hot paths of the VAE, for `cargo xtask bench`: one training step (forward,
//! loss, backward, Adam) on a batch of 128, of the classic 784-400-20 MLP (`--arch mlp`) or of
//! the default convolutional VAE (`--arch conv`: [1, 28, 28] input, channels [32, 64], hidden
//! 256, latent 20), and the IWAE estimate of log p(x) with k = 5000 on 100 points. Prints one
//! JSON object; `seconds` is the median time of one step (`--what step`) or of one IWAE
//! evaluation (`--what iwae`).
//!
//! `cargo run --release -p elbo-vae --example bench_step -- [--what step|iwae|all]
//!  [--arch mlp|conv] [--threads 2] [--k 5000] [--n-test 100] [--chunk-rows 1024] [--reps 5]
//!  [--steps 100] [--iwae-reps 3] [--train-steps 200] [--warmup-steps 20]`
//!
//! The PyTorch peer, `bench/peers/vae_step.py`, builds the same model and times the same
//! things with the same libtorch; `cargo xtask bench` runs the two alternately.
#![allow(clippy::print_stdout)] // a benchmark's only output is its report

use std::time::Instant;

use elbo_vae::{Architecture, InputShape, RuntimeInfo, Vae, VaeConfig};
use serde_json::json;
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

struct Args {
    what: String,
    arch: String,
    threads: i32,
    k: usize,
    n_test: i64,
    chunk_rows: usize,
    reps: usize,
    steps: usize,
    iwae_reps: usize,
    train_steps: usize,
    warmup_steps: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        what: "all".to_owned(),
        arch: "mlp".to_owned(),
        threads: 2,
        k: 5000,
        n_test: 100,
        chunk_rows: elbo_vae::DEFAULT_IWAE_CHUNK_ROWS,
        reps: 5,
        steps: 100,
        iwae_reps: 3,
        train_steps: 200,
        warmup_steps: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--what" if ["step", "iwae", "all"].contains(&value.as_str()) => a.what = value,
            "--arch" if ["mlp", "conv"].contains(&value.as_str()) => a.arch = value,
            "--threads" => a.threads = value.parse().map_err(bad)?,
            "--k" => a.k = value.parse().map_err(bad)?,
            "--n-test" => a.n_test = value.parse().map_err(bad)?,
            "--chunk-rows" => a.chunk_rows = value.parse().map_err(bad)?,
            "--reps" => a.reps = value.parse().map_err(bad)?,
            "--steps" => a.steps = value.parse().map_err(bad)?,
            "--iwae-reps" => a.iwae_reps = value.parse().map_err(bad)?,
            "--train-steps" => a.train_steps = value.parse().map_err(bad)?,
            "--warmup-steps" => a.warmup_steps = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag or value: {flag} {value}")),
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
    let config = match args.arch.as_str() {
        "conv" => VaeConfig {
            input: InputShape::Image([1, 28, 28]),
            architecture: Architecture::Conv {
                channels: vec![32, 64],
                hidden: 256,
            },
            ..VaeConfig::new(784, 20)
        },
        _ => VaeConfig {
            architecture: Architecture::Mlp { hidden: vec![400] },
            ..VaeConfig::new(784, 20)
        },
    };
    let (vs, vae) = Vae::build(&config, Device::Cpu)?;
    let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
    let train = synthetic(128 * 50);
    let test = synthetic(args.n_test);
    let mut out = json!({
        "impl": format!(
            "elbo-vae {} (tch, libtorch {})",
            env!("CARGO_PKG_VERSION"),
            RuntimeInfo::detect().torch_version.as_deref().unwrap_or("?")
        ),
        "arch": args.arch,
        "what": args.what,
        "threads": args.threads,
        "batch": 128,
    });

    // A short training run so the IWAE sees a model that has learnt something.
    if args.what != "step" {
        for i in 0..args.train_steps as i64 {
            let x = train.narrow(0, (i % 50) * 128, 128);
            opt.backward_step(&vae.elbo(&x)?.loss);
        }
        // One untimed evaluation on a few points warms the allocator and the thread pool.
        let _warm = vae.iwae_chunked(
            &test.narrow(0, 0, 2.min(args.n_test)),
            args.k,
            args.chunk_rows,
        )?;
        let mut iwae_s = Vec::new();
        let mut iwae_ll = Vec::new();
        for r in 0..args.iwae_reps {
            tch::manual_seed(100 + r as i64);
            let t0 = Instant::now();
            let ll = vae.iwae_chunked(&test, args.k, args.chunk_rows)?;
            iwae_s.push(t0.elapsed().as_secs_f64());
            iwae_ll.push(ll.mean(Kind::Double).double_value(&[]));
        }
        let iwae_median = median(&mut iwae_s.clone());
        out["iwae_k"] = json!(args.k);
        out["iwae_n_test"] = json!(args.n_test);
        out["iwae_chunk_rows"] = json!(args.chunk_rows);
        out["iwae_s_median"] = json!(iwae_median);
        out["iwae_s_all"] = json!(iwae_s);
        out["iwae_mean_ll"] = json!(iwae_ll);
        out["seconds"] = json!(iwae_median);
    }

    if args.what != "iwae" {
        // Pure step timing on one fixed batch (no data indexing), like the peer.
        let x = train.narrow(0, 0, 128);
        for _ in 0..args.warmup_steps {
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
        out["step_ms_median"] = json!(1e3 * step_median);
        out["steps_per_s"] = json!(1.0 / step_median);
        out["samples_per_s"] = json!(128.0 / step_median);
        out["step_ms_all"] = json!(step_s.iter().map(|s| 1e3 * s).collect::<Vec<_>>());
        out["seconds"] = json!(step_median);
    }
    println!("{out}");
    Ok(())
}

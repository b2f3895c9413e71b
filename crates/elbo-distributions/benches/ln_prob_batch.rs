//! The E-step kernel: `MvNormal::ln_prob_batch` with d = 16 over 100,000 points.
//!
//! FLOP count: the product (X − μ)·P is d² multiply-adds per point (2d² FLOP); the centring and
//! the row sums of squares add ~3d more. GFLOP/s = 2·d²·n / time.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use elbo_distributions::{DiagNormal, LogDensity, MvNormal, log_sum_exp_rows};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (n, d) = (100_000usize, 16usize);
    let b = Array2::from_shape_fn((d, d), |_| rng.random_range(-1.0..1.0));
    let cov = b.dot(&b.t()) + Array2::<f64>::eye(d);
    let mean = Array1::from_shape_fn(d, |_| rng.random_range(-1.0..1.0));
    let mv = MvNormal::new(mean.clone(), cov.clone()).expect("SPD by construction");
    let diag = DiagNormal::new(mean, cov.diag().to_owned()).expect("positive variances");
    let x = Array2::from_shape_fn((n, d), |_| rng.random_range(-3.0..3.0));
    let mut out = Array1::zeros(n);

    let mut g = c.benchmark_group("e_step");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(
        BenchmarkId::new("mv_normal_ln_prob_batch", format!("n{n}_d{d}")),
        |bch| bch.iter(|| mv.ln_prob_batch(black_box(x.view()), out.view_mut())),
    );
    g.bench_function(
        BenchmarkId::new("diag_normal_ln_prob_batch", format!("n{n}_d{d}")),
        |bch| bch.iter(|| diag.ln_prob_batch(black_box(x.view()), out.view_mut())),
    );
    // The normaliser of a 16-component mixture: n × 16 log-sum-exp.
    g.bench_function(
        BenchmarkId::new("log_sum_exp_rows", format!("n{n}_k{d}")),
        |bch| bch.iter(|| log_sum_exp_rows(black_box(x.view()), out.view_mut())),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

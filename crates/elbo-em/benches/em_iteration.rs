//! One EM iteration (E-step + M-step) of a Gaussian mixture from fixed initial parameters,
//! for the three cases of the performance table in `docs/benchmarks.md`.
//!
//! `cargo bench -p elbo-em --bench em_iteration` (release profile). The data are generated
//! from a seed (`support/cases.rs`); `examples/bench_gmm.rs` writes the same data and initial
//! parameters for the scikit-learn side (`bench/peers/gmm_sklearn.py`); `cargo xtask bench`
//! runs the two side by side.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "support/cases.rs"]
mod cases;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use elbo_em::{GaussianEm, GaussianMixture, Init};

fn em_iteration(c: &mut Criterion) {
    let mut group = c.benchmark_group("em_iteration");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for case in &cases::CASES {
        let x = cases::data(case);
        let params = GaussianMixture::params(case.k)
            .covariance(case.covariance)
            .init(Init::Given(cases::start(case, &x)))
            .check()
            .unwrap();
        let mut em = GaussianEm::new(&params, x.view(), None).unwrap();
        group.bench_function(case.name, |b| b.iter(|| em.step().unwrap()));
    }
    group.finish();
}

criterion_group!(benches, em_iteration);
criterion_main!(benches);

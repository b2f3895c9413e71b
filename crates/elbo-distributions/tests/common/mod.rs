//! Helpers shared by the integration tests: seeded RNGs, a Kolmogorov–Smirnov statistic,
//! tolerances.
#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seeded RNG, so every test is reproducible bit for bit.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The two-sided one-sample KS statistic D = sup |F_n(x) − F(x)|.
pub fn ks_statistic(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut xs = samples.to_vec();
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        d = d.max((i as f64 + 1.0) / n - f).max(f - i as f64 / n);
    }
    d
}

/// Critical value of the KS statistic at significance 0.001: √(−½ ln(α/2)) / √n ≈ 1.949/√n.
pub fn ks_critical(n: usize) -> f64 {
    (-0.5 * (0.001f64 / 2.0).ln()).sqrt() / (n as f64).sqrt()
}

/// |a − b| ≤ tol · max(1, |a|, |b|), or both the same infinity.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= tol * 1f64.max(a.abs()).max(b.abs())
}

/// Panics with both values if they are not `close`.
#[track_caller]
pub fn assert_close(a: f64, b: f64, tol: f64) {
    assert!(
        close(a, b, tol),
        "{a} vs {b} (tol {tol}, diff {})",
        (a - b).abs()
    );
}

//! Scalar numerics that stay correct at ±∞, for huge and tiny arguments, and for empty input.
//!
//! Every probability in this crate is handled in log space; these are the few functions that
//! make that safe (the log-sum-exp of the E-step, softplus for Bernoulli logits) and the
//! special functions the Dirichlet and Wishart need.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Zip};

use crate::density::for_row_chunks;

/// ln Σ exp(xᵢ) without overflow: the normaliser of a vector of log-weights.
///
/// Returns −∞ for an empty slice (the log of an empty sum) and when every entry is −∞;
/// +∞ if some entry is +∞; NaN if some entry is NaN.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    lse_iter(xs.iter().copied(), || xs.iter().copied())
}

/// Shared body: `first` is scanned for the maximum, `again` for the sum.
fn lse_iter<I, F>(first: I, again: F) -> f64
where
    I: Iterator<Item = f64>,
    F: FnOnce() -> I,
{
    let mut max = f64::NEG_INFINITY;
    for v in first {
        if v.is_nan() {
            return f64::NAN;
        }
        if v > max {
            max = v;
        }
    }
    if max.is_infinite() {
        return max;
    }
    let sum: f64 = again().map(|v| (v - max).exp()).sum();
    max + sum.ln()
}

/// ln Σ exp over one (possibly strided) row.
pub(crate) fn log_sum_exp_view(row: ArrayView1<'_, f64>) -> f64 {
    match row.as_slice() {
        Some(s) => log_sum_exp(s),
        None => lse_iter(row.iter().copied(), || row.iter().copied()),
    }
}

/// Row-wise log-sum-exp: `out[i] = log_sum_exp(x.row(i))`, the per-point log-likelihood of a
/// mixture from its n × K matrix of joint log-densities.
///
/// Works for any memory layout of `x` (strided and transposed views included). A row of
/// length 0 gives −∞.
///
/// # Panics
/// If `out.len() != x.nrows()`: the caller owns `out` and must size it (a programming error,
/// not a data error).
pub fn log_sum_exp_rows(x: ArrayView2<'_, f64>, mut out: ArrayViewMut1<'_, f64>) {
    assert_eq!(
        out.len(),
        x.nrows(),
        "log_sum_exp_rows: `out` has {} entries but `x` has {} rows",
        out.len(),
        x.nrows()
    );
    // exp costs ~20 multiply-adds; large matrices are split over rayon's threads.
    for_row_chunks(
        x,
        out.view_mut(),
        20 * x.ncols(),
        || (),
        |xc, mut oc, ()| {
            Zip::from(&mut oc)
                .and(xc.rows())
                .for_each(|o, row| *o = log_sum_exp_view(row));
        },
    );
}

/// ln(1 + eˣ) without overflow or loss of precision (Mächler 2012, "Accurately computing
/// log(1 − exp(−|a|))", with the cut-offs for f64).
///
/// `log1p_exp(−∞) = 0`, `log1p_exp(+∞) = +∞`.
pub fn log1p_exp(x: f64) -> f64 {
    if x <= -37.0 {
        x.exp()
    } else if x <= 18.0 {
        x.exp().ln_1p()
    } else if x <= 33.3 {
        x + (-x).exp()
    } else {
        x
    }
}

/// softplus(x) = ln(1 + eˣ), the name neural-network code uses for [`log1p_exp`].
pub fn softplus(x: f64) -> f64 {
    log1p_exp(x)
}

/// ln σ(x) = −ln(1 + e⁻ˣ): the log-probability of a one under a Bernoulli with logit `x`,
/// finite for every finite `x` (σ itself underflows to 0 below x ≈ −745).
pub fn log_sigmoid(x: f64) -> f64 {
    -log1p_exp(-x)
}

/// logit(p) = ln(p / (1 − p)), the inverse of the sigmoid.
///
/// `logit(0) = −∞`, `logit(1) = +∞`, NaN outside [0, 1].
pub fn logit(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p < 0.5 {
        // ln(1 − p) via ln_1p keeps the digits of small p.
        p.ln() - (-p).ln_1p()
    } else {
        // 1 − p is exact here (Sterbenz), so the plain form is accurate.
        p.ln() - (1.0 - p).ln()
    }
}

/// Lanczos coefficients (g = 7, n = 9), as published by Godfrey and used in many libraries.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln Γ(x) for x > 0 (Lanczos approximation, relative error ≈ 1e-15), needed by the Dirichlet
/// and Wishart normalisers. Returns +∞ at 0 and NaN for negative or NaN input.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x == f64::INFINITY {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx); for 0 < x < 0.5 everything is positive.
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    let t = x + LANCZOS_G + 0.5;
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ψ(x) = d/dx ln Γ(x) for x > 0 (recurrence up to x ≥ 10, then the asymptotic series):
/// E[ln πₖ] under a Dirichlet and E[ln |Λ|] under a Wishart are sums of it.
/// Returns −∞ at 0 and NaN for negative or NaN input.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // Asymptotic series Σ B₂ₙ / (2n x²ⁿ): 1/(12x²) − 1/(120x⁴) + 1/(252x⁶) − 1/(240x⁸)
    // + 1/(132x¹⁰) − 691/(32760x¹²) + 1/(12x¹⁴); at x ≥ 10 the next term is below 1e-17.
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2
                                        * (1.0 / 132.0
                                            - inv2 * (691.0 / 32760.0 - inv2 / 12.0))))));
    acc + x.ln() - 0.5 * inv - series
}

/// ln Γ_d(a), the multivariate gamma function: (d(d−1)/4) ln π + Σ_{j=1..d} ln Γ(a + (1 − j)/2).
/// It normalises the Wishart density. Requires a > (d − 1)/2.
pub fn ln_multigamma(a: f64, d: usize) -> f64 {
    let df = d as f64;
    let mut s = df * (df - 1.0) / 4.0 * std::f64::consts::PI.ln();
    for j in 1..=d {
        s += ln_gamma(a + (1.0 - j as f64) / 2.0);
    }
    s
}

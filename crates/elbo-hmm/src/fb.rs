//! Forward–backward (in log space or with per-step scaling) and Viterbi for one sequence.
//!
//! Both implementations take the emission log-likelihoods `lp` (`T × K`, row `t` holds
//! `ln p(x_t | z_t = k)`) and never exponentiate an unnormalised quantity that can overflow
//! or underflow as a whole:
//!
//! - **log**: `α_t(k) = ln p(x_1..t, z_t = k)` and `β_t(k) = ln p(x_{t+1..T} | z_t = k)` are
//!   stored as logs. Each step's log-sum-exp over the previous state factors out the largest
//!   term, `ln Σ_j e^{α_{t−1}(j)} A_jk = M + ln Σ_j e^{α_{t−1}(j) − M} A_jk`, so a step costs
//!   `K` exponentials and `K` logarithms rather than `K²` of each.
//! - **scaling**: the frame probabilities are taken relative to their row maximum,
//!   `b_t(k) = e^{lp_t(k) − m_t}`, and the forward variables are renormalised every step by
//!   `s_t`; `ln p(x) = Σ_t (ln s_t + m_t)`. Subtracting `m_t` means a frame whose every
//!   likelihood underflows (a far outlier) still works, which plain scaling does not.
//!
//! Posteriors `γ_t(k)` are normalised per row; the pair posteriors `ξ_t(j, k)` of each step are
//! normalised per step and summed over `t` (only the sum is needed by the M-step). In log space
//! the passes keep the factors they exponentiated — `u_t = e^{α_{t−1} − max}`, the sums
//! `a_t(k) = Σ_j u_t(j) A_jk` and `v_t = e^{lp_t + β_t − max}` — so that
//! `γ_t ∝ a_t ⊙ v_t` and `ξ_t ∝ u_t(j) A_jk v_t(k)` need no further exponential: two
//! exponentials and two logarithms per state and step in all (a vectorisable `e^x` for
//! `x ≤ 0`, elbo-em's).

use elbo_em::exp_nonpositive;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::params::Implementation;

/// Scratch of one forward–backward pass, grown to the longest sequence seen and then reused.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Forward variables, `T × K` (logs, or scaled probabilities).
    alpha: Vec<f64>,
    /// Backward variables, `T × K`.
    beta: Vec<f64>,
    /// Scaling: frame probabilities relative to their row maximum, `T × K`.
    b: Vec<f64>,
    /// Scaling: per-step normaliser `s_t`; log: unused.
    scale: Vec<f64>,
    /// Two rows of `K` temporaries.
    u: Vec<f64>,
    v: Vec<f64>,
    /// Log: `u_t` per step, `T × K`.
    u_store: Vec<f64>,
    /// Log: `a_t` per step (`π` at `t = 0`), `T × K`.
    a_store: Vec<f64>,
    /// Log: `v_t` per step, `T × K`.
    v_store: Vec<f64>,
}

impl Workspace {
    fn ensure(&mut self, t: usize, k: usize, imp: Implementation) {
        let n = t * k;
        if self.alpha.len() < n {
            self.alpha.resize(n, 0.0);
            self.beta.resize(n, 0.0);
        }
        // Each implementation allocates only its own stores.
        let stores: [&mut Vec<f64>; 3] = match imp {
            Implementation::Log => [&mut self.u_store, &mut self.a_store, &mut self.v_store],
            Implementation::Scaling => [&mut self.b, &mut self.u, &mut self.v],
        };
        for store in stores {
            if store.len() < n {
                store.resize(n, 0.0);
            }
        }
        if self.scale.len() < t {
            self.scale.resize(t, 0.0);
        }
        if self.u.len() < k {
            self.u.resize(k, 0.0);
            self.v.resize(k, 0.0);
        }
    }
}

/// The model's start and transition probabilities in the forms the recursions use.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) k: usize,
    pub(crate) startprob: Vec<f64>,
    /// Row-major `A`.
    pub(crate) transmat: Vec<f64>,
    /// Row-major `Aᵀ` (so that `A v` is a sum of contiguous rows, which vectorises).
    pub(crate) transmat_t: Vec<f64>,
    pub(crate) ln_startprob: Vec<f64>,
    /// Row-major `ln A`.
    pub(crate) ln_transmat: Vec<f64>,
}

impl Chain {
    pub(crate) fn new(startprob: ArrayView1<'_, f64>, transmat: ArrayView2<'_, f64>) -> Self {
        let k = startprob.len();
        let startprob: Vec<f64> = startprob.to_vec();
        let transmat_t: Vec<f64> = transmat.t().iter().copied().collect();
        let transmat: Vec<f64> = transmat.iter().copied().collect();
        Self {
            transmat_t,
            k,
            ln_startprob: startprob.iter().map(|p| p.ln()).collect(),
            ln_transmat: transmat.iter().map(|p| p.ln()).collect(),
            startprob,
            transmat,
        }
    }
}

/// `ln x` for `x > 0`, within a few ulp of `f64::ln`, without a call or a table so that short
/// loops vectorise: `x = 2^e · m`, `m ∈ [√½, √2)`, `ln m = 2 atanh(f)` with
/// `f = (m − 1)/(m + 1)`, `|f| ≤ 0.172`, by its odd series to `f²¹` (Estrin's scheme). Zero,
/// subnormal and non-finite inputs go to `f64::ln`.
#[inline(always)]
fn ln_positive(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
    if !(f64::MIN_POSITIVE..f64::INFINITY).contains(&x) {
        return x.ln();
    }
    let bits = x.to_bits();
    // Exponent relative to [√½, √2): subtracting √½'s bits steps the exponent field exactly
    // where the mantissa crosses √½ (x is normal and ≥ MIN_POSITIVE, so no wrap below).
    let e = (bits.wrapping_sub(SQRT_HALF_BITS) as i64) >> 52;
    let m = f64::from_bits((bits as i64 - (e << 52)) as u64);
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let f4 = f2 * f2;
    let f8 = f4 * f4;
    let p0 = (2.0 + 2.0 / 3.0 * f2) + (2.0 / 5.0 + 2.0 / 7.0 * f2) * f4;
    let p1 = (2.0 / 9.0 + 2.0 / 11.0 * f2) + (2.0 / 13.0 + 2.0 / 15.0 * f2) * f4;
    let p2 = (2.0 / 17.0 + 2.0 / 19.0 * f2) + (2.0 / 21.0) * f4;
    let ln_m = f * ((p0 + p1 * f8) + p2 * (f8 * f8));
    let e = e as f64;
    e * LN2_HI + (ln_m + e * LN2_LO)
}

/// `ln Σ e^{x_i}` of a short slice (−∞ if every entry is −∞).
fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// What one pass produces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassResult {
    /// ln p(x) of the sequence (−∞ if it is impossible under the model).
    pub(crate) log_prob: f64,
}

/// Forward pass only: ln p(x).
pub(crate) fn forward(
    imp: Implementation,
    chain: &Chain,
    lp: ArrayView2<'_, f64>,
    ws: &mut Workspace,
) -> f64 {
    let (t_len, k) = lp.dim();
    ws.ensure(t_len, k, imp);
    let lp = lp.as_standard_layout();
    let lp = lp.as_slice().expect("standard layout");
    match imp {
        Implementation::Log => forward_log(chain, lp, t_len, ws),
        Implementation::Scaling => forward_scaling(chain, lp, t_len, ws),
    }
}

/// Steps × states above which the log-space forward and backward passes of one sequence run
/// on two threads (they are independent).
const PARALLEL_PASSES: usize = 1 << 14;

fn forward_log(chain: &Chain, lp: &[f64], t_len: usize, ws: &mut Workspace) -> f64 {
    let Workspace {
        alpha,
        u_store,
        a_store,
        ..
    } = ws;
    forward_log_into(chain, lp, t_len, alpha, u_store, a_store)
}

fn forward_log_into(
    chain: &Chain,
    lp: &[f64],
    t_len: usize,
    alpha: &mut [f64],
    u_store: &mut [f64],
    a_store: &mut [f64],
) -> f64 {
    let k = chain.k;
    let alpha = &mut alpha[..t_len * k];
    for s in 0..k {
        alpha[s] = chain.ln_startprob[s] + lp[s];
    }
    a_store[..k].copy_from_slice(&chain.startprob);
    for t in 1..t_len {
        let (prev, cur) = alpha[(t - 1) * k..(t + 1) * k].split_at_mut(k);
        let u = &mut u_store[t * k..(t + 1) * k];
        let a = &mut a_store[t * k..(t + 1) * k];
        let m = prev.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            cur.fill(f64::NEG_INFINITY);
            u.fill(0.0);
            a.fill(0.0);
            continue;
        }
        for (uj, &p) in u.iter_mut().zip(prev.iter()) {
            *uj = exp_nonpositive(p - m);
        }
        a.fill(0.0);
        for (j, &uj) in u.iter().enumerate() {
            let row = &chain.transmat[j * k..(j + 1) * k];
            for (acc, &tr) in a.iter_mut().zip(row) {
                *acc += uj * tr;
            }
        }
        for ((c, &acc), &l) in cur.iter_mut().zip(a.iter()).zip(&lp[t * k..(t + 1) * k]) {
            *c = l + m + ln_positive(acc);
        }
    }
    log_sum_exp(&alpha[(t_len - 1) * k..t_len * k])
}

/// Fills `ws.b` and `ws.scale`-free row maxima; returns Σ_t m_t.
fn frame_probs(lp: &[f64], t_len: usize, k: usize, ws: &mut Workspace) -> f64 {
    let mut total = 0.0;
    for t in 0..t_len {
        let row = &lp[t * k..(t + 1) * k];
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let b = &mut ws.b[t * k..(t + 1) * k];
        if m == f64::NEG_INFINITY {
            b.fill(0.0);
            total = f64::NEG_INFINITY;
            continue;
        }
        for (o, &v) in b.iter_mut().zip(row) {
            *o = (v - m).exp();
        }
        total += m;
    }
    total
}

fn forward_scaling(chain: &Chain, lp: &[f64], t_len: usize, ws: &mut Workspace) -> f64 {
    let k = chain.k;
    let mut log_prob = frame_probs(lp, t_len, k, ws);
    if log_prob == f64::NEG_INFINITY {
        return log_prob;
    }
    let alpha = &mut ws.alpha[..t_len * k];
    let b = &ws.b[..t_len * k];
    let mut s0 = 0.0;
    for s in 0..k {
        alpha[s] = chain.startprob[s] * b[s];
        s0 += alpha[s];
    }
    ws.scale[0] = s0;
    if s0 <= 0.0 {
        return f64::NEG_INFINITY;
    }
    for a in &mut alpha[..k] {
        *a /= s0;
    }
    log_prob += s0.ln();
    for t in 1..t_len {
        let (prev, cur) = alpha[(t - 1) * k..(t + 1) * k].split_at_mut(k);
        let mut st = 0.0;
        for (s, c) in cur.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (j, &pj) in prev.iter().enumerate() {
                acc += pj * chain.transmat[j * k + s];
            }
            *c = acc * b[t * k + s];
            st += *c;
        }
        ws.scale[t] = st;
        if st <= 0.0 {
            return f64::NEG_INFINITY;
        }
        for c in cur.iter_mut() {
            *c /= st;
        }
        log_prob += st.ln();
    }
    log_prob
}

/// Backward pass; returns ln p(x) computed from β_1 (must equal the forward value). For the
/// scaling implementation the forward pass must have run first (it needs `s_t`).
fn backward(
    imp: Implementation,
    chain: &Chain,
    lp: &[f64],
    t_len: usize,
    ws: &mut Workspace,
) -> f64 {
    let k = chain.k;
    match imp {
        Implementation::Log => backward_log_into(chain, lp, t_len, &mut ws.beta, &mut ws.v_store),
        Implementation::Scaling => {
            let beta = &mut ws.beta[..t_len * k];
            let b = &ws.b[..t_len * k];
            beta[(t_len - 1) * k..].fill(1.0);
            let v = &mut ws.v[..k];
            for t in (0..t_len - 1).rev() {
                let (cur, next) = beta[t * k..(t + 2) * k].split_at_mut(k);
                let s_next = ws.scale[t + 1];
                for s in 0..k {
                    v[s] = b[(t + 1) * k + s] * next[s];
                }
                for (j, c) in cur.iter_mut().enumerate() {
                    let row = &chain.transmat[j * k..(j + 1) * k];
                    let acc: f64 = row.iter().zip(v.iter()).map(|(a, w)| a * w).sum();
                    *c = acc / s_next;
                }
            }
            // p(x) = Σ_k π_k b_1(k) β_1(k) in the scaled units: Π s_t · Π e^{m_t} · (that sum
            // / s_1) — the sum itself equals s_1 when the passes agree.
            let mut first = 0.0;
            for s in 0..k {
                first += chain.startprob[s] * b[s] * beta[s];
            }
            let m_total: f64 = (0..t_len)
                .map(|t| {
                    lp[t * k..(t + 1) * k]
                        .iter()
                        .copied()
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .sum();
            let ln_s_rest: f64 = ws.scale[1..t_len].iter().map(|s| s.ln()).sum();
            first.ln() + ln_s_rest + m_total
        }
    }
}

/// The log-space backward pass into `beta`, keeping `v_t` in `v_store`; returns ln p(x) from
/// the first step.
fn backward_log_into(
    chain: &Chain,
    lp: &[f64],
    t_len: usize,
    beta: &mut [f64],
    v_store: &mut [f64],
) -> f64 {
    let k = chain.k;
    let beta = &mut beta[..t_len * k];
    beta[(t_len - 1) * k..].fill(0.0);
    for t in (0..t_len).rev() {
        // v_t = e^{lp_t + β_t − max}, then β_{t−1}(j) = max + ln Σ_k A_jk v_t(k).
        let v = &mut v_store[t * k..(t + 1) * k];
        let mut m = f64::NEG_INFINITY;
        for s in 0..k {
            v[s] = lp[t * k + s] + beta[t * k + s];
            m = m.max(v[s]);
        }
        if m == f64::NEG_INFINITY {
            v.fill(0.0);
            if t > 0 {
                beta[(t - 1) * k..t * k].fill(f64::NEG_INFINITY);
            }
            continue;
        }
        for vs in v.iter_mut() {
            *vs = exp_nonpositive(*vs - m);
        }
        if t > 0 {
            // (A v)_j = Σ_s v_s (Aᵀ)_s,j: whole rows of Aᵀ, accumulated in `cur`.
            let cur = &mut beta[(t - 1) * k..t * k];
            cur.fill(0.0);
            for (s, &vs) in v.iter().enumerate() {
                let col = &chain.transmat_t[s * k..(s + 1) * k];
                for (c, &a) in cur.iter_mut().zip(col) {
                    *c += vs * a;
                }
            }
            for c in cur.iter_mut() {
                *c = m + ln_positive(*c);
            }
        }
    }
    let mut first = vec![0.0; k];
    for s in 0..k {
        first[s] = chain.ln_startprob[s] + lp[s] + beta[s];
    }
    log_sum_exp(&first)
}

/// ln p(x) from the backward pass alone (after a forward pass, as the scaled units need it).
pub(crate) fn backward_log_prob(
    imp: Implementation,
    chain: &Chain,
    lp: ArrayView2<'_, f64>,
    ws: &mut Workspace,
) -> f64 {
    let (t_len, k) = lp.dim();
    ws.ensure(t_len, k, imp);
    let lp = lp.as_standard_layout();
    let lp = lp.as_slice().expect("standard layout");
    if imp == Implementation::Scaling {
        forward_scaling(chain, lp, t_len, ws);
    }
    backward(imp, chain, lp, t_len, ws)
}

/// The full E-step for one sequence: writes the posteriors into `gamma` (`T × K`), adds the
/// summed pair posteriors into `xi_sum` (`K × K`, row-major) when given, and returns ln p(x).
pub(crate) fn forward_backward(
    imp: Implementation,
    chain: &Chain,
    lp: ArrayView2<'_, f64>,
    ws: &mut Workspace,
    mut gamma: ArrayViewMut2<'_, f64>,
    xi_sum: Option<&mut [f64]>,
) -> PassResult {
    let (t_len, k) = lp.dim();
    ws.ensure(t_len, k, imp);
    let lp = lp.as_standard_layout();
    let lp = lp.as_slice().expect("standard layout");
    let log_prob = match imp {
        Implementation::Log => {
            // The two log-space passes are independent: on two threads for long sequences.
            let Workspace {
                alpha,
                beta,
                u_store,
                a_store,
                v_store,
                ..
            } = &mut *ws;
            if t_len * k >= PARALLEL_PASSES {
                rayon::join(
                    || forward_log_into(chain, lp, t_len, alpha, u_store, a_store),
                    || backward_log_into(chain, lp, t_len, beta, v_store),
                )
                .0
            } else {
                let f = forward_log_into(chain, lp, t_len, alpha, u_store, a_store);
                backward_log_into(chain, lp, t_len, beta, v_store);
                f
            }
        }
        Implementation::Scaling => {
            let f = forward_scaling(chain, lp, t_len, ws);
            if f.is_finite() {
                backward(imp, chain, lp, t_len, ws);
            }
            f
        }
    };
    if !log_prob.is_finite() {
        return PassResult { log_prob };
    }
    let alpha = &ws.alpha[..t_len * k];
    let beta = &ws.beta[..t_len * k];
    // Posteriors, normalised per row.
    for t in 0..t_len {
        let mut row = gamma.row_mut(t);
        let mut total = 0.0;
        for s in 0..k {
            let g = match imp {
                Implementation::Log => ws.a_store[t * k + s] * ws.v_store[t * k + s],
                Implementation::Scaling => alpha[t * k + s] * beta[t * k + s],
            };
            row[s] = g;
            total += g;
        }
        if !(total > 0.0 && total.is_finite()) && imp == Implementation::Log {
            // Every factored product underflowed: this row in log space directly.
            total = 0.0;
            for s in 0..k {
                row[s] = (alpha[t * k + s] + beta[t * k + s] - log_prob).exp();
                total += row[s];
            }
        }
        if total > 0.0 {
            row /= total;
        }
    }
    if let Some(xi) = xi_sum {
        let (u, v) = (&mut ws.u[..k], &mut ws.v[..k]);
        for t in 1..t_len {
            let prev = &alpha[(t - 1) * k..t * k];
            let next = &beta[t * k..(t + 1) * k];
            match imp {
                Implementation::Log => {
                    u.copy_from_slice(&ws.u_store[t * k..(t + 1) * k]);
                    v.copy_from_slice(&ws.v_store[t * k..(t + 1) * k]);
                }
                Implementation::Scaling => {
                    u.copy_from_slice(prev);
                    for s in 0..k {
                        v[s] = ws.b[t * k + s] * next[s];
                    }
                }
            }
            add_pair_posteriors(&chain.transmat, u, v, xi, || {
                // The factored terms all underflowed: the step in log space directly.
                let mut l = vec![0.0; k * k];
                for j in 0..k {
                    for s in 0..k {
                        l[j * k + s] = match imp {
                            Implementation::Log => {
                                prev[j] + chain.ln_transmat[j * k + s] + lp[t * k + s] + next[s]
                            }
                            Implementation::Scaling => {
                                prev[j].ln()
                                    + chain.ln_transmat[j * k + s]
                                    + ws.b[t * k + s].ln()
                                    + next[s].ln()
                            }
                        };
                    }
                }
                let total = log_sum_exp(&l);
                l.iter().map(|x| (x - total).exp()).collect()
            });
        }
    }
    PassResult { log_prob }
}

/// Adds `u_j A_jk v_k / Σ` into `xi`; calls `fallback` if the sum underflowed to 0.
fn add_pair_posteriors(
    transmat: &[f64],
    u: &[f64],
    v: &[f64],
    xi: &mut [f64],
    fallback: impl FnOnce() -> Vec<f64>,
) {
    let k = u.len();
    let mut total = 0.0;
    for j in 0..k {
        let row = &transmat[j * k..(j + 1) * k];
        let s: f64 = row.iter().zip(v).map(|(a, w)| a * w).sum();
        total += u[j] * s;
    }
    if total > 0.0 && total.is_finite() {
        let inv = 1.0 / total;
        for j in 0..k {
            let uj = u[j] * inv;
            if uj == 0.0 {
                continue;
            }
            let row = &transmat[j * k..(j + 1) * k];
            for ((x, a), w) in xi[j * k..(j + 1) * k].iter_mut().zip(row).zip(v) {
                *x += uj * a * w;
            }
        }
    } else {
        for (x, p) in xi.iter_mut().zip(fallback()) {
            if p.is_finite() {
                *x += p;
            }
        }
    }
}

/// The most probable state path (max-product in log space) and its joint log-probability
/// ln p(x, z*). Ties go to the lowest state index.
pub(crate) fn viterbi(chain: &Chain, lp: ArrayView2<'_, f64>) -> (f64, Vec<usize>) {
    let (t_len, k) = lp.dim();
    let mut delta = Array2::<f64>::zeros((t_len, k));
    for s in 0..k {
        delta[[0, s]] = chain.ln_startprob[s] + lp[[0, s]];
    }
    for t in 1..t_len {
        for s in 0..k {
            let mut best = f64::NEG_INFINITY;
            for j in 0..k {
                let v = delta[[t - 1, j]] + chain.ln_transmat[j * k + s];
                if v > best {
                    best = v;
                }
            }
            delta[[t, s]] = best + lp[[t, s]];
        }
    }
    let argmax = |vals: &mut dyn Iterator<Item = f64>| -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, v) in vals.enumerate() {
            if v > best.1 {
                best = (i, v);
            }
        }
        best
    };
    let (mut state, log_prob) = argmax(&mut delta.row(t_len - 1).iter().copied());
    let mut path = vec![0; t_len];
    path[t_len - 1] = state;
    for t in (0..t_len - 1).rev() {
        let (s, _) = argmax(&mut (0..k).map(|j| delta[[t, j]] + chain.ln_transmat[j * k + state]));
        state = s;
        path[t] = state;
    }
    (log_prob, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn brute_force(chain: &Chain, lp: &Array2<f64>) -> f64 {
        let (t_len, k) = lp.dim();
        let mut terms = Vec::new();
        let mut path = vec![0usize; t_len];
        loop {
            let mut v = chain.ln_startprob[path[0]] + lp[[0, path[0]]];
            for t in 1..t_len {
                v += chain.ln_transmat[path[t - 1] * k + path[t]] + lp[[t, path[t]]];
            }
            terms.push(v);
            let mut i = 0;
            while i < t_len {
                path[i] += 1;
                if path[i] < k {
                    break;
                }
                path[i] = 0;
                i += 1;
            }
            if i == t_len {
                break;
            }
        }
        log_sum_exp(&terms)
    }

    #[test]
    fn ln_positive_matches_std() {
        let mut worst = 0.0f64;
        let mut x = 1e-300;
        while x < 1e300 {
            for y in [x, x * 0.7, x * 1.42, x * 1.000_000_1] {
                let (a, b) = (ln_positive(y), y.ln());
                worst = worst.max((a - b).abs() / b.abs().max(1e-300));
            }
            x *= 1.37;
        }
        assert!(worst < 4.0 * f64::EPSILON, "relative error {worst:e}");
        assert_eq!(ln_positive(1.0), 0.0);
        assert_eq!(ln_positive(0.0), f64::NEG_INFINITY);
        assert!((ln_positive(5e-320) - 5e-320f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn both_implementations_match_the_sum_over_all_paths() {
        let chain = Chain::new(
            array![0.6, 0.3, 0.1].view(),
            array![[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]].view(),
        );
        let lp = array![
            [-1.0, -2.5, -0.3],
            [-4.0, -0.2, -1.0],
            [-0.5, -0.5, -9.0],
            [-700.0, -800.0, -750.0],
            [-2.0, -1.0, -3.0]
        ];
        let exact = brute_force(&chain, &lp);
        let mut ws = Workspace::default();
        for imp in [Implementation::Log, Implementation::Scaling] {
            let f = forward(imp, &chain, lp.view(), &mut ws);
            let b = backward_log_prob(imp, &chain, lp.view(), &mut ws);
            assert!(
                (f - exact).abs() < 1e-12 * exact.abs(),
                "{imp:?} {f} {exact}"
            );
            assert!(
                (b - exact).abs() < 1e-12 * exact.abs(),
                "{imp:?} {b} {exact}"
            );
            let mut gamma = Array2::zeros((5, 3));
            let mut xi = vec![0.0; 9];
            forward_backward(
                imp,
                &chain,
                lp.view(),
                &mut ws,
                gamma.view_mut(),
                Some(&mut xi),
            );
            for row in gamma.rows() {
                assert!((row.sum() - 1.0).abs() < 1e-14);
            }
            assert!((xi.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        }
    }
}

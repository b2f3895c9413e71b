//! The EM machinery shared by every mixture family: row chunking, the parallel fused
//! E-step + statistics pass, log-sum-exp normalisation, and the restart / convergence loop.
//!
//! **Layout.** Rows are cut into chunks of `chunk` rows; consecutive chunks are grouped into at
//! most [`MAX_BLOCKS`] blocks. Each block owns its scratch buffers and a partial accumulator,
//! allocated once per fit. One EM iteration runs the blocks in parallel (rayon); each block
//! walks its chunks: load rows → weighted log-probabilities (K × rows, component-major) →
//! responsibilities in place → add the chunk's sufficient statistics. The block partials are
//! then merged in block order. The partition depends only on the data size, so a fit is
//! bit-for-bit reproducible whatever the number of threads.

use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, CowArray, Ix2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::Element;

/// Upper bound on the number of row blocks (and so on per-fit scratch copies).
pub(crate) const MAX_BLOCKS: usize = 16;

/// Target size (in f64 values) of the largest per-chunk scratch buffer (~256 KiB).
const SCRATCH_VALUES: usize = 32 * 1024;

/// Rows per chunk for a kernel whose widest per-row buffer has `width` values.
pub(crate) fn chunk_rows(width: usize) -> usize {
    let rows = SCRATCH_VALUES / width.max(1);
    (rows.clamp(16, 1024) / 8) * 8
}

/// One mixture family's per-chunk numerics (Gaussian, Bernoulli).
///
/// A kernel holds the current parameters in the form its chunk computations want. `lp` and
/// `resp` buffers are component-major: `K` rows, one column per data row of the chunk.
pub(crate) trait Kernel: Sync {
    /// Per-block buffers.
    type Scratch: Send;
    /// Per-block sufficient statistics (mergeable by addition).
    type Acc: Send;

    /// Number of components `K`.
    fn n_components(&self) -> usize;
    /// Widest per-row scratch, used to size chunks.
    fn row_width(&self) -> usize;
    /// Scratch for chunks of up to `rows` rows.
    fn new_scratch(&self, rows: usize) -> Self::Scratch;
    /// An empty accumulator.
    fn new_acc(&self) -> Self::Acc;
    /// Completes merged statistics (derived entries); called once per pass.
    fn finish_acc(&self, _acc: &mut Self::Acc) {}
    /// Empties an accumulator (keeping its buffers).
    fn clear_acc(&self, acc: &mut Self::Acc);
    /// `into += from`.
    fn merge_acc(&self, into: &mut Self::Acc, from: &Self::Acc);
    /// `into = keep · into + add · from` (the stepwise update of online EM).
    fn blend_acc(&self, into: &mut Self::Acc, keep: f64, from: &Self::Acc, add: f64);
    /// Loads a chunk of rows into the scratch (converted to f64, features formed).
    fn load<A: Element>(&self, x: ArrayView2<'_, A>, s: &mut Self::Scratch);
    /// Writes ln π_k + ln p(x_i | k) of the loaded chunk (`m` rows) into `lp[.., ..m]`.
    fn log_prob(&self, s: &mut Self::Scratch, m: usize, lp: &mut Array2<f64>);
    /// Adds the statistics of the loaded chunk weighted by `resp[.., ..m]` (which already
    /// includes the sample weights) to `acc`.
    fn accumulate(&self, s: &mut Self::Scratch, m: usize, resp: &Array2<f64>, acc: &mut Self::Acc);
}

/// `e^x` for `x ≤ 0` (including −∞), within 2 ulp of `f64::exp`; 0 below −708.
///
/// Written without branches or calls so that the normalisation loop vectorises: range
/// reduction `x = n ln 2 + r` (round-to-nearest by the 1.5·2⁵² trick, `ln 2` split in two),
/// the degree-13 Taylor polynomial of `e^r` on |r| ≤ ln 2 / 2 (truncation < 1e-17 relative)
/// evaluated by Estrin's scheme (short dependency chains), and `2^n` built from its exponent
/// bits.
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    const INV_LN2: f64 = std::f64::consts::LOG2_E;
    // ln 2 split as fdlibm does: LN2_HI has trailing zero bits so that n · LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    const LIMIT: f64 = -708.0;
    // 1/i! for i = 2..=13.
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let xc = if x < LIMIT { LIMIT } else { x };
    let shifted = xc * INV_LN2 + ROUND;
    let n = shifted - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q0 = (1.0 + r) + (C[0] + C[1] * r) * r2;
    let q1 = (C[2] + C[3] * r) + (C[4] + C[5] * r) * r2;
    let q2 = (C[6] + C[7] * r) + (C[8] + C[9] * r) * r2;
    let q3 = C[10] + C[11] * r;
    let p = (q0 + q1 * r4) + (q2 + q3 * r4) * r8;
    // n is an integer in [−1022, 0]: its biased exponent n + 1023 is a normal exponent.
    let bits = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let scale = f64::from_bits(((bits + 1023) as u64) << 52);
    if x < LIMIT { 0.0 } else { p * scale }
}

/// `ln x` for finite `x ≥ 1` (a row's Σ_k e^{lp − max} lies in [1, K]), within a few ulp of
/// `f64::ln`. Branch-free so that it vectorises: `x = 2^e · m` with `m ∈ [√½, √2)`, then
/// `ln m = 2 atanh(f)`, `f = (m − 1)/(m + 1)`, |f| ≤ 0.172, by its odd series to f²¹.
#[inline(always)]
pub(crate) fn ln_at_least_one(x: f64) -> f64 {
    // ln 2 split as fdlibm does: LN2_HI has trailing zero bits so that n · LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
    let bits = x.to_bits();
    // Exponent relative to the interval [√½, √2): subtracting the bits of √½ makes the
    // exponent field step exactly where the mantissa crosses √½.
    let e = (bits.wrapping_sub(SQRT_HALF_BITS) >> 52) as i64;
    let m = f64::from_bits(bits.wrapping_sub((e as u64) << 52));
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let f4 = f2 * f2;
    let f8 = f4 * f4;
    // 2 Σ_{i≥0} f^{2i+1}/(2i+1), i ≤ 10, as f · P(f²) with Estrin's scheme.
    let p0 = (2.0 + 2.0 / 3.0 * f2) + (2.0 / 5.0 + 2.0 / 7.0 * f2) * f4;
    let p1 = (2.0 / 9.0 + 2.0 / 11.0 * f2) + (2.0 / 13.0 + 2.0 / 15.0 * f2) * f4;
    let p2 = (2.0 / 17.0 + 2.0 / 19.0 * f2) + (2.0 / 21.0) * f4;
    let ln_m = f * ((p0 + p1 * f8) + p2 * (f8 * f8));
    let e = e as f64;
    e * LN2_HI + (ln_m + e * LN2_LO)
}

/// Σ of a slice with eight independent partial sums (vectorises, unlike a plain fold).
#[inline(always)]
pub(crate) fn sum_fast(v: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let tail: f64 = chunks.remainder().iter().sum();
    acc.iter().sum::<f64>() + tail
}

/// Σ a_i b_i with eight independent partial sums.
#[inline(always)]
fn dot_fast(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, p), q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Per-row buffers of [`normalise`], each at least as long as a chunk.
pub(crate) struct RowBufs {
    /// Column maxima.
    mx: Vec<f64>,
    /// Σ_k e^{lp − max}, then the per-row scale.
    sm: Vec<f64>,
    /// Σ_k e^{lp − max} (lp − max), for the entropy.
    ex: Vec<f64>,
    /// ln p(x_i).
    pub(crate) ln_norm: Vec<f64>,
}

impl RowBufs {
    pub(crate) fn new(rows: usize) -> Self {
        Self {
            mx: vec![0.0; rows],
            sm: vec![0.0; rows],
            ex: vec![0.0; rows],
            ln_norm: vec![0.0; rows],
        }
    }
}

/// Normalises `lp[.., ..m]` column by column into responsibilities scaled by the sample
/// weights; writes ln p(x_i) into `ln_norm[..m]` and returns `(Σ_i w_i ln p(x_i),
/// Σ_i w_i H_i)` with `H_i = −Σ_k r_ik ln r_ik` the entropy of row i's posterior.
///
/// Log-sum-exp in place: one `exp` per entry, one `ln` per row, no temporary arrays. The
/// entropy costs one more multiply-add per entry: with `e_k = e^{lp_k − max}` and `s = Σ e_k`,
/// `H = ln s − Σ_k e_k (lp_k − max) / s`. Always inlined, so that it takes the instruction set
/// of the E-step variant that calls it.
#[inline(always)]
pub(crate) fn normalise(
    lp: &mut Array2<f64>,
    m: usize,
    w: Option<&[f64]>,
    bufs: &mut RowBufs,
) -> (f64, f64) {
    let (mx, sm, ex, ln_norm) = (
        &mut bufs.mx[..m],
        &mut bufs.sm[..m],
        &mut bufs.ex[..m],
        &mut bufs.ln_norm[..m],
    );
    let c = lp.ncols();
    let lp = lp
        .as_slice_mut()
        .expect("scratch buffers are in standard layout");
    mx.fill(f64::NEG_INFINITY);
    for row in lp.chunks_exact(c) {
        for (a, &v) in mx.iter_mut().zip(&row[..m]) {
            *a = if v > *a { v } else { *a };
        }
    }
    sm.fill(0.0);
    ex.fill(0.0);
    for row in lp.chunks_exact_mut(c) {
        for (((v, &a), t), u) in row[..m]
            .iter_mut()
            .zip(mx.iter())
            .zip(sm.iter_mut())
            .zip(ex.iter_mut())
        {
            let z = *v - a;
            let e = exp_nonpositive(z);
            *v = e;
            *t += e;
            // e is 0 below −708; the clamp keeps 0 · (−∞) out of the sum.
            *u += e * if z < -708.0 { -708.0 } else { z };
        }
    }
    for (((l, &a), t), u) in ln_norm
        .iter_mut()
        .zip(mx.iter())
        .zip(sm.iter())
        .zip(ex.iter_mut())
    {
        let ln_s = ln_at_least_one(*t);
        *l = a + ln_s;
        // Reuse `ex` for the row's entropy.
        *u = ln_s - *u / *t;
    }
    // Reuse `sm` as the per-row scale w_i / Σ_k e_ik.
    let total = match w {
        Some(w) => {
            for (t, wi) in sm.iter_mut().zip(w) {
                *t = wi / *t;
            }
            (dot_fast(ln_norm, &w[..m]), dot_fast(ex, &w[..m]))
        }
        None => {
            for t in sm.iter_mut() {
                *t = 1.0 / *t;
            }
            (sum_fast(ln_norm), sum_fast(ex))
        }
    };
    for row in lp.chunks_exact_mut(c) {
        for (v, &t) in row[..m].iter_mut().zip(sm.iter()) {
            *v *= t;
        }
    }
    total
}

/// The instruction set of the hot E-step loops, detected once per fit.
///
/// The crate is compiled for the baseline x86-64 target (SSE2, two f64 lanes), where the `exp`
/// of the normalisation and the feature loops run at half the width modern CPUs offer. The same
/// code compiled with AVX2 enabled runs four lanes. Rust does not reassociate or contract
/// floating-point operations, so both paths compute bit-identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    /// Code for the compilation target (any CPU).
    Portable,
    /// x86-64 with AVX2 and FMA, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Simd {
    /// The widest path this CPU supports.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Portable
    }
}

/// Monte Carlo E-step settings of one pass: each row's posterior is replaced by the empirical
/// distribution of `samples` draws from it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampling {
    /// Draws per row.
    pub(crate) samples: usize,
    /// The fit's seed; each pass and block draws from its own stream of it.
    pub(crate) seed: u64,
}

/// Replaces each column of `resp[.., ..m]` (posteriors scaled by the row weights) by the
/// empirical distribution of `samples` draws from it, at the same scale. Returns
/// Σ_i w_i H(q̃_i), the entropy of the sampled distributions. `counts` has one slot per
/// component.
fn sample_columns(
    resp: &mut Array2<f64>,
    m: usize,
    samples: usize,
    counts: &mut [u32],
    rng: &mut ChaCha8Rng,
) -> f64 {
    let c = resp.ncols();
    let v = resp
        .as_slice_mut()
        .expect("scratch buffers are in standard layout");
    let k = counts.len();
    let inv = 1.0 / samples as f64;
    let mut entropy = 0.0;
    for i in 0..m {
        let total: f64 = (0..k).map(|j| v[j * c + i]).sum();
        counts.fill(0);
        for _ in 0..samples {
            let u = rng.random::<f64>() * total;
            let mut cum = 0.0;
            // The last component with positive mass catches rounding at the top end.
            let mut pick = 0;
            for j in 0..k {
                let r = v[j * c + i];
                if r > 0.0 {
                    pick = j;
                    cum += r;
                    if u < cum {
                        break;
                    }
                }
            }
            counts[pick] += 1;
        }
        let mut h = 0.0;
        for (j, &n) in counts.iter().enumerate() {
            let q = f64::from(n) * inv;
            v[j * c + i] = total * q;
            if n > 0 {
                h -= q * q.ln();
            }
        }
        entropy += total * h;
    }
    entropy
}

/// One block of the fused E-step + statistics pass: every chunk of `b.rows` is loaded,
/// scored, normalised (or sampled) and accumulated. Inlined into each instruction-set variant
/// below.
#[inline(always)]
fn e_step_block_body<A: Element, K: Kernel>(
    kernel: &K,
    x: ArrayView2<'_, A>,
    sw: Option<&[f64]>,
    chunk: usize,
    sampling: Option<(Sampling, u64)>,
    b: &mut Block<K>,
) {
    kernel.clear_acc(&mut b.acc);
    b.ll = 0.0;
    b.entropy = 0.0;
    let mut rng = sampling.map(|(s, pass)| {
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        rng.set_stream(pass * MAX_BLOCKS as u64 + b.index as u64);
        (s.samples, rng)
    });
    let mut start = b.rows.start;
    while start < b.rows.end {
        let end = (start + chunk).min(b.rows.end);
        let m = end - start;
        kernel.load(x.slice(s![start..end, ..]), &mut b.scratch);
        kernel.log_prob(&mut b.scratch, m, &mut b.lp);
        let w = sw.map(|w| &w[start..end]);
        let (ll, entropy) = normalise(&mut b.lp, m, w, &mut b.bufs);
        b.ll += ll;
        b.entropy += match &mut rng {
            Some((samples, rng)) => sample_columns(&mut b.lp, m, *samples, &mut b.counts, rng),
            None => entropy,
        };
        kernel.accumulate(&mut b.scratch, m, &b.lp, &mut b.acc);
        start = end;
    }
}

/// [`e_step_block_body`] compiled for the baseline target.
fn e_step_block_portable<A: Element, K: Kernel>(
    kernel: &K,
    x: ArrayView2<'_, A>,
    sw: Option<&[f64]>,
    chunk: usize,
    sampling: Option<(Sampling, u64)>,
    b: &mut Block<K>,
) {
    e_step_block_body(kernel, x, sw, chunk, sampling, b);
}

/// [`e_step_block_body`] compiled with AVX2 and FMA: the `exp`/`ln` polynomials and the
/// feature loops (inlined into it) run four lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn e_step_block_avx2<A: Element, K: Kernel>(
    kernel: &K,
    x: ArrayView2<'_, A>,
    sw: Option<&[f64]>,
    chunk: usize,
    sampling: Option<(Sampling, u64)>,
    b: &mut Block<K>,
) {
    e_step_block_body(kernel, x, sw, chunk, sampling, b);
}

/// Runs one E-step block on the instruction set `simd`.
#[allow(unsafe_code)]
fn e_step_block<A: Element, K: Kernel>(
    simd: Simd,
    kernel: &K,
    x: ArrayView2<'_, A>,
    sw: Option<&[f64]>,
    chunk: usize,
    sampling: Option<(Sampling, u64)>,
    b: &mut Block<K>,
) {
    match simd {
        Simd::Portable => e_step_block_portable(kernel, x, sw, chunk, sampling, b),
        // SAFETY: `Simd::Avx2` is only ever produced by `Simd::detect`, after
        // `is_x86_feature_detected!` confirmed AVX2 and FMA on the running CPU.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { e_step_block_avx2(kernel, x, sw, chunk, sampling, b) },
    }
}

/// A contiguous range of rows with its own buffers.
struct Block<K: Kernel> {
    /// Position in the block list (selects the block's random stream).
    index: usize,
    rows: Range<usize>,
    scratch: K::Scratch,
    acc: K::Acc,
    lp: Array2<f64>,
    bufs: RowBufs,
    /// Monte Carlo draw counts per component.
    counts: Vec<u32>,
    ll: f64,
    entropy: f64,
}

impl<K: Kernel> Block<K> {
    fn new(kernel: &K, index: usize, chunk: usize) -> Self {
        let k = kernel.n_components();
        Self {
            index,
            rows: 0..0,
            scratch: kernel.new_scratch(chunk),
            acc: kernel.new_acc(),
            lp: Array2::zeros((k, chunk)),
            bufs: RowBufs::new(chunk),
            counts: vec![0; k],
            ll: 0.0,
            entropy: 0.0,
        }
    }
}

/// Splits `n` rows into at most [`MAX_BLOCKS`] blocks of whole chunks.
pub(crate) fn plan_blocks(n: usize, chunk: usize) -> Vec<Range<usize>> {
    let n_chunks = n.div_ceil(chunk).max(1);
    let n_blocks = n_chunks.min(MAX_BLOCKS);
    let (base, extra) = (n_chunks / n_blocks, n_chunks % n_blocks);
    let mut out = Vec::with_capacity(n_blocks);
    let mut start = 0;
    for b in 0..n_blocks {
        let chunks = base + usize::from(b < extra);
        let end = (start + chunks * chunk).min(n);
        out.push(start..end);
        start = end;
    }
    out
}

/// Buffers of one fit: the data, its sample weights and per-block state.
///
/// The data may be replaced between passes ([`Engine::set_data`], [`Engine::load_rows`]):
/// that is how chunked streams and mini-batches go through the same fused pass. Buffers are
/// kept; only the block plan changes.
pub(crate) struct Engine<'a, A: Element, K: Kernel> {
    x: CowArray<'a, A, Ix2>,
    /// Rows of `x` in use (`load_rows` reuses a larger buffer).
    n: usize,
    sw: Option<Vec<f64>>,
    chunk: usize,
    blocks: Vec<Block<K>>,
    /// Instruction set of the E-step, detected once per fit.
    simd: Simd,
    /// Passes run so far (selects the random streams of Monte Carlo passes).
    passes: u64,
    /// The merged statistics of the last pass.
    pub(crate) total: K::Acc,
}

impl<'a, A: Element, K: Kernel> Engine<'a, A, K> {
    /// Allocates every buffer the fit will use. `x` must be in standard layout.
    pub(crate) fn new(kernel: &K, x: CowArray<'a, A, Ix2>, sw: Option<Vec<f64>>) -> Self {
        let chunk = chunk_rows(kernel.row_width());
        let mut engine = Self {
            n: x.nrows(),
            x,
            sw,
            chunk,
            blocks: Vec::new(),
            simd: Simd::detect(),
            passes: 0,
            total: kernel.new_acc(),
        };
        engine.plan(kernel);
        engine
    }

    /// An engine with no rows yet, of `d` columns (for data that arrives later: a stream's
    /// chunks, mini-batches).
    pub(crate) fn empty(kernel: &K, d: usize) -> Engine<'static, A, K> {
        let none =
            Array2::from_shape_vec((0, d), Vec::new()).expect("an empty array has a valid shape");
        Engine::new(kernel, CowArray::from(none), None)
    }

    /// Assigns the rows in use to blocks, adding blocks (up to [`MAX_BLOCKS`]) when needed.
    fn plan(&mut self, kernel: &K) {
        let ranges = plan_blocks(self.n, self.chunk);
        while self.blocks.len() < ranges.len() {
            let index = self.blocks.len();
            self.blocks.push(Block::new(kernel, index, self.chunk));
        }
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.rows = ranges.get(i).cloned().unwrap_or(self.n..self.n);
        }
    }

    /// Replaces the data (standard layout, unweighted), e.g. by the next chunk of a stream.
    pub(crate) fn set_data(&mut self, kernel: &K, x: CowArray<'a, A, Ix2>) {
        self.n = x.nrows();
        self.x = x;
        self.sw = None;
        self.plan(kernel);
    }

    /// Replaces the data by the rows `idx` of `src` (and their weights), copied into a buffer
    /// this engine owns and reuses: a mini-batch.
    pub(crate) fn load_rows(
        &mut self,
        kernel: &K,
        src: ArrayView2<'_, A>,
        idx: &[usize],
        sw: Option<&[f64]>,
    ) {
        let d = src.ncols();
        if self.x.is_view() || self.x.nrows() < idx.len() || self.x.ncols() != d {
            let first = src.row(0)[0];
            self.x = CowArray::from(Array2::from_elem((idx.len(), d), first));
        }
        let rows = self
            .x
            .as_slice_mut()
            .expect("an owned buffer is in standard layout");
        for (out, &i) in rows.chunks_exact_mut(d).zip(idx) {
            for (o, v) in out.iter_mut().zip(src.row(i)) {
                *o = *v;
            }
        }
        self.sw = sw.map(|w| {
            let mut out = self.sw.take().unwrap_or_default();
            out.clear();
            out.extend(idx.iter().map(|&i| w[i]));
            out
        });
        self.n = idx.len();
        self.plan(kernel);
    }

    /// Restarts the count of passes (so that restart `run` of a seed draws the same numbers
    /// whatever ran before it).
    pub(crate) fn reset_passes(&mut self, run: usize) {
        self.passes = (run as u64) << 32;
    }

    /// One fused E-step + statistics pass under the kernel's parameters, with exact
    /// posteriors, or with sampled ones if `sampling` is given (Monte Carlo EM).
    /// Returns `(Σ_i w_i ln p(x_i), Σ_i w_i H(q_i))`; the merged statistics are in
    /// `self.total`.
    pub(crate) fn e_step(&mut self, kernel: &K, sampling: Option<Sampling>) -> (f64, f64) {
        let sampling = sampling.map(|s| (s, self.passes));
        self.passes += 1;
        let x = self.x.slice(s![..self.n, ..]);
        let (sw, chunk, simd) = (self.sw.as_deref(), self.chunk, self.simd);
        self.blocks
            .par_iter_mut()
            .for_each(|b| e_step_block(simd, kernel, x, sw, chunk, sampling, b));
        self.merge(kernel)
    }

    /// The instruction set the E-step kernels run on (chosen by [`Engine::new`]).
    #[cfg(test)]
    pub(crate) fn simd(&self) -> Simd {
        self.simd
    }

    /// Forces the E-step kernels onto `simd` (tests compare the paths); a [`Simd`] the CPU
    /// lacks is replaced by [`Simd::Portable`].
    #[cfg(test)]
    pub(crate) fn set_simd(&mut self, simd: Simd) {
        self.simd = if simd == Simd::detect() {
            simd
        } else {
            Simd::Portable
        };
    }

    /// A statistics pass with responsibilities supplied by `fill(first_row, m, resp)`, which
    /// writes `resp[.., ..m]` (before sample weights). Sequential, so `fill` may draw from an
    /// RNG in row order.
    pub(crate) fn accumulate_with(
        &mut self,
        kernel: &K,
        mut fill: impl FnMut(usize, usize, &mut Array2<f64>),
    ) {
        let (x, sw, chunk) = (
            self.x.slice(s![..self.n, ..]),
            self.sw.as_deref(),
            self.chunk,
        );
        for b in &mut self.blocks {
            kernel.clear_acc(&mut b.acc);
            b.ll = 0.0;
            b.entropy = 0.0;
            let mut start = b.rows.start;
            while start < b.rows.end {
                let end = (start + chunk).min(b.rows.end);
                let m = end - start;
                kernel.load(x.slice(s![start..end, ..]), &mut b.scratch);
                fill(start, m, &mut b.lp);
                if let Some(w) = sw {
                    for mut row in b.lp.rows_mut() {
                        for (v, &wi) in row.iter_mut().zip(&w[start..end]) {
                            *v *= wi;
                        }
                    }
                }
                kernel.accumulate(&mut b.scratch, m, &b.lp, &mut b.acc);
                start = end;
            }
        }
        self.merge(kernel);
    }

    /// The data in use (standard layout).
    pub(crate) fn x(&self) -> ArrayView2<'_, A> {
        self.x.slice(s![..self.n, ..])
    }

    /// The sample weights, if any.
    pub(crate) fn sample_weight(&self) -> Option<&[f64]> {
        self.sw.as_deref()
    }

    /// Total weight of the rows in use (their number without sample weights).
    pub(crate) fn total_weight(&self) -> f64 {
        match &self.sw {
            Some(w) => w.iter().sum(),
            None => self.n as f64,
        }
    }

    /// Merges the block partials in block order (deterministic).
    fn merge(&mut self, kernel: &K) -> (f64, f64) {
        kernel.clear_acc(&mut self.total);
        let (mut ll, mut entropy) = (0.0, 0.0);
        for b in &self.blocks {
            kernel.merge_acc(&mut self.total, &b.acc);
            ll += b.ll;
            entropy += b.entropy;
        }
        kernel.finish_acc(&mut self.total);
        (ll, entropy)
    }
}

/// What an evaluation pass writes per chunk.
pub(crate) enum Output<'o> {
    /// Responsibilities, `[N, K]`.
    Proba(ndarray::ArrayViewMut2<'o, f64>),
    /// ln p(x_i), `[N]`.
    LnProb(ndarray::ArrayViewMut1<'o, f64>),
    /// argmax_k of the weighted log-probability, `[N]`.
    Label(ndarray::ArrayViewMut1<'o, usize>),
    /// The weighted log-probability ln π_k + ln p(x_i | k) itself, `[N, K]`.
    LogJoint(ndarray::ArrayViewMut2<'o, f64>),
}

/// Scratch of one evaluation block.
struct EvalBuf {
    lp: Array2<f64>,
    bufs: RowBufs,
}

impl EvalBuf {
    /// Normalises `lp[.., ..m]` into responsibilities; `bufs.ln_norm[..m]` gets ln p(x_i).
    fn normalise(&mut self, m: usize) {
        normalise(&mut self.lp, m, None, &mut self.bufs);
    }
}

/// Runs `sink(first_row, m, buffers)` on every chunk of `xb` after computing the weighted
/// log-probabilities into `buffers.lp[.., ..m]`.
fn eval_block<A: Element, K: Kernel>(
    kernel: &K,
    xb: ArrayView2<'_, A>,
    chunk: usize,
    mut sink: impl FnMut(usize, usize, &mut EvalBuf),
) {
    let mut scratch = kernel.new_scratch(chunk);
    let mut buf = EvalBuf {
        lp: Array2::zeros((kernel.n_components(), chunk)),
        bufs: RowBufs::new(chunk),
    };
    for (c, xs) in xb.axis_chunks_iter(Axis(0), chunk).enumerate() {
        let m = xs.nrows();
        kernel.load(xs, &mut scratch);
        kernel.log_prob(&mut scratch, m, &mut buf.lp);
        sink(c * chunk, m, &mut buf);
    }
}

/// Evaluates a fitted model on `x` (standard layout) in parallel blocks, writing `out`.
pub(crate) fn evaluate<A: Element, K: Kernel>(kernel: &K, x: ArrayView2<'_, A>, out: Output<'_>) {
    let chunk = chunk_rows(kernel.row_width());
    let block_rows = plan_blocks(x.nrows(), chunk)
        .first()
        .map_or(chunk, |r| r.len().max(1));
    let blocks = x.axis_chunks_iter(Axis(0), block_rows).into_par_iter();
    match out {
        Output::Proba(mut o) => {
            blocks
                .zip(o.axis_chunks_iter_mut(Axis(0), block_rows))
                .for_each(|(xb, mut ob)| {
                    eval_block(kernel, xb, chunk, |row0, m, buf| {
                        buf.normalise(m);
                        for (i, mut orow) in ob
                            .slice_mut(s![row0..row0 + m, ..])
                            .rows_mut()
                            .into_iter()
                            .enumerate()
                        {
                            orow.assign(&buf.lp.column(i));
                        }
                    });
                });
        }
        Output::LnProb(mut o) => {
            blocks
                .zip(o.axis_chunks_iter_mut(Axis(0), block_rows))
                .for_each(|(xb, mut ob)| {
                    eval_block(kernel, xb, chunk, |row0, m, buf| {
                        buf.normalise(m);
                        ob.slice_mut(s![row0..row0 + m])
                            .assign(&ArrayView1::from(&buf.bufs.ln_norm[..m]));
                    });
                });
        }
        Output::LogJoint(mut o) => {
            blocks
                .zip(o.axis_chunks_iter_mut(Axis(0), block_rows))
                .for_each(|(xb, mut ob)| {
                    eval_block(kernel, xb, chunk, |row0, m, buf| {
                        for (i, mut orow) in ob
                            .slice_mut(s![row0..row0 + m, ..])
                            .rows_mut()
                            .into_iter()
                            .enumerate()
                        {
                            orow.assign(&buf.lp.column(i));
                        }
                    });
                });
        }
        Output::Label(mut o) => {
            blocks
                .zip(o.axis_chunks_iter_mut(Axis(0), block_rows))
                .for_each(|(xb, mut ob)| {
                    eval_block(kernel, xb, chunk, |row0, m, buf| {
                        for (i, label) in ob.slice_mut(s![row0..row0 + m]).iter_mut().enumerate() {
                            let mut best = (0, f64::NEG_INFINITY);
                            for (k, &v) in buf.lp.column(i).iter().enumerate() {
                                if v > best.1 {
                                    best = (k, v);
                                }
                            }
                            *label = best.0;
                        }
                    });
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorisable exp agrees with the standard library to 2 ulp on [−708, 0].
    #[test]
    fn exp_nonpositive_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            let (ours, std) = (exp_nonpositive(x), x.exp());
            worst = worst.max(((ours - std) / std).abs());
        }
        assert!(worst <= 4.5e-16, "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-800.0), 0.0);
    }

    /// The vectorisable ln agrees with the standard library to a few ulp on [1, 1e6].
    #[test]
    fn ln_at_least_one_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = 1.0 + 1e6 * (i as f64 / 200_000.0).powi(4);
            let (ours, std) = (ln_at_least_one(x), x.ln());
            let err = if std == 0.0 {
                ours.abs()
            } else {
                ((ours - std) / std).abs()
            };
            worst = worst.max(err);
        }
        assert!(worst <= 1e-15, "worst relative error {worst:e}");
        assert_eq!(ln_at_least_one(1.0), 0.0);
        for x in [
            std::f64::consts::SQRT_2,
            2.0f64.sqrt().next_up(),
            2.0,
            4.0,
            16.0,
            1.0f64.next_up(),
        ] {
            assert!(
                ((ln_at_least_one(x) - x.ln()) / x.ln()).abs() <= 1e-15,
                "x = {x}"
            );
        }
    }

    #[test]
    fn blocks_cover_all_rows_in_whole_chunks() {
        for n in [1, 7, 64, 1000, 12_345, 1_000_000] {
            let blocks = plan_blocks(n, 64);
            assert!(blocks.len() <= MAX_BLOCKS);
            assert_eq!(blocks.first().map(|b| b.start), Some(0));
            assert_eq!(blocks.last().map(|b| b.end), Some(n));
            for w in blocks.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(w[0].len() % 64, 0);
            }
        }
    }
}

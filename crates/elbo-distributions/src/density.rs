//! The log-density trait every distribution implements, and the row-chunking helper the batched
//! kernels share.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Axis};
use rayon::prelude::*;

/// A distribution over fixed-length real vectors that can score points in log space.
///
/// `ln_prob_batch` is what the E-step of EM calls once per component: it writes into a buffer
/// the caller owns, so a fit allocates its n × K matrix once, not once per iteration.
pub trait LogDensity {
    /// Length of the vectors the distribution is defined on.
    fn dim(&self) -> usize;

    /// ln p(x) of one point, in nats.
    ///
    /// # Panics
    /// If `x.len() != self.dim()` (a programming error: validate data shapes once, up front).
    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64;

    /// `out[i] = ln p(x.row(i))` for every row of `x`, in any memory layout.
    ///
    /// # Panics
    /// If `x.ncols() != self.dim()` or `out.len() != x.nrows()` (programming errors).
    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>);
}

/// Panics with a clear message if a batch does not fit the distribution.
pub(crate) fn assert_batch_shape(dim: usize, x: ArrayView2<'_, f64>, out: &ArrayViewMut1<'_, f64>) {
    assert_eq!(
        x.ncols(),
        dim,
        "ln_prob_batch: `x` has {} columns but the distribution has dimension {}",
        x.ncols(),
        dim
    );
    assert_eq!(
        out.len(),
        x.nrows(),
        "ln_prob_batch: `out` has {} entries but `x` has {} rows",
        out.len(),
        x.nrows()
    );
}

/// Panics with a clear message if a point does not fit the distribution.
pub(crate) fn assert_point_shape(dim: usize, x: ArrayView1<'_, f64>) {
    assert_eq!(
        x.len(),
        dim,
        "ln_prob: `x` has {} entries but the distribution has dimension {}",
        x.len(),
        dim
    );
}

/// Rows per chunk of the batched kernels: big enough to amortise a GEMM call, small enough
/// that a chunk's scratch stays in L2.
pub(crate) const CHUNK_ROWS: usize = 256;

/// Below this many multiply-adds a batch runs on the calling thread (rayon's fork/join costs a
/// few microseconds).
const PARALLEL_WORK: usize = 1 << 17;

/// Runs `kernel(x_chunk, out_chunk, scratch)` over row chunks of `x`, in parallel with rayon when
/// `x.nrows() · cost_per_row` is large. `make_scratch` is called once per worker, not per chunk.
pub(crate) fn for_row_chunks<S, M, K>(
    x: ArrayView2<'_, f64>,
    mut out: ArrayViewMut1<'_, f64>,
    cost_per_row: usize,
    make_scratch: M,
    kernel: K,
) where
    M: Fn() -> S + Sync + Send,
    K: Fn(ArrayView2<'_, f64>, ArrayViewMut1<'_, f64>, &mut S) + Sync + Send,
{
    let n = x.nrows();
    if n.saturating_mul(cost_per_row) < PARALLEL_WORK || rayon::current_num_threads() < 2 {
        let mut scratch = make_scratch();
        for (xc, oc) in x
            .axis_chunks_iter(Axis(0), CHUNK_ROWS)
            .zip(out.axis_chunks_iter_mut(Axis(0), CHUNK_ROWS))
        {
            kernel(xc, oc, &mut scratch);
        }
    } else {
        x.axis_chunks_iter(Axis(0), CHUNK_ROWS)
            .into_par_iter()
            .zip(
                out.axis_chunks_iter_mut(Axis(0), CHUNK_ROWS)
                    .into_par_iter(),
            )
            .for_each_init(&make_scratch, |scratch, (xc, oc)| kernel(xc, oc, scratch));
    }
}

//! Starting responsibilities for EM: k-means, k-means++ seeds, random rows, random soft
//! assignments (scikit-learn's `init_params`).
//!
//! All of them work in coordinates shifted by the weighted data mean (distances computed by
//! expansion keep their digits), in parallel over fixed row chunks whose partial results are
//! reduced in chunk order, so the same seed gives the same start on any number of threads.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, linalg::general_mat_mul};
use rand::Rng;
use rayon::prelude::*;

use crate::data::Element;

/// Rows per parallel work item of the initialisers.
const CHUNK: usize = 2048;
/// Lloyd iterations at most (scikit-learn's `KMeans` default).
const KMEANS_MAX_ITER: usize = 300;
/// Relative tolerance on the centre shift (scikit-learn's `KMeans` default).
const KMEANS_TOL: f64 = 1e-4;

/// Initial responsibilities, before sample weights.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// Row `i` belongs wholly to component `labels[i]`.
    Labels(Vec<usize>),
    /// Component `k` has responsibility 1 for row `rows[k]` only; every other entry is 0.
    Seeds(Vec<usize>),
    /// Uniform random responsibilities, normalised per row, drawn in row order.
    Random,
}

impl Start {
    /// Writes the responsibilities of rows `start..start + m` into `resp[.., ..m]`.
    pub(crate) fn fill(&self, start: usize, m: usize, resp: &mut Array2<f64>, rng: &mut impl Rng) {
        let k = resp.nrows();
        match self {
            Start::Labels(labels) => {
                resp.fill(0.0);
                for (i, &l) in labels[start..start + m].iter().enumerate() {
                    resp[[l, i]] = 1.0;
                }
            }
            Start::Seeds(rows) => {
                resp.fill(0.0);
                for (c, &r) in rows.iter().enumerate() {
                    if (start..start + m).contains(&r) {
                        resp[[c, r - start]] = 1.0;
                    }
                }
            }
            Start::Random => {
                for i in 0..m {
                    let mut total = 0.0;
                    for c in 0..k {
                        let u: f64 = rng.random();
                        resp[[c, i]] = u;
                        total += u;
                    }
                    for c in 0..k {
                        resp[[c, i]] /= total;
                    }
                }
            }
        }
    }
}

/// `x` shifted by `shift`, as f64 (one chunk).
fn shifted<A: Element>(x: ArrayView2<'_, A>, shift: ArrayView1<'_, f64>) -> Array2<f64> {
    let mut out = Array2::zeros(x.dim());
    for (mut o, r) in out.rows_mut().into_iter().zip(x.rows()) {
        for ((o, v), s) in o.iter_mut().zip(r.iter()).zip(shift.iter()) {
            *o = v.to_f64() - s;
        }
    }
    out
}

/// Weighted mean and mean per-feature variance of the data (one pass).
pub(crate) fn weighted_mean<A: Element>(x: ArrayView2<'_, A>, w: Option<&[f64]>) -> Array1<f64> {
    let d = x.ncols();
    let partial: Vec<(Array1<f64>, f64)> = x
        .axis_chunks_iter(Axis(0), CHUNK)
        .into_par_iter()
        .enumerate()
        .map(|(c, xc)| {
            let mut s = Array1::zeros(d);
            let mut tw = 0.0;
            for (i, r) in xc.rows().into_iter().enumerate() {
                let wi = w.map_or(1.0, |w| w[c * CHUNK + i]);
                tw += wi;
                for (a, v) in s.iter_mut().zip(r.iter()) {
                    *a += wi * v.to_f64();
                }
            }
            (s, tw)
        })
        .collect();
    let mut total = Array1::zeros(d);
    let mut tw = 0.0;
    for (s, t) in &partial {
        total += s;
        tw += t;
    }
    total / tw
}

/// Squared distances of every row (shifted) to `centre`, written into `out`.
fn distances_to<A: Element>(
    x: ArrayView2<'_, A>,
    shift: ArrayView1<'_, f64>,
    centre: ArrayView1<'_, f64>,
    out: &mut [f64],
) {
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
        let start = c * CHUNK;
        for (i, dst) in o.iter_mut().enumerate() {
            let row = x.row(start + i);
            let mut acc = 0.0;
            for ((v, s), m) in row.iter().zip(shift.iter()).zip(centre.iter()) {
                let t = v.to_f64() - s - m;
                acc += t * t;
            }
            *dst = acc;
        }
    });
}

/// Draws an index with probability proportional to `weights` (which sum to `total` > 0).
fn draw_index(cumulative: &[f64], total: f64, rng: &mut impl Rng) -> usize {
    let u = rng.random::<f64>() * total;
    cumulative
        .partition_point(|&c| c <= u)
        .min(cumulative.len().saturating_sub(1))
}

/// Cumulative sums of `w_i · v_i`.
fn cumulative(v: &[f64], w: Option<&[f64]>) -> Vec<f64> {
    let mut acc = 0.0;
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            acc += w.map_or(1.0, |w| w[i]) * x;
            acc
        })
        .collect()
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with 2 + ⌊ln k⌋ local trials per
/// centre as in scikit-learn): returns the row indices of `k` seeds.
pub(crate) fn kmeans_plusplus<A: Element>(
    x: ArrayView2<'_, A>,
    w: Option<&[f64]>,
    shift: ArrayView1<'_, f64>,
    k: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let n = x.nrows();
    let ones = vec![1.0; n];
    let base = w.unwrap_or(&ones);
    let first = draw_index(&cumulative(base, None), base.iter().sum(), rng);
    let mut seeds = vec![first];
    let mut closest = vec![0.0; n];
    distances_to(
        x,
        shift,
        shifted(x.slice(ndarray::s![first..first + 1, ..]), shift).row(0),
        &mut closest,
    );
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut dist = vec![0.0; n];
    let mut best_dist = vec![0.0; n];
    while seeds.len() < k {
        let cum = cumulative(&closest, w);
        let potential = cum.last().copied().unwrap_or(0.0);
        if potential.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            // Fewer distinct points than components: take any row not yet chosen.
            let next = (0..n)
                .find(|i| !seeds.contains(i) && base[*i] > 0.0)
                .unwrap_or(0);
            seeds.push(next);
            continue;
        }
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..trials {
            let cand = draw_index(&cum, potential, rng);
            let centre = shifted(x.slice(ndarray::s![cand..cand + 1, ..]), shift);
            distances_to(x, shift, centre.row(0), &mut dist);
            let pot: f64 = closest
                .iter()
                .zip(&dist)
                .enumerate()
                .map(|(i, (a, b))| base[i] * a.min(*b))
                .sum();
            if best.is_none_or(|(_, p)| pot < p) {
                best = Some((cand, pot));
                best_dist.copy_from_slice(&dist);
            }
        }
        if let Some((cand, _)) = best {
            seeds.push(cand);
            for (c, b) in closest.iter_mut().zip(&best_dist) {
                *c = c.min(*b);
            }
        }
    }
    seeds
}

/// One assignment pass: labels to nearest centre (shifted coordinates), returning per-centre
/// weighted sums and weights.
fn assign<A: Element>(
    x: ArrayView2<'_, A>,
    w: Option<&[f64]>,
    shift: ArrayView1<'_, f64>,
    centres: &Array2<f64>,
    labels: &mut [usize],
) -> (Array2<f64>, Array1<f64>, usize) {
    let (k, d) = centres.dim();
    let norms: Array1<f64> = centres.rows().into_iter().map(|c| c.dot(&c)).collect();
    let partial: Vec<(Array2<f64>, Array1<f64>, usize)> = x
        .axis_chunks_iter(Axis(0), CHUNK)
        .into_par_iter()
        .zip(labels.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(c, (xc, lc))| {
            let y = shifted(xc, shift);
            let mut dots = Array2::zeros((y.nrows(), k));
            general_mat_mul(1.0, &y, &centres.t(), 0.0, &mut dots);
            let mut sums = Array2::zeros((k, d));
            let mut counts = Array1::zeros(k);
            let mut changed = 0;
            for (i, (row, l)) in dots.rows().into_iter().zip(lc.iter_mut()).enumerate() {
                let mut best = (0, f64::INFINITY);
                for (j, (&dot, &nn)) in row.iter().zip(norms.iter()).enumerate() {
                    let dist = nn - 2.0 * dot;
                    if dist < best.1 {
                        best = (j, dist);
                    }
                }
                if *l != best.0 {
                    changed += 1;
                    *l = best.0;
                }
                let wi = w.map_or(1.0, |w| w[c * CHUNK + i]);
                sums.row_mut(best.0).scaled_add(wi, &y.row(i));
                counts[best.0] += wi;
            }
            (sums, counts, changed)
        })
        .collect();
    let mut sums = Array2::zeros((k, d));
    let mut counts = Array1::zeros(k);
    let mut changed = 0;
    for (s, c, ch) in &partial {
        sums += s;
        counts += c;
        changed += ch;
    }
    (sums, counts, changed)
}

/// Lloyd's k-means from k-means++ seeds; returns the label of every row.
pub(crate) fn kmeans<A: Element>(
    x: ArrayView2<'_, A>,
    w: Option<&[f64]>,
    shift: ArrayView1<'_, f64>,
    k: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let n = x.nrows();
    let seeds = kmeans_plusplus(x, w, shift, k, rng);
    let mut centres = Array2::zeros((k, x.ncols()));
    for (mut c, &s) in centres.rows_mut().into_iter().zip(&seeds) {
        c.assign(&shifted(x.slice(ndarray::s![s..s + 1, ..]), shift).row(0));
    }
    // scikit-learn's tolerance: KMEANS_TOL times the mean per-feature variance.
    let mut var_sum = 0.0;
    let mut tw = 0.0;
    for (i, r) in x.rows().into_iter().enumerate() {
        let wi = w.map_or(1.0, |w| w[i]);
        tw += wi;
        var_sum += wi
            * r.iter()
                .zip(shift.iter())
                .map(|(v, s)| (v.to_f64() - s).powi(2))
                .sum::<f64>();
    }
    let tol = KMEANS_TOL * var_sum / (tw * x.ncols() as f64);
    let mut labels = vec![usize::MAX; n];
    for iter in 0..KMEANS_MAX_ITER {
        let (sums, counts, changed) = assign(x, w, shift, &centres, &mut labels);
        if iter > 0 && changed == 0 {
            break;
        }
        let mut shift_sq = 0.0;
        for ((mut c, s), &n_c) in centres.rows_mut().into_iter().zip(sums.rows()).zip(&counts) {
            if n_c > 0.0 {
                for (a, b) in c.iter_mut().zip(s.iter()) {
                    let new = b / n_c;
                    shift_sq += (new - *a).powi(2);
                    *a = new;
                }
            }
        }
        if shift_sq <= tol {
            assign(x, w, shift, &centres, &mut labels);
            break;
        }
    }
    labels
}

/// Lloyd's k-means (k-means++ seeding, scikit-learn's iteration limit and tolerance) on the rows
/// of `x`: the label of every row and the `k × d` centres (the mean of each cluster's rows; a
/// cluster left empty takes row `c` of `x`). Used by other crates to initialise their states
/// (elbo-hmm's Gaussian emissions).
///
/// # Panics
/// If `x` has no rows, `k == 0` or `k > x.nrows()` (programming errors: callers validate).
pub fn kmeans_centres(
    x: ArrayView2<'_, f64>,
    k: usize,
    rng: &mut impl Rng,
) -> (Vec<usize>, Array2<f64>) {
    assert!(
        k > 0 && k <= x.nrows(),
        "kmeans_centres: k = {k} for {} rows",
        x.nrows()
    );
    let shift = weighted_mean(x, None);
    let labels = kmeans(x, None, shift.view(), k, rng);
    let mut centres = Array2::<f64>::zeros((k, x.ncols()));
    let mut counts = vec![0usize; k];
    for (row, &l) in x.rows().into_iter().zip(&labels) {
        let mut c = centres.row_mut(l);
        c += &row;
        counts[l] += 1;
    }
    for (c, (mut centre, &n)) in centres.rows_mut().into_iter().zip(&counts).enumerate() {
        if n > 0 {
            centre /= n as f64;
        } else {
            centre.assign(&x.row(c));
        }
    }
    (labels, centres)
}

/// `k` distinct rows with positive weight, uniformly at random (partial Fisher–Yates).
pub(crate) fn random_rows(n: usize, w: Option<&[f64]>, k: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).filter(|&i| w.is_none_or(|w| w[i] > 0.0)).collect();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, array};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Three tight, far-apart groups: k-means must put each group in its own cluster.
    #[test]
    fn kmeans_separates_obvious_groups() {
        let mut x = Array2::zeros((30, 2));
        for i in 0..30 {
            let g = (i % 3) as f64;
            x[[i, 0]] = 100.0 * g + 0.01 * i as f64;
            x[[i, 1]] = -50.0 * g;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let shift = weighted_mean(x.view(), None);
        let labels = kmeans(x.view(), None, shift.view(), 3, &mut rng);
        for i in 0..30 {
            for j in 0..30 {
                assert_eq!(labels[i] == labels[j], i % 3 == j % 3, "rows {i} and {j}");
            }
        }
    }

    #[test]
    fn random_rows_are_distinct_and_skip_zero_weights() {
        let w = [0.0, 1.0, 1.0, 0.0, 2.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rows = random_rows(6, Some(&w), 4, &mut rng);
        let mut sorted = rows.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 4, 5]);
    }

    #[test]
    fn weighted_mean_matches_closed_form() {
        let x = array![[1.0, 2.0], [3.0, 6.0]];
        let m = weighted_mean(x.view(), Some(&[1.0, 3.0]));
        assert_eq!(m, array![2.5, 5.0]);
    }
}

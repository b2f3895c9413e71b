//! The Gaussian mixture's per-chunk numerics: E-step and M-step statistics as matrix products.
//!
//! Rows are first shifted, `y = x − s`, by a point `s` fixed for the whole fit (the weighted
//! data mean), so data far from the origin keep their digits. With `m_k = μ_k − s`, the
//! precision `Λ_k = P_k P_kᵀ` (`P_k` the upper-triangular precision Cholesky factor) and
//! `c_k = ln π_k + ln|P_k| − (d/2) ln 2π`, every type writes
//! `ln π_k + ln N(x; μ_k, Σ_k) = c_k − ½ (y − m_k)ᵀ Λ_k (y − m_k)` as a linear function of
//! per-row features, so that one GEMM `W · featuresᵀ` gives all `K` log-densities of a chunk:
//!
//! - **full**: features `[y_a y_b (a ≤ b), y]` (`d(d+1)/2 + d` columns); weights from `Λ_k` and
//!   `Λ_k m_k`. The same features give the M-step statistics `Σ r y yᵀ` and `Σ r y` in one more
//!   GEMM `R · features`.
//! - **tied**: `g = y P` (one GEMM), features `[g, ‖g‖²]`, weights `[P m_k, −½]`.
//! - **diag**: features `[y, y²]`, weights `[λ_k ⊙ m_k, −½ λ_k]`; the M-step uses the same.
//! - **spherical**: the diag features with `λ_k` repeated, so that the M-step gets the
//!   per-coordinate `Σ r y²` that scikit-learn's spherical estimate (the mean of the diag
//!   variances) is made of.
//!
//! Every feature row ends with a constant 1: its weight is the component's constant term and its
//! statistic is `N_k`. Statistics per component (responsibilities `r` with sample weights
//! folded in) are `R · features` (tied: `N_k`, `Σ r y` and `Σ w y yᵀ`); they add across chunks
//! and blocks. The M-step turns each component's sums into the mergeable statistics of
//! elbo-distributions (`GaussianStats::from_sums`, `DiagGaussianStats::from_sums`, all around
//! the same shift) and takes its estimates from them.

use ndarray::{Array1, Array2, ArrayView2, Axis, linalg::general_mat_mul, s};

use crate::data::Element;
use crate::engine::{Kernel, sum_fast};
use crate::params::{Covariance, Covariances};

use super::GaussianMixture;

/// ½ ln 2π.
pub(crate) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Contiguous storage of an owned standard-layout buffer (all scratch buffers are).
fn flat(a: &Array2<f64>) -> &[f64] {
    a.as_slice()
        .expect("scratch buffers are in standard layout")
}

/// Mutable contiguous storage of an owned standard-layout buffer.
fn flat_mut(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut()
        .expect("scratch buffers are in standard layout")
}

/// Number of pairs `a ≤ b` of `d` coordinates.
pub(crate) fn n_pairs(d: usize) -> usize {
    d * (d + 1) / 2
}

/// Writes `[y, y², 1]` for one row, `y = x − shift` (diag and spherical).
#[inline(always)]
fn diagonal_features<A: Element>(r: &mut [f64], x: &[A], shift: &[f64]) {
    let d = shift.len();
    let (ys, rest) = r.split_at_mut(d);
    let (ys, qs, x) = (&mut ys[..d], &mut rest[..d], &x[..d]);
    // y and y² in one pass: re-reading the just-written y with wider loads would stall on
    // store forwarding.
    for j in 0..d {
        let t = x[j].to_f64() - shift[j];
        ys[j] = t;
        qs[j] = t * t;
    }
    if let Some(last) = rest.last_mut() {
        *last = 1.0;
    }
}

/// Kernel-ready parameters of a Gaussian mixture.
#[derive(Debug, Clone)]
pub(crate) struct GaussKernel {
    kind: Covariance,
    k: usize,
    d: usize,
    shift: Array1<f64>,
    /// E-step weights, `K × nf` (the last column is the constant term).
    w_e: Array2<f64>,
    /// Tied only: the shared precision factor `P` (`d × d`).
    p_tied: Array2<f64>,
    /// Full only: `P_k m_k` scratch (`d`).
    u: Array1<f64>,
}

/// Per-block buffers of a Gaussian kernel.
#[derive(Debug)]
pub(crate) struct GaussScratch {
    /// Shifted rows `y = x − s`, `rows × d` (full and tied).
    y: Array2<f64>,
    /// E-step features, `rows × nf`.
    f: Array2<f64>,
    /// Tied: `yᵀ` scaled by the sample weights, `d × rows`.
    z: Array2<f64>,
}

/// Per-block sufficient statistics of a Gaussian mixture, around the fit's shift.
#[derive(Debug, Clone)]
pub(crate) struct GaussAcc {
    /// `N_k = Σ r` (sample weights included).
    pub(crate) nk: Array1<f64>,
    /// `R · features`: full `[Σ r y_a y_b (a ≤ b), Σ r y, N_k]`, diag and
    /// spherical `[Σ r y, Σ r y², N_k]`, tied `Σ r y`; `K` rows.
    pub(crate) rf: Array2<f64>,
    /// Tied: `Σ w y yᵀ` (`d × d`); otherwise empty.
    pub(crate) s2: Array2<f64>,
}

/// Index of the pair `(a, b)`, `a ≤ b`, in the row-major upper triangle of `d × d`.
#[inline]
pub(crate) fn pair_index(d: usize, a: usize, b: usize) -> usize {
    a * d - a * a.saturating_sub(1) / 2 + (b - a)
}

impl GaussKernel {
    /// A kernel with the given shift and no parameters yet (for the initialisation pass).
    pub(crate) fn blank(kind: Covariance, k: usize, d: usize, shift: Array1<f64>) -> Self {
        // Every feature row ends with a constant 1, whose weight is the component's constant
        // and whose statistic is N_k.
        let nf = 1 + match kind {
            Covariance::Full => n_pairs(d) + d,
            Covariance::Tied => d + 1,
            Covariance::Diag | Covariance::Spherical => 2 * d,
        };
        let p_tied = match kind {
            Covariance::Tied => Array2::zeros((d, d)),
            _ => Array2::zeros((0, 0)),
        };
        Self {
            kind,
            k,
            d,
            shift,
            w_e: Array2::zeros((k, nf)),
            p_tied,
            u: Array1::zeros(d),
        }
    }

    /// A kernel for evaluating `model`, shifted by the mixture mean Σ π_k μ_k.
    pub(crate) fn for_model(model: &GaussianMixture) -> Self {
        let shift = model.weights.dot(&model.means);
        let mut kernel = Self::blank(model.kind, model.n_components(), model.n_features(), shift);
        kernel.update(model);
        kernel
    }

    /// The shift `s`.
    pub(crate) fn shift(&self) -> &Array1<f64> {
        &self.shift
    }

    /// The E-step weights, `K × nf`; the last column holds the components' constant terms.
    pub(crate) fn weights(&self) -> &Array2<f64> {
        &self.w_e
    }

    /// Adds `delta` to the constant term of component `c` (variational models shift the
    /// log-densities by per-component expectations).
    pub(crate) fn add_to_constant(&mut self, c: usize, delta: f64) {
        let last = self.w_e.ncols() - 1;
        self.w_e[[c, last]] += delta;
    }

    /// Loads the parameters of `model` (same type, K and d); allocates nothing.
    pub(crate) fn update(&mut self, model: &GaussianMixture) {
        let (k, d) = (self.k, self.d);
        let nf = self.w_e.ncols();
        let half_d_ln_2pi = d as f64 * HALF_LN_2PI;
        for c in 0..k {
            let ln_w = model.weights[c].ln();
            let mean = model.means.row(c);
            let m = |j: usize| mean[j] - self.shift[j];
            match &model.precisions_cholesky {
                Covariances::Full(p) => {
                    let p = p.index_axis(Axis(0), c);
                    let mut w = self.w_e.row_mut(c);
                    let mut log_det = 0.0;
                    // u = Pᵀ m, so that mᵀ Λ m = ‖u‖² and Λ m = P u.
                    for j in 0..d {
                        log_det += p[[j, j]].ln();
                        self.u[j] = (0..d).map(|a| p[[a, j]] * m(a)).sum();
                    }
                    let mut t = 0;
                    for a in 0..d {
                        for b in a..d {
                            // Λ_ab = Σ_j P_aj P_bj.
                            let lam: f64 = (0..d).map(|j| p[[a, j]] * p[[b, j]]).sum();
                            w[t] = if a == b { -0.5 * lam } else { -lam };
                            t += 1;
                        }
                    }
                    for a in 0..d {
                        w[t + a] = (0..d).map(|j| p[[a, j]] * self.u[j]).sum();
                    }
                    let quad: f64 = self.u.iter().map(|v| v * v).sum();
                    self.w_e[[c, nf - 1]] = ln_w + log_det - half_d_ln_2pi - 0.5 * quad;
                }
                Covariances::Tied(p) => {
                    let mut log_det = 0.0;
                    let mut quad = 0.0;
                    for j in 0..d {
                        log_det += p[[j, j]].ln();
                        let mp: f64 = (0..d).map(|a| m(a) * p[[a, j]]).sum();
                        self.w_e[[c, j]] = mp;
                        quad += mp * mp;
                    }
                    self.w_e[[c, d]] = -0.5;
                    self.w_e[[c, nf - 1]] = ln_w + log_det - half_d_ln_2pi - 0.5 * quad;
                    if c == 0 {
                        self.p_tied.assign(p);
                    }
                }
                Covariances::Diag(p) => {
                    let mut log_det = 0.0;
                    let mut quad = 0.0;
                    for j in 0..d {
                        let pj = p[[c, j]];
                        let lam = pj * pj;
                        log_det += pj.ln();
                        self.w_e[[c, j]] = lam * m(j);
                        self.w_e[[c, d + j]] = -0.5 * lam;
                        quad += lam * m(j) * m(j);
                    }
                    self.w_e[[c, nf - 1]] = ln_w + log_det - half_d_ln_2pi - 0.5 * quad;
                }
                Covariances::Spherical(p) => {
                    let pc = p[c];
                    let lam = pc * pc;
                    let mut quad = 0.0;
                    for j in 0..d {
                        self.w_e[[c, j]] = lam * m(j);
                        self.w_e[[c, d + j]] = -0.5 * lam;
                        quad += m(j) * m(j);
                    }
                    self.w_e[[c, nf - 1]] =
                        ln_w + d as f64 * pc.ln() - half_d_ln_2pi - 0.5 * lam * quad;
                }
            }
        }
    }
}

impl Kernel for GaussKernel {
    type Scratch = GaussScratch;
    type Acc = GaussAcc;

    fn n_components(&self) -> usize {
        self.k
    }

    fn row_width(&self) -> usize {
        self.w_e.ncols().max(self.k)
    }

    fn new_scratch(&self, rows: usize) -> GaussScratch {
        let d = self.d;
        GaussScratch {
            y: match self.kind {
                Covariance::Full | Covariance::Tied => Array2::zeros((rows, d)),
                _ => Array2::zeros((0, 0)),
            },
            f: Array2::zeros((rows, self.w_e.ncols())),
            z: match self.kind {
                Covariance::Tied => Array2::zeros((d, rows)),
                _ => Array2::zeros((0, 0)),
            },
        }
    }

    fn new_acc(&self) -> GaussAcc {
        let (k, d) = (self.k, self.d);
        let (nm, s2) = match self.kind {
            Covariance::Tied => (d, Array2::zeros((d, d))),
            _ => (self.w_e.ncols(), Array2::zeros((0, 0))),
        };
        GaussAcc {
            nk: Array1::zeros(k),
            rf: Array2::zeros((k, nm)),
            s2,
        }
    }

    fn finish_acc(&self, acc: &mut GaussAcc) {
        // N_k is the statistic of the constant feature (tied keeps it separately).
        if self.kind != Covariance::Tied {
            let last = acc.rf.ncols() - 1;
            acc.nk.assign(&acc.rf.column(last));
        }
    }

    fn clear_acc(&self, acc: &mut GaussAcc) {
        acc.nk.fill(0.0);
        acc.rf.fill(0.0);
        acc.s2.fill(0.0);
    }

    fn merge_acc(&self, into: &mut GaussAcc, from: &GaussAcc) {
        into.nk += &from.nk;
        into.rf += &from.rf;
        into.s2 += &from.s2;
    }

    fn blend_acc(&self, into: &mut GaussAcc, keep: f64, from: &GaussAcc, add: f64) {
        into.nk *= keep;
        into.nk.scaled_add(add, &from.nk);
        into.rf *= keep;
        into.rf.scaled_add(add, &from.rf);
        into.s2 *= keep;
        into.s2.scaled_add(add, &from.s2);
    }

    // Always inlined (like the loops it calls) so that it takes the instruction set of the
    // E-step variant it runs in.
    #[inline(always)]
    fn load<A: Element>(&self, x: ArrayView2<'_, A>, sc: &mut GaussScratch) {
        let (m, d) = (x.nrows(), self.d);
        let nf = sc.f.ncols();
        let shift = self.shift.as_slice().expect("the shift is contiguous");
        // Diagonal types build their features straight from the rows.
        if matches!(self.kind, Covariance::Diag | Covariance::Spherical) {
            let f = flat_mut(&mut sc.f);
            match x.as_slice() {
                Some(xs) => {
                    for (r, xr) in f[..m * nf].chunks_exact_mut(nf).zip(xs.chunks_exact(d)) {
                        diagonal_features(r, xr, shift);
                    }
                }
                None => {
                    let mut row = vec![0.0; d];
                    for (r, xr) in f[..m * nf].chunks_exact_mut(nf).zip(x.rows()) {
                        for (o, v) in row.iter_mut().zip(xr.iter()) {
                            *o = v.to_f64();
                        }
                        diagonal_features(r, &row, shift);
                    }
                }
            }
            return;
        }
        let y = flat_mut(&mut sc.y);
        match x.as_slice() {
            Some(xs) => {
                for (yr, xr) in y[..m * d].chunks_exact_mut(d).zip(xs.chunks_exact(d)) {
                    for ((yv, xv), sv) in yr.iter_mut().zip(xr).zip(shift) {
                        *yv = xv.to_f64() - sv;
                    }
                }
            }
            None => {
                for (yr, xr) in y[..m * d].chunks_exact_mut(d).zip(x.rows()) {
                    for ((yv, xv), sv) in yr.iter_mut().zip(xr.iter()).zip(shift) {
                        *yv = xv.to_f64() - sv;
                    }
                }
            }
        }
        if self.kind == Covariance::Tied {
            general_mat_mul(
                1.0,
                &sc.y.slice(s![..m, ..]),
                &self.p_tied,
                0.0,
                &mut sc.f.slice_mut(s![..m, ..d]),
            );
            let f = flat_mut(&mut sc.f);
            for r in f[..m * nf].chunks_exact_mut(nf) {
                r[d] = r[..d].iter().map(|v| v * v).sum();
                r[d + 1] = 1.0;
            }
            return;
        }
        // Full: [y_a y_b (a ≤ b), y, 1].
        let y = flat(&sc.y);
        let f = flat_mut(&mut sc.f);
        for (yr, r) in y[..m * d]
            .chunks_exact(d)
            .zip(f[..m * nf].chunks_exact_mut(nf))
        {
            let mut t = 0;
            for a in 0..d {
                let ya = yr[a];
                for (o, yb) in r[t..t + d - a].iter_mut().zip(&yr[a..]) {
                    *o = ya * yb;
                }
                t += d - a;
            }
            r[t..t + d].copy_from_slice(yr);
            r[nf - 1] = 1.0;
        }
    }

    fn log_prob(&self, sc: &mut GaussScratch, m: usize, lp: &mut Array2<f64>) {
        let feats = sc.f.slice(s![..m, ..]);
        general_mat_mul(
            1.0,
            &self.w_e,
            &feats.t(),
            0.0,
            &mut lp.slice_mut(s![.., ..m]),
        );
    }

    #[inline(always)]
    fn accumulate(&self, sc: &mut GaussScratch, m: usize, resp: &Array2<f64>, acc: &mut GaussAcc) {
        let d = self.d;
        let c = resp.ncols();
        let rv = flat(resp);
        let r = resp.slice(s![.., ..m]);
        match self.kind {
            Covariance::Tied => {
                for (n, row) in acc.nk.iter_mut().zip(rv.chunks_exact(c)) {
                    *n += sum_fast(&row[..m]);
                }
                general_mat_mul(1.0, &r, &sc.y.slice(s![..m, ..]), 1.0, &mut acc.rf);
                // z = yᵀ scaled by Σ_k r_ik = w_i (the sample weight), so z y = Σ_i w_i y_i y_iᵀ.
                let rows = sc.z.ncols();
                let y = flat(&sc.y);
                let z = flat_mut(&mut sc.z);
                for i in 0..m {
                    let w: f64 = (0..self.k).map(|k| rv[k * c + i]).sum();
                    for j in 0..d {
                        z[j * rows + i] = w * y[i * d + j];
                    }
                }
                general_mat_mul(
                    1.0,
                    &sc.z.slice(s![.., ..m]),
                    &sc.y.slice(s![..m, ..]),
                    1.0,
                    &mut acc.s2,
                );
            }
            _ => general_mat_mul(1.0, &r, &sc.f.slice(s![..m, ..]), 1.0, &mut acc.rf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_index_enumerates_the_upper_triangle_in_order() {
        for d in 1..7 {
            let mut t = 0;
            for a in 0..d {
                for b in a..d {
                    assert_eq!(pair_index(d, a, b), t, "d {d} ({a}, {b})");
                    t += 1;
                }
            }
        }
    }
}

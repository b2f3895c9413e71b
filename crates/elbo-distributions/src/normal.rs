//! Gaussian distributions: full covariance ([`MvNormal`]), diagonal ([`DiagNormal`]) and one
//! shared variance ([`SphericalNormal`]).

use std::f64::consts::{E, PI};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Zip, s};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::density::{assert_batch_shape, assert_point_shape, for_row_chunks};
use crate::linalg::{
    Triangle, check_finite, check_finite_matrix, check_len, check_square, check_symmetric,
    cholesky_named, invert_lower_triangular, triangle_of,
};
use crate::{DistributionError, LogDensity};

/// ½ ln 2π.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

/// Error unless a parameter has at least one entry.
fn check_nonempty(len: usize, name: &'static str) -> Result<(), DistributionError> {
    if len == 0 {
        return Err(DistributionError::Empty { name });
    }
    Ok(())
}

/// Draws a vector of independent standard normals.
fn standard_normal(d: usize, rng: &mut impl Rng) -> Array1<f64> {
    Array1::from_shape_fn(d, |_| rng.sample(StandardNormal))
}

/// A multivariate normal N(μ, Σ) with a full covariance.
///
/// It is held as the mean and a triangular factor `P` of the precision, `P Pᵀ = Σ⁻¹`, because
/// that is what scoring needs: ln p(x) = −½ d ln 2π + ln|P| − ½ ‖Pᵀ(x − μ)‖², and over a batch
/// `(X − 1μᵀ) P` is one matrix product. [`MvNormal::new`] builds `P = C⁻ᵀ` (upper-triangular)
/// from the covariance Cholesky `Σ = C Cᵀ`, the convention of scikit-learn's
/// `precisions_cholesky_`; [`MvNormal::from_precision_cholesky`] accepts a lower- or
/// upper-triangular factor.
#[derive(Debug, Clone, PartialEq)]
pub struct MvNormal {
    mean: Array1<f64>,
    /// `P`, triangular, with `P Pᵀ = Σ⁻¹`.
    prec_chol: Array2<f64>,
    /// `A = P⁻ᵀ`, triangular, with `A Aᵀ = Σ` (for sampling and the covariance).
    cov_factor: Array2<f64>,
    /// ln |P| = Σ ln Pᵢᵢ = −½ ln |Σ|.
    ln_det_prec_chol: f64,
    /// `P` repacked for the batch kernel.
    packed: PackedFactor,
    /// Diagonal jitter that the covariance needed (0 unless built with jitter allowed).
    jitter: f64,
}

impl MvNormal {
    /// N(mean, cov). `cov` must be symmetric (to a relative 1e-8) and positive definite.
    ///
    /// # Errors
    /// Empty mean, non-finite entries, a non-square or mismatched covariance, an asymmetric
    /// covariance, or one that is not positive definite.
    pub fn new(mean: Array1<f64>, cov: Array2<f64>) -> Result<Self, DistributionError> {
        Self::new_with_jitter(mean, cov, 0.0)
    }

    /// Like [`MvNormal::new`], but lets the Cholesky add up to `max_jitter` to the diagonal
    /// of a covariance that is numerically semi-definite; [`MvNormal::jitter`] says how much
    /// was needed.
    ///
    /// # Errors
    /// As [`MvNormal::new`].
    pub fn new_with_jitter(
        mean: Array1<f64>,
        cov: Array2<f64>,
        max_jitter: f64,
    ) -> Result<Self, DistributionError> {
        check_nonempty(mean.len(), "mean")?;
        check_finite(mean.view(), "mean")?;
        check_square(cov.view(), "cov")?;
        check_len(cov.nrows(), mean.len(), "cov")?;
        check_finite_matrix(cov.view(), "cov")?;
        check_symmetric(cov.view(), "cov")?;
        let chol = cholesky_named(cov.view(), max_jitter, "cov")?;
        let jitter = chol.jitter();
        let c = chol.into_factor();
        let d = c.nrows();
        let mut c_inv = Array2::zeros((d, d));
        invert_lower_triangular(c.view(), c_inv.view_mut());
        let prec_chol = c_inv.reversed_axes().as_standard_layout().to_owned();
        Ok(Self::assemble(mean, prec_chol, c, jitter))
    }

    /// N(mean, (P Pᵀ)⁻¹) from a triangular precision factor `P` (lower or upper), e.g. the
    /// factor an EM M-step computed itself.
    ///
    /// # Errors
    /// Empty mean, non-finite entries, a non-square, mismatched or non-triangular factor, or a
    /// diagonal entry that is not > 0.
    pub fn from_precision_cholesky(
        mean: Array1<f64>,
        prec_chol: Array2<f64>,
    ) -> Result<Self, DistributionError> {
        let name = "prec_chol";
        check_nonempty(mean.len(), "mean")?;
        check_finite(mean.view(), "mean")?;
        check_square(prec_chol.view(), name)?;
        check_len(prec_chol.nrows(), mean.len(), name)?;
        check_finite_matrix(prec_chol.view(), name)?;
        let tri = triangle_of(prec_chol.view(), name)?;
        for (index, &value) in prec_chol.diag().iter().enumerate() {
            if value <= 0.0 || value.is_nan() {
                return Err(DistributionError::NonPositive { name, index, value });
            }
        }
        let d = mean.len();
        // A = P⁻ᵀ. For lower P: invert P, transpose. For upper P: Pᵀ is lower and (Pᵀ)⁻¹ = A.
        let mut inv = Array2::zeros((d, d));
        let cov_factor = match tri {
            Triangle::Lower => {
                invert_lower_triangular(prec_chol.view(), inv.view_mut());
                inv.reversed_axes().as_standard_layout().to_owned()
            }
            Triangle::Upper => {
                invert_lower_triangular(prec_chol.t(), inv.view_mut());
                inv
            }
        };
        let prec_chol = prec_chol.as_standard_layout().to_owned();
        Ok(Self::assemble(mean, prec_chol, cov_factor, 0.0))
    }

    fn assemble(
        mean: Array1<f64>,
        prec_chol: Array2<f64>,
        cov_factor: Array2<f64>,
        jitter: f64,
    ) -> Self {
        let ln_det_prec_chol = prec_chol.diag().iter().map(|v| v.ln()).sum();
        let packed = PackedFactor::new(prec_chol.view());
        Self {
            packed,
            mean,
            prec_chol,
            cov_factor,
            ln_det_prec_chol,
            jitter,
        }
    }

    /// The mean μ.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The covariance Σ = A Aᵀ (computed; O(d³)).
    pub fn covariance(&self) -> Array2<f64> {
        self.cov_factor.dot(&self.cov_factor.t())
    }

    /// The precision Σ⁻¹ = P Pᵀ (computed; O(d³)).
    pub fn precision(&self) -> Array2<f64> {
        self.prec_chol.dot(&self.prec_chol.t())
    }

    /// The triangular precision factor `P` with `P Pᵀ = Σ⁻¹` (upper-triangular when built by
    /// [`MvNormal::new`]).
    pub fn precision_cholesky(&self) -> ArrayView2<'_, f64> {
        self.prec_chol.view()
    }

    /// A triangular covariance factor `A = P⁻ᵀ` with `A Aᵀ = Σ` (the lower Cholesky factor of Σ
    /// when built by [`MvNormal::new`]); sampling computes μ + A z.
    pub fn covariance_factor(&self) -> ArrayView2<'_, f64> {
        self.cov_factor.view()
    }

    /// ln |Σ|.
    pub fn ln_det_covariance(&self) -> f64 {
        -2.0 * self.ln_det_prec_chol
    }

    /// Diagonal jitter the covariance needed when it was factored (0.0 if none).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Differential entropy ½ ln |2πe Σ|, in nats.
    pub fn entropy(&self) -> f64 {
        let d = self.mean.len() as f64;
        0.5 * d * (2.0 * PI * E).ln() - self.ln_det_prec_chol
    }

    /// One draw μ + A z, z ~ N(0, I).
    pub fn sample(&self, rng: &mut impl Rng) -> Array1<f64> {
        let z = standard_normal(self.mean.len(), rng);
        self.cov_factor.dot(&z) + &self.mean
    }

    /// `n` draws as the rows of an n × d matrix.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let d = self.mean.len();
        let z = Array2::from_shape_fn((n, d), |_| rng.sample(StandardNormal));
        let mut x = z.dot(&self.cov_factor.t());
        x += &self.mean;
        x
    }

    /// Normalising constant −½ d ln 2π + ln |P|.
    fn ln_norm(&self) -> f64 {
        -(self.mean.len() as f64) * HALF_LN_2PI + self.ln_det_prec_chol
    }
}

impl LogDensity for MvNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        let diff = &x - &self.mean;
        let y = diff.dot(&self.prec_chol);
        self.ln_norm() - 0.5 * y.dot(&y)
    }

    /// Scores 4 or 8 points at a time with a register-blocked kernel over `P` repacked in
    /// panels of 4 columns that skip its zero triangle, summing the squares of `Pᵀ(x − μ)`
    /// without storing it; large batches are split over rayon's threads in chunks of 256
    /// rows. On x86-64 CPUs with AVX2 and FMA (detected at run time) the kernel runs four
    /// lanes wide with fused multiply-adds.
    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        self.ln_prob_batch_on(Simd::detect(), x, out);
    }
}

impl MvNormal {
    /// [`LogDensity::ln_prob_batch`] on the instruction set `simd`, which must be
    /// [`Simd::Portable`] or come from [`Simd::detect`].
    fn ln_prob_batch_on(&self, simd: Simd, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        let d = self.dim();
        assert_batch_shape(d, x, &out);
        let ln_norm = self.ln_norm();
        for_row_chunks(
            x,
            out,
            d * d,
            || vec![[0.0; MAX_BLOCK_ROWS]; d],
            |xc, oc, buf| match simd {
                Simd::Portable => self.chunk_portable(xc, oc, ln_norm, buf),
                // SAFETY: `Simd::Avx2` is only produced by `Simd::detect`, after
                // `is_x86_feature_detected!` confirmed AVX2 and FMA on the running CPU.
                #[cfg(target_arch = "x86_64")]
                #[allow(unsafe_code)]
                Simd::Avx2 => unsafe { self.chunk_avx2(xc, oc, ln_norm, buf) },
            },
        );
    }

    /// [`MvNormal::chunk_body`] for the baseline target: 4 points × 4 columns per tile, which
    /// fills eight of SSE2's sixteen registers with accumulators.
    fn chunk_portable(
        &self,
        x: ArrayView2<'_, f64>,
        out: ArrayViewMut1<'_, f64>,
        ln_norm: f64,
        buf: &mut [[f64; MAX_BLOCK_ROWS]],
    ) {
        self.chunk_body::<4, Separate>(x, out, ln_norm, buf);
    }

    /// [`MvNormal::chunk_body`] compiled with AVX2 and FMA: 8 points × 4 columns per tile, eight
    /// independent FMA chains to cover the FMA latency.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn chunk_avx2(
        &self,
        x: ArrayView2<'_, f64>,
        out: ArrayViewMut1<'_, f64>,
        ln_norm: f64,
        buf: &mut [[f64; MAX_BLOCK_ROWS]],
    ) {
        self.chunk_body::<8, Fused>(x, out, ln_norm, buf);
    }

    /// `out[i] = ln_norm − ½ ‖Pᵀ(x[i, :] − μ)‖²` for one chunk of rows, `R` rows at a time:
    /// each block is centred into `buf` coordinate-major (`buf[j][r] = x[r, j] − μ[j]`, zero
    /// lanes padding a short last block) and handed to [`PackedFactor::block_sq_norms`].
    /// Contiguous `x` and `out` take a flat-slice path; any other layout goes through
    /// ndarray's row views.
    #[inline(always)]
    fn chunk_body<const R: usize, A: MulAdd>(
        &self,
        x: ArrayView2<'_, f64>,
        mut out: ArrayViewMut1<'_, f64>,
        ln_norm: f64,
        buf: &mut [[f64; MAX_BLOCK_ROWS]],
    ) {
        const { assert!(R <= MAX_BLOCK_ROWS) };
        let pf = &self.packed;
        if let (Some(xs), Some(os), Some(mu)) =
            (x.as_slice(), out.as_slice_mut(), self.mean.as_slice())
        {
            let d = mu.len();
            for (xg, og) in xs.chunks(R * d).zip(os.chunks_mut(R)) {
                if xg.len() == R * d {
                    // Coordinate by coordinate across the block's rows: LLVM turns this into
                    // in-register transposes rather than one scattered store per element.
                    let rows: [&[f64]; R] = std::array::from_fn(|r| &xg[r * d..][..d]);
                    for (i, (c, &m)) in buf.iter_mut().zip(mu).enumerate() {
                        for (cv, row) in c.iter_mut().zip(&rows) {
                            *cv = row[i] - m;
                        }
                    }
                } else {
                    centre_rows::<R>(xg.chunks_exact(d), mu, buf);
                }
                let ss = pf.block_sq_norms::<R, A>(buf);
                for (o, &s) in og.iter_mut().zip(&ss) {
                    *o = ln_norm - 0.5 * s;
                }
            }
            return;
        }
        for (xg, mut og) in x
            .axis_chunks_iter(Axis(0), R)
            .zip(out.axis_chunks_iter_mut(Axis(0), R))
        {
            centre_rows::<R>(xg.rows().into_iter(), &self.mean, buf);
            let ss = pf.block_sq_norms::<R, A>(buf);
            for (o, &s) in og.iter_mut().zip(&ss) {
                *o = ln_norm - 0.5 * s;
            }
        }
    }
}

/// `c[j][r] = rows[r][j] − mean[j]` for (at most `R`) rows in any layout, and zeros in the
/// lanes of missing rows up to `R`.
#[inline(always)]
fn centre_rows<'a, const R: usize>(
    rows: impl Iterator<Item = impl IntoIterator<Item = &'a f64>>,
    mean: impl IntoIterator<Item = &'a f64> + Copy,
    c: &mut [[f64; MAX_BLOCK_ROWS]],
) {
    let mut m = 0;
    for (r, row) in rows.take(R).enumerate() {
        for ((cv, &x), &mu) in c.iter_mut().zip(row).zip(mean) {
            cv[r] = x - mu;
        }
        m = r + 1;
    }
    if m < R {
        for cv in c.iter_mut() {
            cv[m..R].fill(0.0);
        }
    }
}

/// Instruction set of the batch kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simd {
    /// Code for the compilation target (any CPU).
    Portable,
    /// x86-64 with AVX2 and FMA, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Simd {
    /// The widest path this CPU supports.
    fn detect() -> Self {
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

/// `a · b + c`, rounded once or twice.
trait MulAdd {
    fn mul_add(a: f64, b: f64, c: f64) -> f64;
}

/// A multiply, then an add (two roundings): fast on any target.
struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
}

/// A fused multiply-add (one rounding): one instruction where FMA is enabled, a slow library
/// call elsewhere, so only used in code compiled with FMA.
struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

/// Most rows [`MvNormal::chunk_body`] scores at a time (the size of its scratch).
const MAX_BLOCK_ROWS: usize = 8;

/// Output columns per panel of a [`PackedFactor`].
const PANEL_COLS: usize = 4;

/// A panel of [`PANEL_COLS`] columns of the precision factor: the rows `start..end` that hold
/// its non-zeros, stored from `offset` in [`PackedFactor::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Panel {
    start: usize,
    end: usize,
    offset: usize,
}

/// The precision factor `P` cut into panels of [`PANEL_COLS`] columns (the last one padded with
/// zero columns), each keeping only the span of rows with a non-zero entry. For a triangular
/// `P` that skips the zero triangle: column panel `b` of an upper factor needs only rows
/// `0..PANEL_COLS·(b + 1)`, so d = 16 costs 160 multiply-adds per point instead of 256.
#[derive(Debug, Clone, PartialEq)]
struct PackedFactor {
    panels: Vec<Panel>,
    /// For each panel in turn, its columns of each of its rows.
    data: Vec<[f64; PANEL_COLS]>,
}

impl PackedFactor {
    fn new(p: ArrayView2<'_, f64>) -> Self {
        let d = p.nrows();
        let mut panels = Vec::with_capacity(d.div_ceil(PANEL_COLS));
        let mut data = Vec::new();
        for j0 in (0..d).step_by(PANEL_COLS) {
            let cols = j0..(j0 + PANEL_COLS).min(d);
            let nonzero = |i: usize| p.slice(s![i, cols.clone()]).iter().any(|&v| v != 0.0);
            let start = (0..d).find(|&i| nonzero(i)).unwrap_or(0);
            let end = (start..d)
                .rev()
                .find(|&i| nonzero(i))
                .map_or(start, |i| i + 1);
            let offset = data.len();
            for i in start..end {
                let mut row = [0.0; PANEL_COLS];
                for (r, j) in row.iter_mut().zip(cols.clone()) {
                    *r = p[[i, j]];
                }
                data.push(row);
            }
            panels.push(Panel { start, end, offset });
        }
        Self { panels, data }
    }

    /// `‖Pᵀ cᵣ‖²` for `R` points held coordinate-major: `c[i][r]` is coordinate `i` of point
    /// `r` (only the first `R` of the [`MAX_BLOCK_ROWS`] lanes are read). Each panel
    /// accumulates an `R × PANEL_COLS` tile of `Pᵀ c` in registers, one broadcast coordinate
    /// times one row of the panel per step, and folds the tile's squares into the sums.
    #[inline(always)]
    fn block_sq_norms<const R: usize, A: MulAdd>(&self, c: &[[f64; MAX_BLOCK_ROWS]]) -> [f64; R] {
        let mut ss = [0.0; R];
        for panel in &self.panels {
            let p = &self.data[panel.offset..panel.offset + (panel.end - panel.start)];
            let cs = &c[panel.start..panel.end];
            let mut acc = [[0.0; PANEL_COLS]; R];
            for (prow, ci) in p.iter().zip(cs) {
                for (a, &x) in acc.iter_mut().zip(ci) {
                    for (av, &pv) in a.iter_mut().zip(prow) {
                        *av = A::mul_add(x, pv, *av);
                    }
                }
            }
            for (s, a) in ss.iter_mut().zip(&acc) {
                let [a0, a1, a2, a3] = a.map(|v| v * v);
                *s += (a0 + a1) + (a2 + a3);
            }
        }
        ss
    }
}

/// A normal with independent coordinates, N(μ, diag σ²): the VAE's encoder posterior and the
/// "diag" covariance type of a mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagNormal {
    mean: Array1<f64>,
    var: Array1<f64>,
    inv_std: Array1<f64>,
    ln_norm: f64,
}

impl DiagNormal {
    /// N(mean, diag var); every variance must be finite and > 0.
    ///
    /// # Errors
    /// Empty or mismatched parameters, non-finite entries, or a variance ≤ 0.
    pub fn new(mean: Array1<f64>, var: Array1<f64>) -> Result<Self, DistributionError> {
        check_nonempty(mean.len(), "mean")?;
        check_finite(mean.view(), "mean")?;
        check_len(var.len(), mean.len(), "var")?;
        check_finite(var.view(), "var")?;
        for (index, &value) in var.iter().enumerate() {
            if value <= 0.0 || value.is_nan() {
                return Err(DistributionError::NonPositiveVariance {
                    name: "var",
                    index,
                    value,
                });
            }
        }
        let inv_std = var.mapv(|v| 1.0 / v.sqrt());
        let ln_norm =
            -(mean.len() as f64) * HALF_LN_2PI - 0.5 * var.iter().map(|v| v.ln()).sum::<f64>();
        Ok(Self {
            mean,
            var,
            inv_std,
            ln_norm,
        })
    }

    /// N(0, I) in `d` dimensions, the VAE prior.
    ///
    /// # Errors
    /// If `d == 0`.
    pub fn standard(d: usize) -> Result<Self, DistributionError> {
        Self::new(Array1::zeros(d), Array1::ones(d))
    }

    /// The mean μ.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The per-coordinate variances σ².
    pub fn variance(&self) -> ArrayView1<'_, f64> {
        self.var.view()
    }

    /// The covariance as a (diagonal) matrix.
    pub fn covariance(&self) -> Array2<f64> {
        Array2::from_diag(&self.var)
    }

    /// Differential entropy ½ Σ ln(2πe σⱼ²), in nats.
    pub fn entropy(&self) -> f64 {
        0.5 * self
            .var
            .iter()
            .map(|v| (2.0 * PI * E * v).ln())
            .sum::<f64>()
    }

    /// One draw μ + σ ⊙ z.
    pub fn sample(&self, rng: &mut impl Rng) -> Array1<f64> {
        let z = standard_normal(self.mean.len(), rng);
        Zip::from(&z)
            .and(&self.mean)
            .and(&self.inv_std)
            .map_collect(|&z, &m, &is| m + z / is)
    }

    /// `n` draws as the rows of an n × d matrix.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let d = self.mean.len();
        let mut x = Array2::zeros((n, d));
        for mut row in x.rows_mut() {
            for ((v, &m), &is) in row.iter_mut().zip(&self.mean).zip(&self.inv_std) {
                let z: f64 = rng.sample(StandardNormal);
                *v = m + z / is;
            }
        }
        x
    }

    fn ln_prob_row(&self, x: ArrayView1<'_, f64>) -> f64 {
        let q = match (x.as_slice(), self.mean.as_slice(), self.inv_std.as_slice()) {
            (Some(x), Some(m), Some(is)) => scaled_sq_dist(x, m, is),
            _ => Zip::from(&x)
                .and(&self.mean)
                .and(&self.inv_std)
                .fold(0.0, |acc, &x, &m, &is| {
                    let z = (x - m) * is;
                    acc + z * z
                }),
        };
        self.ln_norm - 0.5 * q
    }
}

/// Σⱼ ((xⱼ − mⱼ) sⱼ)² over contiguous slices, with four independent accumulators so that the
/// reduction pipelines and vectorises (a single running sum is a serial dependency chain).
fn scaled_sq_dist(x: &[f64], m: &[f64], s: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (xc, mc, sc) = (x.chunks_exact(4), m.chunks_exact(4), s.chunks_exact(4));
    let tail = xc
        .remainder()
        .iter()
        .zip(mc.remainder())
        .zip(sc.remainder())
        .fold(0.0, |a, ((&x, &m), &s)| {
            let z = (x - m) * s;
            a + z * z
        });
    for ((x4, m4), s4) in xc.zip(mc).zip(sc) {
        for (((a, &x), &m), &s) in acc.iter_mut().zip(x4).zip(m4).zip(s4) {
            let z = (x - m) * s;
            *a += z * z;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

impl LogDensity for DiagNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        self.ln_prob_row(x)
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        for_row_chunks(
            x,
            out,
            3 * self.dim(),
            || (),
            |xc, mut oc, ()| {
                Zip::from(&mut oc)
                    .and(xc.rows())
                    .for_each(|o, r| *o = self.ln_prob_row(r));
            },
        );
    }
}

/// A normal with one variance shared by all coordinates, N(μ, σ² I): the "spherical"
/// covariance type of a mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct SphericalNormal {
    mean: Array1<f64>,
    var: f64,
    ln_norm: f64,
}

impl SphericalNormal {
    /// N(mean, var · I); `var` must be finite and > 0.
    ///
    /// # Errors
    /// Empty or non-finite mean, non-finite variance, or variance ≤ 0.
    pub fn new(mean: Array1<f64>, var: f64) -> Result<Self, DistributionError> {
        check_nonempty(mean.len(), "mean")?;
        check_finite(mean.view(), "mean")?;
        if !var.is_finite() {
            return Err(DistributionError::NonFinite {
                name: "var",
                index: 0,
                value: var,
            });
        }
        if var <= 0.0 || var.is_nan() {
            return Err(DistributionError::NonPositiveVariance {
                name: "var",
                index: 0,
                value: var,
            });
        }
        let d = mean.len() as f64;
        let ln_norm = -d * HALF_LN_2PI - 0.5 * d * var.ln();
        Ok(Self { mean, var, ln_norm })
    }

    /// The mean μ.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The shared variance σ².
    pub fn variance(&self) -> f64 {
        self.var
    }

    /// The covariance σ² I as a matrix.
    pub fn covariance(&self) -> Array2<f64> {
        Array2::eye(self.mean.len()) * self.var
    }

    /// Differential entropy (d/2) ln(2πe σ²), in nats.
    pub fn entropy(&self) -> f64 {
        0.5 * self.mean.len() as f64 * (2.0 * PI * E * self.var).ln()
    }

    /// One draw μ + σ z.
    pub fn sample(&self, rng: &mut impl Rng) -> Array1<f64> {
        let sd = self.var.sqrt();
        let z = standard_normal(self.mean.len(), rng);
        z * sd + &self.mean
    }

    /// `n` draws as the rows of an n × d matrix.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let sd = self.var.sqrt();
        let d = self.mean.len();
        let mut x = Array2::from_shape_fn((n, d), |_| rng.sample::<f64, _>(StandardNormal) * sd);
        x += &self.mean;
        x
    }

    fn ln_prob_row(&self, x: ArrayView1<'_, f64>) -> f64 {
        let mut q = 0.0;
        Zip::from(&x).and(&self.mean).for_each(|&x, &m| {
            let z = x - m;
            q += z * z;
        });
        self.ln_norm - 0.5 * q / self.var
    }
}

impl LogDensity for SphericalNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        self.ln_prob_row(x)
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        for_row_chunks(
            x,
            out,
            2 * self.dim(),
            || (),
            |xc, mut oc, ()| {
                Zip::from(&mut oc)
                    .and(xc.rows())
                    .for_each(|o, r| *o = self.ln_prob_row(r));
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Dimensions that cover a single lane, partial panels, exactly full panels and several
    /// panels with a ragged last one.
    const DIMS: [usize; 8] = [1, 2, 3, 5, 8, 16, 17, 33];

    /// A random SPD covariance B Bᵀ / d + ½ I and a mean.
    fn random_normal(d: usize, offset: f64, rng: &mut ChaCha8Rng) -> (Array1<f64>, Array2<f64>) {
        let b = Array2::from_shape_fn((d, d), |_| rng.random_range(-1.0..1.0));
        let cov = b.dot(&b.t()) / d as f64 + Array2::<f64>::eye(d) * 0.5;
        let mean = Array1::from_shape_fn(d, |_| offset + rng.random_range(-1.0..1.0));
        (mean, cov)
    }

    /// The straightforward formula, −½(d ln 2π − 2 ln|P| + ‖Pᵀ(x − μ)‖²), with plain loops over
    /// the whole factor (zeros included).
    fn reference(mv: &MvNormal, x: ArrayView2<'_, f64>) -> Vec<f64> {
        let (p, mean) = (mv.precision_cholesky(), mv.mean());
        let d = mean.len();
        let ln_det: f64 = p.diag().iter().map(|v| v.ln()).sum();
        x.rows()
            .into_iter()
            .map(|row| {
                let mut q = 0.0;
                for j in 0..d {
                    let mut y = 0.0;
                    for i in 0..d {
                        y += p[[i, j]] * (row[i] - mean[i]);
                    }
                    q += y * y;
                }
                -0.5 * (d as f64 * (2.0 * PI).ln() - 2.0 * ln_det + q)
            })
            .collect()
    }

    /// Largest |a − b| / max(|b|, 1), the tolerance convention of the integration tests.
    fn max_rel_err(a: ArrayView1<'_, f64>, b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f64::max)
    }

    /// Every instruction set this CPU can run.
    fn paths() -> Vec<Simd> {
        let mut paths = vec![Simd::Portable];
        if Simd::detect() != Simd::Portable {
            paths.push(Simd::detect());
        }
        paths
    }

    /// Checks every path against the reference, and the paths against each other.
    fn check(mv: &MvNormal, x: ArrayView2<'_, f64>, what: &str) {
        let want = reference(mv, x);
        let mut outs = Vec::new();
        for simd in paths() {
            let mut out = Array1::from_elem(x.nrows(), f64::NAN);
            mv.ln_prob_batch_on(simd, x, out.view_mut());
            let err = max_rel_err(out.view(), &want);
            assert!(err <= 1e-12, "{what}, {simd:?}: relative error {err:e}");
            outs.push(out);
        }
        for out in &outs[1..] {
            let err = max_rel_err(out.view(), &outs[0].to_vec());
            assert!(err <= 1e-12, "{what}: paths differ by {err:e}");
        }
    }

    #[test]
    fn fast_kernel_matches_straightforward_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for d in DIMS {
            // 1, 7 and 9 rows exercise short blocks; 1000 rows several chunks (and, from
            // d = 17 on, the parallel path).
            for n in [1, 7, 9, 1000] {
                for offset in [0.0, 100.0] {
                    let (mean, cov) = random_normal(d, offset, &mut rng);
                    let x = Array2::from_shape_fn((n, d), |(_, j)| {
                        mean[j] + rng.random_range(-3.0..3.0)
                    });
                    let upper = MvNormal::new(mean.clone(), cov).expect("SPD by construction");
                    check(&upper, x.view(), &format!("upper, d = {d}, n = {n}"));
                    // The same distribution through a lower-triangular factor.
                    let lower_p = upper.precision_cholesky().t().to_owned();
                    let lower =
                        MvNormal::from_precision_cholesky(mean, lower_p).expect("valid factor");
                    check(&lower, x.view(), &format!("lower, d = {d}, n = {n}"));
                    // Transposed storage goes through the strided path.
                    let xt = x.t().to_owned();
                    check(&upper, xt.t(), &format!("transposed, d = {d}, n = {n}"));
                }
            }
        }
    }

    #[test]
    fn packing_keeps_only_the_triangle() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (mean, cov) = random_normal(16, 0.0, &mut rng);
        let upper = MvNormal::new(mean, cov).expect("SPD by construction");
        let spans: Vec<_> = upper
            .packed
            .panels
            .iter()
            .map(|p| (p.start, p.end))
            .collect();
        assert_eq!(spans, [(0, 4), (0, 8), (0, 12), (0, 16)]);
        assert_eq!(upper.packed.data.len(), 40);
        let lower = PackedFactor::new(upper.precision_cholesky().t());
        let spans: Vec<_> = lower.panels.iter().map(|p| (p.start, p.end)).collect();
        assert_eq!(spans, [(0, 16), (4, 16), (8, 16), (12, 16)]);
    }
}

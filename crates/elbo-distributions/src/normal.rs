//! Gaussian distributions: full covariance ([`MvNormal`]), diagonal ([`DiagNormal`]) and one
//! shared variance ([`SphericalNormal`]).

use std::f64::consts::{E, PI};

use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip,
    linalg::general_mat_mul, s,
};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::density::{CHUNK_ROWS, assert_batch_shape, assert_point_shape, for_row_chunks};
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
        Self {
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

    /// Centres each chunk of 256 rows into a scratch buffer, multiplies it by `P` with
    /// `general_mat_mul` (matrixmultiply's SIMD GEMM) and takes row sums of squares; large
    /// batches are split over rayon's threads.
    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        let d = self.dim();
        assert_batch_shape(d, x, &out);
        let ln_norm = self.ln_norm();
        for_row_chunks(
            x,
            out,
            d * d,
            || {
                (
                    Array2::<f64>::zeros((CHUNK_ROWS, d)),
                    Array2::<f64>::zeros((CHUNK_ROWS, d)),
                )
            },
            |xc, mut oc, (centred, y)| {
                let m = xc.nrows();
                let mut c = centred.slice_mut(s![..m, ..]);
                centre_rows(xc, &self.mean, &mut c);
                let mut yv = y.slice_mut(s![..m, ..]);
                general_mat_mul(1.0, &c, &self.prec_chol, 0.0, &mut yv);
                half_sq_norms(yv.view(), ln_norm, &mut oc);
            },
        );
    }
}

/// `c[i, :] = x[i, :] − mean`, with a flat-slice fast path when both are contiguous.
fn centre_rows(x: ArrayView2<'_, f64>, mean: &Array1<f64>, c: &mut ArrayViewMut2<'_, f64>) {
    let d = mean.len();
    if let (Some(xs), Some(cs), Some(mu)) = (x.as_slice(), c.as_slice_mut(), mean.as_slice()) {
        for (cr, xr) in cs.chunks_exact_mut(d).zip(xs.chunks_exact(d)) {
            for ((c, &x), &m) in cr.iter_mut().zip(xr).zip(mu) {
                *c = x - m;
            }
        }
        return;
    }
    Zip::from(c.rows_mut())
        .and(x.rows())
        .for_each(|mut cr, xr| {
            Zip::from(&mut cr)
                .and(&xr)
                .and(mean)
                .for_each(|c, &x, &m| *c = x - m);
        });
}

/// `out[i] = ln_norm − ½ ‖y[i, :]‖²`, with a flat-slice fast path.
fn half_sq_norms(y: ArrayView2<'_, f64>, ln_norm: f64, out: &mut ArrayViewMut1<'_, f64>) {
    let d = y.ncols();
    if let (Some(ys), Some(os)) = (y.as_slice(), out.as_slice_mut()) {
        for (o, r) in os.iter_mut().zip(ys.chunks_exact(d)) {
            *o = ln_norm - 0.5 * sum_sq(r);
        }
        return;
    }
    Zip::from(out)
        .and(y.rows())
        .for_each(|o, r| *o = ln_norm - 0.5 * r.dot(&r));
}

/// Σ vᵢ², with four accumulators so the reduction pipelines.
fn sum_sq(s: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = s.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|x| x * x).sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
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

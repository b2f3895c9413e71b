//! Dense linear algebra for small symmetric positive-definite matrices (d up to a few hundred):
//! the Cholesky factorisation that every full-covariance density is built on, and a triangular
//! inverse. No BLAS/LAPACK: plain loops, which are fast enough at these sizes.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::DistributionError;

/// A Cholesky factorisation `A + jitter·I = L Lᵀ` that remembers how much jitter it needed.
///
/// Hiding jitter silently turns a degenerate covariance into a "fit"; here the caller can log
/// it, report it, or reject it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cholesky {
    factor: Array2<f64>,
    jitter: f64,
}

impl Cholesky {
    /// The lower-triangular factor `L` (its strict upper triangle is zero).
    pub fn factor(&self) -> ArrayView2<'_, f64> {
        self.factor.view()
    }

    /// The diagonal jitter that was added before the factorisation succeeded (0.0 if none).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// ln |A + jitter·I| = 2 Σ ln Lᵢᵢ.
    pub fn ln_det(&self) -> f64 {
        2.0 * self.factor.diag().iter().map(|v| v.ln()).sum::<f64>()
    }

    /// Dimension of the factored matrix.
    pub fn dim(&self) -> usize {
        self.factor.nrows()
    }

    /// Takes the factor out, consuming the factorisation.
    pub fn into_factor(self) -> Array2<f64> {
        self.factor
    }
}

/// Factor a symmetric positive-definite matrix (only its lower triangle is read).
///
/// Tries the plain factorisation first; if a pivot is not positive, retries with diagonal jitter
/// `1e-10 · mean(diag(A))`, multiplied by 10 each try, while it stays ≤ `max_jitter` (absolute;
/// `max_jitter` itself is tried last). Pass `max_jitter = 0.0` to forbid jitter.
///
/// # Errors
/// [`DistributionError::NotSquare`], [`DistributionError::NonFinite`] for bad input and
/// [`DistributionError::NotPositiveDefinite`] if no allowed jitter makes `A` positive definite.
pub fn cholesky(a: ArrayView2<'_, f64>, max_jitter: f64) -> Result<Cholesky, DistributionError> {
    cholesky_named(a, max_jitter, "a")
}

/// [`cholesky`] with the parameter name to put in errors.
pub(crate) fn cholesky_named(
    a: ArrayView2<'_, f64>,
    max_jitter: f64,
    name: &'static str,
) -> Result<Cholesky, DistributionError> {
    check_square(a, name)?;
    check_finite_matrix(a, name)?;
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    let first = match factor_into(a, 0.0, &mut l) {
        Ok(()) => {
            return Ok(Cholesky {
                factor: l,
                jitter: 0.0,
            });
        }
        Err(e) => e,
    };
    let mean_diag = if d == 0 {
        0.0
    } else {
        a.diag().iter().map(|v| v.abs()).sum::<f64>() / d as f64
    };
    let mut jitter = 1e-10 * if mean_diag > 0.0 { mean_diag } else { 1.0 };
    let mut last_tried = 0.0;
    let mut last_err = first;
    let max_jitter = if max_jitter.is_finite() {
        max_jitter
    } else {
        0.0
    };
    while last_tried < max_jitter {
        let j = jitter.min(max_jitter);
        match factor_into(a, j, &mut l) {
            Ok(()) => {
                tracing::debug!(jitter = j, dim = d, "cholesky needed diagonal jitter");
                return Ok(Cholesky {
                    factor: l,
                    jitter: j,
                });
            }
            Err(e) => last_err = e,
        }
        last_tried = j;
        jitter *= 10.0;
    }
    let (index, pivot) = last_err;
    Err(DistributionError::NotPositiveDefinite {
        name,
        index,
        pivot,
        jitter: last_tried,
    })
}

/// Cholesky–Banachiewicz into `l` (row by row); on failure returns (index, pivot).
fn factor_into(
    a: ArrayView2<'_, f64>,
    jitter: f64,
    l: &mut Array2<f64>,
) -> Result<(), (usize, f64)> {
    let d = a.nrows();
    l.fill(0.0);
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[[i, j]];
            if i == j {
                s += jitter;
            }
            // Rows i and j of L up to column j are already final.
            let (ri, rj) = (l.row(i), l.row(j));
            for k in 0..j {
                s -= ri[k] * rj[k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err((i, s));
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    Ok(())
}

/// Plain Cholesky (no jitter) into a caller-owned d × d buffer; Err if not positive definite.
pub(crate) fn factor_into_pub(
    a: ArrayView2<'_, f64>,
    l: &mut Array2<f64>,
) -> Result<(), (usize, f64)> {
    factor_into(a, 0.0, l)
}

/// Invert a lower-triangular matrix by forward substitution: `out = L⁻¹` (lower-triangular).
///
/// Turns a covariance Cholesky `Σ = L Lᵀ` into a precision factor: `Σ⁻¹ = L⁻ᵀ L⁻¹`. Only the
/// lower triangle of `l` is read; the strict upper triangle of `out` is set to zero. A zero on
/// the diagonal gives infinities (the matrix is singular; factors made by [`cholesky`] never
/// have one).
///
/// # Panics
/// If `l` is not square or `out` has a different shape (a programming error).
pub fn invert_lower_triangular(l: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>) {
    let d = l.nrows();
    assert_eq!(l.ncols(), d, "invert_lower_triangular: `l` is not square");
    assert_eq!(
        out.dim(),
        (d, d),
        "invert_lower_triangular: `out` must have the shape of `l`"
    );
    out.fill(0.0);
    // Column j of L⁻¹ solves L x = e_j; x is zero above j.
    for j in 0..d {
        out[[j, j]] = 1.0 / l[[j, j]];
        for i in (j + 1)..d {
            let mut s = 0.0;
            for k in j..i {
                s += l[[i, k]] * out[[k, j]];
            }
            out[[i, j]] = -s / l[[i, i]];
        }
    }
}

/// Error unless `a` is square.
pub(crate) fn check_square(
    a: ArrayView2<'_, f64>,
    name: &'static str,
) -> Result<(), DistributionError> {
    if a.nrows() != a.ncols() {
        return Err(DistributionError::NotSquare {
            name,
            rows: a.nrows(),
            cols: a.ncols(),
        });
    }
    Ok(())
}

/// Error at the first non-finite entry (row-major index).
pub(crate) fn check_finite_matrix(
    a: ArrayView2<'_, f64>,
    name: &'static str,
) -> Result<(), DistributionError> {
    let ncols = a.ncols();
    for ((i, j), &v) in a.indexed_iter() {
        if !v.is_finite() {
            return Err(DistributionError::NonFinite {
                name,
                index: i * ncols + j,
                value: v,
            });
        }
    }
    Ok(())
}

/// Error at the first non-finite entry.
pub(crate) fn check_finite(
    v: ArrayView1<'_, f64>,
    name: &'static str,
) -> Result<(), DistributionError> {
    for (index, &value) in v.iter().enumerate() {
        if !value.is_finite() {
            return Err(DistributionError::NonFinite { name, index, value });
        }
    }
    Ok(())
}

/// Error unless `v.len() == expected`.
pub(crate) fn check_len(
    found: usize,
    expected: usize,
    name: &'static str,
) -> Result<(), DistributionError> {
    if found != expected {
        return Err(DistributionError::DimensionMismatch {
            name,
            expected,
            found,
        });
    }
    Ok(())
}

/// Error unless `a` is symmetric up to a relative 1e-8 of its scale.
pub(crate) fn check_symmetric(
    a: ArrayView2<'_, f64>,
    name: &'static str,
) -> Result<(), DistributionError> {
    let d = a.nrows();
    for i in 0..d {
        for j in 0..i {
            let (x, y) = (a[[i, j]], a[[j, i]]);
            let scale = (a[[i, i]].abs() * a[[j, j]].abs())
                .sqrt()
                .max(x.abs())
                .max(y.abs());
            if (x - y).abs() > 1e-8 * scale {
                return Err(DistributionError::NotSymmetric {
                    name,
                    row: i,
                    col: j,
                    value: x,
                    transposed: y,
                });
            }
        }
    }
    Ok(())
}

/// Which triangle a square matrix occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Triangle {
    Lower,
    Upper,
}

/// Lower if the strict upper triangle is zero, else upper if the strict lower one is, else an
/// error naming an offending entry.
pub(crate) fn triangle_of(
    a: ArrayView2<'_, f64>,
    name: &'static str,
) -> Result<Triangle, DistributionError> {
    let d = a.nrows();
    let mut upper_nz = None;
    let mut lower_nz = None;
    for i in 0..d {
        for j in 0..d {
            let v = a[[i, j]];
            if v != 0.0 {
                if j > i && upper_nz.is_none() {
                    upper_nz = Some((i, j, v));
                }
                if j < i && lower_nz.is_none() {
                    lower_nz = Some((i, j, v));
                }
            }
        }
    }
    match (upper_nz, lower_nz) {
        (None, _) => Ok(Triangle::Lower),
        (Some(_), None) => Ok(Triangle::Upper),
        (Some((row, col, value)), Some(_)) => Err(DistributionError::NotTriangular {
            name,
            row,
            col,
            value,
        }),
    }
}

//! Dense linear algebra for small symmetric matrices (d up to a few hundred): the Cholesky
//! factorisation that every full-covariance density is built on, a triangular inverse, and a
//! symmetric eigen-decomposition (cyclic Jacobi) for principal components. No BLAS/LAPACK:
//! plain loops, which are fast enough at these sizes.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

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

/// The eigen-decomposition `A = V diag(λ) Vᵀ` of a real symmetric matrix.
///
/// Eigenvalues are in descending order and `V` is orthogonal, its columns the eigenvectors in
/// the same order. Each column's sign is fixed so that its entry of largest magnitude (the
/// first, on ties) is positive, which makes the result a deterministic function of `A`.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricEigen {
    values: Array1<f64>,
    vectors: Array2<f64>,
    sweeps: usize,
}

impl SymmetricEigen {
    /// The eigenvalues λ, descending.
    pub fn values(&self) -> ArrayView1<'_, f64> {
        self.values.view()
    }

    /// The eigenvectors, one per column (`d × d`, orthogonal).
    pub fn vectors(&self) -> ArrayView2<'_, f64> {
        self.vectors.view()
    }

    /// Number of Jacobi sweeps that rotated something (0 for a diagonal matrix).
    pub fn sweeps(&self) -> usize {
        self.sweeps
    }

    /// `(values, vectors)`, consuming the decomposition.
    pub fn into_parts(self) -> (Array1<f64>, Array2<f64>) {
        (self.values, self.vectors)
    }
}

/// Sweeps after which [`symmetric_eigen`] gives up. Jacobi converges quadratically once the
/// off-diagonal part is small; in practice 6–12 sweeps suffice for d in the hundreds.
const MAX_SWEEPS: usize = 100;

/// Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method.
///
/// Each sweep visits every pair `(p, q)`, `p < q`, and applies the plane rotation that zeroes
/// `a_pq` (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5: the symmetric Schur
/// decomposition of a 2 × 2 block), accumulating the rotations into `V`. An entry is left
/// alone once `|a_pq| ≤ ε √(|a_pp| |a_qq|)` (the relative criterion of Demmel & Veselić 1992,
/// which gives small eigenvalues of well-scaled positive-definite matrices to high relative
/// accuracy) or once it is below `ε² ‖A‖_F`; the iteration stops after the first sweep that
/// rotates nothing. Costs about `6 d³` flops per sweep: ideal for the d ≤ a few hundred of
/// covariance matrices, slower than a tridiagonal QR beyond that.
///
/// Only the symmetric part `(A + Aᵀ)/2` is used, so rounding noise in `A`'s symmetry is harmless.
///
/// # Errors
/// [`DistributionError::NotSquare`], [`DistributionError::NonFinite`] and
/// [`DistributionError::NotSymmetric`] (beyond 1e-8 relative) for bad input;
/// [`DistributionError::NotConverged`] if 100 sweeps did not suffice (not seen in practice).
pub fn symmetric_eigen(a: ArrayView2<'_, f64>) -> Result<SymmetricEigen, DistributionError> {
    check_square(a, "a")?;
    check_finite_matrix(a, "a")?;
    check_symmetric(a, "a")?;
    let d = a.nrows();
    // Row-major working copies: `m` (kept symmetric, so only its rows p and q are computed and
    // copied into columns p and q) and `vt` = Vᵀ (the rotations act on its rows p and q).
    let mut m: Vec<f64> = (0..d * d)
        .map(|i| 0.5 * (a[[i / d, i % d]] + a[[i % d, i / d]]))
        .collect();
    let mut vt = vec![0.0; d * d];
    for i in 0..d {
        vt[i * d + i] = 1.0;
    }
    let norm = m.iter().map(|x| x * x).sum::<f64>().sqrt();
    let floor = (f64::EPSILON * f64::EPSILON * norm).max(f64::MIN_POSITIVE);
    let mut sweeps = 0;
    loop {
        let mut rotated = false;
        for p in 0..d {
            for q in (p + 1)..d {
                let apq = m[p * d + q];
                let (app, aqq) = (m[p * d + p], m[q * d + q]);
                if apq.abs() <= f64::EPSILON * (app.abs() * aqq.abs()).sqrt() || apq.abs() <= floor
                {
                    continue;
                }
                rotated = true;
                // tan θ: the root of t² + 2τt − 1 = 0 of smaller magnitude (|θ| ≤ π/4).
                let tau = (aqq - app) / (2.0 * apq);
                let t = tau.signum() / (tau.abs() + tau.hypot(1.0));
                let c = 1.0 / t.hypot(1.0);
                let s = t * c;
                // M ← Jᵀ M J with J = [[c, s], [−s, c]] in rows and columns (p, q).
                for k in 0..d {
                    if k == p || k == q {
                        continue;
                    }
                    let (mpk, mqk) = (m[p * d + k], m[q * d + k]);
                    let (np, nq) = (c * mpk - s * mqk, s * mpk + c * mqk);
                    m[p * d + k] = np;
                    m[q * d + k] = nq;
                    m[k * d + p] = np;
                    m[k * d + q] = nq;
                }
                m[p * d + p] = app - t * apq;
                m[q * d + q] = aqq + t * apq;
                m[p * d + q] = 0.0;
                m[q * d + p] = 0.0;
                // V ← V J, i.e. rows p and q of Vᵀ.
                for k in 0..d {
                    let (vp, vq) = (vt[p * d + k], vt[q * d + k]);
                    vt[p * d + k] = c * vp - s * vq;
                    vt[q * d + k] = s * vp + c * vq;
                }
            }
        }
        if !rotated {
            break;
        }
        sweeps += 1;
        if sweeps >= MAX_SWEEPS {
            let off = (0..d * d)
                .filter(|i| i / d != i % d)
                .map(|i| m[i] * m[i])
                .sum::<f64>()
                .sqrt();
            return Err(DistributionError::NotConverged {
                name: "a",
                sweeps,
                off_diagonal: off,
            });
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| m[j * d + j].total_cmp(&m[i * d + i]));
    let values = order.iter().map(|&i| m[i * d + i]).collect::<Array1<f64>>();
    let mut vectors = Array2::<f64>::zeros((d, d));
    for (mut out, &i) in vectors.columns_mut().into_iter().zip(&order) {
        let col = &vt[i * d..(i + 1) * d];
        let mut largest = 0.0f64;
        let mut sign = 1.0;
        for &x in col {
            if x.abs() > largest {
                largest = x.abs();
                sign = if x < 0.0 { -1.0 } else { 1.0 };
            }
        }
        for (o, &x) in out.iter_mut().zip(col) {
            *o = sign * x;
        }
    }
    Ok(SymmetricEigen {
        values,
        vectors,
        sweeps,
    })
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, array};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    use super::*;

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| rng.sample(StandardNormal))
    }

    fn random_symmetric(d: usize, seed: u64) -> Array2<f64> {
        let b = random_matrix(d, d, seed);
        (&b + &b.t()) * 0.5
    }

    fn max_abs(a: &Array2<f64>) -> f64 {
        a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
    }

    /// ‖A − V Λ Vᵀ‖_max / max(1, ‖A‖_max) and ‖Vᵀ V − I‖_max.
    fn residuals(a: &Array2<f64>, e: &SymmetricEigen) -> (f64, f64) {
        let v = e.vectors();
        let vl = &v * &e.values();
        let back = vl.dot(&v.t());
        let orth = v.t().dot(&v) - Array2::<f64>::eye(a.nrows());
        (max_abs(&(a - &back)) / max_abs(a).max(1.0), max_abs(&orth))
    }

    fn assert_descending(e: &SymmetricEigen) {
        for w in e.values().windows(2) {
            assert!(w[0] >= w[1], "not descending: {}", e.values());
        }
    }

    #[test]
    fn reconstructs_random_symmetric_matrices() {
        for (seed, d) in [1usize, 2, 3, 5, 10, 40, 120].into_iter().enumerate() {
            let a = random_symmetric(d, seed as u64);
            let e = symmetric_eigen(a.view()).unwrap();
            let (rec, orth) = residuals(&a, &e);
            assert!(rec < 1e-12, "d = {d}: reconstruction error {rec:e}");
            assert!(orth < 1e-12, "d = {d}: VᵀV − I = {orth:e}");
            assert_descending(&e);
            let trace: f64 = a.diag().sum();
            assert!((e.values().sum() - trace).abs() < 1e-12 * (1.0 + trace.abs()));
        }
    }

    #[test]
    fn two_by_two_has_the_textbook_answer() {
        let a = array![[2.0, 1.0], [1.0, 2.0]];
        let e = symmetric_eigen(a.view()).unwrap();
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((e.values()[0] - 3.0).abs() < 1e-15 && (e.values()[1] - 1.0).abs() < 1e-15);
        // Signs: the largest-magnitude entry of each column is positive (first on ties).
        let expected = array![[r, r], [r, -r]];
        assert!(
            max_abs(&(&e.vectors() - &expected)) < 1e-15,
            "{}",
            e.vectors()
        );
    }

    #[test]
    fn diagonal_matrices_are_sorted_without_rotations() {
        let a = Array2::from_diag(&array![1.0, -2.0, 5.0, 0.0]);
        let e = symmetric_eigen(a.view()).unwrap();
        assert_eq!(e.sweeps(), 0);
        assert_eq!(e.values(), array![5.0, 1.0, 0.0, -2.0]);
        let expected = array![
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0]
        ];
        assert_eq!(e.vectors(), expected);
    }

    #[test]
    fn repeated_eigenvalues_are_resolved() {
        // Q diag(5, 5, 5, 1, 1, −3) Qᵀ with Q orthogonal (from a first decomposition).
        let q = symmetric_eigen(random_symmetric(6, 7).view())
            .unwrap()
            .into_parts()
            .1;
        let lambda = array![5.0, 5.0, 5.0, 1.0, 1.0, -3.0];
        let a = (&q * &lambda).dot(&q.t());
        let e = symmetric_eigen(a.view()).unwrap();
        for (got, want) in e.values().iter().zip(&lambda) {
            assert!((got - want).abs() < 1e-13, "{} vs {lambda}", e.values());
        }
        let (rec, orth) = residuals(&a, &e);
        assert!(rec < 1e-12 && orth < 1e-12, "{rec:e} {orth:e}");
    }

    #[test]
    fn rank_deficient_covariances_have_zero_eigenvalues() {
        let b = random_matrix(9, 3, 11);
        let a = b.dot(&b.t());
        let e = symmetric_eigen(a.view()).unwrap();
        let top = e.values()[0];
        assert!(
            e.values().iter().skip(3).all(|l| l.abs() < 1e-13 * top),
            "{}",
            e.values()
        );
        assert!(e.values()[2] > 1e-3 * top);
        let (rec, orth) = residuals(&a, &e);
        assert!(rec < 1e-12 && orth < 1e-12, "{rec:e} {orth:e}");
    }

    #[test]
    fn identity_and_empty_and_scalar() {
        let e = symmetric_eigen(Array2::<f64>::eye(5).view()).unwrap();
        assert_eq!(e.values(), Array1::<f64>::ones(5));
        assert_eq!(e.vectors(), Array2::<f64>::eye(5));
        let e = symmetric_eigen(Array2::<f64>::zeros((0, 0)).view()).unwrap();
        assert_eq!(e.values().len(), 0);
        let e = symmetric_eigen(array![[-4.0]].view()).unwrap();
        assert_eq!((e.values()[0], e.vectors()[[0, 0]]), (-4.0, 1.0));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            symmetric_eigen(Array2::<f64>::zeros((2, 3)).view()),
            Err(DistributionError::NotSquare {
                rows: 2,
                cols: 3,
                ..
            })
        ));
        assert!(matches!(
            symmetric_eigen(array![[1.0, f64::NAN], [f64::NAN, 1.0]].view()),
            Err(DistributionError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            symmetric_eigen(array![[1.0, 2.0], [0.0, 1.0]].view()),
            Err(DistributionError::NotSymmetric { .. })
        ));
    }
}

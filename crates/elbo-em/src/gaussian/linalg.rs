//! Conversions between covariances, precisions and precision Cholesky factors.
//!
//! Convention (scikit-learn's): the precision factor `P` is upper triangular with
//! `P Pᵀ = Σ⁻¹`. From `Σ = L Lᵀ` (lower `L`), `P = L⁻ᵀ`.

use elbo_distributions::{cholesky, invert_lower_triangular};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::error::EmError;
use crate::params::Covariances;

/// A regulariser worth suggesting after `reg_covar` failed.
fn suggest(reg_covar: f64) -> f64 {
    (reg_covar * 100.0).max(1e-4)
}

/// The error for a covariance that cannot be factored.
pub(crate) fn not_pd(component: usize, reg_covar: f64, detail: impl std::fmt::Display) -> EmError {
    EmError::NotPositiveDefinite {
        component,
        reg_covar,
        suggested: suggest(reg_covar),
        detail: detail.to_string(),
    }
}

/// Writes `P = L⁻ᵀ` for `cov = L Lᵀ` into `out`; `reg_covar` only goes into the error.
pub(crate) fn precision_factor_into(
    cov: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
    component: usize,
    reg_covar: f64,
) -> Result<(), EmError> {
    let chol = cholesky(cov, 0.0).map_err(|e| not_pd(component, reg_covar, e))?;
    // Writing L⁻¹ through the transposed view stores its transpose, P = L⁻ᵀ.
    invert_lower_triangular(chol.factor(), out.reversed_axes());
    Ok(())
}

/// `1/√v` for a positive variance.
pub(crate) fn precision_scale(v: f64, component: usize, reg_covar: f64) -> Result<f64, EmError> {
    if v > 0.0 && v.is_finite() {
        Ok(1.0 / v.sqrt())
    } else {
        Err(not_pd(
            component,
            reg_covar,
            format_args!("a variance is {v}"),
        ))
    }
}

/// Precision Cholesky factors of `covariances` (layout of their type).
pub(crate) fn precisions_cholesky_from_covariances(
    covariances: &Covariances,
    reg_covar: f64,
) -> Result<Covariances, EmError> {
    Ok(match covariances {
        Covariances::Full(c) => {
            let mut p = ndarray::Array3::zeros(c.dim());
            for (k, (ck, pk)) in c.outer_iter().zip(p.outer_iter_mut()).enumerate() {
                precision_factor_into(ck, pk, k, reg_covar)?;
            }
            Covariances::Full(p)
        }
        Covariances::Tied(c) => {
            let mut p = Array2::zeros(c.dim());
            precision_factor_into(c.view(), p.view_mut(), 0, reg_covar)?;
            Covariances::Tied(p)
        }
        Covariances::Diag(v) => {
            let mut p = Array2::zeros(v.dim());
            for (k, (vk, mut pk)) in v.outer_iter().zip(p.outer_iter_mut()).enumerate() {
                for (a, b) in vk.iter().zip(pk.iter_mut()) {
                    *b = precision_scale(*a, k, reg_covar)?;
                }
            }
            Covariances::Diag(p)
        }
        Covariances::Spherical(v) => {
            let mut p = v.clone();
            for (k, (a, b)) in v.iter().zip(p.iter_mut()).enumerate() {
                *b = precision_scale(*a, k, reg_covar)?;
            }
            Covariances::Spherical(p)
        }
    })
}

/// `(P, Σ)` of a symmetric positive-definite precision `Λ`: `P` upper with `P Pᵀ = Λ`
/// (the Cholesky factor of the index-reversed `Λ`, reversed back), `Σ = P⁻ᵀ P⁻¹`.
fn factor_precision(
    prec: ArrayView2<'_, f64>,
    component: usize,
) -> Result<(Array2<f64>, Array2<f64>), EmError> {
    let d = prec.nrows();
    let mut flipped = prec.to_owned();
    flipped.invert_axis(Axis(0));
    flipped.invert_axis(Axis(1));
    let chol = cholesky(flipped.view(), 0.0).map_err(|e| EmError::GivenValue {
        name: "precisions",
        reason: format!("precision {component} is not positive definite ({e})"),
    })?;
    let mut p = chol.into_factor();
    p.invert_axis(Axis(0));
    p.invert_axis(Axis(1));
    // Pᵀ is lower triangular; M = (Pᵀ)⁻¹ = P⁻ᵀ, and Σ = Λ⁻¹ = P⁻ᵀ P⁻¹ = M Mᵀ.
    let mut m = Array2::zeros((d, d));
    invert_lower_triangular(p.t(), m.view_mut());
    let cov = m.dot(&m.t());
    Ok((p, symmetrise(cov)))
}

/// (A + Aᵀ) / 2.
fn symmetrise(a: Array2<f64>) -> Array2<f64> {
    let t = a.t().to_owned();
    (a + t) * 0.5
}

/// Covariances and precision Cholesky factors from precisions (layout of their type).
pub(crate) fn covariances_from_precisions(
    precisions: &Covariances,
) -> Result<(Covariances, Covariances), EmError> {
    let positive = |v: f64, k: usize| {
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(EmError::GivenValue {
                name: "precisions",
                reason: format!("precision of component {k} is {v}; precisions must be positive"),
            })
        }
    };
    Ok(match precisions {
        Covariances::Full(l) => {
            let mut cov = l.clone();
            let mut fac = l.clone();
            for (k, ((lk, mut ck), mut pk)) in l
                .outer_iter()
                .zip(cov.outer_iter_mut())
                .zip(fac.outer_iter_mut())
                .enumerate()
            {
                let (p, c) = factor_precision(lk, k)?;
                pk.assign(&p);
                ck.assign(&c);
            }
            (Covariances::Full(cov), Covariances::Full(fac))
        }
        Covariances::Tied(l) => {
            let (p, c) = factor_precision(l.view(), 0)?;
            (Covariances::Tied(c), Covariances::Tied(p))
        }
        Covariances::Diag(l) => {
            let mut cov = l.clone();
            let mut fac = l.clone();
            for (k, ((lk, mut ck), mut pk)) in l
                .outer_iter()
                .zip(cov.outer_iter_mut())
                .zip(fac.outer_iter_mut())
                .enumerate()
            {
                for ((a, c), p) in lk.iter().zip(ck.iter_mut()).zip(pk.iter_mut()) {
                    let a = positive(*a, k)?;
                    *c = 1.0 / a;
                    *p = a.sqrt();
                }
            }
            (Covariances::Diag(cov), Covariances::Diag(fac))
        }
        Covariances::Spherical(l) => {
            let mut cov = l.clone();
            let mut fac = l.clone();
            for (k, ((a, c), p)) in l.iter().zip(cov.iter_mut()).zip(fac.iter_mut()).enumerate() {
                let a = positive(*a, k)?;
                *c = 1.0 / a;
                *p = a.sqrt();
            }
            (Covariances::Spherical(cov), Covariances::Spherical(fac))
        }
    })
}

//! Kullback–Leibler divergences KL(p ‖ q) = E_p[ln p − ln q] in closed form, in nats.
//!
//! KL is the gap of the ELBO and the regulariser of the VAE, so these are the reference values
//! other crates test against. Results are clamped at 0 against rounding (KL ≥ 0 always); a
//! divergence that is infinite (q gives zero mass where p does not) is returned as +∞.

use ndarray::{ArrayView1, Zip};

use crate::numerics::{digamma, ln_gamma};
use crate::{
    Bernoulli, Categorical, DiagNormal, Dirichlet, DistributionError, LogDensity, MvNormal,
};

/// Error unless both distributions have the same dimension.
fn check_same_dim(p: usize, q: usize) -> Result<(), DistributionError> {
    if p != q {
        return Err(DistributionError::DimensionMismatch {
            name: "q",
            expected: p,
            found: q,
        });
    }
    Ok(())
}

/// `a · b` with 0 · (±∞) = 0.
fn mul0(a: f64, b: f64) -> f64 {
    if a == 0.0 { 0.0 } else { a * b }
}

/// KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂)) = ½[ln(|Σ₂|/|Σ₁|) − d + tr(Σ₂⁻¹Σ₁) + (μ₂ − μ₁)ᵀΣ₂⁻¹(μ₂ − μ₁)].
///
/// With Σ₂⁻¹ = P₂P₂ᵀ and Σ₁ = A₁A₁ᵀ the trace is ‖P₂ᵀA₁‖²_F and the quadratic form
/// ‖P₂ᵀ(μ₂ − μ₁)‖²: no inverse is formed.
///
/// # Errors
/// [`DistributionError::DimensionMismatch`] if the dimensions differ.
pub fn kl_mv_normal(p: &MvNormal, q: &MvNormal) -> Result<f64, DistributionError> {
    check_same_dim(p.dim(), q.dim())?;
    let d = p.dim() as f64;
    let pq = q.precision_cholesky();
    let m = pq.t().dot(&p.covariance_factor());
    let trace: f64 = m.iter().map(|v| v * v).sum();
    let diff = &q.mean() - &p.mean();
    let y = pq.t().dot(&diff);
    let maha = y.dot(&y);
    let ln_det_ratio = q.ln_det_covariance() - p.ln_det_covariance();
    Ok((0.5 * (ln_det_ratio - d + trace + maha)).max(0.0))
}

/// KL between diagonal normals: ½ Σⱼ [rⱼ − 1 − ln rⱼ + (μ₁ⱼ − μ₂ⱼ)²/σ₂ⱼ²], rⱼ = σ₁ⱼ²/σ₂ⱼ².
///
/// # Errors
/// [`DistributionError::DimensionMismatch`] if the dimensions differ.
pub fn kl_diag_normal(p: &DiagNormal, q: &DiagNormal) -> Result<f64, DistributionError> {
    check_same_dim(p.dim(), q.dim())?;
    let s = Zip::from(&p.mean())
        .and(&p.variance())
        .and(&q.mean())
        .and(&q.variance())
        .fold(0.0, |acc, &m1, &v1, &m2, &v2| {
            let r = v1 / v2;
            let dm = m1 - m2;
            acc + r - 1.0 - r.ln() + dm * dm / v2
        });
    Ok((0.5 * s).max(0.0))
}

/// KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σⱼ (μⱼ² + σⱼ² − ln σⱼ² − 1): the VAE's regulariser.
pub fn kl_diag_normal_standard(p: &DiagNormal) -> f64 {
    kl_standard_normal(p.mean(), p.variance())
}

/// KL(N(μ, diag σ²) ‖ N(0, I)) from raw mean and variance vectors of equal length (entries
/// beyond the shorter one are ignored), for callers that hold an encoder's outputs rather than
/// a [`DiagNormal`].
pub fn kl_standard_normal(mean: ArrayView1<'_, f64>, var: ArrayView1<'_, f64>) -> f64 {
    let s: f64 = mean
        .iter()
        .zip(var.iter())
        .map(|(&m, &v)| m * m + v - v.ln() - 1.0)
        .sum();
    (0.5 * s).max(0.0)
}

/// KL(N(μ, Σ) ‖ N(0, I)) = ½ (tr Σ + μᵀμ − d − ln |Σ|).
pub fn kl_mv_normal_standard(p: &MvNormal) -> f64 {
    let d = p.dim() as f64;
    let trace: f64 = p.covariance_factor().iter().map(|v| v * v).sum();
    let mean = p.mean();
    (0.5 * (trace + mean.dot(&mean) - d - p.ln_det_covariance())).max(0.0)
}

/// KL between independent Bernoulli vectors: Σⱼ pⱼ ln(pⱼ/qⱼ) + (1 − pⱼ) ln((1 − pⱼ)/(1 − qⱼ)),
/// computed from log-probabilities so extreme logits stay accurate.
///
/// # Errors
/// [`DistributionError::DimensionMismatch`] if the dimensions differ.
pub fn kl_bernoulli(p: &Bernoulli, q: &Bernoulli) -> Result<f64, DistributionError> {
    check_same_dim(p.dim(), q.dim())?;
    let s = Zip::from(&p.ln_probs())
        .and(&p.ln_one_minus_probs())
        .and(&q.ln_probs())
        .and(&q.ln_one_minus_probs())
        .fold(0.0, |acc, &p1, &p0, &q1, &q0| {
            acc + mul0(p1.exp(), p1 - q1) + mul0(p0.exp(), p0 - q0)
        });
    Ok(s.max(0.0))
}

/// KL between categoricals: Σₖ πₖ (ln πₖ − ln ρₖ).
///
/// # Errors
/// [`DistributionError::DimensionMismatch`] if the numbers of categories differ.
pub fn kl_categorical(p: &Categorical, q: &Categorical) -> Result<f64, DistributionError> {
    check_same_dim(p.dim(), q.dim())?;
    let s = Zip::from(&p.ln_probs())
        .and(&q.ln_probs())
        .fold(0.0, |acc, &lp, &lq| acc + mul0(lp.exp(), lp - lq));
    Ok(s.max(0.0))
}

/// KL(Dir(α) ‖ Dir(β)) = ln Γ(α₀) − Σ ln Γ(αₖ) − ln Γ(β₀) + Σ ln Γ(βₖ)
/// + Σ (αₖ − βₖ)(ψ(αₖ) − ψ(α₀)).
///
/// # Errors
/// [`DistributionError::DimensionMismatch`] if the numbers of categories differ.
pub fn kl_dirichlet(p: &Dirichlet, q: &Dirichlet) -> Result<f64, DistributionError> {
    check_same_dim(p.dim(), q.dim())?;
    let (a0, b0) = (p.alpha0(), q.alpha0());
    let psi0 = digamma(a0);
    let s = Zip::from(&p.alpha())
        .and(&q.alpha())
        .fold(0.0, |acc, &a, &b| {
            acc - ln_gamma(a) + ln_gamma(b) + (a - b) * (digamma(a) - psi0)
        });
    Ok((ln_gamma(a0) - ln_gamma(b0) + s).max(0.0))
}

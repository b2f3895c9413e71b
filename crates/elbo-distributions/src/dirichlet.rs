//! Distributions over parameters that the variational Bayesian mixture needs: [`Dirichlet`]
//! (over mixture weights) and [`Wishart`] (over precision matrices).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use rand::Rng;
use rand_distr::{ChiSquared, Distribution, Gamma, StandardNormal};

use crate::density::{assert_batch_shape, assert_point_shape, for_row_chunks};
use crate::linalg::{
    check_finite, check_finite_matrix, check_square, check_symmetric, cholesky_named,
    factor_into_pub, invert_lower_triangular,
};
use crate::numerics::{digamma, ln_gamma, ln_multigamma, log_sum_exp};
use crate::{DistributionError, LogDensity};

/// Tolerance on Σ xₖ = 1 for a point to count as on the simplex (relative to K).
const SIMPLEX_TOL: f64 = 1e-9;

/// The Dirichlet distribution Dir(α) over the probability simplex {x : xₖ ≥ 0, Σ xₖ = 1}, the
/// conjugate prior of mixture weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Dirichlet {
    alpha: Array1<f64>,
    alpha0: f64,
    /// ln Γ(α₀) − Σ ln Γ(αₖ).
    ln_norm: f64,
    /// Gamma(αₖ, 1) for αₖ ≥ 1, Gamma(αₖ + 1, 1) for αₖ < 1 (boosted, see `sample`).
    gammas: Vec<Gamma<f64>>,
}

impl Dirichlet {
    /// Dir(alpha), every concentration finite and > 0, at least two of them.
    ///
    /// # Errors
    /// Fewer than two concentrations (one gives a point mass), a non-finite one, or one ≤ 0.
    pub fn new(alpha: Array1<f64>) -> Result<Self, DistributionError> {
        let name = "alpha";
        if alpha.len() < 2 {
            return Err(DistributionError::DimensionMismatch {
                name,
                expected: 2,
                found: alpha.len(),
            });
        }
        check_finite(alpha.view(), name)?;
        let mut gammas = Vec::with_capacity(alpha.len());
        for (index, &value) in alpha.iter().enumerate() {
            if value <= 0.0 {
                return Err(DistributionError::NonPositive { name, index, value });
            }
            let shape = if value < 1.0 { value + 1.0 } else { value };
            let g = Gamma::new(shape, 1.0).map_err(|_| DistributionError::NonPositive {
                name,
                index,
                value,
            })?;
            gammas.push(g);
        }
        let alpha0 = alpha.sum();
        let ln_norm = ln_gamma(alpha0) - alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>();
        Ok(Self {
            alpha,
            alpha0,
            ln_norm,
            gammas,
        })
    }

    /// The symmetric Dir(a, …, a) over `k` categories.
    ///
    /// # Errors
    /// As [`Dirichlet::new`].
    pub fn symmetric(a: f64, k: usize) -> Result<Self, DistributionError> {
        Self::new(Array1::from_elem(k, a))
    }

    /// The concentrations α.
    pub fn alpha(&self) -> ArrayView1<'_, f64> {
        self.alpha.view()
    }

    /// α₀ = Σ αₖ.
    pub fn alpha0(&self) -> f64 {
        self.alpha0
    }

    /// The mean α / α₀.
    pub fn mean(&self) -> Array1<f64> {
        &self.alpha / self.alpha0
    }

    /// The covariance (αᵢ (δᵢⱼ α₀ − αⱼ)) / (α₀² (α₀ + 1)).
    pub fn covariance(&self) -> Array2<f64> {
        let a0 = self.alpha0;
        let k = self.alpha.len();
        let denom = a0 * a0 * (a0 + 1.0);
        Array2::from_shape_fn((k, k), |(i, j)| {
            let ai = self.alpha[i];
            let aj = self.alpha[j];
            if i == j {
                ai * (a0 - ai) / denom
            } else {
                -ai * aj / denom
            }
        })
    }

    /// E[ln xₖ] = ψ(αₖ) − ψ(α₀), the quantity a variational Bayesian E-step uses in place of
    /// ln πₖ.
    pub fn expected_ln(&self) -> Array1<f64> {
        let d0 = digamma(self.alpha0);
        self.alpha.mapv(|a| digamma(a) - d0)
    }

    /// Differential entropy ln B(α) + (α₀ − K) ψ(α₀) − Σ (αₖ − 1) ψ(αₖ), in nats.
    pub fn entropy(&self) -> f64 {
        let k = self.alpha.len() as f64;
        -self.ln_norm + (self.alpha0 - k) * digamma(self.alpha0)
            - self
                .alpha
                .iter()
                .map(|&a| (a - 1.0) * digamma(a))
                .sum::<f64>()
    }

    /// One draw: normalised Gamma(αₖ, 1) variates. For αₖ < 1 it uses
    /// Gamma(α) = Gamma(α + 1) · U^(1/α) in log space and normalises with log-sum-exp, so small
    /// concentrations (whose Gamma draws underflow to 0) still give a point on the simplex.
    pub fn sample(&self, rng: &mut impl Rng) -> Array1<f64> {
        let ln_g: Vec<f64> = self
            .gammas
            .iter()
            .zip(&self.alpha)
            .map(|(g, &a)| {
                let v = g.sample(rng).ln();
                if a < 1.0 {
                    let u: f64 = rng.random();
                    v + u.ln() / a
                } else {
                    v
                }
            })
            .collect();
        let total = log_sum_exp(&ln_g);
        ln_g.iter().map(|v| (v - total).exp()).collect()
    }

    /// `n` draws as the rows of an n × K matrix.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let k = self.alpha.len();
        let mut x = Array2::zeros((n, k));
        for mut row in x.rows_mut() {
            row.assign(&self.sample(rng));
        }
        x
    }

    fn ln_prob_row(&self, x: ArrayView1<'_, f64>) -> f64 {
        let mut sum = 0.0;
        for &v in &x {
            if v.is_nan() {
                return f64::NAN;
            }
            if v < 0.0 {
                return f64::NEG_INFINITY;
            }
            sum += v;
        }
        if (sum - 1.0).abs() > SIMPLEX_TOL * x.len() as f64 {
            return f64::NEG_INFINITY;
        }
        let mut s = self.ln_norm;
        Zip::from(&x).and(&self.alpha).for_each(|&v, &a| {
            // (α − 1) ln x with 0 · ln 0 = 0 when α = 1.
            if a != 1.0 {
                s += (a - 1.0) * v.ln();
            }
        });
        s
    }
}

impl LogDensity for Dirichlet {
    fn dim(&self) -> usize {
        self.alpha.len()
    }

    /// ln p(x) for x on the simplex (Σ xₖ = 1 to 1e-9 · K); −∞ off it.
    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        self.ln_prob_row(x)
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        for_row_chunks(
            x,
            out,
            30 * self.dim(),
            || (),
            |xc, mut oc, ()| {
                Zip::from(&mut oc)
                    .and(xc.rows())
                    .for_each(|o, r| *o = self.ln_prob_row(r));
            },
        );
    }
}

/// The Wishart distribution W(W, ν) over d × d symmetric positive-definite matrices Λ, the
/// conjugate prior of a Gaussian precision (Bishop, PRML eq. B.78):
/// ln p(Λ) = −ln Z + ((ν − d − 1)/2) ln|Λ| − ½ tr(W⁻¹Λ),
/// ln Z = (ν/2) ln|W| + (νd/2) ln 2 + ln Γ_d(ν/2).
///
/// As a [`LogDensity`] it scores matrices flattened row-major into vectors of length d².
#[derive(Debug, Clone, PartialEq)]
pub struct Wishart {
    scale: Array2<f64>,
    dof: f64,
    /// Lower Cholesky factor of the scale.
    scale_chol: Array2<f64>,
    scale_inv: Array2<f64>,
    ln_det_scale: f64,
    /// −ln Z.
    ln_norm: f64,
    /// χ²(ν − i) for i = 0..d (the Bartlett diagonal).
    chi2: Vec<ChiSquared<f64>>,
}

impl Wishart {
    /// W(scale, dof): `scale` symmetric positive definite, `dof` > d − 1.
    ///
    /// # Errors
    /// Empty, non-square, non-finite, asymmetric or non-positive-definite scale; non-finite or
    /// too small degrees of freedom.
    pub fn new(scale: Array2<f64>, dof: f64) -> Result<Self, DistributionError> {
        let name = "scale";
        if scale.is_empty() {
            return Err(DistributionError::Empty { name });
        }
        check_square(scale.view(), name)?;
        check_finite_matrix(scale.view(), name)?;
        check_symmetric(scale.view(), name)?;
        let d = scale.nrows();
        let min = d as f64 - 1.0;
        if !dof.is_finite() {
            return Err(DistributionError::NonFinite {
                name: "dof",
                index: 0,
                value: dof,
            });
        }
        if dof <= min {
            return Err(DistributionError::DegreesOfFreedom { dof, min });
        }
        let chol = cholesky_named(scale.view(), 0.0, name)?;
        let ln_det_scale = chol.ln_det();
        let scale_chol = chol.into_factor();
        let mut c_inv = Array2::zeros((d, d));
        invert_lower_triangular(scale_chol.view(), c_inv.view_mut());
        let scale_inv = c_inv.t().dot(&c_inv);
        let df = d as f64;
        let ln_norm = -(0.5 * dof * ln_det_scale
            + 0.5 * dof * df * std::f64::consts::LN_2
            + ln_multigamma(0.5 * dof, d));
        let chi2 = (0..d)
            .map(|i| {
                ChiSquared::new(dof - i as f64)
                    .map_err(|_| DistributionError::DegreesOfFreedom { dof, min })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            scale,
            dof,
            scale_chol,
            scale_inv,
            ln_det_scale,
            ln_norm,
            chi2,
        })
    }

    /// Side length d of the matrices.
    pub fn matrix_dim(&self) -> usize {
        self.scale.nrows()
    }

    /// The scale matrix W.
    pub fn scale(&self) -> ArrayView2<'_, f64> {
        self.scale.view()
    }

    /// The degrees of freedom ν.
    pub fn dof(&self) -> f64 {
        self.dof
    }

    /// The mean ν W.
    pub fn mean(&self) -> Array2<f64> {
        &self.scale * self.dof
    }

    /// The element-wise variances Var(Λᵢⱼ) = ν (Wᵢⱼ² + Wᵢᵢ Wⱼⱼ).
    pub fn variance(&self) -> Array2<f64> {
        let d = self.matrix_dim();
        Array2::from_shape_fn((d, d), |(i, j)| {
            self.dof * (self.scale[[i, j]].powi(2) + self.scale[[i, i]] * self.scale[[j, j]])
        })
    }

    /// E[ln |Λ|] = Σᵢ ψ((ν + 1 − i)/2) + d ln 2 + ln |W| (PRML eq. B.81), used by the
    /// variational Bayesian mixture.
    pub fn expected_ln_det(&self) -> f64 {
        let d = self.matrix_dim();
        (1..=d)
            .map(|i| digamma(0.5 * (self.dof + 1.0 - i as f64)))
            .sum::<f64>()
            + d as f64 * std::f64::consts::LN_2
            + self.ln_det_scale
    }

    /// Entropy −ln B(W, ν) − ((ν − d − 1)/2) E[ln |Λ|] + νd/2 (PRML eq. B.82), in nats.
    pub fn entropy(&self) -> f64 {
        let d = self.matrix_dim() as f64;
        -self.ln_norm - 0.5 * (self.dof - d - 1.0) * self.expected_ln_det() + 0.5 * self.dof * d
    }

    /// One draw by the Bartlett decomposition: Λ = (C A)(C A)ᵀ with W = C Cᵀ, A lower
    /// triangular, Aᵢᵢ = √χ²(ν − i) (i from 0), Aᵢⱼ ~ N(0, 1) below the diagonal.
    pub fn sample(&self, rng: &mut impl Rng) -> Array2<f64> {
        let d = self.matrix_dim();
        let mut a = Array2::<f64>::zeros((d, d));
        for i in 0..d {
            a[[i, i]] = self.chi2[i].sample(rng).sqrt();
            for j in 0..i {
                a[[i, j]] = rng.sample(StandardNormal);
            }
        }
        let ca = self.scale_chol.dot(&a);
        ca.dot(&ca.t())
    }

    /// ln p(Λ) of one matrix; −∞ if Λ is not positive definite. Only the lower triangle is
    /// used for the determinant, so Λ should be symmetric.
    ///
    /// # Panics
    /// If `lambda` is not d × d (a programming error).
    pub fn ln_prob_matrix(&self, lambda: ArrayView2<'_, f64>) -> f64 {
        let d = self.matrix_dim();
        assert_eq!(
            lambda.dim(),
            (d, d),
            "Wishart::ln_prob_matrix: `lambda` must be {d}×{d}"
        );
        let mut l = Array2::zeros((d, d));
        self.ln_prob_with(lambda, &mut l)
    }

    fn ln_prob_with(&self, lambda: ArrayView2<'_, f64>, l: &mut Array2<f64>) -> f64 {
        if lambda.iter().any(|v| v.is_nan()) {
            return f64::NAN;
        }
        if factor_into_pub(lambda, l).is_err() {
            return f64::NEG_INFINITY;
        }
        let ln_det: f64 = 2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>();
        let trace: f64 = Zip::from(&self.scale_inv)
            .and(&lambda.t())
            .fold(0.0, |acc, &a, &b| acc + a * b);
        let d = self.matrix_dim() as f64;
        self.ln_norm + 0.5 * (self.dof - d - 1.0) * ln_det - 0.5 * trace
    }
}

impl LogDensity for Wishart {
    /// d², the length of a flattened matrix.
    fn dim(&self) -> usize {
        self.matrix_dim() * self.matrix_dim()
    }

    /// ln p(Λ) with Λ flattened row-major.
    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        let d = self.matrix_dim();
        let m = Array2::from_shape_fn((d, d), |(i, j)| x[i * d + j]);
        self.ln_prob_matrix(m.view())
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        let d = self.matrix_dim();
        for_row_chunks(
            x,
            out,
            d * d * d,
            || (Array2::<f64>::zeros((d, d)), Array2::<f64>::zeros((d, d))),
            |xc, mut oc, (m, l)| {
                Zip::from(&mut oc).and(xc.rows()).for_each(|o, r| {
                    for i in 0..d {
                        for j in 0..d {
                            m[[i, j]] = r[i * d + j];
                        }
                    }
                    *o = self.ln_prob_with(m.view(), l);
                });
            },
        );
    }
}

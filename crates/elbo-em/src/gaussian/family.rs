//! The Gaussian mixture as a [`Family`] of the EM strategies: Q from the statistics and the
//! generalized M-step's damped point.

use ndarray::{Array1, Array2, Array3, Axis, s};

use crate::error::EmError;
use crate::params::Covariances;
use crate::strategy::Family;

use super::GaussianMixture;
use super::fit::m_step;
use super::kernel::{GaussAcc, GaussKernel, HALF_LN_2PI, n_pairs, pair_index};
use super::linalg::covariances_from_precisions;

/// Gaussian mixtures with the fit's `reg_covar`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GaussFamily {
    pub(crate) reg_covar: f64,
}

/// `Λ = P Pᵀ` of an upper-triangular precision factor.
fn precision(p: ndarray::ArrayView2<'_, f64>) -> Array2<f64> {
    p.dot(&p.t())
}

/// `Σ_ab Λ_ab C_ab` with `C = S2 − m s1ᵀ − s1 mᵀ + N m mᵀ`, `S2` given by `s2(a, b)`.
fn trace_quadratic(
    lam: &Array2<f64>,
    s2: impl Fn(usize, usize) -> f64,
    s1: &[f64],
    m: &[f64],
    n: f64,
) -> f64 {
    let d = m.len();
    let mut tr = 0.0;
    for a in 0..d {
        for b in 0..d {
            let c = s2(a, b) - m[a] * s1[b] - s1[a] * m[b] + n * m[a] * m[b];
            tr += lam[[a, b]] * c;
        }
    }
    tr
}

impl Family for GaussFamily {
    type Kernel = GaussKernel;
    type Model = GaussianMixture;

    fn m_step(
        &self,
        acc: &GaussAcc,
        kernel: &GaussKernel,
        model: &mut GaussianMixture,
    ) -> Result<(), EmError> {
        m_step(acc, kernel.shift(), self.reg_covar, None, model)
    }

    fn q_value(&self, acc: &GaussAcc, kernel: &GaussKernel, model: &GaussianMixture) -> f64 {
        let (k, d) = (model.n_components(), model.n_features());
        let shift = kernel.shift();
        let centred =
            |c: usize| -> Vec<f64> { (0..d).map(|j| model.means[[c, j]] - shift[j]).collect() };
        let half_d_ln_2pi = d as f64 * HALF_LN_2PI;
        let mut q = 0.0;
        match &model.precisions_cholesky {
            Covariances::Full(p) => {
                let np = n_pairs(d);
                for c in 0..k {
                    let pc = p.index_axis(Axis(0), c);
                    let log_det: f64 = (0..d).map(|j| pc[[j, j]].ln()).sum();
                    let lam = precision(pc);
                    let m = centred(c);
                    let s1 = acc.rf.slice(s![c, np..np + d]).to_vec();
                    let s2 = |a: usize, b: usize| {
                        let (a, b) = if a <= b { (a, b) } else { (b, a) };
                        acc.rf[[c, pair_index(d, a, b)]]
                    };
                    let nk = acc.nk[c];
                    q += nk * (model.weights[c].ln() + log_det - half_d_ln_2pi)
                        - 0.5 * trace_quadratic(&lam, s2, &s1, &m, nk);
                }
            }
            Covariances::Tied(p) => {
                let log_det: f64 = (0..d).map(|j| p[[j, j]].ln()).sum();
                let lam = precision(p.view());
                let n_total: f64 = acc.nk.sum();
                // Σ_k C_k = S2 − Σ_k (m_k s1_kᵀ + s1_k m_kᵀ − N_k m_k m_kᵀ): the pooled S2
                // enters once, each component's cross terms once.
                let mut tr = (&lam * &acc.s2).sum();
                for c in 0..k {
                    let m = centred(c);
                    let s1 = acc.rf.row(c).to_vec();
                    tr += trace_quadratic(&lam, |_, _| 0.0, &s1, &m, acc.nk[c]);
                    q += acc.nk[c] * model.weights[c].ln();
                }
                q += n_total * (log_det - half_d_ln_2pi) - 0.5 * tr;
            }
            Covariances::Diag(p) => {
                for c in 0..k {
                    let m = centred(c);
                    let nk = acc.nk[c];
                    let mut log_det = 0.0;
                    let mut tr = 0.0;
                    for j in 0..d {
                        let pj = p[[c, j]];
                        log_det += pj.ln();
                        let (s1, s2) = (acc.rf[[c, j]], acc.rf[[c, d + j]]);
                        tr += pj * pj * (s2 - 2.0 * m[j] * s1 + nk * m[j] * m[j]);
                    }
                    q += nk * (model.weights[c].ln() + log_det - half_d_ln_2pi) - 0.5 * tr;
                }
            }
            Covariances::Spherical(p) => {
                for c in 0..k {
                    let m = centred(c);
                    let nk = acc.nk[c];
                    let mut tr = 0.0;
                    for (j, mj) in m.iter().enumerate() {
                        let (s1, s2) = (acc.rf[[c, j]], acc.rf[[c, d + j]]);
                        tr += s2 - 2.0 * mj * s1 + nk * mj * mj;
                    }
                    let pc = p[c];
                    q += nk * (model.weights[c].ln() + d as f64 * pc.ln() - half_d_ln_2pi)
                        - 0.5 * pc * pc * tr;
                }
            }
        }
        q
    }

    fn damp(
        &self,
        old: &GaussianMixture,
        star: &GaussianMixture,
        step: f64,
    ) -> Result<GaussianMixture, EmError> {
        let (k, d) = (old.n_components(), old.n_features());
        let (a, b) = (1.0 - step, step);
        let weights = &old.weights * a + &star.weights * b;
        // Natural parameters: Λ and h = Λ μ, mixed linearly; then μ = Λ⁻¹ h.
        let mut h = Array2::zeros((k, d));
        let precisions = match (old.precisions(), star.precisions()) {
            (Covariances::Full(lo), Covariances::Full(ls)) => {
                let mut lam = Array3::zeros((k, d, d));
                for c in 0..k {
                    let (lo, ls) = (lo.index_axis(Axis(0), c), ls.index_axis(Axis(0), c));
                    lam.index_axis_mut(Axis(0), c).assign(&(&lo * a + &ls * b));
                    let hc = lo.dot(&old.means.row(c)) * a + ls.dot(&star.means.row(c)) * b;
                    h.row_mut(c).assign(&hc);
                }
                Covariances::Full(lam)
            }
            (Covariances::Tied(lo), Covariances::Tied(ls)) => {
                for c in 0..k {
                    let hc = lo.dot(&old.means.row(c)) * a + ls.dot(&star.means.row(c)) * b;
                    h.row_mut(c).assign(&hc);
                }
                Covariances::Tied(&lo * a + &ls * b)
            }
            (Covariances::Diag(lo), Covariances::Diag(ls)) => {
                h.assign(&(&lo * &old.means * a + &ls * &star.means * b));
                Covariances::Diag(&lo * a + &ls * b)
            }
            (Covariances::Spherical(lo), Covariances::Spherical(ls)) => {
                for c in 0..k {
                    let hc = &old.means.row(c) * (a * lo[c]) + &star.means.row(c) * (b * ls[c]);
                    h.row_mut(c).assign(&hc);
                }
                Covariances::Spherical(&lo * a + &ls * b)
            }
            _ => unreachable!("both models come from the same fit"),
        };
        let (covariances, precisions_cholesky) = covariances_from_precisions(&precisions)?;
        let mut means = Array2::zeros((k, d));
        for c in 0..k {
            let mc: Array1<f64> = match &covariances {
                Covariances::Full(cov) => cov.index_axis(Axis(0), c).dot(&h.row(c)),
                Covariances::Tied(cov) => cov.dot(&h.row(c)),
                Covariances::Diag(var) => &var.row(c) * &h.row(c),
                Covariances::Spherical(var) => &h.row(c) * var[c],
            };
            means.row_mut(c).assign(&mc);
        }
        Ok(GaussianMixture {
            kind: old.kind,
            weights,
            means,
            covariances,
            precisions_cholesky,
        })
    }

    fn load(&self, kernel: &mut GaussKernel, model: &GaussianMixture) {
        kernel.update(model);
    }
}

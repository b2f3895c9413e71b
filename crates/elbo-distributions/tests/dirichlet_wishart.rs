//! Dirichlet and Wishart log-densities against statrs (Beta, Gamma, χ²) and hand-written
//! closed forms.

mod common;

use common::assert_close;
use elbo_distributions::{Dirichlet, LogDensity, Wishart};
use ndarray::{Array1, Array2, array};
use statrs::distribution::{Beta, Continuous, Gamma};
use statrs::function::gamma::{digamma, ln_gamma};
use statrs::statistics::Distribution;

#[test]
fn two_category_dirichlet_is_a_beta() {
    for &(a, b) in &[(0.5, 0.5), (2.0, 3.0), (1.0, 1.0), (30.0, 0.7)] {
        let d = Dirichlet::new(array![a, b]).unwrap();
        let beta = Beta::new(a, b).unwrap();
        for &x in &[0.01, 0.3, 0.5, 0.99] {
            assert_close(d.ln_prob(array![x, 1.0 - x].view()), beta.ln_pdf(x), 1e-12);
        }
        assert_close(d.entropy(), beta.entropy().unwrap(), 1e-11);
        assert_close(d.mean()[0], beta.mean().unwrap(), 1e-14);
        assert_close(d.covariance()[[0, 0]], beta.variance().unwrap(), 1e-14);
    }
}

#[test]
fn dirichlet_closed_form_and_support() {
    let alpha = array![0.8, 2.0, 5.5];
    let d = Dirichlet::new(alpha.clone()).unwrap();
    let x = array![0.2, 0.3, 0.5];
    let a0: f64 = alpha.sum();
    let want = ln_gamma(a0) - alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>()
        + alpha
            .iter()
            .zip(&x)
            .map(|(&a, &v)| (a - 1.0) * f64::ln(v))
            .sum::<f64>();
    assert_close(d.ln_prob(x.view()), want, 1e-12);
    // Off the simplex: zero density.
    assert_eq!(d.ln_prob(array![0.2, 0.3, 0.6].view()), f64::NEG_INFINITY);
    assert_eq!(d.ln_prob(array![-0.1, 0.6, 0.5].view()), f64::NEG_INFINITY);
    assert!(d.ln_prob(array![f64::NAN, 0.5, 0.5].view()).is_nan());
    // Batch agrees.
    let xs = array![[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.5, 0.6, -0.1]];
    let mut out = Array1::zeros(3);
    d.ln_prob_batch(xs.view(), out.view_mut());
    for (row, o) in xs.rows().into_iter().zip(&out) {
        assert_eq!(*o, d.ln_prob(row));
    }
    // E[ln xₖ] = ψ(αₖ) − ψ(α₀); entropy by its closed form with statrs' special functions.
    for (k, e) in d.expected_ln().iter().enumerate() {
        assert_close(*e, digamma(alpha[k]) - digamma(a0), 1e-12);
    }
    let ln_b = alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>() - ln_gamma(a0);
    let h = ln_b + (a0 - 3.0) * digamma(a0)
        - alpha.iter().map(|&a| (a - 1.0) * digamma(a)).sum::<f64>();
    assert_close(d.entropy(), h, 1e-12);
    assert_eq!(Dirichlet::symmetric(1.0, 4).unwrap().alpha0(), 4.0);
}

#[test]
fn one_dimensional_wishart_is_a_gamma() {
    // W(w, ν) in 1-D is Gamma(shape ν/2, scale 2w).
    for &(w, nu) in &[(1.0, 1.0), (0.3, 4.5), (2.0, 10.0)] {
        let wi = Wishart::new(array![[w]], nu).unwrap();
        let g = Gamma::new(nu / 2.0, 1.0 / (2.0 * w)).unwrap(); // statrs: shape, rate
        for &x in &[0.05, 0.7, 3.0, 12.0] {
            assert_close(wi.ln_prob_matrix(array![[x]].view()), g.ln_pdf(x), 1e-12);
            assert_close(wi.ln_prob(array![x].view()), g.ln_pdf(x), 1e-12);
        }
        assert_close(wi.entropy(), g.entropy().unwrap(), 1e-11);
        assert_close(wi.mean()[[0, 0]], g.mean().unwrap(), 1e-14);
        assert_close(wi.variance()[[0, 0]], g.variance().unwrap(), 1e-13);
        assert_eq!(wi.ln_prob(array![-1.0].view()), f64::NEG_INFINITY);
    }
}

/// 2-D closed form written out: ln p(Λ) = −(ν/2) ln|W| − ν ln 2 − ln Γ₂(ν/2)
/// + ((ν − 3)/2) ln|Λ| − ½ tr(W⁻¹Λ), with Γ₂(a) = √π Γ(a) Γ(a − ½) and 2×2 inverses by hand.
#[test]
fn two_dimensional_wishart_closed_form() {
    let (a, b, c) = (2.0, 0.4, 1.5);
    let nu = 5.0;
    let wi = Wishart::new(array![[a, b], [b, c]], nu).unwrap();
    let det_w = a * c - b * b;
    let w_inv = array![[c, -b], [-b, a]] / det_w;
    let lambda = array![[3.0, -0.5], [-0.5, 2.0]];
    let det_l: f64 = 3.0 * 2.0 - 0.25;
    let trace: f64 = (0..2)
        .flat_map(|i| (0..2).map(move |j| (i, j)))
        .map(|(i, j)| w_inv[[i, j]] * lambda[[j, i]])
        .sum();
    let ln_g2 = 0.5 * std::f64::consts::PI.ln() + ln_gamma(nu / 2.0) + ln_gamma(nu / 2.0 - 0.5);
    let want = -(nu / 2.0) * det_w.ln() - nu * std::f64::consts::LN_2 - ln_g2
        + 0.5 * (nu - 3.0) * det_l.ln()
        - 0.5 * trace;
    assert_close(wi.ln_prob_matrix(lambda.view()), want, 1e-12);
    let flat =
        Array2::from_shape_vec((2, 4), vec![3.0, -0.5, -0.5, 2.0, 1.0, 0.0, 0.0, -1.0]).unwrap();
    let mut out = Array1::zeros(2);
    wi.ln_prob_batch(flat.view(), out.view_mut());
    assert_close(out[0], want, 1e-12);
    assert_eq!(out[1], f64::NEG_INFINITY);
    assert_eq!(wi.dim(), 4);
    // E[ln|Λ|] = ψ(ν/2) + ψ((ν−1)/2) + 2 ln 2 + ln|W|.
    let want_eld =
        digamma(nu / 2.0) + digamma((nu - 1.0) / 2.0) + 2.0 * std::f64::consts::LN_2 + det_w.ln();
    assert_close(wi.expected_ln_det(), want_eld, 1e-12);
    assert_eq!(wi.mean(), array![[a, b], [b, c]] * nu);
}

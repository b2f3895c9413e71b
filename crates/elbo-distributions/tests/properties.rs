//! Property tests over random parameters and data, including strided and transposed views.
//! The reference for full-covariance densities is Gaussian elimination with partial pivoting
//! written here, independent of the crate's Cholesky.

mod common;

use common::close;
use elbo_distributions::{
    Bernoulli, Categorical, DiagNormal, Dirichlet, GaussianStats, LogDensity, MvNormal,
    kl_bernoulli, kl_categorical, kl_diag_normal, kl_dirichlet, kl_mv_normal, log_sum_exp,
    log_sum_exp_rows,
};
use ndarray::{Array1, Array2, s};
use proptest::prelude::*;

/// Solves Σ y = b and returns (y, ln|det Σ|) by Gaussian elimination with partial pivoting.
fn solve_logdet(a: &Array2<f64>, b: &Array1<f64>) -> (Array1<f64>, f64) {
    let n = a.nrows();
    let mut m = a.clone();
    let mut y = b.clone();
    let mut logdet = 0.0;
    for k in 0..n {
        let p = (k..n)
            .max_by(|&i, &j| m[[i, k]].abs().total_cmp(&m[[j, k]].abs()))
            .expect("k < n");
        if p != k {
            for j in 0..n {
                m.swap([k, j], [p, j]);
            }
            y.swap(k, p);
        }
        logdet += m[[k, k]].abs().ln();
        for i in (k + 1)..n {
            let f = m[[i, k]] / m[[k, k]];
            for j in k..n {
                m[[i, j]] -= f * m[[k, j]];
            }
            y[i] -= f * y[k];
        }
    }
    for k in (0..n).rev() {
        let mut s = y[k];
        for j in (k + 1)..n {
            s -= m[[k, j]] * y[j];
        }
        y[k] = s / m[[k, k]];
    }
    (y, logdet)
}

/// A random SPD matrix B Bᵀ + 0.3 I of size d, from a flat vector of entries.
fn spd(d: usize, entries: &[f64]) -> Array2<f64> {
    let b = Array2::from_shape_fn((d, d), |(i, j)| entries[i * d + j]);
    b.dot(&b.t()) + Array2::<f64>::eye(d) * 0.3
}

fn normal_params() -> impl Strategy<Value = (usize, Vec<f64>, Vec<f64>)> {
    (1usize..6).prop_flat_map(|d| {
        (
            Just(d),
            prop::collection::vec(-3.0f64..3.0, d),
            prop::collection::vec(-1.5f64..1.5, d * d),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mv_normal_matches_elimination_reference_in_all_layouts(
        (d, mean, entries) in normal_params(),
        pts in prop::collection::vec(-5.0f64..5.0, 5 * 6),
    ) {
        let cov = spd(d, &entries);
        let mean = Array1::from(mean);
        let n = MvNormal::new(mean.clone(), cov.clone()).unwrap();
        let x = Array2::from_shape_fn((5, d), |(i, j)| pts[i * 6 + j]);
        let want: Vec<f64> = x.rows().into_iter().map(|row| {
            let diff = &row - &mean;
            let (y, logdet) = solve_logdet(&cov, &diff);
            -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + logdet + diff.dot(&y))
        }).collect();
        let mut out = Array1::zeros(5);
        n.ln_prob_batch(x.view(), out.view_mut());
        for i in 0..5 {
            prop_assert!(close(out[i], want[i], 1e-9), "{} vs {}", out[i], want[i]);
            prop_assert!(close(n.ln_prob(x.row(i)), want[i], 1e-9));
        }
        // Transposed storage.
        let xt = x.t().to_owned();
        let mut out_t = Array1::zeros(5);
        n.ln_prob_batch(xt.t(), out_t.view_mut());
        for i in 0..5 {
            prop_assert!(close(out_t[i], out[i], 1e-12));
        }
        // Strided rows and columns, reversed row order, strided output.
        let mut big = Array2::from_elem((10, 2 * d), f64::NAN);
        big.slice_mut(s![..;2, ..;2]).assign(&x);
        let view = big.slice(s![..9;-2, ..;2]); // rows 8, 6, 4, 2, 0
        let mut out_s = Array1::from_elem(10, f64::NAN);
        n.ln_prob_batch(view, out_s.slice_mut(s![1..;2]));
        for i in 0..5 {
            prop_assert!(close(out_s[1 + 2 * i], out[4 - i], 1e-12));
        }
    }

    #[test]
    fn diagonal_mv_normal_equals_diag_normal(
        (d, mean, entries) in normal_params(),
        pts in prop::collection::vec(-5.0f64..5.0, 4 * 6),
    ) {
        let var = Array1::from_shape_fn(d, |j| 0.05 + entries[j].abs());
        let mean = Array1::from(mean);
        let full = MvNormal::new(mean.clone(), Array2::from_diag(&var)).unwrap();
        let diag = DiagNormal::new(mean, var).unwrap();
        let x = Array2::from_shape_fn((4, d), |(i, j)| pts[i * 6 + j]);
        let xt = x.t().to_owned();
        let (mut a, mut b) = (Array1::zeros(4), Array1::zeros(4));
        full.ln_prob_batch(x.view(), a.view_mut());
        diag.ln_prob_batch(xt.t(), b.view_mut());
        for i in 0..4 {
            prop_assert!(close(a[i], b[i], 1e-11), "{} vs {}", a[i], b[i]);
        }
        prop_assert!(close(full.entropy(), diag.entropy(), 1e-11));
    }

    #[test]
    fn kl_is_non_negative_and_zero_on_the_diagonal(
        (d, m1, e1) in normal_params(),
        m2 in prop::collection::vec(-3.0f64..3.0, 5),
        e2 in prop::collection::vec(-1.5f64..1.5, 25),
        p in prop::collection::vec(0.0f64..1.0, 5),
        q in prop::collection::vec(0.0f64..1.0, 5),
        a in prop::collection::vec(0.05f64..20.0, 5),
        b in prop::collection::vec(0.05f64..20.0, 5),
    ) {
        let n1 = MvNormal::new(Array1::from(m1), spd(d, &e1)).unwrap();
        let n2 = MvNormal::new(Array1::from(m2[..d].to_vec()), spd(d, &e2)).unwrap();
        prop_assert!(kl_mv_normal(&n1, &n2).unwrap() >= 0.0);
        prop_assert!(kl_mv_normal(&n1, &n1).unwrap() < 1e-10);
        let v1 = Array1::from_shape_fn(d, |j| 0.01 + e1[j].abs());
        let v2 = Array1::from_shape_fn(d, |j| 0.01 + e2[j].abs());
        let d1 = DiagNormal::new(n1.mean().to_owned(), v1).unwrap();
        let d2 = DiagNormal::new(n2.mean().to_owned(), v2).unwrap();
        prop_assert!(kl_diag_normal(&d1, &d2).unwrap() >= 0.0);
        prop_assert!(kl_diag_normal(&d1, &d1).unwrap() < 1e-12);
        let b1 = Bernoulli::from_probs(Array1::from(p.clone())).unwrap();
        let b2 = Bernoulli::from_probs(Array1::from(q.clone())).unwrap();
        let k = kl_bernoulli(&b1, &b2).unwrap();
        prop_assert!(k >= 0.0 && !k.is_nan());
        prop_assert!(kl_bernoulli(&b1, &b1).unwrap() < 1e-12);
        let c1 = Categorical::from_weights(Array1::from(a.clone())).unwrap();
        let c2 = Categorical::from_weights(Array1::from(b.clone())).unwrap();
        prop_assert!(kl_categorical(&c1, &c2).unwrap() >= 0.0);
        prop_assert!(kl_categorical(&c1, &c1).unwrap() < 1e-12);
        let r1 = Dirichlet::new(Array1::from(a)).unwrap();
        let r2 = Dirichlet::new(Array1::from(b)).unwrap();
        prop_assert!(kl_dirichlet(&r1, &r2).unwrap() >= 0.0);
        prop_assert!(kl_dirichlet(&r1, &r1).unwrap() < 1e-9);
    }

    #[test]
    fn log_sum_exp_is_shift_equivariant_and_bounded(
        xs in prop::collection::vec(-700.0f64..700.0, 1..20),
        c in -300.0f64..300.0,
    ) {
        let l = log_sum_exp(&xs);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(l >= max && l <= max + (xs.len() as f64).ln() + 1e-12);
        let shifted: Vec<f64> = xs.iter().map(|v| v + c).collect();
        prop_assert!(close(log_sum_exp(&shifted), l + c, 1e-13));
        // Rows of a column-major matrix.
        let m = Array2::from_shape_fn((xs.len(), 2), |(i, j)| if j == 0 { xs[i] } else { shifted[i] });
        let mt = m.t().to_owned();
        let mut out = Array1::zeros(2);
        log_sum_exp_rows(mt.view(), out.view_mut());
        prop_assert!(close(out[0], l, 1e-13) && close(out[1], l + c, 1e-13));
    }

    #[test]
    fn stats_merge_at_any_split_equals_one_pass(
        rows in prop::collection::vec(prop::collection::vec(-100.0f64..100.0, 3), 2..60),
        weights in prop::collection::vec(0.01f64..2.0, 60),
        split in 0usize..60,
        offset in -1e6f64..1e6,
    ) {
        let n = rows.len();
        let split = split % (n + 1);
        let x = Array2::from_shape_fn((n, 3), |(i, j)| offset + rows[i][j]);
        let w = Array1::from(weights[..n].to_vec());
        let mut one = GaussianStats::new(3);
        one.push_batch(x.view(), w.view());
        let (mut a, mut b) = (GaussianStats::new(3), GaussianStats::new(3));
        a.push_batch(x.slice(s![..split, ..]), w.slice(s![..split]));
        b.push_batch(x.slice(s![split.., ..]), w.slice(s![split..]));
        a.merge(&b);
        prop_assert!(close(a.total_weight(), one.total_weight(), 1e-12));
        let scale = one.covariance(0.0).diag().iter().copied().fold(0.0, f64::max);
        for (u, v) in a.mean().iter().zip(one.mean().iter()) {
            prop_assert!((u - v).abs() <= 1e-12 * v.abs().max(1.0));
        }
        for (u, v) in a.covariance(0.0).iter().zip(one.covariance(0.0).iter()) {
            prop_assert!((u - v).abs() <= 1e-12 * scale.max(1.0), "{} vs {}", u, v);
        }
    }
}

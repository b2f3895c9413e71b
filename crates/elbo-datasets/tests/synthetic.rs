//! Synthetic mixtures: the sample's empirical moments match the true parameters within
//! tolerances derived from N (5 standard errors: a false failure has probability < 1e-6 per
//! check), and the reported true log-likelihood matches closed forms written out here.

// Index loops read like the formulas they check.
#![allow(clippy::needless_range_loop)]

use elbo_datasets::{
    Covariance, DatasetError, SyntheticBernoulli, SyntheticGmm, synthetic_bernoulli, synthetic_gmm,
};
use ndarray::{Array1, Axis};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

fn gmm(n: usize, d: usize, k: usize, covariance: Covariance, seed: u64) -> SyntheticGmm {
    SyntheticGmm {
        n_samples: n,
        n_features: d,
        n_components: k,
        covariance,
        seed,
    }
}

#[test]
fn gmm_component_moments_match_the_truth() {
    for (i, cov_type) in [
        Covariance::Full,
        Covariance::Tied,
        Covariance::Diag,
        Covariance::Spherical,
    ]
    .into_iter()
    .enumerate()
    {
        let n = 20_000;
        let (ds, truth) = synthetic_gmm(&gmm(n, 3, 3, cov_type, 10 + i as u64)).unwrap();
        assert_eq!(ds.features().dim(), (n, 3));
        assert!((truth.weights.sum() - 1.0).abs() < 1e-12);
        let x = ds.features().mapv(f64::from);
        let labels = ds.labels().unwrap();
        let counts = ds.class_counts();
        for k in 0..3 {
            let w = truth.weights[k];
            let tol = 5.0 * (n as f64 * w * (1.0 - w)).sqrt();
            assert!(
                (counts[k] as f64 - n as f64 * w).abs() < tol,
                "{cov_type:?} count {k}"
            );

            let rows: Vec<usize> = (0..n).filter(|&r| labels[r] == k).collect();
            let xk = x.select(Axis(0), &rows);
            let nk = rows.len() as f64;
            let mean = xk.mean_axis(Axis(0)).unwrap();
            let centred = &xk - &mean;
            let cov = centred.t().dot(&centred) / nk;
            let s = truth.covariances.index_axis(Axis(0), k);
            for a in 0..3 {
                let tol = 5.0 * (s[[a, a]] / nk).sqrt();
                assert!(
                    (mean[a] - truth.means[[k, a]]).abs() < tol,
                    "{cov_type:?} mean {k},{a}"
                );
                for b in 0..3 {
                    // Var of a Gaussian sample covariance entry: (S_aa S_bb + S_ab^2) / n.
                    let tol = 5.0 * ((s[[a, a]] * s[[b, b]] + s[[a, b]].powi(2)) / nk).sqrt();
                    assert!(
                        (cov[[a, b]] - s[[a, b]]).abs() < tol,
                        "{cov_type:?} cov {k},{a},{b}"
                    );
                }
            }
        }
        // The covariance type's structure.
        let c = &truth.covariances;
        match cov_type {
            Covariance::Diag => assert!(c[[0, 0, 1]] == 0.0 && c[[2, 1, 2]] == 0.0),
            Covariance::Spherical => {
                assert!(c[[1, 0, 0]] == c[[1, 2, 2]] && c[[1, 0, 1]] == 0.0);
            }
            Covariance::Tied => assert_eq!(c.index_axis(Axis(0), 0), c.index_axis(Axis(0), 2)),
            Covariance::Full => assert!(c[[0, 0, 1]] != 0.0),
        }
    }
}

#[test]
fn gmm_true_log_likelihood_matches_closed_forms() {
    // K = 2, d = 2, diagonal: log p(x) = log sum_k w_k prod_j N(x_j; mu_kj, s_kj).
    let (ds, t) = synthetic_gmm(&gmm(500, 2, 2, Covariance::Diag, 7)).unwrap();
    let mut total = 0.0;
    for row in ds.features().rows() {
        let comp = |k: usize| {
            let mut lp = t.weights[k].ln();
            for j in 0..2 {
                let v = t.covariances[[k, j, j]];
                let z = f64::from(row[j]) - t.means[[k, j]];
                lp += -0.5 * (LN_2PI + v.ln() + z * z / v);
            }
            lp
        };
        let (a, b) = (comp(0), comp(1));
        let m = a.max(b);
        total += m + ((a - m).exp() + (b - m).exp()).ln();
    }
    let expected = total / 500.0;
    assert!(
        (t.mean_log_likelihood - expected).abs() < 1e-9,
        "{} vs {expected}",
        t.mean_log_likelihood
    );
}

#[test]
fn gmm_single_full_gaussian_log_likelihood_is_minus_the_entropy() {
    // K = 1, d = 2 full: E[log p(x)] = -H = -(d/2)(1 + ln 2 pi) - ln|S| / 2, Var[log p] = d/2.
    let n = 40_000;
    let (ds, t) = synthetic_gmm(&gmm(n, 2, 1, Covariance::Full, 8)).unwrap();
    let s = t.covariances.index_axis(Axis(0), 0);
    let det = s[[0, 0]] * s[[1, 1]] - s[[0, 1]] * s[[1, 0]];
    let neg_entropy = -(1.0 + LN_2PI) - 0.5 * det.ln();
    let tol = 5.0 * (1.0 / n as f64).sqrt();
    assert!(
        (t.mean_log_likelihood - neg_entropy).abs() < tol,
        "{} vs {neg_entropy}",
        t.mean_log_likelihood
    );
    // And exactly the bivariate normal density written out with the 2x2 inverse.
    let inv = [
        [s[[1, 1]] / det, -s[[0, 1]] / det],
        [-s[[1, 0]] / det, s[[0, 0]] / det],
    ];
    let exact: f64 = ds
        .features()
        .rows()
        .into_iter()
        .map(|r| {
            let z = [
                f64::from(r[0]) - t.means[[0, 0]],
                f64::from(r[1]) - t.means[[0, 1]],
            ];
            let q = z[0] * (inv[0][0] * z[0] + inv[0][1] * z[1])
                + z[1] * (inv[1][0] * z[0] + inv[1][1] * z[1]);
            -LN_2PI - 0.5 * det.ln() - 0.5 * q
        })
        .sum::<f64>()
        / n as f64;
    assert!((t.mean_log_likelihood - exact).abs() < 1e-9);
}

#[test]
fn bernoulli_pixel_frequencies_match_the_truth() {
    let n = 20_000;
    let cfg = SyntheticBernoulli {
        n_samples: n,
        n_features: 16,
        n_components: 3,
        seed: 21,
    };
    let (ds, truth) = synthetic_bernoulli(&cfg).unwrap();
    assert_eq!(ds.image_shape(), Some((4, 4)));
    assert!(ds.features().iter().all(|&v| v == 0.0 || v == 1.0));
    let labels = ds.labels().unwrap();
    for k in 0..3 {
        let rows: Vec<usize> = (0..n).filter(|&r| labels[r] == k).collect();
        let nk = rows.len() as f64;
        let freq: Array1<f64> = ds
            .features()
            .select(Axis(0), &rows)
            .mapv(f64::from)
            .mean_axis(Axis(0))
            .unwrap();
        for j in 0..16 {
            let p = truth.probs[[k, j]];
            assert!((0.05..=0.95).contains(&p));
            let tol = 5.0 * (p * (1.0 - p) / nk).sqrt();
            assert!(
                (freq[j] - p).abs() < tol,
                "component {k} pixel {j}: {} vs {p}",
                freq[j]
            );
        }
    }
    // Marginal pixel means: sum_k w_k p_kj.
    let marginal = truth.weights.dot(&truth.probs);
    let freq = ds.features().mapv(f64::from).mean_axis(Axis(0)).unwrap();
    for j in 0..16 {
        let m = marginal[j];
        assert!((freq[j] - m).abs() < 5.0 * (m * (1.0 - m) / n as f64).sqrt());
    }
}

#[test]
fn bernoulli_true_log_likelihood_matches_closed_forms() {
    // Explicit mixture formula with log-sum-exp, K = 3.
    let cfg = SyntheticBernoulli {
        n_samples: 300,
        n_features: 10,
        n_components: 3,
        seed: 5,
    };
    let (ds, t) = synthetic_bernoulli(&cfg).unwrap();
    let mut total = 0.0;
    for row in ds.features().rows() {
        let terms: Vec<f64> = (0..3)
            .map(|k| {
                t.weights[k].ln()
                    + (0..10)
                        .map(|j| {
                            let p = t.probs[[k, j]];
                            if row[j] == 1.0 {
                                p.ln()
                            } else {
                                (1.0 - p).ln()
                            }
                        })
                        .sum::<f64>()
            })
            .collect();
        let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        total += m + terms.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    }
    assert!((t.mean_log_likelihood - total / 300.0).abs() < 1e-9);

    // K = 1: E[log p] = -H = sum_j p ln p + (1-p) ln(1-p); Var = sum_j p(1-p) logit(p)^2.
    let n = 20_000;
    let cfg = SyntheticBernoulli {
        n_samples: n,
        n_features: 30,
        n_components: 1,
        seed: 6,
    };
    let (_, t) = synthetic_bernoulli(&cfg).unwrap();
    let p = t.probs.row(0);
    let neg_h: f64 = p
        .iter()
        .map(|&p| p * p.ln() + (1.0 - p) * (1.0 - p).ln())
        .sum();
    let var: f64 = p
        .iter()
        .map(|&p| p * (1.0 - p) * (p / (1.0 - p)).ln().powi(2))
        .sum();
    let tol = 5.0 * (var / n as f64).sqrt();
    assert!(
        (t.mean_log_likelihood - neg_h).abs() < tol,
        "{} vs {neg_h}",
        t.mean_log_likelihood
    );
}

#[test]
fn generators_are_reproducible_from_the_seed() {
    let cfg = gmm(50, 4, 2, Covariance::Full, 99);
    let (a, ta) = synthetic_gmm(&cfg).unwrap();
    let (b, tb) = synthetic_gmm(&cfg).unwrap();
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    let (c, _) = synthetic_gmm(&SyntheticGmm { seed: 100, ..cfg }).unwrap();
    assert_ne!(a.features(), c.features());
    let bcfg = SyntheticBernoulli {
        n_samples: 50,
        n_features: 5,
        n_components: 2,
        seed: 1,
    };
    assert_eq!(
        synthetic_bernoulli(&bcfg).unwrap(),
        synthetic_bernoulli(&bcfg).unwrap()
    );
}

#[test]
fn generators_reject_empty_sizes() {
    for (n, d, k) in [(0, 2, 2), (10, 0, 2), (10, 2, 0)] {
        assert!(matches!(
            synthetic_gmm(&gmm(n, d, k, Covariance::Diag, 0)),
            Err(DatasetError::InvalidArgument { .. })
        ));
        let cfg = SyntheticBernoulli {
            n_samples: n,
            n_features: d,
            n_components: k,
            seed: 0,
        };
        assert!(synthetic_bernoulli(&cfg).is_err());
    }
}

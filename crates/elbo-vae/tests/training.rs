//! Training-level properties of the VAE, each against an independent reference: the exact
//! log-likelihood of the mixture that generated the data, the closed-form probabilistic-PCA
//! maximum likelihood (Tipping & Bishop 1999), and the ordering ELBO ≤ L_5000.
//!
//! The data are generated here with a seeded ChaCha8 generator: `elbo-vae` must not depend on
//! `elbo-datasets` (design.md's arrows), so the "synthetic-bernoulli" set is re-created as a
//! small Bernoulli mixture.
#![allow(clippy::unwrap_used)] // helpers outside `#[test]` fns; a failure here is a test failure

use std::f64::consts::PI;
use std::sync::{Mutex, MutexGuard, PoisonError};

use elbo_distributions::{LogDensity, MvNormal};
use elbo_vae::{
    Architecture, Likelihood, Vae, VaeConfig, Variance, array2_to_tensor, tensor_to_array2,
};
use ndarray::{Array1, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

/// libtorch's generator is global; the tests here take turns so each sees its own seed's
/// stream. They also run libtorch on one thread: results are then reproducible, and these small
/// tensors gain nothing from a second thread (on a busy 2-core machine they lose a lot).
fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    tch::set_num_threads(1);
    guard
}

/// A mixture of `k` Bernoulli prototypes over `d` pixels: each prototype is a random bit
/// pattern, each pixel copies its bit with probability 0.9.
struct BernoulliMixture {
    probs: Array2<f64>,
}

impl BernoulliMixture {
    fn new(k: usize, d: usize, rng: &mut impl Rng) -> Self {
        let probs = Array2::from_shape_fn((k, d), |_| if rng.random::<bool>() { 0.9 } else { 0.1 });
        BernoulliMixture { probs }
    }

    fn sample(&self, n: usize, rng: &mut impl Rng) -> Array2<f32> {
        let (k, d) = self.probs.dim();
        let mut x = Array2::zeros((n, d));
        for mut row in x.rows_mut() {
            let c = rng.random_range(0..k);
            for (v, &p) in row.iter_mut().zip(self.probs.row(c)) {
                *v = if rng.random::<f64>() < p { 1.0 } else { 0.0 };
            }
        }
        x
    }

    /// Exact mean log p(x) under the generating mixture, in nats.
    fn mean_log_likelihood(&self, x: &Array2<f32>) -> f64 {
        let k = self.probs.nrows() as f64;
        let total: f64 = x
            .rows()
            .into_iter()
            .map(|row| {
                let terms: Vec<f64> = self
                    .probs
                    .rows()
                    .into_iter()
                    .map(|p| {
                        row.iter()
                            .zip(p)
                            .map(|(&v, &p)| if v > 0.5 { p.ln() } else { (1.0 - p).ln() })
                            .sum::<f64>()
                            - k.ln()
                    })
                    .collect();
                let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            })
            .sum();
        total / x.nrows() as f64
    }
}

/// Mean ELBO over `draws` independent noise draws (so the estimate's own noise is small).
fn mean_elbo(vae: &Vae, x: &Tensor, draws: usize) -> f64 {
    tch::no_grad(|| (0..draws).map(|_| vae.elbo(x).unwrap().mean()).sum::<f64>() / draws as f64)
}

struct Trained {
    vae: Vae,
    test: Tensor,
    elbo_before: f64,
    elbo_after: f64,
    true_ll: f64,
}

/// The "synthetic-bernoulli" set (4 prototypes, 24 pixels, 1000 train / 500 test) and a small
/// VAE (24-64-4) trained with 300 Adam steps (lr 3e-3, batch 100).
fn train_on_synthetic_bernoulli() -> Trained {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mixture = BernoulliMixture::new(4, 24, &mut rng);
    let train = mixture.sample(1000, &mut rng);
    let test_array = mixture.sample(500, &mut rng);
    let true_ll = mixture.mean_log_likelihood(&test_array);
    let config = VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![64] },
        seed: 3,
        ..VaeConfig::new(24, 4)
    };
    let (vs, vae) = Vae::build(&config, Device::Cpu).unwrap();
    let train = array2_to_tensor(train.view(), Device::Cpu);
    let test = array2_to_tensor(test_array.view(), Device::Cpu);
    let elbo_before = mean_elbo(&vae, &test, 10);
    let mut opt = nn::Adam::default().build(&vs, 3e-3).unwrap();
    for step in 0..300 {
        let x = train.narrow(0, (step % 10) * 100, 100);
        opt.backward_step(&vae.elbo(&x).unwrap().loss);
    }
    let elbo_after = mean_elbo(&vae, &test, 10);
    Trained {
        vae,
        test,
        elbo_before,
        elbo_after,
        true_ll,
    }
}

/// 300 Adam steps raise the held-out ELBO by at least 10 nats from its value at
/// initialisation (about −27 nats; a uniform model would score 24 ln ½ ≈ −16.6), and bring it
/// within 2 nats of the exact log-likelihood of the generating mixture (≈ −9.1), which it
/// cannot exceed by more than noise (ELBO ≤ log p_model, and a model cannot beat the truth on
/// average).
#[test]
fn adam_steps_raise_the_test_elbo_on_synthetic_bernoulli() {
    let _rng = rng_lock();
    let t = train_on_synthetic_bernoulli();
    eprintln!(
        "test ELBO {:.3} → {:.3}; true log-likelihood {:.3}",
        t.elbo_before, t.elbo_after, t.true_ll
    );
    assert!(
        t.elbo_after - t.elbo_before >= 10.0,
        "ELBO {} → {}",
        t.elbo_before,
        t.elbo_after
    );
    assert!(
        t.elbo_after >= t.true_ll - 2.0,
        "ELBO {} vs true log p {}",
        t.elbo_after,
        t.true_ll
    );
    assert!(
        t.elbo_after <= t.true_ll + 0.3,
        "ELBO {} above the true log p {}",
        t.elbo_after,
        t.true_ll
    );
}

/// For a trained model the importance-weighted bound with k = 5000 is above the ELBO on the
/// same points (Burda et al. 2016), and still below the generating mixture's log-likelihood
/// plus noise.
#[test]
fn iwae_5000_is_above_the_elbo_of_a_trained_model() {
    let _rng = rng_lock();
    let t = train_on_synthetic_bernoulli();
    let x = t.test.narrow(0, 0, 40);
    tch::manual_seed(17);
    let elbo = mean_elbo(&t.vae, &x, 200);
    let iwae = t
        .vae
        .iwae(&x, 5000)
        .unwrap()
        .mean(Kind::Double)
        .double_value(&[]);
    eprintln!(
        "ELBO {elbo:.4}, L_5000 {iwae:.4} (true log p on all test points {:.4})",
        t.true_ll
    );
    assert!(iwae >= elbo, "L_5000 {iwae} < ELBO {elbo}");
    assert!(
        iwae - elbo < 3.0,
        "a gap of {} nats is implausible for this model",
        iwae - elbo
    );
}

/// log N(x | mean, cov) averaged over the rows of `x`, by `elbo-distributions`.
fn mean_gaussian_ll(x: &Array2<f64>, mean: Array1<f64>, cov: Array2<f64>) -> f64 {
    let mvn = MvNormal::new(mean, cov).unwrap();
    let mut out = Array1::zeros(x.nrows());
    mvn.ln_prob_batch(x.view(), out.view_mut());
    out.mean().unwrap()
}

/// The theory's bridge (theory.md §7): a VAE with a linear decoder and a Gaussian likelihood
/// with learned variance, trained on data from a probabilistic-PCA model, reaches the exact
/// PPCA maximum log-likelihood (closed form from the sample covariance's eigenvalues, Tipping &
/// Bishop 1999) within 1 %: its own exact marginal N(b, WWᵀ + diag σ²), its ELBO and its IWAE
/// estimate all do. (Per-dimension variances make it factor analysis, whose optimum can exceed
/// PPCA's by O(d/N) nats: far inside 1 %.)
#[test]
fn linear_gaussian_vae_reaches_the_ppca_log_likelihood() {
    let _rng = rng_lock();
    let (n, d, q) = (2000usize, 10usize, 2usize);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // Two well-separated principal directions (scales 2.5 and 1), noise variance 0.3.
    let w_true = Array2::from_shape_fn((d, q), |(_, j)| {
        [2.5, 1.0][j] * rng.sample::<f64, _>(StandardNormal)
    });
    let mu_true = Array1::from_shape_fn(d, |_| rng.sample::<f64, _>(StandardNormal));
    let sigma_true = 0.3f64.sqrt();
    let z = Array2::from_shape_fn((n, q), |_| rng.sample::<f64, _>(StandardNormal));
    let noise = Array2::from_shape_fn((n, d), |_| {
        sigma_true * rng.sample::<f64, _>(StandardNormal)
    });
    let x = z.dot(&w_true.t()) + &mu_true + noise;

    // Closed-form PPCA maximum likelihood.
    let mean = x.mean_axis(Axis(0)).unwrap();
    let centred = &x - &mean;
    let s = centred.t().dot(&centred) / n as f64;
    let (evals, evecs) = array2_to_tensor(s.view(), Device::Cpu).linalg_eigh("L");
    let evals: Vec<f64> = Vec::<f64>::try_from(evals.flip(0)).unwrap(); // descending
    let evecs = tensor_to_array2::<f64>(&evecs.flip(1)).unwrap();
    let sigma2 = evals[q..].iter().sum::<f64>() / (d - q) as f64;
    let ll_ppca = -0.5
        * (d as f64 * (2.0 * PI).ln()
            + evals[..q].iter().map(|l| l.ln()).sum::<f64>()
            + (d - q) as f64 * sigma2.ln()
            + d as f64);
    // The same number by evaluating N(x̄, WWᵀ + σ²I) with W = U_q (Λ_q − σ²I)^½ directly.
    let u_q = evecs.slice(ndarray::s![.., ..q]).to_owned();
    let scale = Array1::from_iter(evals[..q].iter().map(|l| (l - sigma2).sqrt()));
    let w = &u_q * &scale;
    let cov = w.dot(&w.t()) + Array2::<f64>::eye(d) * sigma2;
    let ll_direct = mean_gaussian_ll(&x, mean.clone(), cov);
    assert!(
        (ll_direct - ll_ppca).abs() < 1e-9 * ll_ppca.abs(),
        "{ll_direct} vs {ll_ppca}"
    );

    // The linear Gaussian VAE, in f64, trained full-batch.
    let config = VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![] },
        likelihood: Likelihood::Gaussian {
            variance: Variance::Learned,
        },
        seed: 5,
        ..VaeConfig::new(d, q)
    };
    let (mut vs, vae) = Vae::build(&config, Device::Cpu).unwrap();
    vs.double();
    let xt = array2_to_tensor(x.view(), Device::Cpu);
    // Full-batch Adam, 6000 steps with a step-down schedule. The slow part is the rotation of
    // W that makes the diagonal posterior exact (Lucas et al. 2019); the marginal gets there
    // much sooner than the ELBO.
    let mut opt = nn::Adam::default().build(&vs, 0.1).unwrap();
    for step in 0..6000 {
        match step {
            3000 => opt.set_lr(0.02),
            5000 => opt.set_lr(0.005),
            _ => {}
        }
        opt.backward_step(&vae.elbo(&xt).unwrap().loss);
    }

    // The VAE's exact marginal: x = W_dec z + b + noise, noise ~ N(0, diag σ²).
    let vars = vs.variables();
    let w_dec = tensor_to_array2::<f64>(&vars["decoder.fc0.weight"]).unwrap();
    let b_dec = Array1::from(Vec::<f64>::try_from(&vars["decoder.fc0.bias"]).unwrap());
    let var_dec = Array1::from(Vec::<f64>::try_from(vars["likelihood.log_var"].exp()).unwrap());
    let cov_vae = w_dec.dot(&w_dec.t()) + Array2::from_diag(&var_dec);
    let ll_vae = mean_gaussian_ll(&x, b_dec, cov_vae);
    let elbo = mean_elbo(&vae, &xt, 20);
    tch::manual_seed(23);
    let iwae = vae
        .iwae(&xt.narrow(0, 0, 500), 200)
        .unwrap()
        .mean(Kind::Double)
        .double_value(&[]);
    let ll_vae_500 = {
        let first = x.slice(ndarray::s![..500, ..]).to_owned();
        let cov = w_dec.dot(&w_dec.t()) + Array2::from_diag(&var_dec);
        let b = Array1::from(Vec::<f64>::try_from(&vars["decoder.fc0.bias"]).unwrap());
        mean_gaussian_ll(&first, b, cov)
    };
    eprintln!(
        "PPCA {ll_ppca:.4}; VAE exact marginal {ll_vae:.4}, ELBO {elbo:.4}, \
         IWAE-200 on 500 points {iwae:.4} (exact there {ll_vae_500:.4})"
    );
    let tol = 0.01 * ll_ppca.abs();
    assert!(
        (ll_vae - ll_ppca).abs() <= tol,
        "VAE marginal {ll_vae} vs PPCA {ll_ppca}"
    );
    assert!(
        (elbo - ll_ppca).abs() <= tol,
        "VAE ELBO {elbo} vs PPCA {ll_ppca}"
    );
    assert!(
        elbo <= ll_vae + 0.02,
        "ELBO {elbo} above the model's exact log-likelihood {ll_vae}"
    );
    assert!(
        (iwae - ll_vae_500).abs() <= 0.01 * ll_vae_500.abs(),
        "IWAE {iwae} vs exact {ll_vae_500}"
    );
}

//! Tests of the training loop, its checkpoints and its evaluation (libtorch on the CPU).

#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use elbo_vae::{Likelihood, Vae, VaeConfig, checkpoint, convert};
use indicatif::ProgressStyle;
use rand::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor, nn};

use super::state::{BEST_STEM, LAST_STEM, OPTIMIZER_FILE, STATE_FILE, TrainState, weights_path};
use super::vae_loop::PROGRESS_TEMPLATE;
use super::*;
use elbo_datasets::{SyntheticBernoulli, synthetic_bernoulli};
use elbo_vae::{Architecture, InputShape, Variance};
use ndarray::{Array2, s};
use std::time::Duration;
use tch::nn::OptimizerConfig as _;

/// libtorch's generator is global: tests that draw from it take turns, on one thread.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::set_num_threads(1);
    guard
}

/// A 4-component Bernoulli mixture on 6×6 pixels: rows `[..n_train]` to train on, the
/// rest to validate, and the mixture's true mean log-likelihood of the sample.
fn mixture(n_train: usize, n_val: usize) -> (Array2<f32>, Array2<f32>, f64) {
    let (data, truth) = synthetic_bernoulli(&SyntheticBernoulli {
        n_samples: n_train + n_val,
        n_features: 36,
        n_components: 4,
        seed: 11,
    })
    .unwrap();
    let x = data.features();
    (
        x.slice(s![..n_train, ..]).to_owned(),
        x.slice(s![n_train.., ..]).to_owned(),
        truth.mean_log_likelihood,
    )
}

fn small_vae() -> VaeConfig {
    VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![32] },
        seed: 1,
        ..VaeConfig::new(36, 4)
    }
}

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 50,
        lr: 1e-2,
        seed: 5,
        ..TrainConfig::default()
    }
}

fn run(
    config: &VaeConfig,
    train: &TrainConfig,
    x: &Array2<f32>,
    val: Option<&Array2<f32>>,
    dir: &Path,
    resume: bool,
) -> anyhow::Result<TrainOutcome> {
    let cancel = AtomicBool::new(false);
    let data = TrainData {
        train: x.view(),
        validation: val.map(|v| v.view()),
    };
    train_vae(config, train, data, dir, resume, &cancel, &mut |_| Ok(()))
}

/// Metrics without the timings, which differ between runs.
fn untimed(history: &[EpochMetrics]) -> Vec<EpochMetrics> {
    history
        .iter()
        .map(|m| EpochMetrics {
            seconds: 0.0,
            samples_per_second: 0.0,
            ..m.clone()
        })
        .collect()
}

fn assert_same_weights(a: &nn::VarStore, b: &nn::VarStore) {
    let (va, vb) = (a.variables(), b.variables());
    assert_eq!(va.len(), vb.len());
    for (name, t) in &va {
        assert!(t.equal(&vb[name]), "variable {name} differs");
    }
}

fn check_error(train: TrainConfig, field: &str) {
    let err = train.check().unwrap_err().to_string();
    assert!(err.starts_with(&format!("train.{field} ")), "{err}");
}

#[test]
fn default_config_is_valid_and_reads_from_toml() {
    TrainConfig::default().check().unwrap();
    let c: TrainConfig = toml::from_str("epochs = 3\ngrad_clip = 5.0\nthreads = 2").unwrap();
    assert_eq!(
        c,
        TrainConfig {
            epochs: 3,
            grad_clip: Some(5.0),
            threads: Some(2),
            ..TrainConfig::default()
        }
    );
    assert!(toml::from_str::<TrainConfig>("epoch = 3").is_err());
}

#[test]
fn the_progress_bar_template_parses() {
    ProgressStyle::with_template(PROGRESS_TEMPLATE).unwrap();
}

#[test]
fn check_rejects_zero_epochs() {
    check_error(quick(0), "epochs");
}

#[test]
fn check_rejects_zero_batch_size() {
    let err = TrainConfig {
        batch_size: 0,
        ..quick(1)
    }
    .check()
    .unwrap_err();
    assert_eq!(err.to_string(), "train.batch_size must be ≥ 1, got 0");
}

#[test]
fn check_rejects_a_learning_rate_that_is_not_positive_and_finite() {
    for lr in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
        check_error(TrainConfig { lr, ..quick(1) }, "lr");
    }
}

#[test]
fn check_rejects_a_gradient_clip_that_is_not_positive_and_finite() {
    for clip in [0.0, -1.0, f64::NAN] {
        check_error(
            TrainConfig {
                grad_clip: Some(clip),
                ..quick(1)
            },
            "grad_clip",
        );
    }
}

#[test]
fn check_rejects_zero_patience() {
    check_error(
        TrainConfig {
            early_stop: Some(0),
            ..quick(1)
        },
        "early_stop",
    );
}

#[test]
fn check_rejects_zero_threads() {
    check_error(
        TrainConfig {
            threads: Some(0),
            ..quick(1)
        },
        "threads",
    );
}

/// A store with one variable `w` and the loss Σ cᵢ wᵢ, whose gradient is c.
fn linear_problem(w0: &[f32]) -> (nn::VarStore, Tensor) {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let w = vs.root().zeros("w", &[w0.len() as i64]);
    tch::no_grad(|| {
        w.shallow_clone().copy_(&Tensor::from_slice(w0));
    });
    (vs, w)
}

fn backward_linear(w: &Tensor, c: &[f32]) {
    (w * Tensor::from_slice(c)).sum(Kind::Float).backward();
}

/// One step from zero moments: m̂ = g and v̂ = g², so θ₁ = θ₀ − lr·g/(|g| + ε); a second
/// step with another gradient follows the bias-corrected formula, computed here in f64.
#[test]
fn adam_steps_match_a_hand_computation() {
    let w0 = [0.5f32, -1.0, 2.0, 0.0];
    let g1 = [0.3f32, -2.0, 1e-3, 0.0];
    let g2 = [-0.1f32, 0.5, 4.0, 1.0];
    let lr = 0.01;
    let (vs, w) = linear_problem(&w0);
    let mut adam = Adam::new(&vs, lr).unwrap();
    backward_linear(&w, &g1);
    adam.step().unwrap();
    let after1: Vec<f32> = Vec::try_from(w.detach()).unwrap();
    for i in 0..4 {
        let g = f64::from(g1[i]);
        let expected = f64::from(w0[i]) - lr * g / (g.abs() + 1e-8);
        assert!(
            (f64::from(after1[i]) - expected).abs() <= 1e-7 * (1.0 + expected.abs()),
            "step 1, element {i}: {} vs {expected}",
            after1[i]
        );
    }
    adam.zero_grad().unwrap();
    backward_linear(&w, &g2);
    adam.step().unwrap();
    let after2: Vec<f32> = Vec::try_from(w.detach()).unwrap();
    let (b1, b2): (f64, f64) = (0.9, 0.999);
    for i in 0..4 {
        let (ga, gb) = (f64::from(g1[i]), f64::from(g2[i]));
        let m = b1 * (1.0 - b1) * ga + (1.0 - b1) * gb;
        let v = b2 * (1.0 - b2) * ga * ga + (1.0 - b2) * gb * gb;
        let m_hat = m / (1.0 - b1 * b1);
        let v_hat = v / (1.0 - b2 * b2);
        let expected = f64::from(after1[i]) - lr * m_hat / (v_hat.sqrt() + 1e-8);
        assert!(
            (f64::from(after2[i]) - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
            "step 2, element {i}: {} vs {expected}",
            after2[i]
        );
    }
    assert_eq!(adam.steps(), 2);
}

/// Twenty steps on a VAE agree with libtorch's own `torch::optim::Adam` (through
/// `tch::nn::Adam`) on the same gradients.
#[test]
fn adam_matches_libtorch_adam_on_a_vae() {
    let _rng = rng_lock();
    let (x, _, _) = mixture(64, 0);
    let x = convert::array2_to_tensor(x.view(), tch::Device::Cpu);
    let (vs_a, vae_a) = Vae::build(&small_vae(), tch::Device::Cpu).unwrap();
    let (vs_b, vae_b) = Vae::build(&small_vae(), tch::Device::Cpu).unwrap();
    let mut ours = Adam::new(&vs_a, 3e-3).unwrap();
    let mut theirs = nn::Adam::default().build(&vs_b, 3e-3).unwrap();
    for step in 0..20 {
        let eps = Tensor::randn([64, 4], (Kind::Float, tch::Device::Cpu));
        ours.zero_grad().unwrap();
        vae_a.elbo_with_noise(&x, &eps).unwrap().loss.backward();
        ours.step().unwrap();
        theirs.backward_step(&vae_b.elbo_with_noise(&x, &eps).unwrap().loss);
        let (va, vb) = (vs_a.variables(), vs_b.variables());
        // Variables and gradients live in the optimiser's flat buffers.
        for p in &ours.params {
            assert_eq!(
                p.value.data_ptr(),
                p.view_of(&ours.flat).unwrap().data_ptr()
            );
            let g = p.value.grad().data_ptr();
            assert_eq!(g, p.view_of(&ours.grad).unwrap().data_ptr(), "{}", p.name);
        }
        for (name, a) in &va {
            let diff = (a - &vb[name]).abs().max().double_value(&[]);
            let scale = a.abs().max().double_value(&[]);
            assert!(
                diff <= 1e-5 * (1.0 + scale),
                "step {step}, {name}: max difference {diff}"
            );
        }
    }
}

#[test]
fn adam_state_round_trips_and_a_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, w) = linear_problem(&[1.0, 2.0, 3.0]);
    let mut adam = Adam::new(&vs, 0.1).unwrap();
    for c in [[1.0f32, -1.0, 0.5], [0.2, 0.3, -4.0]] {
        adam.zero_grad().unwrap();
        backward_linear(&w, &c);
        adam.step().unwrap();
    }
    let path = dir.path().join("adam.safetensors");
    adam.save(&path).unwrap();
    let (vs2, _) = linear_problem(&[0.0, 0.0, 0.0]);
    let mut loaded = Adam::new(&vs2, 0.1).unwrap();
    loaded.load(&path).unwrap();
    assert_eq!(loaded.steps(), 2);
    assert!(adam.m.equal(&loaded.m) && adam.v.equal(&loaded.v));
    assert!(adam.m.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    let (vs3, _) = linear_problem(&[0.0, 0.0]);
    let err = Adam::new(&vs3, 0.1)
        .unwrap()
        .load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`m.w` has shape [3], the variable [2]"),
        "{err}"
    );
}

/// Five epochs (100 steps) raise the validation ELBO by at least 8 nats from its value at
/// initialisation, to within 2.5 nats of the generating mixture's log-likelihood, which it
/// does not exceed by more than noise; a checkpoint is on disk.
#[test]
fn training_raises_the_validation_elbo() {
    let _rng = rng_lock();
    let (x, val, true_ll) = mixture(1000, 500);
    let dir = tempfile::tempdir().unwrap();
    let (_vs, untrained) = Vae::build(&small_vae(), tch::Device::Cpu).unwrap();
    let before = evaluate_vae(&untrained, val.view(), 1, None, 3)
        .unwrap()
        .elbo;
    let out = run(&small_vae(), &quick(5), &x, Some(&val), dir.path(), false).unwrap();
    assert_eq!(out.stop, StopReason::Completed);
    assert_eq!(out.history.len(), 5);
    let after = out.history[4].val_elbo.unwrap();
    eprintln!("validation ELBO {before:.3} → {after:.3}; true log p {true_ll:.3}");
    assert!(after - before >= 8.0, "ELBO {before} → {after}");
    assert!(after >= true_ll - 2.5, "ELBO {after} vs true {true_ll}");
    assert!(after <= true_ll + 0.5, "ELBO {after} above true {true_ll}");
    assert!(out.history[4].train_elbo > out.history[0].train_elbo);
    let eval = evaluate_vae(&out.vae, val.view(), 1, None, 3).unwrap();
    assert!((eval.elbo - after).abs() < 0.5, "{} vs {after}", eval.elbo);
    for file in ["last.safetensors", "last.json", "optimizer.safetensors"] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let state = TrainState::read(dir.path()).unwrap();
    assert_eq!(state.epochs_done, 5);
    assert_eq!(state.adam_steps, 100);
    assert_eq!(state.history, out.history);
    assert!(state.files.contains_key("best.safetensors"));
    // A fresh run in the same directory, without validation, leaves no stale best model.
    run(&small_vae(), &quick(1), &x, None, dir.path(), false).unwrap();
    assert!(!dir.path().join("best.safetensors").exists());
    assert!(!dir.path().join("best.json").exists());
}

/// Grey levels with dynamic binarisation, warm-up, clipping and validation: one epoch,
/// then a resume to two, gives bit for bit the metrics, weights and optimiser state of an
/// uninterrupted two-epoch run.
#[test]
fn resume_continues_exactly_where_training_stopped() {
    let _rng = rng_lock();
    let (x, val, _) = mixture(300, 100);
    let grey = x.mapv(|v| 0.15 + 0.7 * v);
    let train = TrainConfig {
        dynamic_binarization: true,
        warmup_epochs: 1,
        grad_clip: Some(10.0),
        ..quick(2)
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = run(&small_vae(), &train, &grey, Some(&val), a.path(), false).unwrap();
    let first = TrainConfig {
        epochs: 1,
        ..train.clone()
    };
    let part = run(&small_vae(), &first, &grey, Some(&val), b.path(), false).unwrap();
    assert_eq!(part.history.len(), 1);
    let resumed = run(&small_vae(), &train, &grey, Some(&val), b.path(), true).unwrap();
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(untimed(&resumed.history), untimed(&whole.history));
    assert_ne!(whole.history[0].train_elbo, whole.history[1].train_elbo);
    assert_same_weights(&resumed.vs, &whole.vs);
    let opt = |d: &Path| -> BTreeMap<String, Tensor> {
        Tensor::read_safetensors(d.join(OPTIMIZER_FILE))
            .unwrap()
            .into_iter()
            .collect()
    };
    let (oa, ob) = (opt(a.path()), opt(b.path()));
    assert_eq!(oa.len(), ob.len());
    for (k, t) in &oa {
        assert!(t.equal(&ob[k]), "optimiser tensor {k} differs");
    }
    // Resuming a finished run changes nothing.
    let again = run(&small_vae(), &train, &grey, Some(&val), b.path(), true).unwrap();
    assert_eq!(again.history, resumed.history);
    assert_same_weights(&again.vs, &whole.vs);
}

#[test]
fn resume_errors_name_the_directory_and_what_differs() {
    let _rng = rng_lock();
    let (x, _, _) = mixture(100, 0);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    let err = run(&small_vae(), &quick(1), &x, None, &empty, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no checkpoint") && err.contains(&empty.display().to_string()),
        "{err}"
    );
    run(&small_vae(), &quick(1), &x, None, dir.path(), false).unwrap();
    let other_lr = TrainConfig {
        lr: 2e-2,
        ..quick(2)
    };
    let err = format!(
        "{:#}",
        run(&small_vae(), &other_lr, &x, None, dir.path(), true).unwrap_err()
    );
    assert!(
        err.contains("train.lr is 0.01 in the checkpoint but 0.02 now"),
        "{err}"
    );
    let wider = VaeConfig {
        latent_dim: 5,
        ..small_vae()
    };
    let err = format!(
        "{:#}",
        run(&wider, &quick(2), &x, None, dir.path(), true).unwrap_err()
    );
    assert!(
        err.contains("latent_dim is 4 in the checkpoint but 5"),
        "{err}"
    );
    // A file that no longer matches state.json is reported, not loaded.
    std::fs::write(dir.path().join(OPTIMIZER_FILE), b"garbage").unwrap();
    let err = format!(
        "{:#}",
        run(&small_vae(), &quick(2), &x, None, dir.path(), true).unwrap_err()
    );
    assert!(
        err.contains("optimizer.safetensors does not match"),
        "{err}"
    );
    // More threads are fine.
    let dir2 = tempfile::tempdir().unwrap();
    run(&small_vae(), &quick(1), &x, None, dir2.path(), false).unwrap();
    let more = TrainConfig {
        threads: Some(1),
        ..quick(2)
    };
    let out = run(&small_vae(), &more, &x, None, dir2.path(), true).unwrap();
    assert_eq!(out.history.len(), 2);
}

/// A flag set before training: no step is taken, the checkpoint of epoch 0 is on disk, the
/// model is the initial one, and a resume gives the uninterrupted result. A flag set from
/// `on_epoch` interrupts after that epoch.
#[test]
fn cancel_interrupts_with_a_checkpoint_that_resumes() {
    let _rng = rng_lock();
    let (x, val, _) = mixture(200, 50);
    let train = quick(2);
    let reference_dir = tempfile::tempdir().unwrap();
    let whole = run(
        &small_vae(),
        &train,
        &x,
        Some(&val),
        reference_dir.path(),
        false,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(true);
    let data = TrainData {
        train: x.view(),
        validation: Some(val.view()),
    };
    let mut calls = 0;
    let out = train_vae(
        &small_vae(),
        &train,
        data,
        dir.path(),
        false,
        &cancel,
        &mut |_| {
            calls += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(out.stop, StopReason::Interrupted { epoch: 0 });
    assert!(out.history.is_empty());
    assert_eq!(calls, 0);
    for file in ["state.json", "last.safetensors", "optimizer.safetensors"] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    let (initial, _) = Vae::build(&small_vae(), tch::Device::Cpu).unwrap();
    assert_same_weights(&out.vs, &initial);
    let resumed = run(&small_vae(), &train, &x, Some(&val), dir.path(), true).unwrap();
    assert_eq!(untimed(&resumed.history), untimed(&whole.history));
    assert_same_weights(&resumed.vs, &whole.vs);

    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let out = train_vae(
        &small_vae(),
        &train,
        data,
        dir.path(),
        false,
        &cancel,
        &mut |_| {
            cancel.store(true, Ordering::Relaxed);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(out.stop, StopReason::Interrupted { epoch: 1 });
    assert_eq!(untimed(&out.history), untimed(&whole.history[..1]));
    let resumed = run(&small_vae(), &train, &x, Some(&val), dir.path(), true).unwrap();
    assert_same_weights(&resumed.vs, &whole.vs);
}

/// Cancelled by another thread at an arbitrary batch: the partial epoch is dropped, the
/// returned model is the checkpoint's, and resuming ends where an uninterrupted run ends.
#[test]
fn cancel_in_the_middle_of_an_epoch_drops_it() {
    let _rng = rng_lock();
    let (x, _, _) = mixture(2000, 0);
    let train = TrainConfig {
        batch_size: 10,
        ..quick(3)
    };
    let reference_dir = tempfile::tempdir().unwrap();
    let whole = run(&small_vae(), &train, &x, None, reference_dir.path(), false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Training has started once the epoch-0 checkpoint is on disk.
            while !dir.path().join(STATE_FILE).exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(40));
            cancel.store(true, Ordering::Relaxed);
        });
        let data = TrainData {
            train: x.view(),
            validation: None,
        };
        train_vae(
            &small_vae(),
            &train,
            data,
            dir.path(),
            false,
            &cancel,
            &mut |_| Ok(()),
        )
    })
    .unwrap();
    eprintln!("stopped: {:?}", out.stop);
    let StopReason::Interrupted { epoch } = out.stop else {
        panic!("expected an interruption, got {:?}", out.stop);
    };
    let state = TrainState::read(dir.path()).unwrap();
    assert_eq!(state.epochs_done, epoch);
    assert_eq!(out.history.len(), epoch);
    let (on_disk, _, _) =
        checkpoint::load(&weights_path(dir.path(), LAST_STEM), tch::Device::Cpu).unwrap();
    assert_same_weights(&out.vs, &on_disk);
    let resumed = run(&small_vae(), &train, &x, None, dir.path(), true).unwrap();
    assert_eq!(untimed(&resumed.history), untimed(&whole.history));
    assert_same_weights(&resumed.vs, &whole.vs);
}

/// Few training rows from the mixture, validation from it too: the model overfits, the
/// validation ELBO peaks, and training stops exactly when `patience` epochs in a row have
/// not beaten the best, returning the best epoch's weights.
#[test]
fn early_stopping_stops_when_patience_runs_out() {
    let _rng = rng_lock();
    let (x, val, _) = mixture(40, 300);
    let patience = 3;
    let train = TrainConfig {
        epochs: 200,
        batch_size: 20,
        lr: 1e-2,
        early_stop: Some(patience),
        ..quick(200)
    };
    let config = VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![64] },
        ..small_vae()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(&config, &train, &x, Some(&val), dir.path(), false).unwrap();
    let StopReason::EarlyStopped { best_epoch } = out.stop else {
        panic!("expected an early stop, got {:?}", out.stop);
    };
    let vals: Vec<f64> = out.history.iter().map(|m| m.val_elbo.unwrap()).collect();
    eprintln!("stopped after {} epochs, best {best_epoch}", vals.len());
    assert_eq!(out.history.len(), best_epoch + patience);
    let best = vals[best_epoch - 1];
    assert!(vals.iter().all(|&v| v <= best));
    assert!(vals[best_epoch..].iter().all(|&v| v < best));
    // Before the best epoch no run of `patience` non-improving epochs occurred.
    let mut running = f64::NEG_INFINITY;
    let mut bad = 0;
    for &v in &vals[..best_epoch] {
        if v > running {
            running = v;
            bad = 0;
        } else {
            bad += 1;
        }
        assert!(bad < patience);
    }
    let (best_vs, _, _) =
        checkpoint::load(&weights_path(dir.path(), BEST_STEM), tch::Device::Cpu).unwrap();
    assert_same_weights(&out.vs, &best_vs);
    // The finished run stays finished when resumed with more epochs.
    let more = TrainConfig {
        epochs: 300,
        ..train
    };
    let again = run(&config, &more, &x, Some(&val), dir.path(), true).unwrap();
    assert_eq!(again.stop, out.stop);
    assert_eq!(again.history.len(), out.history.len());
}

/// Warm-up over 4 epochs: weights 0, ¼, ½, ¾, then β; the loss is weight·KL − recon.
#[test]
fn warm_up_ramps_the_kl_weight() {
    let _rng = rng_lock();
    let (x, _, _) = mixture(200, 0);
    let train = TrainConfig {
        warmup_epochs: 4,
        ..quick(6)
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(&small_vae(), &train, &x, None, dir.path(), false).unwrap();
    let weights: Vec<f64> = out.history.iter().map(|m| m.kl_weight).collect();
    assert_eq!(weights, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    for m in &out.history {
        let expected = m.kl_weight * m.train_kl - m.train_recon;
        assert!(
            (m.train_loss - expected).abs() <= 1e-4 * (1.0 + expected.abs()),
            "epoch {}: loss {} vs {expected}",
            m.epoch,
            m.train_loss
        );
    }
    assert_eq!(train.kl_weight(3, 4.0), 2.0);
    assert_eq!(quick(1).kl_weight(1, 4.0), 4.0);
}

#[test]
fn bad_data_and_diverging_training_are_errors() {
    let _rng = rng_lock();
    let (x, _, _) = mixture(100, 0);
    let dir = tempfile::tempdir().unwrap();
    let grey = x.mapv(|v| 0.2 + 0.6 * v);
    let err = format!(
        "{:#}",
        run(&small_vae(), &quick(1), &grey, None, dir.path(), false).unwrap_err()
    );
    assert!(
        err.contains("training data") && err.contains("binarise"),
        "{err}"
    );
    let dynamic = TrainConfig {
        dynamic_binarization: true,
        ..quick(1)
    };
    let err = run(
        &small_vae(),
        &dynamic,
        &(&grey * 2.0),
        None,
        dir.path(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("[0, 1]"), "{err}");
    let gaussian = VaeConfig {
        likelihood: Likelihood::Gaussian {
            variance: Variance::Learned,
        },
        ..small_vae()
    };
    let err = run(&gaussian, &dynamic, &grey, None, dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("train.dynamic_binarization"), "{err}");
    let err = run(
        &small_vae(),
        &TrainConfig {
            early_stop: Some(2),
            ..quick(1)
        },
        &x,
        None,
        dir.path(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("validation"), "{err}");
    let narrow = VaeConfig {
        input: InputShape::Vector(35),
        ..small_vae()
    };
    assert!(run(&narrow, &quick(1), &x, None, dir.path(), false).is_err());
    let wild = TrainConfig {
        lr: 1e12,
        ..quick(3)
    };
    let err = run(&gaussian, &wild, &x, None, dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("diverged") && err.contains("lower train.lr"),
        "{err}"
    );
}

/// On a trained model: L_1 equals the ELBO within Monte Carlo error, L_100 is above the
/// ELBO, and the same seed gives the same numbers.
#[test]
fn evaluate_vae_iwae_bounds_the_elbo() {
    let _rng = rng_lock();
    let (x, val, _) = mixture(1000, 2000);
    let dir = tempfile::tempdir().unwrap();
    let out = run(&small_vae(), &quick(5), &x, None, dir.path(), false).unwrap();
    let vae = &out.vae;
    let all = evaluate_vae(vae, val.view(), 1, Some(usize::MAX), 21).unwrap();
    assert_eq!((all.n, all.iwae_k), (2000, Some(1)));
    assert!((all.elbo - (all.recon - all.kl)).abs() < 1e-9);
    // Standard deviation of the one-sample ELBO per row, for the Monte Carlo error.
    let xt = convert::array2_to_tensor(val.view(), tch::Device::Cpu);
    let sd = tch::no_grad(|| vae.elbo(&xt).unwrap().per_example().std(true)).double_value(&[]);
    let se = sd * (2.0 / 2000.0f64).sqrt();
    let l1 = all.iwae.unwrap();
    assert!(
        (l1 - all.elbo).abs() < 4.0 * se,
        "L_1 {l1} vs ELBO {} (se {se})",
        all.elbo
    );
    let first = val.slice(s![..200, ..]);
    let e = evaluate_vae(vae, first, 100, Some(200), 4).unwrap();
    let iwae = e.iwae.unwrap();
    let se200 = sd / 200.0f64.sqrt();
    eprintln!("ELBO {:.3}, L_100 {iwae:.3}", e.elbo);
    assert!(
        iwae >= e.elbo - 3.0 * se200,
        "L_100 {iwae} < ELBO {}",
        e.elbo
    );
    assert!(iwae > e.elbo, "L_100 {iwae} not above ELBO {}", e.elbo);
    assert_eq!(evaluate_vae(vae, first, 100, Some(200), 4).unwrap(), e);
    let skipped = evaluate_vae(vae, first, 100, None, 4).unwrap();
    assert_eq!((skipped.iwae, skipped.iwae_k), (None, None));
    assert_eq!(skipped.elbo, e.elbo);
    assert!(evaluate_vae(vae, first, 0, Some(5), 4).is_err());
    assert!(evaluate_vae(vae, first, 5, Some(0), 4).is_err());
}

/// Throughput of a 784-400-20 Bernoulli VAE, batch 128, 2 threads, one epoch of 10 000
/// random binary rows. Run in release:
/// `cargo test --release -p elbo-runner --lib train::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark; run in release"]
fn throughput() {
    let _rng = rng_lock();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Array2::from_shape_simple_fn((10_000, 784), || {
        if rng.next_u32() % 2 == 0 { 1.0f32 } else { 0.0 }
    });
    let config = VaeConfig {
        architecture: Architecture::Mlp { hidden: vec![400] },
        ..VaeConfig::new(784, 20)
    };
    let train = TrainConfig {
        epochs: 3,
        batch_size: 128,
        threads: Some(2),
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(&config, &train, &x, None, dir.path(), false).unwrap();
    for m in &out.history {
        eprintln!(
            "epoch {}: {:.0} samples/s ({:.3} s)",
            m.epoch, m.samples_per_second, m.seconds
        );
    }
    eprintln!("whole call {:.3} s", out.train_seconds);
}

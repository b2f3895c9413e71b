//! The VAE's epochs: Adam on the β-weighted negative ELBO, KL warm-up, clipping, early
//! stopping, dynamic binarisation, a checkpoint after every epoch, exact resume.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use elbo_vae::{Likelihood, Vae, VaeConfig, checkpoint, convert, default_device};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayView2;
use rand::seq::SliceRandom as _;
use rand::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use super::TrainConfig;
use super::adam::Adam;
use super::evaluate::elbo_sums;
use super::state::{
    BEST_STEM, LAST_STEM, STATE_FILE, STATE_FORMAT, TrainState, config_hash, resume_from,
    save_checkpoint, weights_path,
};

/// The progress bar of an epoch (drawn only when stderr is a terminal).
pub(crate) const PROGRESS_TEMPLATE: &str =
    "epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  ({elapsed}, eta {eta})";
/// ChaCha8 stream of the validation noise seed (the epochs use streams 1, 2, …).
pub(crate) const VALIDATION_STREAM: u64 = u64::MAX;

/// What one epoch did. Per-example means, in nats. The train terms are running means over the
/// epoch's batches (the weights change during the epoch); the validation terms are measured
/// after it, with the same noise seed every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Weight of the KL term in this epoch's loss (β, or less during the warm-up).
    pub kl_weight: f64,
    /// Mean training loss: −reconstruction + `kl_weight`·KL (with free bits, if set).
    pub train_loss: f64,
    /// Mean training ELBO, `train_recon − train_kl`.
    pub train_elbo: f64,
    /// Mean log p(x | z) on the training data, z ~ q(z | x).
    pub train_recon: f64,
    /// Mean KL(q(z | x) ‖ p(z)) on the training data.
    pub train_kl: f64,
    /// Mean validation ELBO (one z per example), if there are validation data.
    pub val_elbo: Option<f64>,
    /// Mean validation reconstruction term.
    pub val_recon: Option<f64>,
    /// Mean validation KL term.
    pub val_kl: Option<f64>,
    /// Wall time of the epoch's gradient steps (without validation and checkpointing).
    pub seconds: f64,
    /// Training rows per second of `seconds`.
    pub samples_per_second: f64,
}

/// Why [`train_vae`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All `epochs` ran.
    Completed,
    /// The validation ELBO stopped improving; the returned model is the one of `best_epoch`.
    EarlyStopped {
        /// The epoch with the best validation ELBO.
        best_epoch: usize,
    },
    /// The cancel flag was set. The returned model and the checkpoint are those after the last
    /// completed epoch, `epoch` (0 = before the first); a resume re-runs the interrupted
    /// epoch from its start.
    Interrupted {
        /// Number of epochs completed and saved.
        epoch: usize,
    },
}

/// A trained model and how training went.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The model's variables (on [`default_device`]).
    pub vs: nn::VarStore,
    /// The model.
    pub vae: Vae,
    /// One entry per completed epoch, including those of earlier runs when resuming.
    pub history: Vec<EpochMetrics>,
    /// Why training stopped.
    pub stop: StopReason,
    /// Wall time of this call, in seconds (validation and checkpoints included).
    pub train_seconds: f64,
}

/// The data to train on: one example per row, flattened.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    /// Training rows (binary for a Bernoulli likelihood, or grey levels in [0, 1] with
    /// dynamic binarisation).
    pub train: ArrayView2<'a, f32>,
    /// Held-out rows for the per-epoch validation ELBO and early stopping.
    pub validation: Option<ArrayView2<'a, f32>>,
}

/// Trains a VAE with Adam on the β-weighted negative ELBO ([`elbo_vae::Elbo::loss`], with the
/// KL warm-up of [`TrainConfig::warmup_epochs`]) on [`default_device`].
///
/// `checkpoint_dir` (created if needed) receives a checkpoint before the first epoch and after
/// every epoch (see the [module docs](self) for the layout). With `resume = true` training
/// continues from the checkpoint there, which must exist and have been written with the same
/// VAE config and the same training config except `epochs` and `threads`; a resume of a run
/// that already finished (all epochs, or early-stopped) returns at once.
///
/// `cancel` is polled before every batch. When it is set, the partial epoch is dropped: the
/// checkpoint on disk (already written after the last completed epoch, or epoch 0) stays as it
/// is, the returned model is reloaded from it, and the stop reason is
/// [`StopReason::Interrupted`] with the number of completed epochs. A resume then repeats the
/// interrupted epoch with the same seeds, so the end result equals an uninterrupted run.
///
/// On early stopping the returned model is the best epoch's (`best.safetensors`); otherwise it
/// is the last epoch's. `on_epoch` is called after each epoch's checkpoint is written; its
/// error stops training and is returned. Errors: invalid configs or data, a non-finite loss
/// (training diverged), file-system failures, and checkpoints that do not fit.
pub fn train_vae(
    config: &VaeConfig,
    train: &TrainConfig,
    data: TrainData<'_>,
    checkpoint_dir: &Path,
    resume: bool,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> anyhow::Result<()>,
) -> anyhow::Result<TrainOutcome> {
    let started = Instant::now();
    train.check()?;
    config.check()?;
    if train.dynamic_binarization {
        ensure!(
            config.likelihood == Likelihood::Bernoulli,
            "train.dynamic_binarization needs a Bernoulli likelihood, the model has {:?}; \
             turn it off for continuous data",
            config.likelihood
        );
    }
    if train.early_stop.is_some() {
        ensure!(
            data.validation.is_some(),
            "train.early_stop needs validation data to watch; give a validation split or \
             leave early_stop out"
        );
    }
    if let Some(threads) = train.threads {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
    std::fs::create_dir_all(checkpoint_dir).with_context(|| {
        format!(
            "could not create the checkpoint directory {}",
            checkpoint_dir.display()
        )
    })?;

    let device = default_device();
    let (mut vs, vae) = Vae::build(config, device)?;
    let n_rows = data.train.nrows();
    ensure!(n_rows > 0, "the training data have no rows");
    let train_x = convert::array2_to_tensor(data.train, device);
    let val_x = data
        .validation
        .map(|v| convert::array2_to_tensor(v, device));
    let mut binary = None;
    if train.dynamic_binarization {
        check_unit_interval(&train_x)?;
        binary = Some(train_x.f_empty_like()?);
    } else {
        let _ = vae.check_input(&train_x).context("the training data")?;
    }
    if let Some(v) = &val_x {
        ensure!(v.size()[0] > 0, "the validation data have no rows");
        let _ = vae.check_input(v).context("the validation data")?;
    }

    let mut adam = Adam::new(&vs, train.lr)?;
    let mut state = if resume {
        resume_from(checkpoint_dir, config, train, &mut vs, &vae, &mut adam)?
    } else {
        if checkpoint_dir.join(STATE_FILE).exists() {
            tracing::warn!(dir = %checkpoint_dir.display(), "overwriting an earlier checkpoint");
        }
        // A best model of an earlier run must not pass for this run's.
        let best = weights_path(checkpoint_dir, BEST_STEM);
        for stale in [checkpoint::config_path(&best), best] {
            if stale.exists() {
                std::fs::remove_file(&stale)
                    .with_context(|| format!("could not remove {}", stale.display()))?;
            }
        }
        let mut state = TrainState {
            format: STATE_FORMAT,
            epochs_done: 0,
            adam_steps: 0,
            best_val_elbo: None,
            best_epoch: None,
            epochs_without_improvement: 0,
            vae_config_hash: config_hash(config)?,
            train_config_hash: config_hash(&train.resumable_part())?,
            vae_config: config.clone(),
            train_config: train.clone(),
            files: BTreeMap::new(),
            history: Vec::new(),
        };
        save_checkpoint(checkpoint_dir, &vs, &vae, &adam, &mut state, false)?;
        state
    };
    // The state records the config of the latest run (epochs may have grown).
    state.train_config = train.clone();

    let n = i64::try_from(n_rows).unwrap_or(i64::MAX);
    let batch = i64::try_from(train.batch_size).unwrap_or(i64::MAX).min(n);
    let batch_buffer = Tensor::f_empty([batch, vae.input_dim()], (Kind::Float, device))?;
    let beta = config.beta;
    let val_seed = derived_seed(train.seed, VALIDATION_STREAM);
    let interactive = std::io::stderr().is_terminal();

    let stop = loop {
        if let Some(best_epoch) = early_stop_reached(&state, train) {
            let best = weights_path(checkpoint_dir, BEST_STEM);
            checkpoint::load_weights(&mut vs, &best)?;
            break StopReason::EarlyStopped { best_epoch };
        }
        if state.epochs_done >= train.epochs {
            break StopReason::Completed;
        }
        if cancel.load(Ordering::Relaxed) {
            break interrupt(checkpoint_dir, &mut vs, &state)?;
        }
        let epoch = state.epochs_done + 1;
        let kl_weight = train.kl_weight(epoch, beta);
        let mut rng = ChaCha8Rng::seed_from_u64(train.seed);
        rng.set_stream(epoch as u64);
        tch::manual_seed(i64::from_ne_bytes(rng.next_u64().to_ne_bytes()));
        let source = match &mut binary {
            Some(b) => {
                let _ = b.f_bernoulli_(&train_x)?;
                b.shallow_clone()
            }
            None => train_x.shallow_clone(),
        };
        let mut order: Vec<i64> = (0..n).collect();
        order.shuffle(&mut rng);
        let order = Tensor::from_slice(&order).to_device(device);

        let epoch_run = EpochRun {
            vae: &vae,
            train,
            source: &source,
            order: &order,
            batch_buffer: &batch_buffer,
            epoch,
            kl_weight,
            interactive,
        };
        let Some(sums) = epoch_run.run(&mut adam, cancel)? else {
            break interrupt(checkpoint_dir, &mut vs, &state)?;
        };

        let val = match &val_x {
            Some(v) => Some(elbo_sums(&vae, v, val_seed)?),
            None => None,
        };
        let rows = n_rows as f64;
        let metrics = EpochMetrics {
            epoch,
            kl_weight,
            train_loss: sums.loss / rows,
            train_elbo: (sums.recon - sums.kl) / rows,
            train_recon: sums.recon / rows,
            train_kl: sums.kl / rows,
            val_elbo: val.map(|s| s.elbo()),
            val_recon: val.map(|s| s.recon / s.n),
            val_kl: val.map(|s| s.kl / s.n),
            seconds: sums.seconds,
            samples_per_second: rows / sums.seconds.max(1e-12),
        };
        let improved = match metrics.val_elbo {
            Some(v) => {
                ensure!(
                    v.is_finite(),
                    "the validation ELBO of epoch {epoch} is {v}; training diverged — lower train.lr"
                );
                let better = state.best_val_elbo.is_none_or(|best| v > best);
                if better {
                    state.best_val_elbo = Some(v);
                    state.best_epoch = Some(epoch);
                    state.epochs_without_improvement = 0;
                } else if epoch > train.warmup_epochs {
                    state.epochs_without_improvement += 1;
                }
                better
            }
            None => false,
        };
        state.epochs_done = epoch;
        state.history.push(metrics.clone());
        save_checkpoint(checkpoint_dir, &vs, &vae, &adam, &mut state, improved)?;
        log_epoch(&metrics, train.epochs);
        on_epoch(&metrics)?;
    };

    Ok(TrainOutcome {
        vs,
        vae,
        history: state.history,
        stop,
        train_seconds: started.elapsed().as_secs_f64(),
    })
}

/// One epoch's pass over the shuffled training rows.
pub(crate) struct EpochRun<'a> {
    vae: &'a Vae,
    train: &'a TrainConfig,
    /// The epoch's training rows (a fresh binarisation with dynamic binarisation).
    source: &'a Tensor,
    /// Row order, `[n]` int64.
    order: &'a Tensor,
    /// `[batch, D]`, reused by every full batch.
    batch_buffer: &'a Tensor,
    epoch: usize,
    kl_weight: f64,
    interactive: bool,
}

/// Sums over an epoch's training rows.
pub(crate) struct TrainSums {
    /// Σ over batches of batch loss × batch rows.
    loss: f64,
    recon: f64,
    kl: f64,
    seconds: f64,
}

impl EpochRun<'_> {
    /// Runs the epoch; `None` if `cancel` was set before one of its batches.
    fn run(&self, adam: &mut Adam, cancel: &AtomicBool) -> anyhow::Result<Option<TrainSums>> {
        let started = Instant::now();
        let n = self.order.size()[0];
        let batch = self.batch_buffer.size()[0];
        let n_batches = (n + batch - 1) / batch;
        let beta = self.vae.config().beta;
        // loss = w·(β·KL − recon) + (w − 1)·recon = w·β·KL − recon for w = kl_weight / β.
        let w = if beta > 0.0 {
            self.kl_weight / beta
        } else {
            1.0
        };
        let progress = self.progress_bar(n_batches);
        let mut sums = TrainSums {
            loss: 0.0,
            recon: 0.0,
            kl: 0.0,
            seconds: 0.0,
        };
        for b in 0..n_batches {
            if cancel.load(Ordering::Relaxed) {
                progress.finish_and_clear();
                return Ok(None);
            }
            let start = b * batch;
            let rows = batch.min(n - start);
            let index = self.order.narrow(0, start, rows);
            let x = if rows == batch {
                self.source
                    .f_index_select_out(self.batch_buffer, 0, &index)?
            } else {
                self.source.f_index_select(0, &index)?
            };
            let elbo = self.vae.elbo(&x)?;
            let loss = if w == 1.0 {
                elbo.loss.shallow_clone()
            } else {
                let recon_mean = elbo.reconstruction.f_mean(elbo.reconstruction.kind())?;
                (&elbo.loss * w).f_add(&(recon_mean * (w - 1.0)))?
            };
            let loss_value = loss.f_double_value(&[])?;
            if !loss_value.is_finite() {
                progress.finish_and_clear();
                bail!(
                    "the training loss is {loss_value} in epoch {}, batch {}: training diverged; \
                     lower train.lr (now {}) or set train.grad_clip",
                    self.epoch,
                    b + 1,
                    self.train.lr
                );
            }
            adam.zero_grad()?;
            loss.f_backward()?;
            if let Some(max_norm) = self.train.grad_clip {
                adam.clip_grad_norm(max_norm)?;
            }
            adam.step()?;
            let (recon, kl) = tch::no_grad(|| -> anyhow::Result<(f64, f64)> {
                Ok((
                    elbo.reconstruction
                        .f_sum(Kind::Double)?
                        .f_double_value(&[])?,
                    elbo.kl.f_sum(Kind::Double)?.f_double_value(&[])?,
                ))
            })?;
            sums.loss += loss_value * rows as f64;
            sums.recon += recon;
            sums.kl += kl;
            progress.inc(1);
            if !progress.is_hidden() && (b % 10 == 0 || b + 1 == n_batches) {
                let seen = (start + rows) as f64;
                progress.set_message(format!(
                    "loss {:.3}  ELBO {:.3}  KL {:.3}",
                    sums.loss / seen,
                    (sums.recon - sums.kl) / seen,
                    sums.kl / seen
                ));
            }
        }
        progress.finish_and_clear();
        sums.seconds = started.elapsed().as_secs_f64();
        Ok(Some(sums))
    }

    /// A bar on stderr when it is a terminal, otherwise a hidden one.
    fn progress_bar(&self, n_batches: i64) -> ProgressBar {
        if !self.interactive {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(u64::try_from(n_batches).unwrap_or(0));
        if let Ok(style) = ProgressStyle::with_template(PROGRESS_TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{}/{}", self.epoch, self.train.epochs));
        bar
    }
}

pub(crate) fn log_epoch(m: &EpochMetrics, epochs: usize) {
    let val = m
        .val_elbo
        .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    tracing::info!(
        epoch = m.epoch,
        kl_weight = m.kl_weight,
        train_loss = m.train_loss,
        train_elbo = m.train_elbo,
        train_kl = m.train_kl,
        val_elbo = m.val_elbo,
        seconds = m.seconds,
        samples_per_second = m.samples_per_second,
        "epoch {}/{epochs}: train ELBO {:.3} (KL {:.3}, weight {:.3}), validation ELBO {val}, \
         {:.0} samples/s",
        m.epoch,
        m.train_elbo,
        m.train_kl,
        m.kl_weight,
        m.samples_per_second
    );
}

/// `Some(best_epoch)` when the patience has run out.
pub(crate) fn early_stop_reached(state: &TrainState, train: &TrainConfig) -> Option<usize> {
    let patience = train.early_stop?;
    if state.epochs_without_improvement >= patience {
        state.best_epoch
    } else {
        None
    }
}

/// Reload the last completed epoch's weights for an interrupted run.
pub(crate) fn interrupt(
    dir: &Path,
    vs: &mut nn::VarStore,
    state: &TrainState,
) -> anyhow::Result<StopReason> {
    checkpoint::load_weights(vs, &weights_path(dir, LAST_STEM))?;
    tracing::info!(
        epochs_done = state.epochs_done,
        dir = %dir.display(),
        "training interrupted; the checkpoint holds the last completed epoch"
    );
    Ok(StopReason::Interrupted {
        epoch: state.epochs_done,
    })
}

/// Dynamic binarisation draws Bernoulli(x): every value must be a probability.
pub(crate) fn check_unit_interval(x: &Tensor) -> anyhow::Result<()> {
    if x.numel() == 0 {
        return Ok(());
    }
    let lo = x.f_min()?.f_double_value(&[])?;
    let hi = x.f_max()?.f_double_value(&[])?;
    ensure!(
        lo >= 0.0 && hi <= 1.0,
        "train.dynamic_binarization needs training data in [0, 1] (grey levels), found values \
         from {lo} to {hi}; scale the data first"
    );
    Ok(())
}

/// A seed for libtorch from ChaCha8(`seed`) on `stream`.
pub(crate) fn derived_seed(seed: u64, stream: u64) -> i64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    i64::from_ne_bytes(rng.next_u64().to_ne_bytes())
}

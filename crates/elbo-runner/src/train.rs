//! The VAE training loop and its evaluation (theory.md §5): Adam on the β-weighted negative
//! ELBO, KL warm-up, gradient clipping, early stopping on the validation ELBO, dynamic
//! binarisation, checkpoints after every epoch and an exact resume.
//!
//! `elbo-vae` exposes the model (config, init, forward, ELBO, IWAE); the loop lives here.
//!
//! # Reproducibility and exact resume
//!
//! Every epoch starts from seeds derived from `(train.seed, epoch)` only: a ChaCha8 generator
//! (seeded with `train.seed`, stream = epoch) shuffles the rows and gives the seed of libtorch's
//! global generator, which draws the dynamic binarisation and the reparameterisation noise.
//! The Adam moments are tensors this module owns ([`Adam`]) and are checkpointed with the
//! weights, so training one epoch and resuming to two gives the same numbers, bit for bit on
//! CPU with the same thread count, as training two epochs at once. The validation ELBO of
//! every epoch is computed with the same noise seed (common random numbers), so epochs are
//! compared on the same draws.
//!
//! # Checkpoint directory
//!
//! After every completed epoch (and once before the first one, as "epoch 0"):
//!
//! | file | content |
//! |------|---------|
//! | `last.safetensors`, `last.json` | weights and [`VaeConfig`] ([`elbo_vae::checkpoint::save`]) |
//! | `best.safetensors`, `best.json` | the same for the epoch with the best validation ELBO (only with validation data) |
//! | `optimizer.safetensors` | Adam's moments `m.<variable>`, `v.<variable>` and `step` |
//! | `state.json` | [`TrainState`]: epochs done, history, best validation ELBO, configs, their hashes, and a hash of each file above |
//!
//! Each file goes to a temporary name first and is renamed into place; `state.json` is written
//! last and is the commit point. A resume checks every file against the hash `state.json`
//! recorded, so a run killed half-way through writing a checkpoint is reported rather than
//! resumed from mismatched files.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
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

use crate::atomic::write_atomic;

/// Rows per forward pass when evaluating (no gradients, so larger than a training batch).
const EVAL_BATCH_ROWS: i64 = 1024;
/// Version of the `state.json` layout.
const STATE_FORMAT: u32 = 1;
const STATE_FILE: &str = "state.json";
const LAST_STEM: &str = "last";
const BEST_STEM: &str = "best";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The progress bar of an epoch (drawn only when stderr is a terminal).
const PROGRESS_TEMPLATE: &str =
    "epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  ({elapsed}, eta {eta})";
/// Alignment of each variable in [`Adam`]'s flat buffers, in elements (64 bytes of f32).
const ALIGN_ELEMENTS: i64 = 16;
/// ChaCha8 stream of the validation noise seed (the epochs use streams 1, 2, …).
const VALIDATION_STREAM: u64 = u64::MAX;

/// How to train a VAE: the unchecked form a preset's `[train]` table deserialises into
/// (missing fields take the defaults below); [`TrainConfig::check`] validates it.
///
/// ```toml
/// epochs = 10
/// batch_size = 128
/// lr = 1e-3
/// warmup_epochs = 0
/// # grad_clip = 5.0
/// # early_stop = 5
/// dynamic_binarization = false
/// seed = 0
/// # threads = 2
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data (default 10). May be raised when resuming.
    pub epochs: usize,
    /// Examples per gradient step (default 128); the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Adam's learning rate (default 1e-3; β₁ = 0.9, β₂ = 0.999, ε = 1e-8 as in PyTorch).
    pub lr: f64,
    /// KL warm-up: epoch e (1-based) weights the KL term by β·min(1, (e − 1)/`warmup_epochs`),
    /// so the weight ramps linearly from 0 in epoch 1 to the model's β in epoch
    /// `warmup_epochs + 1`. 0 (the default) turns it off.
    pub warmup_epochs: usize,
    /// Rescale the gradients so that their global L2 norm is at most this (PyTorch's
    /// `clip_grad_norm_`). `None` (the default) leaves them alone.
    pub grad_clip: Option<f64>,
    /// Patience of early stopping: stop when the validation ELBO has not improved on its best
    /// value for this many consecutive epochs at full KL weight (epochs during the warm-up do
    /// not use up patience; an improvement during it still counts). Needs validation data.
    /// `None` (the default) trains all `epochs`.
    pub early_stop: Option<usize>,
    /// Draw a fresh binarisation x ~ Bernoulli(grey level) of the training data every epoch
    /// (Bernoulli likelihood only; the data must lie in [0, 1]). Validation data are used as
    /// given, so binarise them once beforehand. Default false.
    pub dynamic_binarization: bool,
    /// Seed of the shuffling, the binarisation and the reparameterisation noise (the model's
    /// initial weights come from the VAE config's own `seed`).
    pub seed: u64,
    /// Threads of libtorch's intra-op pool (`tch::set_num_threads`, a process-wide setting).
    /// `None` (the default) leaves libtorch's default. Results are reproducible bit for bit
    /// only for a fixed thread count. May change when resuming.
    pub threads: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            warmup_epochs: 0,
            grad_clip: None,
            early_stop: None,
            dynamic_binarization: false,
            seed: 0,
            threads: None,
        }
    }
}

impl TrainConfig {
    /// Check every field; the error names the first wrong one and what is allowed.
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(
            self.epochs >= 1,
            "train.epochs must be ≥ 1, got {}",
            self.epochs
        );
        ensure!(
            self.batch_size >= 1 && i64::try_from(self.batch_size).is_ok(),
            "train.batch_size must be ≥ 1, got {}",
            self.batch_size
        );
        ensure!(
            self.lr.is_finite() && self.lr > 0.0,
            "train.lr must be a finite number > 0, got {}",
            self.lr
        );
        if let Some(clip) = self.grad_clip {
            ensure!(
                clip.is_finite() && clip > 0.0,
                "train.grad_clip must be a finite number > 0 (leave it out to not clip), got {clip}"
            );
        }
        if let Some(patience) = self.early_stop {
            ensure!(
                patience >= 1,
                "train.early_stop must be ≥ 1 epoch of patience (leave it out to not stop \
                 early), got {patience}"
            );
        }
        if let Some(threads) = self.threads {
            ensure!(
                threads >= 1 && i32::try_from(threads).is_ok(),
                "train.threads must be ≥ 1 (leave it out for libtorch's default), got {threads}"
            );
        }
        Ok(())
    }

    /// The KL weight of `epoch` (1-based) for a model with KL weight `beta`.
    pub fn kl_weight(&self, epoch: usize, beta: f64) -> f64 {
        if self.warmup_epochs == 0 {
            return beta;
        }
        let ramp = epoch.saturating_sub(1) as f64 / self.warmup_epochs as f64;
        beta * ramp.min(1.0)
    }

    /// The fields a resume must agree on: all but `epochs` and `threads`.
    fn resumable_part(&self) -> TrainConfig {
        TrainConfig {
            epochs: 0,
            threads: None,
            ..self.clone()
        }
    }
}

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

/// The content of `state.json` in a checkpoint directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Layout version.
    pub format: u32,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Adam steps taken.
    pub adam_steps: u64,
    /// Best validation ELBO so far.
    pub best_val_elbo: Option<f64>,
    /// Epoch of `best_val_elbo`.
    pub best_epoch: Option<usize>,
    /// Consecutive epochs at full KL weight without improvement (early-stopping counter).
    pub epochs_without_improvement: usize,
    /// FNV-1a hash of the VAE config's JSON.
    pub vae_config_hash: String,
    /// FNV-1a hash of the training config's JSON, without `epochs` and `threads`.
    pub train_config_hash: String,
    /// The VAE config trained.
    pub vae_config: VaeConfig,
    /// The training config of the run that wrote this state.
    pub train_config: TrainConfig,
    /// FNV-1a hash of each checkpoint file, by file name.
    pub files: BTreeMap<String, String>,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
}

impl TrainState {
    /// Read and parse `dir/state.json`.
    pub fn read(dir: &Path) -> anyhow::Result<TrainState> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let state: TrainState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid training state", path.display()))?;
        ensure!(
            state.format == STATE_FORMAT,
            "{} has layout version {}, this build reads version {STATE_FORMAT}",
            path.display(),
            state.format
        );
        Ok(state)
    }
}

/// Adam (Kingma & Ba 2015) over the trainable variables of a `VarStore`, with PyTorch's
/// update (`torch.optim.Adam`: no weight decay, no AMSGrad, β₁ = 0.9, β₂ = 0.999, ε = 1e-8):
///
/// m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
/// θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε),
///
/// evaluated as θ + m / ((√v + ε·√(1 − β₂ᵗ)) / s) with s = −lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ): the same
/// number up to rounding, with fewer passes over the data.
///
/// Unlike `tch::nn::Optimizer` it owns its state, so [`Adam::save`] / [`Adam::load`] make a
/// resumed run continue exactly. For speed, [`Adam::new`] moves the variables into one
/// contiguous buffer (each variable becomes a view of it, `Tensor::set_data`), and the
/// gradients into another as soon as autograd has created them, so a step is seven in-place
/// operations over all parameters at once instead of ten per variable. Variables are ordered
/// by name. A variable that has no gradient at a step counts as having a zero gradient (its
/// moments decay), where PyTorch would skip it; in a VAE every variable gets a gradient.
#[derive(Debug)]
pub struct Adam {
    lr: f64,
    step: u64,
    params: Vec<AdamParam>,
    /// Every variable, concatenated.
    flat: Tensor,
    /// Every gradient, concatenated.
    grad: Tensor,
    /// First moments, laid out like `flat`.
    m: Tensor,
    /// Second moments.
    v: Tensor,
    /// Scratch for g².
    scratch: Tensor,
    /// (√v + ε√(1 − β₂ᵗ)) / s.
    denom: Tensor,
}

#[derive(Debug)]
struct AdamParam {
    name: String,
    value: Tensor,
    shape: Vec<i64>,
    offset: i64,
    numel: i64,
}

impl AdamParam {
    /// This variable's part of a flat buffer, shaped like the variable.
    fn view_of(&self, flat: &Tensor) -> Result<Tensor, tch::TchError> {
        flat.f_narrow(0, self.offset, self.numel)?
            .f_view(self.shape.as_slice())
    }
}

impl Adam {
    /// β₁, decay of the first moment.
    pub const BETA1: f64 = 0.9;
    /// β₂, decay of the second moment.
    pub const BETA2: f64 = 0.999;
    /// ε, added to √v̂.
    pub const EPS: f64 = 1e-8;

    /// Adam with zero moments over the variables of `vs` that require gradients (all of one
    /// kind). Their values are moved into the optimiser's flat buffer; they keep their names,
    /// shapes and values, and every handle to them (layers, the model) sees the move.
    pub fn new(vs: &nn::VarStore, lr: f64) -> anyhow::Result<Adam> {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let kind = named.first().map_or(Kind::Float, |(_, t)| t.kind());
        if let Some((name, t)) = named.iter().find(|(_, t)| t.kind() != kind) {
            bail!(
                "Adam needs variables of one kind: `{name}` is {:?}, the others {kind:?}",
                t.kind()
            );
        }
        let mut params = Vec::with_capacity(named.len());
        let mut offset = 0i64;
        for (name, value) in named {
            let shape = value.size();
            let numel = shape.iter().product::<i64>();
            params.push(AdamParam {
                name,
                value,
                shape,
                offset,
                numel,
            });
            // Start every variable on a 64-byte boundary, as separate allocations would:
            // matrix kernels are slower on misaligned operands. Padding stays zero.
            offset += (numel + ALIGN_ELEMENTS - 1) / ALIGN_ELEMENTS * ALIGN_ELEMENTS;
        }
        let options = (kind, vs.device());
        let flat = Tensor::f_zeros([offset], options)?;
        tch::no_grad(|| -> anyhow::Result<()> {
            for p in &mut params {
                let mut slot = p.view_of(&flat)?;
                slot.f_copy_(&p.value)?;
                p.value.f_set_data(&slot)?;
            }
            Ok(())
        })?;
        Ok(Adam {
            lr,
            step: 0,
            params,
            grad: Tensor::f_zeros([offset], options)?,
            m: Tensor::f_zeros([offset], options)?,
            v: Tensor::f_zeros([offset], options)?,
            scratch: Tensor::f_zeros([offset], options)?,
            denom: Tensor::f_zeros([offset], options)?,
            flat,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Make every variable a view of `flat` and every existing gradient a view of `grad`
    /// again, copying the values in, where something (autograd's first backward, a user)
    /// gave them storage of their own.
    fn bind(&mut self) -> anyhow::Result<()> {
        tch::no_grad(|| {
            for p in &mut self.params {
                let slot = p.view_of(&self.flat)?;
                if p.value.data_ptr() != slot.data_ptr() || p.value.kind() != slot.kind() {
                    bail!(
                        "the variable `{}` was moved or converted after the optimiser was \
                         built; build the optimiser after the model is on its device and kind",
                        p.name
                    );
                }
                let mut g = p.value.grad();
                if !g.defined() {
                    continue;
                }
                let mut slot = p.view_of(&self.grad)?;
                if g.data_ptr() != slot.data_ptr() {
                    slot.f_copy_(&g)?;
                    g.f_set_data(&slot)?;
                }
            }
            Ok(())
        })
    }

    /// Set all gradients to zero (before the next `backward`).
    pub fn zero_grad(&mut self) -> anyhow::Result<()> {
        self.bind()?;
        let _ = self.grad.f_zero_()?;
        Ok(())
    }

    /// Rescale the gradients in place so that their global L2 norm is at most `max_norm`
    /// (PyTorch's `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when below 1). Returns
    /// the norm before clipping; a non-finite norm is an error.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> anyhow::Result<f64> {
        self.bind()?;
        let total = tch::no_grad(|| self.grad.f_norm()?.f_double_value(&[]))?;
        ensure!(
            total.is_finite(),
            "the gradient norm is {total}; training diverged — lower train.lr"
        );
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            let _ = self.grad.f_mul_scalar_(coef)?;
        }
        Ok(total)
    }

    /// One Adam step on the current gradients.
    pub fn step(&mut self) -> anyhow::Result<()> {
        self.bind()?;
        self.step += 1;
        let t = self.step as f64;
        let bias1 = 1.0 - Self::BETA1.powf(t);
        let bias2_sqrt = (1.0 - Self::BETA2.powf(t)).sqrt();
        let scale = -self.lr * bias2_sqrt / bias1;
        tch::no_grad(|| -> Result<(), tch::TchError> {
            let _ = self.m.f_lerp_(&self.grad, 1.0 - Self::BETA1)?;
            let _ = self.grad.f_mul_out(&self.scratch, &self.grad)?;
            let _ = self.v.f_lerp_(&self.scratch, 1.0 - Self::BETA2)?;
            let _ = self.v.f_sqrt_out(&self.denom)?;
            let _ = self.denom.f_add_scalar_(Self::EPS * bias2_sqrt)?;
            // θ + m / (denom / scale) = θ + scale · m / denom (an in-place division is several
            // times faster than `mul_out` with a scalar).
            let _ = self.denom.f_div_scalar_(scale)?;
            let _ = self.flat.f_addcdiv_(&self.m, &self.denom)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Write the moments and the step count as safetensors (`m.<name>`, `v.<name>`, `step`).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let step = Tensor::from_slice(&[i64::try_from(self.step).unwrap_or(i64::MAX)]);
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for p in &self.params {
            named.push((format!("m.{}", p.name), p.view_of(&self.m)?));
            named.push((format!("v.{}", p.name), p.view_of(&self.v)?));
        }
        named.push(("step".to_owned(), step));
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("could not write the optimiser state {}", path.display()))
    }

    /// Read a state written by [`Adam::save`] for the same variables (names and shapes are
    /// checked before anything is copied).
    pub fn load(&mut self, path: &Path) -> anyhow::Result<()> {
        let stored: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
            .with_context(|| format!("could not read the optimiser state {}", path.display()))?
            .into_iter()
            .collect();
        let mut problems = Vec::new();
        let mut expected = vec!["step".to_owned()];
        for p in &self.params {
            for key in [format!("m.{}", p.name), format!("v.{}", p.name)] {
                match stored.get(&key) {
                    None => problems.push(format!("`{key}` is missing")),
                    Some(t) if t.size() != p.shape => problems.push(format!(
                        "`{key}` has shape {:?}, the variable {:?}",
                        t.size(),
                        p.shape
                    )),
                    Some(_) => {}
                }
                expected.push(key);
            }
        }
        for name in stored.keys().filter(|k| !expected.contains(k)) {
            problems.push(format!("`{name}` is not a moment of this model"));
        }
        let step = match stored.get("step") {
            Some(t) if t.numel() == 1 => u64::try_from(t.f_int64_value(&[0])?).ok(),
            _ => None,
        };
        if step.is_none() {
            problems.push("`step` is missing or invalid".to_owned());
        }
        ensure!(
            problems.is_empty(),
            "the optimiser state {} does not fit the model: {}",
            path.display(),
            problems.join("; ")
        );
        tch::no_grad(|| -> anyhow::Result<()> {
            for p in &self.params {
                for (prefix, flat) in [("m", &self.m), ("v", &self.v)] {
                    if let Some(src) = stored.get(&format!("{prefix}.{}", p.name)) {
                        p.view_of(flat)?.f_copy_(src)?;
                    }
                }
            }
            Ok(())
        })?;
        self.step = step.unwrap_or(0);
        Ok(())
    }
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
struct EpochRun<'a> {
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
struct TrainSums {
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

fn log_epoch(m: &EpochMetrics, epochs: usize) {
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
fn early_stop_reached(state: &TrainState, train: &TrainConfig) -> Option<usize> {
    let patience = train.early_stop?;
    if state.epochs_without_improvement >= patience {
        state.best_epoch
    } else {
        None
    }
}

/// Reload the last completed epoch's weights for an interrupted run.
fn interrupt(dir: &Path, vs: &mut nn::VarStore, state: &TrainState) -> anyhow::Result<StopReason> {
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
fn check_unit_interval(x: &Tensor) -> anyhow::Result<()> {
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
fn derived_seed(seed: u64, stream: u64) -> i64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    i64::from_ne_bytes(rng.next_u64().to_ne_bytes())
}

fn weights_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.safetensors"))
}

/// 64-bit FNV-1a: a stable fingerprint (std's hasher is not specified across releases).
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn config_hash<T: Serialize>(config: &T) -> anyhow::Result<String> {
    Ok(fnv1a(&serde_json::to_vec(config)?))
}

fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(fnv1a(&bytes))
}

/// `dir/.stem.tmp-PID.safetensors`: hidden, per process, and still a `.safetensors` name.
fn temp_weights(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(".{stem}.tmp-{}.safetensors", std::process::id()))
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("could not move {} to {}", from.display(), to.display()))
}

/// Weights and config to `dir/stem.{safetensors,json}` via temporary names; returns the hash
/// of the weights file.
fn save_weights(dir: &Path, stem: &str, vs: &nn::VarStore, vae: &Vae) -> anyhow::Result<String> {
    let tmp = temp_weights(dir, stem);
    checkpoint::save(vs, vae, &tmp)?;
    let hash = file_hash(&tmp)?;
    let target = weights_path(dir, stem);
    rename(
        &checkpoint::config_path(&tmp),
        &checkpoint::config_path(&target),
    )?;
    rename(&tmp, &target)?;
    Ok(hash)
}

/// Write the epoch's checkpoint (`best` too if `best` is set), `state.json` last.
fn save_checkpoint(
    dir: &Path,
    vs: &nn::VarStore,
    vae: &Vae,
    adam: &Adam,
    state: &mut TrainState,
    best: bool,
) -> anyhow::Result<()> {
    if best {
        let hash = save_weights(dir, BEST_STEM, vs, vae)?;
        state.files.insert(format!("{BEST_STEM}.safetensors"), hash);
    }
    let hash = save_weights(dir, LAST_STEM, vs, vae)?;
    state.files.insert(format!("{LAST_STEM}.safetensors"), hash);
    let tmp = temp_weights(dir, "optimizer");
    adam.save(&tmp)?;
    state
        .files
        .insert(OPTIMIZER_FILE.to_owned(), file_hash(&tmp)?);
    rename(&tmp, &dir.join(OPTIMIZER_FILE))?;
    state.adam_steps = adam.steps();
    let mut json = serde_json::to_vec_pretty(state).context("could not serialise the state")?;
    json.push(b'\n');
    write_atomic(&dir.join(STATE_FILE), &json)
}

/// Load `dir`'s checkpoint into `vs` and `adam` after checking that it fits.
fn resume_from(
    dir: &Path,
    config: &VaeConfig,
    train: &TrainConfig,
    vs: &mut nn::VarStore,
    vae: &Vae,
    adam: &mut Adam,
) -> anyhow::Result<TrainState> {
    ensure!(
        dir.join(STATE_FILE).is_file(),
        "cannot resume: there is no checkpoint in {} ({STATE_FILE} is missing); train without \
         resume first",
        dir.display()
    );
    let state = TrainState::read(dir)?;
    let mut differences = json_differences("", &state.vae_config, config)?;
    differences.extend(json_differences(
        "train.",
        &state.train_config.resumable_part(),
        &train.resumable_part(),
    )?);
    ensure!(
        differences.is_empty(),
        "cannot resume from {}: the configuration differs from the checkpoint's ({}); only \
         train.epochs and train.threads may change",
        dir.display(),
        differences.join("; ")
    );
    for (name, hash) in &state.files {
        let actual = file_hash(&dir.join(name))
            .with_context(|| format!("the checkpoint in {} is incomplete", dir.display()))?;
        ensure!(
            &actual == hash,
            "cannot resume from {}: {name} does not match {STATE_FILE} (the run was probably \
             stopped while saving); start again without resume",
            dir.display()
        );
    }
    checkpoint::load_into(vs, vae, &weights_path(dir, LAST_STEM))?;
    adam.load(&dir.join(OPTIMIZER_FILE))?;
    ensure!(
        adam.steps() == state.adam_steps,
        "cannot resume from {}: the optimiser has taken {} steps but {STATE_FILE} says {}",
        dir.display(),
        adam.steps(),
        state.adam_steps
    );
    tracing::info!(
        dir = %dir.display(),
        epochs_done = state.epochs_done,
        "resuming training"
    );
    Ok(state)
}

/// `prefix.field: a in the checkpoint, b now` for every top-level field that differs.
fn json_differences<T: Serialize>(
    prefix: &str,
    stored: &T,
    now: &T,
) -> anyhow::Result<Vec<String>> {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) =
        (serde_json::to_value(stored)?, serde_json::to_value(now)?)
    else {
        bail!("configs must serialise to JSON objects");
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| v.map_or("absent".to_owned(), |v| v.to_string());
    Ok(keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{prefix}{k} is {} in the checkpoint but {} now",
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect())
}

/// Sums of the ELBO's terms over a data set.
#[derive(Debug, Clone, Copy)]
struct ElboSums {
    n: f64,
    recon: f64,
    kl: f64,
}

impl ElboSums {
    fn elbo(&self) -> f64 {
        (self.recon - self.kl) / self.n
    }
}

/// The ELBO terms summed over all rows of `x`, without gradients, one z per row, with
/// libtorch's generator seeded by `seed`.
fn elbo_sums(vae: &Vae, x: &Tensor, seed: i64) -> anyhow::Result<ElboSums> {
    tch::manual_seed(seed);
    let n = x.size()[0];
    tch::no_grad(|| {
        let mut sums = ElboSums {
            n: n as f64,
            recon: 0.0,
            kl: 0.0,
        };
        let mut start = 0;
        while start < n {
            let rows = EVAL_BATCH_ROWS.min(n - start);
            let e = vae.elbo(&x.narrow(0, start, rows))?;
            sums.recon += e.reconstruction.f_sum(Kind::Double)?.f_double_value(&[])?;
            sums.kl += e.kl.f_sum(Kind::Double)?.f_double_value(&[])?;
            start += rows;
        }
        Ok(sums)
    })
}

/// Held-out numbers of a VAE. Per-example means, in nats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeEval {
    /// Rows the ELBO was computed on.
    pub n: usize,
    /// Mean ELBO (one z ~ q(z | x) per row).
    pub elbo: f64,
    /// Mean log p(x | z).
    pub recon: f64,
    /// Mean KL(q(z | x) ‖ p(z)).
    pub kl: f64,
    /// Mean importance-weighted bound L_k on the first rows, if asked for.
    pub iwae: Option<f64>,
    /// k of `iwae`.
    pub iwae_k: Option<usize>,
}

/// The ELBO (with its reconstruction and KL terms) on all rows of `x`, in batches, and the
/// IWAE-`iwae_k` estimate of log p(x) on the first `n_iwae` rows (all rows if `n_iwae`
/// exceeds them; `None` skips it). No gradients; libtorch's generator is seeded from `seed`
/// (the IWAE part with a seed of its own, so it does not depend on the number of rows).
pub fn evaluate_vae(
    vae: &Vae,
    x: ArrayView2<'_, f32>,
    iwae_k: usize,
    n_iwae: Option<usize>,
    seed: u64,
) -> anyhow::Result<VaeEval> {
    let rows = x.nrows();
    ensure!(rows > 0, "cannot evaluate a VAE on no rows");
    if n_iwae.is_some() {
        ensure!(
            iwae_k >= 1,
            "iwae_k must be ≥ 1 importance samples, got {iwae_k}"
        );
    }
    ensure!(
        n_iwae != Some(0),
        "n_iwae must be ≥ 1 row (None skips the IWAE bound), got 0"
    );
    let xt = convert::array2_to_tensor(x, vae.device());
    let xt = vae.check_input(&xt).context("the evaluation data")?;
    let sums = elbo_sums(vae, &xt, i64::from_ne_bytes(seed.to_ne_bytes()))?;
    let iwae = match n_iwae {
        Some(m) => {
            tch::manual_seed(derived_seed(seed, 0));
            let m = i64::try_from(m.min(rows)).unwrap_or(i64::MAX);
            let bound = vae.iwae(&xt.narrow(0, 0, m), iwae_k)?;
            Some(bound.f_mean(Kind::Double)?.f_double_value(&[])?)
        }
        None => None,
    };
    Ok(VaeEval {
        n: rows,
        elbo: sums.elbo(),
        recon: sums.recon / sums.n,
        kl: sums.kl / sums.n,
        iwae,
        iwae_k: iwae.map(|_| iwae_k),
    })
}

#[cfg(test)]
mod tests {
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
}

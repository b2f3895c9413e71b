//! The training loop's settings: a preset's `[train]` table deserialises into [`TrainConfig`]
//! (needs no libtorch, so a build without the `torch` feature still reads every preset).

use serde::{Deserialize, Serialize};

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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dynamic_binarization: bool,
    /// Seed of the shuffling, the binarisation and the reparameterisation noise (the model's
    /// initial weights come from the VAE config's own `seed`).
    #[serde(skip_serializing_if = "is_zero")]
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
    pub fn check(&self) -> Result<(), TrainConfigError> {
        let fail = |field, rule: String| Err(TrainConfigError { field, rule });
        if self.epochs < 1 {
            return fail("epochs", format!("must be ≥ 1, got {}", self.epochs));
        }
        if self.batch_size < 1 || i64::try_from(self.batch_size).is_err() {
            return fail(
                "batch_size",
                format!("must be ≥ 1, got {}", self.batch_size),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return fail(
                "lr",
                format!("must be a finite number > 0, got {}", self.lr),
            );
        }
        if let Some(clip) = self.grad_clip
            && !(clip.is_finite() && clip > 0.0)
        {
            return fail(
                "grad_clip",
                format!("must be a finite number > 0 (leave it out to not clip), got {clip}"),
            );
        }
        if let Some(patience) = self.early_stop
            && patience < 1
        {
            return fail(
                "early_stop",
                format!(
                    "must be ≥ 1 epoch of patience (leave it out to not stop early), got {patience}"
                ),
            );
        }
        if let Some(threads) = self.threads
            && (threads < 1 || i32::try_from(threads).is_err())
        {
            return fail(
                "threads",
                format!("must be ≥ 1 (leave it out for libtorch's default), got {threads}"),
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
    #[cfg(feature = "torch")]
    pub(crate) fn resumable_part(&self) -> TrainConfig {
        TrainConfig {
            epochs: 0,
            threads: None,
            ..self.clone()
        }
    }
}

/// A field of [`TrainConfig`] out of its range: which one, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainConfigError {
    /// The field, e.g. `lr`.
    pub field: &'static str,
    /// The rule and the value, e.g. "must be ≥ 1, got 0".
    pub rule: String,
}

impl std::fmt::Display for TrainConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "train.{} {}", self.field, self.rule)
    }
}

impl std::error::Error for TrainConfigError {}

/// `seed = 0` and `dynamic_binarization = false` are left out of `config.toml` (the preset's
/// own `seed` and `data.binarize` set them); a file without them reads back the same.
fn is_zero(v: &u64) -> bool {
    *v == 0
}

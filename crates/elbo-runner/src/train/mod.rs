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

mod config;
pub use config::{TrainConfig, TrainConfigError};

#[cfg(feature = "torch")]
mod adam;
#[cfg(feature = "torch")]
mod evaluate;
#[cfg(feature = "torch")]
mod state;
#[cfg(all(test, feature = "torch"))]
mod tests;
#[cfg(feature = "torch")]
mod vae_loop;

#[cfg(feature = "torch")]
pub use adam::Adam;
#[cfg(feature = "torch")]
pub use evaluate::{VaeEval, evaluate_vae};
#[cfg(feature = "torch")]
pub use state::TrainState;
#[cfg(feature = "torch")]
pub use vae_loop::{EpochMetrics, StopReason, TrainData, TrainOutcome, train_vae};

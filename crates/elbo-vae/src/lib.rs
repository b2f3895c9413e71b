//! Variational autoencoders on libtorch (`tch`).
//!
//! The model side of the VAE (theory.md §5–6): a validated [`VaeConfig`], the [`Vae`] built
//! from it on an explicit `nn::Path` (encoder q(z | x), decoder p(x | z), Bernoulli or Gaussian
//! likelihood), the [`Elbo`] with its reconstruction and KL terms kept apart, the
//! importance-weighted estimate of log p(x) ([`Vae::iwae`]), samples, reconstructions,
//! interpolations and latent traversals, and [`checkpoint`]s (safetensors + JSON config).
//! The training loop lives in `elbo-runner`.
//!
//! It is also the only crate where `ndarray` meets `tch` ([`convert`]), and where the process
//! learns which libtorch it runs on ([`runtime`]).
//!
//! Randomness comes from libtorch's global generator, seeded from the config's `seed` when a
//! model is built; results are reproducible on CPU with a fixed thread count.

pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod error;
pub mod likelihood;
pub mod mlp;
pub mod model;
pub mod runtime;

pub use config::{Architecture, CheckedVaeConfig, InputShape, Likelihood, VaeConfig, Variance};
pub use convert::{array1_to_tensor, array2_to_tensor, tensor_to_array1, tensor_to_array2};
pub use error::VaeError;
pub use likelihood::Decoded;
pub use mlp::{Activation, Mlp};
pub use model::{DEFAULT_IWAE_CHUNK_ROWS, Elbo, Posterior, Vae, default_device};
pub use runtime::RuntimeInfo;

/// Serialises the tests that draw from libtorch's global generator, so each sees the stream
/// its seed promises even though the test harness runs tests on several threads; libtorch runs
/// on one thread meanwhile (reproducible, and faster for these small tensors).
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::set_num_threads(1);
    guard
}

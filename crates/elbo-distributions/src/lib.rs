//! Probability distributions for latent-variable models, in `f64` on `ndarray`.
//!
//! This crate is the vocabulary the EM crate is written in (its E-step is batched
//! log-densities, its M-step weighted maximum likelihood) and the reference the VAE's
//! closed-form KL is tested against. It has no libtorch dependency.
//!
//! ```
//! use elbo_distributions::{GaussianStats, LogDensity, MvNormal, kl_mv_normal};
//! use ndarray::{Array1, array};
//! use rand::SeedableRng;
//!
//! let truth = MvNormal::new(array![1.0, -1.0], array![[2.0, 0.5], [0.5, 1.0]])?;
//! let x = truth.sample_n(5_000, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
//! let mut stats = GaussianStats::new(2);
//! stats.push_batch(x.view(), Array1::ones(5_000).view());
//! let fit = stats.mle(1e-6)?;
//! let mut ln_p = Array1::zeros(5_000);
//! fit.ln_prob_batch(x.view(), ln_p.view_mut()); // the E-step kernel, into our buffer
//! assert!(kl_mv_normal(&truth, &fit)? < 0.01);
//! # Ok::<(), elbo_distributions::DistributionError>(())
//! ```
//!
//! # Contents
//! - **Distributions**, each with a checked constructor returning a [`DistributionError`] that
//!   names the parameter and the value: [`MvNormal`] (held as a triangular factor of the
//!   precision), [`DiagNormal`], [`SphericalNormal`], [`Bernoulli`] (logits), [`Categorical`]
//!   (log-weights), [`Dirichlet`] and [`Wishart`]. Each implements [`LogDensity`], whose
//!   `ln_prob_batch` writes into a buffer the caller owns; each has `sample` / `sample_n`
//!   taking `&mut impl Rng`, mean and covariance accessors, and `entropy`.
//! - **KL divergences** in closed form: [`kl_mv_normal`], [`kl_diag_normal`],
//!   [`kl_mv_normal_standard`], [`kl_diag_normal_standard`], [`kl_standard_normal`],
//!   [`kl_bernoulli`], [`kl_categorical`], [`kl_dirichlet`].
//! - **Sufficient statistics** that add: [`GaussianStats`], [`DiagGaussianStats`],
//!   [`BernoulliStats`], with `push_batch`, `merge` and `mle`. Chunks summarised separately
//!   and merged give the one-pass estimate (to ~1e-12 relative), which makes streaming and
//!   parallel EM the same code.
//! - **Numerics**: [`log_sum_exp`], [`log_sum_exp_rows`], [`log1p_exp`] / [`softplus`],
//!   [`log_sigmoid`], [`logit`], [`ln_gamma`], [`digamma`], [`ln_multigamma`], a
//!   [`cholesky`] that reports the jitter it needed instead of hiding it, and
//!   [`symmetric_eigen`] (cyclic Jacobi, eigenvalues descending) for principal components.
//!
//! # Conventions
//! Natural logarithms throughout (nats). Data are the rows of an `ArrayView2`, in any memory
//! layout (strided and transposed views work). Shape mismatches between a kernel's arguments
//! are programming errors and panic with a message; bad parameters are values and return
//! errors.
//!
//! # Performance
//! The E-step kernel, [`MvNormal`]'s `ln_prob_batch`, scores 8 points at a time: it centres
//! them into a small coordinate-major buffer and multiplies by the triangular precision factor
//! `P` in panels of 4 columns, with the 8 × 4 tile of `Pᵀ(x − μ)` held in registers and only
//! its squares kept, so nothing of size n × d is written. Each panel skips the rows where `P`
//! is zero (d = 16: 160 multiply-adds per point instead of 256). The crate is compiled for
//! baseline x86-64 (SSE2, 4 points at a time); the same kernel compiled with AVX2 and FMA is
//! chosen at run time when the CPU has them. Batches are split over rayon's threads in chunks
//! of 256 rows.
//!
//! Throughput is counted as for a dense product: 2·d²·n FLOP per call (d² multiply-adds per
//! point, the skipped zeros included; 51.2 MFLOP for d = 16, n = 100,000), so
//! GFLOP/s = 2·d²·n / t, against a floor of ≈ 100 GFLOP/s fp64 on the 2-core development
//! machine. Measured with
//! `cargo bench -p elbo-distributions --bench ln_prob_batch -- mv_normal` (criterion's mean
//! time; d = 16, n = 100,000; runs of the old and new code alternated) on a machine shared with
//! other jobs, so single runs vary by ±15 % and more:
//!
//! | kernel, 2 threads | time per call: median (range) of 12 runs | GFLOP/s | share of the floor |
//! |---|---|---|---|
//! | this one, AVX2 + FMA | 1.08 ms (0.82–1.37 ms) | 47 (62 at best) | 47 % (62 %) |
//! | the previous `general_mat_mul` one | 2.56 ms (2.20–2.81 ms) | 20 | 20 % |
//!
//! A hand-timed loop (best of 200 calls, in quiet moments) reached 0.70 ms on 2 threads
//! (73 GFLOP/s) and 1.25 ms on 1 thread (41 GFLOP/s); forced onto the SSE2 path it took
//! 1.57 ms on 2 threads (33 GFLOP/s). While other jobs kept both cores busy every time was
//! 2–3× longer, and the new kernel stayed about 2× faster than the old one.

#![warn(missing_docs)]

mod density;
mod dirichlet;
mod discrete;
mod error;
mod kl;
mod linalg;
mod names;
mod normal;
mod numerics;
mod stats;

pub use density::LogDensity;
pub use dirichlet::{Dirichlet, Wishart};
pub use discrete::{Bernoulli, Categorical};
pub use error::DistributionError;
pub use kl::{
    kl_bernoulli, kl_categorical, kl_diag_normal, kl_diag_normal_standard, kl_dirichlet,
    kl_mv_normal, kl_mv_normal_standard, kl_standard_normal,
};
pub use linalg::{Cholesky, SymmetricEigen, cholesky, invert_lower_triangular, symmetric_eigen};
pub use names::{Covariance, UnknownName, parse_name};
pub use normal::{DiagNormal, MvNormal, SphericalNormal};
pub use numerics::{
    digamma, ln_gamma, ln_multigamma, log_sigmoid, log_sum_exp, log_sum_exp_rows, log1p_exp, logit,
    softplus,
};
pub use stats::{BernoulliStats, DiagGaussianStats, GaussianStats};

//! Experiments for elbo: presets in, run directories and reports out.
//!
//! The runner joins the model crates (`elbo-em`, `elbo-vae`) with the data (`elbo-datasets`);
//! the `elbo` binary only parses arguments and calls in here.
//!
//! - [`preset`]: the TOML schema, `--set` overrides and validation into an [`preset::Experiment`];
//! - [`experiment`]: one run, from data to `runs/<preset>/<timestamp>/`;
//! - [`train`]: the VAE training loop (Adam, epochs, checkpoints, resume) and its evaluation;
//! - [`figures`] and [`report`]: PNG figures and the report (`report.md`, `report.html`);
//! - [`commands`]: `elbo gmm …`, `elbo vae sample`, `elbo eval` on single models;
//! - [`hmm_commands`]: `elbo hmm fit | decode | score | sample`;
//! - [`atomic`]: every file is written to a temporary name, then renamed.

pub mod atomic;
pub mod commands;
pub mod datasets;
pub mod experiment;
pub mod figures;
pub mod hmm_commands;
pub mod info;
pub mod preset;
pub mod report;
pub mod train;

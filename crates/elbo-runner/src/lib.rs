//! Experiments for elbo: presets in, run directories and reports out.
//!
//! The runner joins the model crates (`elbo-em`, `elbo-vae`) with the data (`elbo-datasets`);
//! the `elbo` binary only parses arguments and calls in here. By stage:
//!
//! - [`preset`]: the TOML schema, `--set` overrides and validation into an
//!   [`preset::Experiment`] (every model checked by its family before any work);
//! - [`data`]: the data source loaded or generated and prepared once for every model;
//! - [`eval`]: the evaluation set, the rows every model is scored on;
//! - [`family`]: one module per model family behind the [`family::Family`] trait;
//! - [`train`]: the training loop of the neural families (feature `torch`);
//! - [`experiment`]: one run, stage by stage; [`rundir`]: its directory, metrics and results;
//! - [`figures`] and [`report`]: PNG figures and the report (`report.md`, `report.html`);
//! - [`commands`]: `elbo gmm …`, `elbo vae sample`, `elbo eval` on single models;
//! - [`hmm_commands`]: `elbo hmm fit | decode | score | sample`;
//! - [`atomic`]: every file is written to a temporary name, then renamed;
//! - [`seeds`]: the run's named random streams.

pub mod atomic;
pub mod clock;
pub mod commands;
pub mod data;
pub mod datasets;
pub mod eval;
pub mod experiment;
pub mod family;
pub mod figures;
pub mod hmm_commands;
pub mod info;
pub mod preset;
pub mod report;
pub mod rundir;
pub mod seeds;
pub mod train;

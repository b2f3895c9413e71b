//! Experiments for elbo: presets in, run directories and reports out.
//!
//! The runner joins the model crates (`elbo-em`, `elbo-vae`) with the data (`elbo-datasets`);
//! the `elbo` binary only parses arguments and calls in here.

pub mod datasets;
pub mod info;

//! Checkpoints of the training loop: weights, optimiser state and `state.json` (the commit
//! point), each file fingerprinted; and the resume that checks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use elbo_vae::{Vae, VaeConfig, checkpoint};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tch::nn;

use super::TrainConfig;
use super::adam::Adam;
use super::vae_loop::EpochMetrics;
use crate::atomic::write_atomic;

/// Version of the `state.json` layout (2: SHA-256 fingerprints).
pub(crate) const STATE_FORMAT: u32 = 2;
pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const LAST_STEM: &str = "last";
pub(crate) const BEST_STEM: &str = "best";
pub(crate) const OPTIMIZER_FILE: &str = "optimizer.safetensors";

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

pub(crate) fn weights_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.safetensors"))
}

/// SHA-256 of `bytes` in hex: a stable fingerprint of a config or a file.
pub(crate) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn config_hash<T: Serialize>(config: &T) -> anyhow::Result<String> {
    Ok(digest(&serde_json::to_vec(config)?))
}

pub(crate) fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(digest(&bytes))
}

/// `dir/.stem.tmp-PID.safetensors`: hidden, per process, and still a `.safetensors` name.
pub(crate) fn temp_weights(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(".{stem}.tmp-{}.safetensors", std::process::id()))
}

pub(crate) fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("could not move {} to {}", from.display(), to.display()))
}

/// Weights and config to `dir/stem.{safetensors,json}` via temporary names; returns the hash
/// of the weights file.
pub(crate) fn save_weights(
    dir: &Path,
    stem: &str,
    vs: &nn::VarStore,
    vae: &Vae,
) -> anyhow::Result<String> {
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
pub(crate) fn save_checkpoint(
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
pub(crate) fn resume_from(
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
pub(crate) fn json_differences<T: Serialize>(
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

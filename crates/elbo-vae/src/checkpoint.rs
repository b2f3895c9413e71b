//! Checkpoints: the weights as safetensors (`model.safetensors`) and the config as JSON beside
//! them (`model.json`, same stem).
//!
//! Loading rebuilds the model from the JSON config and then checks that the file holds exactly
//! the tensors that model has, with the same shapes, before copying anything; a mismatch is an
//! error that lists every difference. (tch's own `VarStore::load` would accept a missing-free
//! file whose tensors merely broadcast.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor, nn};

use crate::config::VaeConfig;
use crate::error::VaeError;
use crate::model::Vae;

/// The config file that goes with a weights file: same path, `.json` extension.
pub fn config_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Write the model's variables to `weights` (which must end in `.safetensors`) and its config
/// to [`config_path`]`(weights)`.
pub fn save(vs: &nn::VarStore, vae: &Vae, weights: &Path) -> Result<(), VaeError> {
    check_extension(weights)?;
    let json =
        serde_json::to_string_pretty(&**vae.config()).map_err(|source| VaeError::ConfigJson {
            path: config_path(weights),
            source,
        })?;
    let config_file = config_path(weights);
    std::fs::write(&config_file, json + "\n").map_err(|source| VaeError::Io {
        action: "write",
        path: config_file,
        source,
    })?;
    vs.save(weights).map_err(VaeError::torch(format!(
        "writing weights to {}",
        weights.display()
    )))?;
    tracing::debug!(path = %weights.display(), tensors = vs.len(), "saved VAE checkpoint");
    Ok(())
}

/// Read the config beside `weights`, build the model on `device` and load the weights into it.
/// The variables take the kind stored in the file (`f32` or `f64`).
pub fn load(weights: &Path, device: Device) -> Result<(nn::VarStore, Vae, VaeConfig), VaeError> {
    check_extension(weights)?;
    let config = read_config(&config_path(weights))?;
    let (mut vs, vae) = Vae::build(&config, device)?;
    load_weights(&mut vs, weights)?;
    Ok((vs, vae, config))
}

/// Load `weights` into an existing model, after checking that the config beside the file is
/// the model's config (field by field) and that names and shapes agree.
pub fn load_into(vs: &mut nn::VarStore, vae: &Vae, weights: &Path) -> Result<(), VaeError> {
    check_extension(weights)?;
    let stored = read_config(&config_path(weights))?;
    let differences = config_differences(&stored, vae.config());
    if !differences.is_empty() {
        return Err(VaeError::CheckpointMismatch {
            path: weights.to_path_buf(),
            differences,
        });
    }
    load_weights(vs, weights)
}

/// Copy the tensors of a safetensors file into `vs`, which must hold exactly the same names
/// with the same shapes. Nothing is copied unless everything matches.
pub fn load_weights(vs: &mut nn::VarStore, weights: &Path) -> Result<(), VaeError> {
    if !weights.is_file() {
        return Err(VaeError::Io {
            action: "read",
            path: weights.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let stored: BTreeMap<String, Tensor> = Tensor::read_safetensors(weights)
        .map_err(VaeError::torch(format!(
            "reading weights from {}",
            weights.display()
        )))?
        .into_iter()
        .collect();
    let model: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut differences = Vec::new();
    for (name, var) in &model {
        match stored.get(name) {
            None => differences.push(format!("tensor `{name}` is missing from the file")),
            Some(t) if t.size() != var.size() => differences.push(format!(
                "tensor `{name}` has shape {:?} in the file but {:?} in the model",
                t.size(),
                var.size()
            )),
            Some(_) => {}
        }
    }
    for name in stored.keys().filter(|n| !model.contains_key(*n)) {
        differences.push(format!(
            "tensor `{name}` in the file is not part of the model"
        ));
    }
    if !differences.is_empty() {
        return Err(VaeError::CheckpointMismatch {
            path: weights.to_path_buf(),
            differences,
        });
    }
    // Keep the file's precision: a model trained in f64 stays f64.
    if stored.values().all(|t| t.kind() == Kind::Double) && vs.kind() != Kind::Double {
        vs.double();
    }
    let model: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    tch::no_grad(|| -> Result<(), VaeError> {
        for (name, var) in &model {
            if let Some(src) = stored.get(name) {
                let mut var = var.shallow_clone();
                var.f_copy_(src)
                    .map_err(VaeError::torch(format!("copying tensor `{name}`")))?;
            }
        }
        Ok(())
    })?;
    tracing::debug!(path = %weights.display(), tensors = model.len(), "loaded VAE weights");
    Ok(())
}

fn check_extension(weights: &Path) -> Result<(), VaeError> {
    if weights.extension().and_then(|e| e.to_str()) == Some("safetensors") {
        Ok(())
    } else {
        Err(VaeError::CheckpointExtension {
            path: weights.to_path_buf(),
        })
    }
}

fn read_config(path: &Path) -> Result<VaeConfig, VaeError> {
    let text = std::fs::read_to_string(path).map_err(|source| VaeError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| VaeError::ConfigJson {
        path: path.to_path_buf(),
        source,
    })
}

/// One line per top-level config field whose value differs. The seed is left out: it only
/// chose the initial weights, which the checkpoint replaces.
fn config_differences(stored: &VaeConfig, model: &VaeConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(stored), serde_json::to_value(model))
    else {
        return vec!["the configs cannot be compared".to_owned()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "seed" && a.get(*k) != b.get(*k))
        .map(|k| {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("absent".to_owned(), |v| v.to_string());
            format!(
                "config `{k}` is {} in the checkpoint but {} in the model",
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, Likelihood, Variance};

    fn config(hidden: Vec<usize>, likelihood: Likelihood) -> VaeConfig {
        VaeConfig {
            architecture: Architecture::Mlp { hidden },
            likelihood,
            seed: 1,
            ..VaeConfig::new(6, 2)
        }
    }

    fn binary(n: i64) -> Tensor {
        Tensor::rand([n, 6], (Kind::Float, Device::Cpu))
            .lt(0.5)
            .to_kind(Kind::Float)
    }

    /// Save → load gives a model whose outputs on fixed noise are identical, bit for bit, in
    /// f32 and in f64 (the kind travels with the file).
    #[test]
    fn save_then_load_gives_identical_outputs() {
        let _rng = crate::rng_lock();
        let dir = tempfile::tempdir().unwrap();
        for (double, likelihood) in [
            (false, Likelihood::Bernoulli),
            (
                true,
                Likelihood::Gaussian {
                    variance: Variance::Learned,
                },
            ),
        ] {
            let (mut vs, vae) = Vae::build(&config(vec![5], likelihood), Device::Cpu).unwrap();
            if double {
                vs.double();
            }
            // Move the weights away from their seeded initial values.
            tch::no_grad(|| {
                for (_, mut v) in vs.variables() {
                    let _ = v.f_add_(&(v.randn_like() * 0.1)).unwrap();
                }
            });
            let weights = dir.path().join(format!("model-{double}.safetensors"));
            save(&vs, &vae, &weights).unwrap();
            assert!(config_path(&weights).is_file());

            let (_vs2, loaded, stored) = load(&weights, Device::Cpu).unwrap();
            assert_eq!(&stored, &**vae.config());
            assert_eq!(loaded.kind(), vae.kind());
            let x = binary(4).to_kind(vae.kind());
            let eps = Tensor::randn([4, 2], (vae.kind(), Device::Cpu));
            let a = vae.elbo_with_noise(&x, &eps).unwrap();
            let b = loaded.elbo_with_noise(&x, &eps).unwrap();
            assert!(a.reconstruction.equal(&b.reconstruction) && a.kl.equal(&b.kl));
            let noise = Tensor::randn([4, 30, 2], (vae.kind(), Device::Cpu));
            let ia = vae.iwae_with_noise(&x, &noise, 64).unwrap();
            let ib = loaded.iwae_with_noise(&x, &noise, 64).unwrap();
            assert!(ia.equal(&ib));
        }
    }

    #[test]
    fn mismatched_checkpoints_are_errors_that_say_what_differs() {
        let _rng = crate::rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("model.safetensors");
        let (vs, vae) = Vae::build(&config(vec![5], Likelihood::Bernoulli), Device::Cpu).unwrap();
        save(&vs, &vae, &weights).unwrap();

        // A config edited by hand no longer fits the tensors.
        let edited = std::fs::read_to_string(config_path(&weights))
            .unwrap()
            .replace("5", "7");
        std::fs::write(config_path(&weights), edited).unwrap();
        match load(&weights, Device::Cpu) {
            Err(VaeError::CheckpointMismatch { differences, .. }) => {
                assert_eq!(differences.len(), 6, "{differences:?}");
                let all = differences.join("\n");
                assert!(
                    all.contains("encoder.fc0.weight` has shape [5, 6] in the file but [7, 6]"),
                    "{all}"
                );
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        save(&vs, &vae, &weights).unwrap();

        // Loading into a model built from another config names the differing fields.
        let (mut other_vs, other) = Vae::build(
            &VaeConfig {
                latent_dim: 3,
                beta: 2.0,
                seed: 8,
                ..config(vec![5], Likelihood::Bernoulli)
            },
            Device::Cpu,
        )
        .unwrap();
        match load_into(&mut other_vs, &other, &weights) {
            Err(e @ VaeError::CheckpointMismatch { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("`latent_dim` is 2 in the checkpoint but 3"),
                    "{msg}"
                );
                assert!(msg.contains("`beta`") && !msg.contains("`seed`"), "{msg}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        // Only the seed differs: that loads.
        let (mut same_vs, same) = Vae::build(
            &VaeConfig {
                seed: 8,
                ..config(vec![5], Likelihood::Bernoulli)
            },
            Device::Cpu,
        )
        .unwrap();
        load_into(&mut same_vs, &same, &weights).unwrap();
        assert!(same_vs.variables()["decoder.fc1.bias"].equal(&vs.variables()["decoder.fc1.bias"]));

        // Tensors the model does not have (and lacks) are listed.
        let (mut g_vs, _) = Vae::build(
            &config(
                vec![5],
                Likelihood::Gaussian {
                    variance: Variance::Learned,
                },
            ),
            Device::Cpu,
        )
        .unwrap();
        match load_weights(&mut g_vs, &weights) {
            Err(e @ VaeError::CheckpointMismatch { .. }) => {
                assert!(
                    e.to_string()
                        .contains("`likelihood.log_var` is missing from the file"),
                    "{e}"
                );
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let g_weights = dir.path().join("gaussian.safetensors");
        let (g_vs, g) = Vae::build(
            &config(
                vec![5],
                Likelihood::Gaussian {
                    variance: Variance::Learned,
                },
            ),
            Device::Cpu,
        )
        .unwrap();
        save(&g_vs, &g, &g_weights).unwrap();
        let mut b_vs = Vae::build(&config(vec![5], Likelihood::Bernoulli), Device::Cpu)
            .unwrap()
            .0;
        match load_weights(&mut b_vs, &g_weights) {
            Err(e @ VaeError::CheckpointMismatch { .. }) => {
                assert!(
                    e.to_string()
                        .contains("`likelihood.log_var` in the file is not part of the model"),
                    "{e}"
                );
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }

        assert!(matches!(
            save(&vs, &vae, &dir.path().join("model.pt")),
            Err(VaeError::CheckpointExtension { .. })
        ));
        assert!(matches!(
            load(&dir.path().join("absent.safetensors"), Device::Cpu),
            Err(VaeError::Io { action: "read", .. })
        ));
        std::fs::write(config_path(&weights), "{\"input\": 6}").unwrap();
        assert!(matches!(
            load(&weights, Device::Cpu),
            Err(VaeError::ConfigJson { .. })
        ));
    }
}

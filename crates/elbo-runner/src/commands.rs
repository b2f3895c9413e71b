//! The single-model commands of the CLI: `elbo gmm fit | predict | score`, `elbo vae sample`,
//! `elbo eval`. Each reads its input files, validates them, and writes outputs atomically.

use std::fmt::Write as _;
use std::path::Path;
#[cfg(feature = "torch")]
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use elbo_datasets::{CsvOptions, Dataset};
use elbo_em::{BernoulliMixture, GaussianMixture};

use crate::atomic::write_atomic;

/// Reads a data matrix: `.npy` (u8, f32 or f64; 2-D, or 3-D images flattened) or `.csv`
/// (a header line, numeric columns; `label_column` is dropped from the features).
pub fn read_data(path: &Path, label_column: Option<&str>) -> anyhow::Result<Dataset> {
    let name = path
        .file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let data = match ext.as_deref() {
        Some("npy") => elbo_datasets::read_npy(&name, path)?,
        Some("csv") => {
            let options = CsvOptions {
                label_column: label_column.map(str::to_owned),
                ..CsvOptions::default()
            };
            elbo_datasets::read_csv(&name, path, &options)?
        }
        _ => bail!(
            "{}: unknown data format; give a .npy or .csv file",
            path.display()
        ),
    };
    if data.n_examples() == 0 {
        bail!("{}: the file has no rows", path.display());
    }
    Ok(data)
}

/// `elbo gmm fit`: fits `params` (scikit-learn's names, checked by elbo-em), saves the model as
/// JSON, and returns a short text report.
pub fn gmm_fit(
    data: &Path,
    params: &elbo_em::GaussianMixtureParams,
    out: &Path,
) -> anyhow::Result<String> {
    let x = read_data(data, None)?;
    let fit = params.fit(x.features().view())?;
    let text = fit.model.to_json()?;
    write_atomic(out, text.as_bytes())?;
    let m = &fit.model;
    let mut report = String::new();
    writeln!(
        report,
        "fitted a {}-component {} Gaussian mixture to {} rows × {} columns of {}",
        m.n_components(),
        m.covariance_type(),
        x.n_examples(),
        x.n_features(),
        data.display()
    )?;
    writeln!(
        report,
        "converged: {} after {} iterations ({:.3} s); mean log-likelihood {:.6} nats; BIC {:.3}",
        fit.converged,
        fit.n_iter,
        fit.elapsed.as_secs_f64(),
        m.score(x.features().view())?,
        m.bic(x.features().view())?
    )?;
    write!(report, "model written to {}", out.display())?;
    Ok(report)
}

/// A saved mixture of either family.
#[derive(Debug, Clone)]
pub enum SavedMixture {
    /// A Gaussian mixture.
    Gaussian(GaussianMixture),
    /// A Bernoulli mixture.
    Bernoulli(BernoulliMixture),
}

/// Loads a mixture model JSON written by elbo (`elbo gmm fit`, or a run's `models/`).
pub fn load_mixture(path: &Path) -> anyhow::Result<SavedMixture> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the model {}", path.display()))?;
    if text.contains(elbo_em::BERNOULLI_FORMAT) {
        let m = BernoulliMixture::from_json(&text)
            .with_context(|| format!("{} is not a valid Bernoulli mixture", path.display()))?;
        return Ok(SavedMixture::Bernoulli(m));
    }
    let m = GaussianMixture::from_json(&text)
        .with_context(|| format!("{} is not a valid Gaussian mixture", path.display()))?;
    Ok(SavedMixture::Gaussian(m))
}

/// `elbo gmm predict`: one line per row, `label,p_0,…,p_{K−1}`, to `out` or returned.
pub fn gmm_predict(model: &Path, data: &Path) -> anyhow::Result<String> {
    let x = read_data(data, None)?;
    let v = x.features().view();
    let (labels, proba) = match load_mixture(model)? {
        SavedMixture::Gaussian(m) => (m.predict(v)?, m.predict_proba(v)?),
        SavedMixture::Bernoulli(m) => (m.predict(v)?, m.predict_proba(v)?),
    };
    let mut out = String::from("label");
    for k in 0..proba.ncols() {
        write!(out, ",p{k}")?;
    }
    out.push('\n');
    for (label, row) in labels.iter().zip(proba.rows()) {
        write!(out, "{label}")?;
        for p in row {
            write!(out, ",{p:.6e}")?;
        }
        out.push('\n');
    }
    Ok(out)
}

/// `elbo gmm score`: the mean log-likelihood per row, in nats.
pub fn gmm_score(model: &Path, data: &Path) -> anyhow::Result<f64> {
    let x = read_data(data, None)?;
    let v = x.features().view();
    Ok(match load_mixture(model)? {
        SavedMixture::Gaussian(m) => m.score(v)?,
        SavedMixture::Bernoulli(m) => m.score(v)?,
    })
}

#[cfg(feature = "torch")]
/// The weights file of a VAE checkpoint: the file itself, or in a directory `best.safetensors`,
/// then `last.safetensors`, then the only `*.safetensors` there.
pub fn checkpoint_file(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        bail!(
            "no checkpoint at {}: give a run's models/<vae> directory or a .safetensors file",
            path.display()
        );
    }
    for name in ["best.safetensors", "last.safetensors"] {
        let p = path.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let found: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("could not list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} holds no .safetensors checkpoint", path.display()),
        _ => bail!(
            "{} holds several checkpoints; name one of them: {}",
            path.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(feature = "torch")]
/// `elbo vae sample`: a grid of `n` samples (E[x | z], z ~ N(0, I)) as PNG. Images need a
/// square input width (or the checkpoint's image shape).
pub fn vae_sample(checkpoint: &Path, n: usize, seed: u64, out: &Path) -> anyhow::Result<String> {
    if n == 0 || n > 4096 {
        bail!("-n must be in 1..=4096, got {n}");
    }
    let file = checkpoint_file(checkpoint)?;
    let (_vs, vae, config) = elbo_vae::checkpoint::load(&file, elbo_vae::default_device())?;
    let (h, w) = match config.input {
        elbo_vae::InputShape::Image([_, h, w]) => (h, w),
        elbo_vae::InputShape::Vector(d) => {
            let side = (d as f64).sqrt().round() as usize;
            if side * side != d {
                bail!(
                    "the model's examples have {d} values, not a square image; sampling to PNG needs image data"
                );
            }
            (side, side)
        }
    };
    tch::manual_seed(seed as i64);
    let samples = elbo_vae::tensor_to_array2::<f32>(&vae.sample(n))?;
    let cols = (n as f64).sqrt().ceil() as usize;
    let png = crate::figures::image_grid_png(samples.view(), h, w, cols, 2)?;
    write_atomic(out, &png)?;
    Ok(format!(
        "{n} samples from {} written to {}",
        file.display(),
        out.display()
    ))
}

/// `elbo eval`: held-out log-likelihood of a saved model on a data file — exact for a mixture
/// (`.json`), the ELBO and the IWAE-k bound for a VAE checkpoint.
pub fn eval(
    model: &Path,
    data: &Path,
    iwae_k: usize,
    n: Option<usize>,
    seed: u64,
) -> anyhow::Result<String> {
    let x = read_data(data, None)?;
    let v = x.features().view();
    let is_json = model.extension().is_some_and(|e| e == "json") && model.is_file();
    if is_json {
        let (ll, kind) = match load_mixture(model)? {
            SavedMixture::Gaussian(m) => (m.score(v)?, "Gaussian mixture"),
            SavedMixture::Bernoulli(m) => (m.score(v)?, "Bernoulli mixture"),
        };
        return Ok(format!(
            "{kind} {}: mean log-likelihood {ll:.4} nats over {} rows of {} (exact)",
            model.display(),
            x.n_examples(),
            data.display()
        ));
    }
    eval_vae(model, data, &x, iwae_k, n, seed)
}

#[cfg(not(feature = "torch"))]
fn eval_vae(
    model: &Path,
    _data: &Path,
    _x: &Dataset,
    _iwae_k: usize,
    _n: Option<usize>,
    _seed: u64,
) -> anyhow::Result<String> {
    bail!(
        "{} is not a mixture .json, and this elbo was built without libtorch (the `torch` feature), so it cannot load a VAE checkpoint; rebuild with default features",
        model.display()
    )
}

#[cfg(feature = "torch")]
fn eval_vae(
    model: &Path,
    data: &Path,
    x: &Dataset,
    iwae_k: usize,
    n: Option<usize>,
    seed: u64,
) -> anyhow::Result<String> {
    use ndarray::{Array2, s};
    let file = checkpoint_file(model)?;
    let (_vs, vae, _config) = elbo_vae::checkpoint::load(&file, elbo_vae::default_device())?;
    let rows: Array2<f32> = match n {
        Some(n) if n < x.n_examples() => x.features().slice(s![..n, ..]).to_owned(),
        _ => x.features().clone(),
    };
    let e = crate::train::evaluate_vae(&vae, rows.view(), iwae_k, Some(rows.nrows()), seed)?;
    Ok(format!(
        "VAE {}: over {} rows of {}: ELBO {:.4} (reconstruction {:.4}, KL {:.4}); log p(x) ≥ IWAE(k={iwae_k}) {} nats",
        file.display(),
        e.n,
        data.display(),
        e.elbo,
        e.recon,
        e.kl,
        e.iwae.map_or("—".to_owned(), |v| format!("{v:.4}"))
    ))
}

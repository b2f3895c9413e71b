//! The VAE family: elbo-vae's model trained by the runner's loop ([`crate::train`]) and
//! scored on the evaluation set: log p(x) by the importance-weighted bound, the ELBO under the
//! encoder, their gap. Needs the `torch` feature; without it a preset with a VAE fails its check
//! with one line saying so.

#[cfg(feature = "torch")]
pub use with_torch::VaeSpec;
#[cfg(not(feature = "torch"))]
pub use without_torch::VaeSpec;

/// The rows of `z` in 2-D: as they are for 1 or 2 dimensions, else their projection on the
/// first two principal axes (the project's Jacobi eigensolver on their covariance).
pub fn project_2d(z: &ndarray::Array2<f64>) -> anyhow::Result<(ndarray::Array2<f64>, bool)> {
    use ndarray::{Array2, Axis, s};
    let (n, k) = z.dim();
    if k <= 2 {
        let mut out = Array2::zeros((n, 2));
        out.slice_mut(s![.., ..k]).assign(z);
        return Ok((out, false));
    }
    let mean = z
        .mean_axis(Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(k));
    let c = z - &mean;
    let cov = c.t().dot(&c) / (n.max(2) - 1) as f64;
    let eig = elbo_distributions::symmetric_eigen(cov.view())?;
    let axes = eig.vectors().slice(s![.., ..2]).to_owned();
    Ok((c.dot(&axes), true))
}

#[cfg(not(feature = "torch"))]
mod without_torch {
    use serde::{Deserialize, Serialize};

    use crate::data::DataFacts;
    use crate::family::{Family, FitContext, ModelOutput};
    use crate::preset::Experiment;

    /// A VAE entry as written; this build cannot train it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct VaeSpec {
        /// Name in the report.
        pub name: String,
        /// The other keys, unread.
        #[serde(flatten)]
        pub rest: toml::Table,
    }

    impl Family for VaeSpec {
        fn name(&self) -> &str {
            &self.name
        }

        fn check(&self, _exp: &Experiment, at: &str, _data: &DataFacts) -> anyhow::Result<()> {
            anyhow::bail!(
                "{at}.kind: this elbo was built without libtorch (the `torch` feature), so it cannot train a VAE; rebuild with default features (cargo build --release) or remove the model"
            )
        }

        fn fit(&self, _ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>> {
            anyhow::bail!("a VAE needs the `torch` feature")
        }
    }
}

#[cfg(feature = "torch")]
mod with_torch {
    use anyhow::Context as _;
    use ndarray::{Array2, ArrayView2};
    use serde::{Deserialize, Serialize};

    use super::project_2d;
    use crate::data::DataFacts;
    use crate::eval::bits_per_dim;
    use crate::family::{Family, FitContext, ModelOutput, chart};
    use crate::figures::{self, Series};
    use crate::preset::{Binarize, Experiment};
    use crate::report::ModelRow;
    use crate::rundir::MetricLine;
    use crate::seeds::{self, Stream};
    use crate::train::{self, EpochMetrics, StopReason, TrainConfig, TrainData};

    /// A VAE: the model's settings (elbo-vae's config, with the input filled in from the data)
    /// and optional per-model changes to the training loop.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VaeSpec {
        /// Name in the report (unique).
        pub name: String,
        /// Dimension of z.
        pub latent_dim: usize,
        /// Encoder and decoder networks (default: an MLP with one hidden layer of 400).
        #[serde(default)]
        pub architecture: elbo_vae::Architecture,
        /// Non-linearity.
        #[serde(default)]
        pub activation: elbo_vae::Activation,
        /// p(x | z) (default Bernoulli).
        #[serde(default)]
        pub likelihood: elbo_vae::Likelihood,
        /// Weight of the KL term (β-VAE); only β = 1 is a bound on log p(x).
        #[serde(default = "default_beta")]
        pub beta: f64,
        /// Free bits per latent dimension.
        #[serde(default)]
        pub free_bits: Option<f64>,
        /// Epochs for this model instead of `train.epochs`.
        #[serde(default)]
        pub epochs: Option<usize>,
    }

    fn default_beta() -> f64 {
        1.0
    }

    impl VaeSpec {
        /// The elbo-vae config for examples of `input_dim` values (an image shape when the
        /// data have one and the architecture is convolutional).
        pub fn config(
            &self,
            exp: &Experiment,
            input_dim: usize,
            image: Option<(usize, usize)>,
        ) -> elbo_vae::VaeConfig {
            let input = match (&self.architecture, image) {
                (elbo_vae::Architecture::Conv { .. }, Some((h, w))) => {
                    elbo_vae::InputShape::Image([1, h, w])
                }
                _ => elbo_vae::InputShape::Vector(input_dim),
            };
            elbo_vae::VaeConfig {
                input,
                architecture: self.architecture.clone(),
                activation: self.activation,
                latent_dim: self.latent_dim,
                likelihood: self.likelihood,
                beta: self.beta,
                free_bits: self.free_bits,
                seed: exp.preset().seed,
            }
        }

        /// The training loop's settings (its own `epochs`, if any, win).
        pub fn train_config(&self, exp: &Experiment) -> TrainConfig {
            let p = exp.preset();
            TrainConfig {
                epochs: self.epochs.unwrap_or(p.train.epochs),
                dynamic_binarization: p.data.binarize == Binarize::Dynamic,
                seed: p.seed,
                ..p.train.clone()
            }
        }
    }

    impl Family for VaeSpec {
        fn name(&self) -> &str {
            &self.name
        }

        fn check(&self, exp: &Experiment, at: &str, data: &DataFacts) -> anyhow::Result<()> {
            if let Some(e) = self.epochs {
                anyhow::ensure!(e >= 1, "{at}.epochs: must be ≥ 1, got {e}");
            }
            match self.likelihood {
                elbo_vae::Likelihood::Bernoulli => anyhow::ensure!(
                    data.binary,
                    "{at}.likelihood: a Bernoulli decoder needs binary data: set data.binarize, or use likelihood = {{ gaussian = {{ variance = \"learned\" }} }}"
                ),
                elbo_vae::Likelihood::Gaussian { .. } => anyhow::ensure!(
                    !data.binary,
                    "{at}.likelihood: a Gaussian decoder on binary data is not comparable with the mixtures' nats; use likelihood = \"bernoulli\""
                ),
            }
            if matches!(self.architecture, elbo_vae::Architecture::Conv { .. }) {
                anyhow::ensure!(
                    data.image.is_some(),
                    "{at}.architecture: the convolutional VAE needs image data (a data set whose manifest gives an image shape: mnist-10k, mnist, fashion-mnist)"
                );
            }
            // elbo-vae's own validation, against the data's shape where the manifest or the
            // generator says it (1 value per example otherwise: the width is checked at load).
            let config = self.config(exp, data.n_features.unwrap_or(1), data.image);
            config.check().map_err(|e| match e {
                elbo_vae::VaeError::Config { field, message } => {
                    anyhow::anyhow!("{at}.{field}: {message}")
                }
                other => anyhow::anyhow!("{at}: {other}"),
            })?;
            Ok(())
        }

        fn extra_settings(&self, exp: &Experiment) -> serde_json::Value {
            serde_json::to_value(self.train_config(exp)).unwrap_or_default()
        }

        fn fit(&self, ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>> {
            fit_vae(self, ctx)
        }
    }

    fn epoch_line(model: &str, m: &EpochMetrics) -> MetricLine {
        MetricLine {
            model: model.to_owned(),
            step: "epoch".into(),
            index: m.epoch,
            lower_bound: None,
            trace: None,
            strategy: None,
            epoch: serde_json::to_value(m).ok(),
        }
    }

    fn fit_vae(v: &VaeSpec, ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>> {
        let p = ctx.exp.preset();
        let data = ctx.data;
        let d = data.n_features();
        let config = v.config(ctx.exp, d, data.image);
        let tc = v.train_config(ctx.exp);
        let ckpt = ctx.dir().join("models").join(&v.name);
        std::fs::create_dir_all(&ckpt)
            .with_context(|| format!("could not create {}", ckpt.display()))?;
        let resume = ctx.run.resumed && ckpt.join("state.json").is_file();
        let train_rows = data
            .train_grey
            .as_ref()
            .map_or_else(|| data.train.features().view(), Array2::view);
        let name = v.name.clone();
        let outcome = {
            let metrics = &mut *ctx.metrics;
            let mut on_epoch = |m: &EpochMetrics| -> anyhow::Result<()> {
                metrics.push(epoch_line(&name, m));
                metrics.flush()
            };
            train::train_vae(
                &config,
                &tc,
                TrainData {
                    train: train_rows,
                    validation: data.validation.as_ref().map(Array2::view),
                },
                &ckpt,
                resume,
                ctx.cancel,
                &mut on_epoch,
            )?
        };
        // The full history (a resumed run includes the epochs before the interruption)
        // replaces the lines appended live, so metrics.jsonl holds each epoch once.
        ctx.metrics.drop_model(&v.name);
        for m in &outcome.history {
            ctx.metrics.push(epoch_line(&v.name, m));
        }
        if let StopReason::Interrupted { epoch } = outcome.stop {
            tracing::warn!(model = %v.name, epoch, "training interrupted; checkpoint saved");
            return Ok(None);
        }
        let k = p.eval.iwae_k;
        // The test and the training rows draw from streams of their own.
        let eval_seed = seeds::derive(ctx.seed(), Stream::Evaluation, ctx.index);
        let train_eval_seed = seeds::derive(ctx.seed(), Stream::TrainEvaluation, ctx.index);
        // Every column on the evaluation set's rows: the ELBO and the IWAE on the same rows.
        let test_eval = train::evaluate_vae(
            &outcome.vae,
            ctx.eval.test.view(),
            k,
            Some(ctx.eval.test.nrows()),
            eval_seed,
        )?;
        let train_eval = train::evaluate_vae(
            &outcome.vae,
            ctx.eval.train.view(),
            k,
            Some(ctx.eval.train.nrows()),
            train_eval_seed,
        )?;
        let n_parameters: usize = outcome
            .vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum();
        let row = ModelRow {
            n_parameters,
            train_seconds: outcome.train_seconds,
            train_ll: train_eval.iwae,
            test_ll: test_eval.iwae,
            train_elbo: Some(train_eval.elbo),
            test_elbo: Some(test_eval.elbo),
            kl_gap: test_eval.iwae.map(|l| l - test_eval.elbo),
            elbo_q: Some("encoder".into()),
            iwae_k: Some(k),
            bits_per_dim: bits_per_dim(test_eval.iwae, d, data.binary),
            iterations: Some(outcome.history.len()),
            eval_hash: Some(ctx.eval.id.hash.clone()),
            ..ModelRow::empty(
                &v.name,
                "vae",
                format!(
                    "VAE ({} latent, β = {}), IWAE k = {k}",
                    v.latent_dim, v.beta
                ),
            )
        };
        let mut out = ModelOutput::new(row);
        if let StopReason::EarlyStopped { best_epoch } = outcome.stop {
            out.notes.push(format!(
                "{}: early stopping after epoch {}; the weights of epoch {best_epoch} (best validation ELBO) are kept.",
                v.name,
                outcome.history.len()
            ));
        }
        vae_figures(ctx, v, &outcome, &mut out)?;
        tracing::info!(model = %v.name, test_iwae = ?test_eval.iwae, test_elbo = test_eval.elbo, "{}: trained and evaluated, test IWAE {} nats, test ELBO {:.4}", v.name, test_eval.iwae.map_or("—".to_owned(), |l| format!("{l:.4}")), test_eval.elbo);
        Ok(Some(out))
    }

    fn vae_figures(
        ctx: &FitContext<'_>,
        v: &VaeSpec,
        outcome: &train::TrainOutcome,
        out: &mut ModelOutput,
    ) -> anyhow::Result<()> {
        let p = ctx.exp.preset();
        let dir = ctx.dir().to_path_buf();
        let data = ctx.data;
        let h = &outcome.history;
        let series = |label: &str, f: &dyn Fn(&EpochMetrics) -> Option<f64>| Series {
            label: label.to_owned(),
            points: h
                .iter()
                .filter_map(|m| f(m).map(|y| (m.epoch as f64, y)))
                .collect(),
        };
        let has_val = h.iter().any(|m| m.val_elbo.is_some());
        let mut elbo_series = vec![series("train ELBO", &|m| Some(m.train_elbo))];
        if has_val {
            elbo_series.push(series("validation ELBO", &|m| m.val_elbo));
        }
        out.figure(
            &dir,
            &format!("{}-elbo.png", v.name),
            format!("{}: ELBO per epoch", v.name),
            format!(
                "The ELBO (β = 1 terms) per epoch on the training batches, averaged over the epoch{}.{}",
                if has_val {
                    ", and on the validation split after it"
                } else {
                    ""
                },
                if v.beta == 1.0 {
                    String::new()
                } else {
                    format!(
                        " Training maximised the β-weighted objective (β = {}), not this bound.",
                        v.beta
                    )
                }
            ),
            chart(
                format!("{}: ELBO per epoch", v.name),
                "epoch",
                "nats / example",
                elbo_series,
            )?,
        )?;
        let mut parts = vec![
            series("train reconstruction E[log p(x|z)]", &|m| {
                Some(m.train_recon)
            }),
            series("train KL(q(z|x) ‖ p(z))", &|m| Some(m.train_kl)),
        ];
        if has_val {
            parts.push(series("validation reconstruction", &|m| m.val_recon));
            parts.push(series("validation KL", &|m| m.val_kl));
        }
        out.figure(
            &dir,
            &format!("{}-terms.png", v.name),
            format!("{}: reconstruction and KL per epoch", v.name),
            "The ELBO's two terms: distortion (reconstruction log-likelihood) and rate (KL to the prior).".into(),
            chart(
                format!("{}: the ELBO's terms", v.name),
                "epoch",
                "nats / example",
                parts,
            )?,
        )?;
        let vae = &outcome.vae;
        let device = vae.device();
        tch::manual_seed(seeds::derive(ctx.seed(), Stream::Samples, ctx.index) as i64);
        let test = &ctx.eval.test;
        let n_test = test.nrows();
        let to_tensor = |a: ArrayView2<'_, f32>| elbo_vae::array2_to_tensor(a, device);
        if let Some((hh, ww)) = data.image {
            let samples = elbo_vae::tensor_to_array2::<f32>(&vae.sample(p.eval.n_samples))?;
            out.figure(
                &dir,
                &format!("{}-samples.png", v.name),
                format!("{}: samples", v.name),
                "E[x | z] for z drawn from the prior N(0, I): the decoder's pixel probabilities."
                    .into(),
                figures::image_grid_png(samples.view(), hh, ww, 8, 2)?,
            )?;
            // The evaluation set is stratified and shuffled: its first rows show every class.
            let n = n_test.min(16);
            let x = test.slice(ndarray::s![..n, ..]);
            let recon = elbo_vae::tensor_to_array2::<f32>(&vae.reconstruct(&to_tensor(x))?)?;
            // Originals on odd rows, reconstructions under them.
            let cols = 8;
            let mut grid = Array2::<f32>::zeros((2 * n.div_ceil(cols) * cols, x.ncols()));
            for i in 0..n {
                let (r, c) = (i / cols, i % cols);
                grid.row_mut(2 * r * cols + c).assign(&x.row(i));
                grid.row_mut((2 * r + 1) * cols + c).assign(&recon.row(i));
            }
            out.figure(
                &dir,
                &format!("{}-reconstructions.png", v.name),
                format!("{}: reconstructions", v.name),
                "The first test rows of the evaluation set (first, third row) and E[x | z = μ(x)] under each (second, fourth row)."
                    .into(),
                figures::image_grid_png(grid.view(), hh, ww, cols, 2)?,
            )?;
        } else if data.n_features() == 2 {
            let n = n_test.clamp(p.eval.n_samples, 1000);
            let samples = elbo_vae::tensor_to_array2::<f64>(
                &vae.sample_observations(n).to_kind(tch::Kind::Double),
            )?;
            out.figure(
                &dir,
                &format!("{}-samples.png", v.name),
                format!("{}: samples", v.name),
                "Points x ~ p(x | z), z ~ N(0, I), drawn from the trained VAE.".into(),
                figures::scatter_png(
                    samples.view(),
                    None,
                    &[],
                    &format!("{}: samples from the model", v.name),
                    "x1",
                    "x2",
                    800,
                    600,
                )?,
            )?;
        }
        // The latent space: posterior means of the evaluation rows.
        let post = vae.encode(&to_tensor(test.view()))?;
        let means = elbo_vae::tensor_to_array2::<f64>(&post.mean.to_kind(tch::Kind::Double))?;
        let (xy, projected) = project_2d(&means)?;
        let (ax, ay) = if projected {
            (
                "first principal axis of μ(x)",
                "second principal axis of μ(x)",
            )
        } else {
            ("z₁", "z₂")
        };
        out.figure(
            &dir,
            &format!("{}-latent.png", v.name),
            format!("{}: the latent space", v.name),
            format!(
                "Posterior means μ(x) of the {n_test} test rows of the evaluation set{}{}.",
                if projected {
                    ", projected on their first two principal axes"
                } else {
                    ""
                },
                if ctx.eval.test_labels.is_some() {
                    ", coloured by label"
                } else {
                    ""
                }
            ),
            figures::scatter_png(
                xy.view(),
                ctx.eval.test_labels.as_deref(),
                &[],
                &format!("{}: q(z | x) means of the evaluation rows", v.name),
                ax,
                ay,
                800,
                600,
            )?,
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::{Array2, Axis};

    #[test]
    fn projection_keeps_the_main_spread() {
        let z = Array2::from_shape_fn((200, 4), |(i, j)| {
            let t = i as f64 / 20.0;
            match j {
                0 => t,
                1 => -t,
                2 => (i % 3) as f64 * 0.01,
                _ => 0.0,
            }
        });
        let (xy, projected) = project_2d(&z).unwrap();
        assert!(projected);
        let spread = xy.column(0).mapv(|v| v * v).sum();
        let total = {
            let m = z.mean_axis(Axis(0)).unwrap();
            (&z - &m).mapv(|v| v * v).sum()
        };
        assert!(spread > 0.99 * total, "{spread} of {total}");
    }
}

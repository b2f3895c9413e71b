//! The Bernoulli mixture family: elbo-em's `BernoulliMixture` on binary data, fitted by any
//! member of the EM family.

use std::time::Instant;

use elbo_em::{BernoulliMixture, BernoulliMixtureParams, InitMethod, Strategy};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::em::{self, em_caption, em_curve};
use super::{Family, FitContext, ModelOutput};
use crate::data::DataFacts;
use crate::figures;
use crate::preset::Experiment;
use crate::seeds::{self, Stream};

/// A Bernoulli mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BernoulliSpec {
    /// Name in the report (unique).
    pub name: String,
    /// K.
    pub n_components: usize,
    /// Stop when the per-sample bound changes less than this.
    #[serde(default = "em::default_tol")]
    pub tol: f64,
    /// At most this many EM iterations.
    #[serde(default = "em::default_max_iter")]
    pub max_iter: usize,
    /// Restarts; the best bound wins.
    #[serde(default = "em::default_n_init")]
    pub n_init: usize,
    /// Initialisation.
    #[serde(default)]
    pub init: InitMethod,
    /// Member of the EM family (see [`super::GmmSpec::strategy`]).
    #[serde(default)]
    pub strategy: Strategy,
}

impl BernoulliSpec {
    fn params(&self, seed: u64) -> BernoulliMixtureParams {
        BernoulliMixture::params(self.n_components)
            .tol(self.tol)
            .max_iter(self.max_iter)
            .n_init(self.n_init)
            .init(self.init.into())
            .strategy(self.strategy)
            .seed(seed)
    }
}

impl Family for BernoulliSpec {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, exp: &Experiment, at: &str, data: &DataFacts) -> anyhow::Result<()> {
        anyhow::ensure!(
            data.binary,
            "{at}.kind: a Bernoulli mixture needs binary data: set data.binarize to \"threshold\", \"stochastic\" or \"dynamic\""
        );
        em::check_params(at, self.params(exp.preset().seed).check())?;
        Ok(())
    }

    fn fit(&self, ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>> {
        let started = Instant::now();
        let fit = self
            .params(ctx.seed())
            .fit(ctx.data.train.features().view())?;
        let seconds = started.elapsed().as_secs_f64();
        em::em_metrics(
            ctx,
            &self.name,
            Some(self.strategy.name()),
            &fit.lower_bounds,
            &fit.trace,
        );
        let model = &fit.model;
        model.save(ctx.dir().join("models").join(format!("{}.json", self.name)))?;
        let scores = em::MixtureScores::of(model, ctx)?;
        let row = scores.row(
            ctx,
            &self.name,
            "bernoulli-mixture",
            format!("{}, K = {}", self.strategy, self.n_components),
            model.n_parameters(),
            seconds,
            Some(fit.converged),
            fit.n_iter,
        );
        let mut out = ModelOutput::new(row);
        let dir = ctx.dir().to_path_buf();
        out.figure(
            &dir,
            &format!("{}-em-bound.png", self.name),
            format!("{}: the ELBO and log p(x) per EM iteration", self.name),
            em_caption(&self.strategy, &fit.trace),
            em_curve(&self.name, &self.strategy, &fit.trace)?,
        )?;
        if let Some((h, w)) = ctx.data.image {
            let d = ctx.data.n_features();
            // Components by weight, heaviest first.
            let mut order: Vec<usize> = (0..model.n_components()).collect();
            order.sort_by(|&a, &c| model.weights()[c].total_cmp(&model.weights()[a]));
            let shown = order.len().min(100);
            let mut means = Array2::<f32>::zeros((shown, d));
            for (row, &c) in order.iter().take(shown).enumerate() {
                means
                    .row_mut(row)
                    .assign(&model.probs().row(c).mapv(|v| v as f32));
            }
            out.figure(
                &dir,
                &format!("{}-components.png", self.name),
                format!("{}: the component means", self.name),
                "Each component's pixel probabilities p_kd, heaviest component first: the mixture's prototypes.".into(),
                figures::image_grid_png(means.view(), h, w, 10, 2)?,
            )?;
            let mut rng = seeds::rng(ctx.seed(), Stream::Samples, ctx.index);
            let (samples, _) = model.sample(ctx.exp.preset().eval.n_samples, &mut rng);
            out.figure(
                &dir,
                &format!("{}-samples.png", self.name),
                format!("{}: samples", self.name),
                "Binary images drawn from the mixture: a component by its weight, then every pixel independently.".into(),
                figures::image_grid_png(samples.mapv(|v| v as f32).view(), h, w, 8, 2)?,
            )?;
        }
        tracing::info!(model = %self.name, test_ll = scores.test_ll, seconds, "{}: fitted in {seconds:.1} s, test log p(x) {:.4} nats", self.name, scores.test_ll);
        Ok(Some(out))
    }
}

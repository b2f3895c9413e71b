//! The Gaussian mixture family: elbo-em's `GaussianMixture` fitted by any member of the EM
//! family, or a grid of K × covariance type selected by BIC.

use std::time::Instant;

use anyhow::Context as _;
use elbo_em::{Covariance, Fit, GaussianMixture, GaussianMixtureParams, InitMethod, Strategy};
use serde::{Deserialize, Serialize};

use super::em::{self, em_caption, em_curve, scatter_figures};
use super::{Family, FitContext, ModelOutput, OneOrMany};
use crate::data::DataFacts;
use crate::preset::Experiment;

/// A Gaussian mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmmSpec {
    /// Name in the report (unique).
    pub name: String,
    /// K, or a list of K to select from by BIC.
    pub n_components: OneOrMany<usize>,
    /// Covariance type, or a list to select from by BIC.
    #[serde(default = "default_covariance")]
    pub covariance: OneOrMany<Covariance>,
    /// Added to the diagonal of every covariance.
    #[serde(default = "default_reg_covar")]
    pub reg_covar: f64,
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
    /// Member of the EM family: `{ kind = "exact" }` (default), `{ kind = "monte-carlo",
    /// samples = 1 }`, `{ kind = "generalized", step = 0.5 }`, `{ kind = "online",
    /// batch_size = 1000, decay = 0.6 }`.
    #[serde(default)]
    pub strategy: Strategy,
}

fn default_covariance() -> OneOrMany<Covariance> {
    OneOrMany::One(Covariance::Full)
}

pub(crate) fn default_reg_covar() -> f64 {
    1e-6
}

impl GmmSpec {
    /// elbo-em's settings for K = `k` and covariance `cov` (the one place they are built, for
    /// the check and for the fit).
    fn params(&self, k: usize, cov: Covariance, seed: u64) -> GaussianMixtureParams {
        GaussianMixture::params(k)
            .covariance(cov)
            .reg_covar(self.reg_covar)
            .tol(self.tol)
            .max_iter(self.max_iter)
            .n_init(self.n_init)
            .init(self.init.into())
            .strategy(self.strategy)
            .seed(seed)
    }
}

impl Family for GmmSpec {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, exp: &Experiment, at: &str, data: &DataFacts) -> anyhow::Result<()> {
        anyhow::ensure!(
            !data.binary,
            "{at}.kind: a Gaussian mixture on binarised data is not a density model of it; use kind = \"bernoulli-mixture\" or data.binarize = \"none\""
        );
        let ks = self.n_components.to_vec();
        let covs = self.covariance.to_vec();
        anyhow::ensure!(
            !ks.is_empty(),
            "{at}.n_components: the list is empty; give K or a list of K"
        );
        anyhow::ensure!(
            !covs.is_empty(),
            "{at}.covariance: the list is empty; allowed: {}",
            Covariance::NAMES.join(", ")
        );
        for &k in &ks {
            for &c in &covs {
                em::check_params(at, self.params(k, c, exp.preset().seed).check())?;
            }
        }
        Ok(())
    }

    fn fit(&self, ctx: &mut FitContext<'_>) -> anyhow::Result<Option<ModelOutput>> {
        let ks = self.n_components.to_vec();
        let covs = self.covariance.to_vec();
        let base = self.params(ks[0], covs[0], ctx.seed());
        let started = Instant::now();
        let x = ctx.data.train.features().view();
        let mut notes = Vec::new();
        let (fit, method): (Fit<GaussianMixture>, String) = if ks.len() == 1 && covs.len() == 1 {
            (base.fit(x)?, self.strategy.to_string())
        } else {
            let sel = elbo_em::select_model(x, ks.iter().copied(), &covs, &base)?;
            let cells: Vec<String> = sel
                .table
                .iter()
                .map(|r| match r.bic {
                    Some(b) => format!("K={} {}: {b:.1}", r.n_components, r.covariance),
                    None => format!("K={} {}: failed", r.n_components, r.covariance),
                })
                .collect();
            let best = &sel.table[sel.best_row];
            notes.push(format!(
                "{}: BIC of every candidate (lower is better): {}. Chosen: K={} {}.",
                self.name,
                cells.join(", "),
                best.n_components,
                best.covariance
            ));
            let method = format!(
                "{}, BIC over K ∈ {:?} × {} (chose K={}, {})",
                self.strategy,
                ks,
                covs.iter().map(|c| c.name()).collect::<Vec<_>>().join("/"),
                best.n_components,
                best.covariance
            );
            (sel.best, method)
        };
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
            "gmm",
            method,
            model.n_parameters(),
            seconds,
            Some(fit.converged),
            fit.n_iter,
        );
        let mut out = ModelOutput::new(row);
        out.notes = notes;
        out.figure(
            ctx.dir(),
            &format!("{}-em-bound.png", self.name),
            format!("{}: the ELBO and log p(x) per EM iteration", self.name),
            em_caption(&self.strategy, &fit.trace),
            em_curve(&self.name, &self.strategy, &fit.trace)?,
        )?;
        scatter_figures(ctx, &self.name, model, &mut out)
            .with_context(|| format!("the figures of {}", self.name))?;
        tracing::info!(model = %self.name, test_ll = scores.test_ll, seconds, "{}: fitted in {seconds:.1} s, test log p(x) {:.4} nats", self.name, scores.test_ll);
        Ok(Some(out))
    }
}

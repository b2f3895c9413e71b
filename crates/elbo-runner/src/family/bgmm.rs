//! The variational Bayesian Gaussian mixture family: elbo-em's `BayesianGaussianMixture`
//! (mean-field variational EM); K is an upper bound and the prior prunes what the data do not
//! need.

use std::time::Instant;

use elbo_em::{
    BayesianGaussianMixture, BayesianGaussianMixtureParams, Covariance, InitMethod, WeightPrior,
};
use serde::{Deserialize, Serialize};

use super::em::{self, after_e_series, scatter_figures, variational_iterations};
use super::gmm::default_reg_covar;
use super::{Family, FitContext, ModelOutput, chart};
use crate::data::DataFacts;
use crate::figures::Series;
use crate::preset::Experiment;

/// A variational Bayesian Gaussian mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayesianGmmSpec {
    /// Name in the report (unique).
    pub name: String,
    /// The truncation K (an upper bound on the components used).
    pub n_components: usize,
    /// Covariance type.
    #[serde(default)]
    pub covariance: Covariance,
    /// Prior on the weights (`dirichlet-process`, the default, or `dirichlet-distribution`;
    /// scikit-learn's spellings with `_` work too).
    #[serde(default)]
    pub weight_prior: WeightPrior,
    /// Its concentration α₀ (default 1/K); smaller prunes harder.
    #[serde(default)]
    pub weight_concentration_prior: Option<f64>,
    /// Added to the diagonal of every covariance.
    #[serde(default = "default_reg_covar")]
    pub reg_covar: f64,
    /// Stop when scikit-learn's bound changes less than this.
    #[serde(default = "em::default_tol")]
    pub tol: f64,
    /// At most this many iterations.
    #[serde(default = "em::default_max_iter")]
    pub max_iter: usize,
    /// Restarts; the best bound wins.
    #[serde(default = "em::default_n_init")]
    pub n_init: usize,
    /// Initialisation.
    #[serde(default)]
    pub init: InitMethod,
    /// Weight below which a component counts as pruned in the report.
    #[serde(default = "default_prune_threshold")]
    pub prune_threshold: f64,
}

fn default_prune_threshold() -> f64 {
    1e-2
}

impl BayesianGmmSpec {
    fn params(&self, seed: u64) -> BayesianGaussianMixtureParams {
        let mut params = BayesianGaussianMixture::params(self.n_components)
            .covariance(self.covariance)
            .weight_concentration_prior_type(self.weight_prior)
            .reg_covar(self.reg_covar)
            .tol(self.tol)
            .max_iter(self.max_iter)
            .n_init(self.n_init)
            .init(self.init.into())
            .seed(seed);
        if let Some(a) = self.weight_concentration_prior {
            params = params.weight_concentration_prior(a);
        }
        params
    }
}

impl Family for BayesianGmmSpec {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, exp: &Experiment, at: &str, data: &DataFacts) -> anyhow::Result<()> {
        anyhow::ensure!(
            !data.binary,
            "{at}.kind: a Gaussian mixture on binarised data is not a density model of it; use kind = \"bernoulli-mixture\" or data.binarize = \"none\""
        );
        anyhow::ensure!(
            self.prune_threshold > 0.0 && self.prune_threshold < 1.0,
            "{at}.prune_threshold: must lie in (0, 1), got {}",
            self.prune_threshold
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
        let trace = variational_iterations(fit.model.trace());
        em::em_metrics(
            ctx,
            &self.name,
            Some("variational"),
            &fit.lower_bounds,
            &trace,
        );
        let bayes = &fit.model;
        bayes.save(ctx.dir().join("models").join(format!("{}.json", self.name)))?;
        // Held-out log-likelihood in nats: of the point estimate (posterior-mean weights,
        // means and covariances), so that it compares with the maximum-likelihood mixtures.
        let model = bayes.to_gaussian_mixture();
        let scores = em::MixtureScores::of(&model, ctx)?;
        let complete_elbo = bayes.trace().elbo.last().copied();
        let used = bayes.n_effective_components(self.prune_threshold);
        let prior = match self.weight_prior {
            WeightPrior::DirichletProcess => "Dirichlet-process",
            WeightPrior::DirichletDistribution => "Dirichlet",
        };
        let row = scores.row(
            ctx,
            &self.name,
            "bayesian-gmm",
            format!(
                "variational EM, {prior} prior, K ≤ {} ({used} with weight > {})",
                self.n_components, self.prune_threshold
            ),
            model.n_parameters(),
            seconds,
            Some(fit.converged),
            fit.n_iter,
        );
        let mut out = ModelOutput::new(row);
        if let Some(elbo) = complete_elbo {
            out.notes.push(format!(
                "{}: the table's log p(x) and ELBO are of the point estimate (posterior means), the ELBO under that mixture's exact posterior. The complete ELBO of the Bayesian model, {elbo:.4} nats per training example, bounds ln p(X) with the parameters integrated out; it also pays for the parameters' uncertainty, so its gap does not close.",
                self.name
            ));
        }
        let dir = ctx.dir().to_path_buf();
        out.figure(
            &dir,
            &format!("{}-em-bound.png", self.name),
            format!("{}: the ELBO and log p(x) per iteration", self.name),
            format!(
                "Variational EM: the complete ELBO (a bound on ln p(X) with the parameters integrated out) and the log-likelihood of the point estimate, per iteration, per training example; the gap stays open. {used} of {} components keep a weight above {}.",
                self.n_components, self.prune_threshold
            ),
            chart(
                format!("{}: variational EM, the ELBO and log p(x) per iteration", self.name),
                "EM iteration",
                "nats per example (train)",
                vec![
                    after_e_series("log p(x; point estimate)", &trace, |b| b.log_likelihood),
                    after_e_series("complete ELBO", &trace, |b| b.elbo),
                ],
            )?,
        )?;
        let mut order: Vec<usize> = (0..bayes.n_components()).collect();
        order.sort_by(|&a, &b| bayes.weights()[b].total_cmp(&bayes.weights()[a]));
        out.figure(
            &dir,
            &format!("{}-weights.png", self.name),
            format!("{}: the weights, heaviest first", self.name),
            format!(
                "Posterior-mean weights of the {} components in decreasing order: the prior prunes what the data do not need.",
                self.n_components
            ),
            chart(
                format!("{}: component weights", self.name),
                "component (by weight)",
                "weight",
                vec![Series {
                    label: "E[π_k]".into(),
                    points: order
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| ((i + 1) as f64, bayes.weights()[c]))
                        .collect(),
                }],
            )?,
        )?;
        scatter_figures(ctx, &self.name, &model, &mut out)?;
        tracing::info!(model = %self.name, test_ll = scores.test_ll, used, seconds, "{}: fitted in {seconds:.1} s ({used} components used), test log p(x) {:.4} nats", self.name, scores.test_ll);
        Ok(Some(out))
    }
}

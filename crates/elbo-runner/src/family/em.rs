//! What the EM families share: the trace of the bound per iteration in metrics.jsonl and as a
//! figure, its caption by strategy, the EM-family comparison charts, the scatter figures of 2-D
//! data, and the table row of a mixture scored on the evaluation set.

use std::path::Path;

use elbo_em::{Bound, Covariances, GaussianMixture, IterationTrace, Strategy, VariationalTrace};
use ndarray::{Array2, Axis};

use super::{FitContext, ModelOutput, chart};
use crate::figures::{self, Ellipse, Series};
use crate::report::FigureRef;
use crate::rundir::MetricLine;
use crate::seeds::{self, Stream};

/// Writes the per-iteration bounds of an EM fit as metric lines.
pub fn em_metrics(
    ctx: &mut FitContext<'_>,
    name: &str,
    strategy: Option<&str>,
    bounds: &[f64],
    trace: &[IterationTrace],
) {
    for (i, lb) in bounds.iter().enumerate() {
        ctx.metrics.push(MetricLine {
            model: name.to_owned(),
            step: "em-iteration".into(),
            index: i + 1,
            lower_bound: Some(*lb),
            trace: trace.get(i).copied(),
            strategy: strategy.map(str::to_owned),
            epoch: None,
        });
    }
}

fn figure(
    out: &mut Vec<FigureRef>,
    dir: &Path,
    file: &str,
    title: String,
    caption: String,
    png: Vec<u8>,
) -> anyhow::Result<()> {
    out.push(super::write_figure(dir, file, title, caption, &png)?);
    Ok(())
}

/// The trace of an EM fit: log p(x) and the ELBO after each E-step and M-step.
pub fn em_curve(
    name: &str,
    strategy: &Strategy,
    trace: &[IterationTrace],
) -> anyhow::Result<Vec<u8>> {
    let series = |label: &str, f: &dyn Fn(&IterationTrace) -> f64| Series {
        label: label.into(),
        points: trace
            .iter()
            .enumerate()
            .map(|(i, t)| ((i + 1) as f64, f(t)))
            .filter(|(_, v)| v.is_finite())
            .collect(),
    };
    chart(
        format!("{name}: {strategy}, the ELBO and log p(x) per iteration"),
        "EM iteration",
        "nats per example (train)",
        vec![
            series("log p(x; θ_t)", &|t| t.after_e_step.log_likelihood),
            series("ELBO after the E-step", &|t| t.after_e_step.elbo),
            series("ELBO after the M-step", &|t| t.after_m_step.elbo),
        ],
    )
}

/// When mixtures were fitted by two or more members of the EM family, one chart each of their
/// log-likelihood and of their gap after the E-step, iteration by iteration, side by side.
/// With one strategy there is nothing to compare and no chart (nor caption) is made.
pub fn family_figures(dir: &Path, metrics: &[MetricLine]) -> anyhow::Result<Vec<FigureRef>> {
    let mut strategies: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m.strategy.as_deref())
        .collect();
    strategies.sort_unstable();
    strategies.dedup();
    if strategies.len() < 2 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut models: Vec<(String, Vec<(usize, IterationTrace)>)> = Vec::new();
    for m in metrics {
        let Some(t) = m.trace else { continue };
        match models.iter_mut().find(|(name, _)| *name == m.model) {
            Some((_, v)) => v.push((m.index, t)),
            None => models.push((m.model.clone(), vec![(m.index, t)])),
        }
    }
    let series = |f: &dyn Fn(&IterationTrace) -> f64| -> Vec<Series> {
        models
            .iter()
            .map(|(name, v)| Series {
                label: name.clone(),
                points: v
                    .iter()
                    .map(|(i, t)| (*i as f64, f(t)))
                    .filter(|(_, y)| y.is_finite())
                    .collect(),
            })
            .collect()
    };
    // The first iterations of a k-means++ start can sit orders of magnitude lower; start the
    // log-likelihood chart where every model is within 10 nats of its final value.
    let mut ll = series(&|t| t.after_e_step.log_likelihood);
    for s in &mut ll {
        if let Some(&(_, last)) = s.points.last() {
            s.points.retain(|(_, y)| *y > last - 10.0);
        }
    }
    figure(
        &mut out,
        dir,
        "em-family-log-likelihood.png",
        "The EM family: log p(x) per iteration".into(),
        "Mean train log-likelihood under each iteration's parameters, one line per mixture: exact EM climbs fastest per iteration; generalized EM climbs more slowly but never falls; Monte Carlo EM jitters near the top; online EM gets close within its first epochs (the strategies not run here have no line).".into(),
        chart(
            "log p(x; θ_t) per EM iteration".into(),
            "EM iteration",
            "nats per example (train)",
            ll,
        )?,
    )?;
    figure(
        &mut out,
        dir,
        "em-family-gap.png",
        "The EM family: the gap after each E-step".into(),
        "log p(x) − ELBO = KL(q ‖ p(z | x)) after the E-step: 0 when q is the exact posterior (exact, generalized and online EM), positive when q is sampled (Monte Carlo EM) or restricted (variational EM).".into(),
        chart(
            "the gap log p(x) − ELBO after the E-step".into(),
            "EM iteration",
            "nats per example (train)",
            series(&|t| t.after_e_step.gap()),
        )?,
    )?;
    Ok(out)
}

/// The caption of an EM trace figure, saying what the strategy's gap does.
pub fn em_caption(strategy: &Strategy, trace: &[IterationTrace]) -> String {
    let max_gap = trace
        .iter()
        .map(|t| t.after_e_step.gap())
        .fold(0.0f64, |a, g| a.max(g.abs()));
    let mean_gap =
        trace.iter().map(|t| t.after_e_step.gap()).sum::<f64>() / trace.len().max(1) as f64;
    match strategy {
        Strategy::Exact => format!(
            "Coordinate ascent on the ELBO: each E-step closes the gap to log p(x) (largest gap {max_gap:.1e} nats), each M-step raises the ELBO, and log p(x) never decreases."
        ),
        Strategy::Generalized { step } => format!(
            "Generalized EM: the E-step is exact (largest gap {max_gap:.1e}), the M-step moves {step} of the way to the optimum, so the ELBO and log p(x) rise more slowly but never fall."
        ),
        Strategy::MonteCarlo { samples } => format!(
            "Monte Carlo EM: q is the empirical distribution of {samples} draw(s) per row from the posterior, so the ELBO after the E-step stays below log p(x) (mean gap {mean_gap:.3} nats = KL(q ‖ posterior)) and log p(x) fluctuates near its maximum."
        ),
        Strategy::Online { .. } => format!(
            "Online EM: each iteration is an epoch of mini-batch updates; the full-data E-step that opens it closes the gap (largest {max_gap:.1e}), the epoch's updates follow the batches rather than the full ELBO."
        ),
    }
}

/// Component `c`'s covariance as a full matrix, whatever the covariance type.
pub fn component_cov(model: &GaussianMixture, c: usize) -> Array2<f64> {
    match model.covariances() {
        Covariances::Full(c3) => c3.index_axis(Axis(0), c).to_owned(),
        Covariances::Tied(t) => t.clone(),
        Covariances::Diag(v) => Array2::from_diag(&v.row(c)),
        Covariances::Spherical(v) => Array2::eye(model.n_features()) * v[c],
    }
}

/// For 2-D data: the test points coloured by component with the fitted ellipses, and samples.
pub fn scatter_figures(
    ctx: &FitContext<'_>,
    name: &str,
    model: &GaussianMixture,
    out: &mut ModelOutput,
) -> anyhow::Result<()> {
    let dir = ctx.dir();
    if model.n_features() == 2 {
        let ellipses: Vec<Ellipse> = (0..model.n_components())
            .filter(|&c| model.weights()[c] > 0.0)
            .map(|c| {
                let cov = component_cov(model, c);
                Ellipse {
                    mean: [model.means()[[c, 0]], model.means()[[c, 1]]],
                    cov: [[cov[[0, 0]], cov[[0, 1]]], [cov[[1, 0]], cov[[1, 1]]]],
                }
            })
            .collect();
        let pts = ctx.eval.test.mapv(f64::from);
        let labels = model.predict(ctx.eval.test.view())?.to_vec();
        let units = if ctx.data.standardized {
            " (standardised)"
        } else {
            ""
        };
        out.figure(
            dir,
            &format!("{}-fit.png", name),
            format!("{}: test points and the fitted components", name),
            format!("The {} test rows of the evaluation set coloured by their most probable component; ellipses at two standard deviations of each fitted Gaussian.", ctx.eval.id.n_test),
            figures::scatter_png_named(
                pts.view(),
                Some(&labels),
                "component",
                &ellipses,
                &format!("{}: fitted mixture over the test points", name),
                &format!("x1{units}"),
                &format!("x2{units}"),
                800,
                600,
            )?,
        )?;
        let mut rng = seeds::rng(ctx.seed(), Stream::Samples, ctx.index);
        let n = ctx
            .exp
            .preset()
            .eval
            .n_samples
            .max(ctx.eval.test.nrows().min(1000));
        let (samples, comp) = model.sample(n, &mut rng);
        out.figure(
            dir,
            &format!("{}-samples.png", name),
            format!("{}: samples", name),
            "Points drawn from the fitted mixture, coloured by the component they came from."
                .into(),
            figures::scatter_png_named(
                samples.view(),
                Some(&comp.to_vec()),
                "component",
                &ellipses,
                &format!("{}: samples from the model", name),
                &format!("x1{units}"),
                &format!("x2{units}"),
                800,
                600,
            )?,
        )?;
    }
    Ok(())
}

/// The variational trace as the EM family's: entry t after the E-step of iteration t + 1
/// (the parameters before that step), its after-M values from the next entry.
pub fn variational_iterations(trace: &VariationalTrace) -> Vec<IterationTrace> {
    let n = trace.elbo.len().min(trace.log_likelihood.len());
    (0..n)
        .map(|t| {
            let at = |i: usize| Bound {
                log_likelihood: trace.log_likelihood.get(i).copied().unwrap_or(f64::NAN),
                elbo: trace.elbo.get(i).copied().unwrap_or(f64::NAN),
            };
            IterationTrace {
                after_e_step: at(t),
                after_m_step: at(t + 1),
            }
        })
        .collect()
}

/// One value of the bound after each E-step, per iteration.
pub fn after_e_series(label: &str, trace: &[IterationTrace], f: impl Fn(&Bound) -> f64) -> Series {
    Series {
        label: label.into(),
        points: trace
            .iter()
            .enumerate()
            .map(|(i, t)| ((i + 1) as f64, f(&t.after_e_step)))
            .collect(),
    }
}

pub(crate) fn default_tol() -> f64 {
    1e-3
}
pub(crate) fn default_max_iter() -> usize {
    100
}
pub(crate) fn default_n_init() -> usize {
    1
}

/// A library check's verdict on a preset entry, with the library's own rule and message, under
/// the entry's key path (`models[0].tol: …`).
pub fn check_params<T>(at: &str, checked: Result<T, elbo_em::EmError>) -> anyhow::Result<T> {
    checked.map_err(|e| match e {
        elbo_em::EmError::InvalidParam {
            name,
            value,
            allowed,
        } => anyhow::anyhow!("{at}.{name}: {allowed}, got {value}"),
        other => anyhow::anyhow!("{at}: {other}"),
    })
}

/// A mixture's scores on the evaluation set: exact log p(x), and the ELBO under q = the
/// final model's exact posterior (so the gap is 0 up to round-off, whatever strategy fitted it).
#[derive(Debug, Clone, Copy)]
pub struct MixtureScores {
    pub train_ll: f64,
    pub test_ll: f64,
    pub train_elbo: f64,
    pub test_elbo: f64,
}

/// The words for the q of a mixture's ELBO column.
pub const EXACT_POSTERIOR: &str = "exact posterior";

/// A fitted mixture's mean log p(x) and ELBO (under its exact posterior) on some rows.
pub trait ScoredMixture {
    /// (mean log p(x), mean ELBO) of the rows of `x`.
    fn ll_and_elbo(&self, x: ndarray::ArrayView2<'_, f32>) -> Result<(f64, f64), elbo_em::EmError>;
}

impl ScoredMixture for GaussianMixture {
    fn ll_and_elbo(&self, x: ndarray::ArrayView2<'_, f32>) -> Result<(f64, f64), elbo_em::EmError> {
        let q = self.predict_proba(x)?;
        Ok((self.score(x)?, self.elbo(x, q.view())?))
    }
}

impl ScoredMixture for elbo_em::BernoulliMixture {
    fn ll_and_elbo(&self, x: ndarray::ArrayView2<'_, f32>) -> Result<(f64, f64), elbo_em::EmError> {
        let q = self.predict_proba(x)?;
        Ok((self.score(x)?, self.elbo(x, q.view())?))
    }
}

impl MixtureScores {
    /// The scores of `model` on the evaluation set's training and test rows.
    pub fn of(model: &dyn ScoredMixture, ctx: &FitContext<'_>) -> anyhow::Result<Self> {
        let (train_ll, train_elbo) = model.ll_and_elbo(ctx.eval.train.view())?;
        let (test_ll, test_elbo) = model.ll_and_elbo(ctx.eval.test.view())?;
        Ok(MixtureScores {
            train_ll,
            test_ll,
            train_elbo,
            test_elbo,
        })
    }

    /// The table row.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &self,
        ctx: &FitContext<'_>,
        name: &str,
        kind: &str,
        method: String,
        n_parameters: usize,
        seconds: f64,
        converged: Option<bool>,
        iterations: usize,
    ) -> crate::report::ModelRow {
        crate::report::ModelRow {
            n_parameters,
            train_seconds: seconds,
            train_ll: Some(self.train_ll),
            test_ll: Some(self.test_ll),
            train_elbo: Some(self.train_elbo),
            test_elbo: Some(self.test_elbo),
            kl_gap: Some(self.test_ll - self.test_elbo),
            elbo_q: Some(EXACT_POSTERIOR.into()),
            bits_per_dim: crate::eval::bits_per_dim(
                Some(self.test_ll),
                ctx.data.n_features(),
                ctx.data.binary,
            ),
            converged,
            iterations: Some(iterations),
            eval_hash: Some(ctx.eval.id.hash.clone()),
            ..crate::report::ModelRow::empty(name, kind, method)
        }
    }
}

//! Model selection by BIC over component counts × covariance types (what R's `mclust` does).

use ndarray::ArrayView2;

use crate::data::{Element, prepare};
use crate::error::EmError;
use crate::fit::Fit;
use crate::gaussian::GaussianMixture;
use crate::params::{Covariance, GaussianMixtureParams};

/// One cell of the selection table.
#[derive(Debug, Clone)]
pub struct SelectionRow {
    /// Number of components of this candidate.
    pub n_components: usize,
    /// Covariance type of this candidate.
    pub covariance: Covariance,
    /// Free parameters of the candidate.
    pub n_parameters: usize,
    /// BIC on the data (lower is better); `None` if the fit failed.
    pub bic: Option<f64>,
    /// AIC on the data; `None` if the fit failed.
    pub aic: Option<f64>,
    /// Final per-sample lower bound of the fit (−∞ if it failed).
    pub lower_bound: f64,
    /// Whether EM converged.
    pub converged: bool,
    /// EM iterations of the best initialisation.
    pub n_iter: usize,
    /// Why the fit failed, if it did (e.g. a singular covariance): the candidate is skipped,
    /// as `mclust` reports NA.
    pub error: Option<String>,
}

/// The result of [`select_model`]: the whole table and the fit with the lowest BIC.
#[derive(Debug, Clone)]
pub struct Selection {
    /// One row per (n_components, covariance) candidate, in the order tried.
    pub table: Vec<SelectionRow>,
    /// Index into `table` of the winner.
    pub best_row: usize,
    /// The winning fit.
    pub best: Fit<GaussianMixture>,
}

/// Fits a Gaussian mixture for every `k` in `n_components` and every type in `covariances`
/// (other settings from `base`) and keeps the one with the lowest BIC on `x`.
///
/// A candidate whose fit fails (too many components for the data, a covariance that is not
/// positive definite) gets a row with `error` set and no BIC; data errors (empty, NaN) fail the
/// whole call.
///
/// # Errors
/// Data errors, invalid `base` settings, an empty grid, or every candidate failing (then the
/// first candidate's error).
pub fn select_model<A: Element>(
    x: ArrayView2<'_, A>,
    n_components: impl IntoIterator<Item = usize>,
    covariances: &[Covariance],
    base: &GaussianMixtureParams,
) -> Result<Selection, EmError> {
    let x = prepare(x)?;
    let ks: Vec<usize> = n_components.into_iter().collect();
    if ks.is_empty() || covariances.is_empty() {
        return Err(EmError::param(
            "n_components × covariances",
            "an empty grid",
            "give at least one component count and one covariance type",
        ));
    }
    let mut table = Vec::with_capacity(ks.len() * covariances.len());
    let mut best: Option<(usize, f64, Fit<GaussianMixture>)> = None;
    let mut first_error = None;
    for &k in &ks {
        for &covariance in covariances {
            let d = x.ncols();
            let n_parameters = covariance.n_parameters(k, d) + k * d + k.saturating_sub(1);
            let outcome = base
                .clone()
                .n_components(k)
                .covariance(covariance)
                .fit(x.view())
                .and_then(|fit| Ok((fit.model.bic(x.view())?, fit.model.aic(x.view())?, fit)));
            match outcome {
                Ok((bic, aic, fit)) => {
                    tracing::debug!(k, %covariance, bic, "model selection candidate");
                    table.push(SelectionRow {
                        n_components: k,
                        covariance,
                        n_parameters,
                        bic: Some(bic),
                        aic: Some(aic),
                        lower_bound: fit.lower_bound,
                        converged: fit.converged,
                        n_iter: fit.n_iter,
                        error: None,
                    });
                    if best.as_ref().is_none_or(|(_, b, _)| bic < *b) {
                        best = Some((table.len() - 1, bic, fit));
                    }
                }
                Err(e) => {
                    tracing::debug!(k, %covariance, error = %e, "model selection candidate failed");
                    table.push(SelectionRow {
                        n_components: k,
                        covariance,
                        n_parameters,
                        bic: None,
                        aic: None,
                        lower_bound: f64::NEG_INFINITY,
                        converged: false,
                        n_iter: 0,
                        error: Some(e.to_string()),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    match (best, first_error) {
        (Some((best_row, _, best)), _) => Ok(Selection {
            table,
            best_row,
            best,
        }),
        (None, Some(e)) => Err(e),
        (None, None) => Err(EmError::param(
            "n_components",
            "none",
            "no candidate was fitted",
        )),
    }
}

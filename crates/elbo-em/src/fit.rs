//! The result of a fit: the model and a report of how EM went.

use std::ops::ControlFlow;
use std::time::Duration;

/// A fitted model with its EM report (the best of the `n_init` runs).
///
/// Not converging within `max_iter` is not an error: `converged` is then `false` and a
/// `tracing` warning was emitted.
#[derive(Debug, Clone)]
pub struct Fit<M> {
    /// The fitted model.
    pub model: M,
    /// Whether the change of the per-sample bound fell below `tol`.
    pub converged: bool,
    /// EM iterations run by the best initialisation.
    pub n_iter: usize,
    /// Per-sample lower bound (mean log-likelihood) of each iteration of the best run, as
    /// scikit-learn's `lower_bounds_`: entry `t` is computed by the E-step of iteration `t + 1`,
    /// i.e. under the parameters *before* that iteration's M-step. Never decreases (up to
    /// rounding).
    pub lower_bounds: Vec<f64>,
    /// The last entry of `lower_bounds` (−∞ if `max_iter = 0`): what selects the best run.
    pub lower_bound: f64,
    /// Final bound of every initialisation, in order (length `n_init`).
    pub init_lower_bounds: Vec<f64>,
    /// Index of the winning initialisation.
    pub best_init: usize,
    /// Wall-clock time of the whole fit (validation, initialisations and EM).
    pub elapsed: Duration,
    /// Per iteration of the best run, the log-likelihood and the ELBO after the E-step and
    /// after the M-step (per sample), whose difference is the gap of theory §2. Exact EM: the
    /// gap after each E-step is 0 up to rounding. Empty for models that do not trace.
    pub trace: Vec<crate::strategy::IterationTrace>,
}

/// What an observer of a fit sees after every EM iteration (see the `fit_observed` methods of
/// the validated settings). Returning [`ControlFlow::Break`] from the observer stops the fit
/// with [`crate::EmError::Interrupted`]: the way a caller polls for Ctrl-C, a deadline or a
/// progress display without a thread of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Index of the initialisation (restart) running, from 0.
    pub run: usize,
    /// Iterations done in this run, from 1.
    pub iteration: usize,
    /// The bound that iteration's E-step computed (an entry of [`Fit::lower_bounds`]).
    pub lower_bound: f64,
}

/// An observer of a fit, called after every iteration; see [`Progress`].
pub type Observer<'o> = &'o mut dyn FnMut(&Progress) -> ControlFlow<()>;

/// A stepwise EM driver that [`run_fit`] can run restarts and convergence tests on.
pub(crate) trait Stepper {
    /// The model type.
    type Model: Clone;
    /// Restarts from the initialisation of restart `run`.
    fn initialise(&mut self, run: usize) -> Result<(), crate::EmError>;
    /// One E-step + M-step; returns the E-step's per-sample bound.
    fn step(&mut self) -> Result<f64, crate::EmError>;
    /// The current model.
    fn model(&self) -> &Self::Model;
    /// Ends a run (e.g. one more evaluation pass to complete the trace).
    fn finish(&mut self) -> Result<(), crate::EmError> {
        Ok(())
    }
    /// The run's trace (empty if the stepper keeps none).
    fn take_trace(&mut self) -> Vec<crate::strategy::IterationTrace> {
        Vec::new()
    }
}

/// The best run so far: model, bounds, converged, index, trace.
type Run<M> = (
    M,
    Vec<f64>,
    bool,
    usize,
    Vec<crate::strategy::IterationTrace>,
);

/// Runs `runs` initialisations of at most `max_iter` iterations each (the first is already
/// initialised), stopping a run when the bound changes by less than `tol`, and keeps the run
/// with the highest final bound (scikit-learn's rules).
pub(crate) fn run_fit<S: Stepper>(
    em: &mut S,
    runs: usize,
    max_iter: usize,
    tol: f64,
    what: &'static str,
    started: std::time::Instant,
) -> Result<Fit<S::Model>, crate::EmError> {
    let mut go_on = |_: &Progress| ControlFlow::Continue(());
    run_fit_observed(em, runs, max_iter, tol, what, started, &mut go_on)
}

/// [`run_fit`] with an observer called after every iteration, which may stop the fit.
pub(crate) fn run_fit_observed<S: Stepper>(
    em: &mut S,
    runs: usize,
    max_iter: usize,
    tol: f64,
    what: &'static str,
    started: std::time::Instant,
    observer: Observer<'_>,
) -> Result<Fit<S::Model>, crate::EmError> {
    let mut best: Option<Run<S::Model>> = None;
    let mut init_bounds = Vec::with_capacity(runs);
    for run in 0..runs {
        if run > 0 {
            em.initialise(run)?;
        }
        let mut bounds = Vec::with_capacity(max_iter);
        let mut converged = false;
        let mut previous = f64::NEG_INFINITY;
        for iteration in 1..=max_iter {
            let bound = em.step()?;
            bounds.push(bound);
            tracing::trace!(model = what, run, iteration, bound, "EM iteration");
            let progress = Progress {
                run,
                iteration,
                lower_bound: bound,
            };
            if observer(&progress).is_break() {
                return Err(crate::EmError::Interrupted { run, iteration });
            }
            if (bound - previous).abs() < tol {
                converged = true;
                break;
            }
            previous = bound;
        }
        em.finish()?;
        let trace = em.take_trace();
        let last = bounds.last().copied().unwrap_or(f64::NEG_INFINITY);
        tracing::debug!(
            model = what,
            run,
            n_iter = bounds.len(),
            lower_bound = last,
            converged,
            "initialisation finished"
        );
        init_bounds.push(last);
        // scikit-learn's rule: a higher final bound wins; a run without iterations (bound −∞)
        // is replaced by any later run.
        let better = match &best {
            None => true,
            Some((_, b, _, _, _)) => {
                let best_bound = b.last().copied().unwrap_or(f64::NEG_INFINITY);
                last > best_bound || best_bound == f64::NEG_INFINITY
            }
        };
        if better {
            best = Some((em.model().clone(), bounds, converged, run, trace));
        }
    }
    let Some((model, lower_bounds, converged, best_init, trace)) = best else {
        return Err(crate::EmError::param("n_init", 0, "must be at least 1"));
    };
    if !converged && max_iter > 0 {
        tracing::warn!(
            model = what,
            n_iter = lower_bounds.len(),
            tol,
            "EM did not converge; try a larger max_iter or tol, another init, or check for degenerate data"
        );
    }
    Ok(Fit {
        model,
        converged,
        n_iter: lower_bounds.len(),
        lower_bound: lower_bounds.last().copied().unwrap_or(f64::NEG_INFINITY),
        lower_bounds,
        init_lower_bounds: init_bounds,
        best_init,
        elapsed: started.elapsed(),
        trace,
    })
}

//! The ELBO of a mixture under any responsibilities, from the log joint: the quantity EM
//! climbs, evaluated on its own so a report can put it beside log p(x) for any q.

use ndarray::ArrayView2;

use crate::error::EmError;

/// Mean over rows of Σ_k q_ik (ln p(x_i, z = k) − ln q_ik), the ELBO per row, from the log
/// joint `[N, K]` and responsibilities `q` of the same shape (0 · ln 0 counts as 0).
///
/// # Errors
/// [`EmError::InvalidParam`] when the shapes differ or there are no rows.
pub fn mixture_elbo(
    log_joint: ArrayView2<'_, f64>,
    q: ArrayView2<'_, f64>,
) -> Result<f64, EmError> {
    if log_joint.dim() != q.dim() || q.nrows() == 0 {
        return Err(EmError::InvalidParam {
            name: "q",
            value: format!("{:?} against a log joint of {:?}", q.dim(), log_joint.dim()),
            allowed: "responsibilities with one row per data row and one column per component",
        });
    }
    let mut total = 0.0;
    for (lj, qi) in log_joint.rows().into_iter().zip(q.rows()) {
        for (&l, &r) in lj.iter().zip(qi.iter()) {
            if r > 0.0 {
                total += r * (l - r.ln());
            }
        }
    }
    Ok(total / q.nrows() as f64)
}

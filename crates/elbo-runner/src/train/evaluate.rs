//! A trained VAE's held-out numbers: the ELBO and its terms, and the importance-weighted bound.

use anyhow::{Context as _, ensure};
use elbo_vae::{Vae, convert};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::vae_loop::derived_seed;

/// Rows per forward pass when evaluating (no gradients, so larger than a training batch).
pub(crate) const EVAL_BATCH_ROWS: i64 = 1024;

/// Sums of the ELBO's terms over a data set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ElboSums {
    pub(crate) n: f64,
    pub(crate) recon: f64,
    pub(crate) kl: f64,
}

impl ElboSums {
    pub(crate) fn elbo(&self) -> f64 {
        (self.recon - self.kl) / self.n
    }
}

/// The ELBO terms summed over all rows of `x`, without gradients, one z per row, with
/// libtorch's generator seeded by `seed`.
pub(crate) fn elbo_sums(vae: &Vae, x: &Tensor, seed: i64) -> anyhow::Result<ElboSums> {
    tch::manual_seed(seed);
    let n = x.size()[0];
    tch::no_grad(|| {
        let mut sums = ElboSums {
            n: n as f64,
            recon: 0.0,
            kl: 0.0,
        };
        let mut start = 0;
        while start < n {
            let rows = EVAL_BATCH_ROWS.min(n - start);
            let e = vae.elbo(&x.narrow(0, start, rows))?;
            sums.recon += e.reconstruction.f_sum(Kind::Double)?.f_double_value(&[])?;
            sums.kl += e.kl.f_sum(Kind::Double)?.f_double_value(&[])?;
            start += rows;
        }
        Ok(sums)
    })
}

/// Held-out numbers of a VAE. Per-example means, in nats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeEval {
    /// Rows the ELBO was computed on.
    pub n: usize,
    /// Mean ELBO (one z ~ q(z | x) per row).
    pub elbo: f64,
    /// Mean log p(x | z).
    pub recon: f64,
    /// Mean KL(q(z | x) ‖ p(z)).
    pub kl: f64,
    /// Mean importance-weighted bound L_k on the first rows, if asked for.
    pub iwae: Option<f64>,
    /// k of `iwae`.
    pub iwae_k: Option<usize>,
}

/// The ELBO (with its reconstruction and KL terms) on all rows of `x`, in batches, and the
/// IWAE-`iwae_k` estimate of log p(x) on the first `n_iwae` rows (all rows if `n_iwae`
/// exceeds them; `None` skips it). No gradients; libtorch's generator is seeded from `seed`
/// (the IWAE part with a seed of its own, so it does not depend on the number of rows).
pub fn evaluate_vae(
    vae: &Vae,
    x: ArrayView2<'_, f32>,
    iwae_k: usize,
    n_iwae: Option<usize>,
    seed: u64,
) -> anyhow::Result<VaeEval> {
    let rows = x.nrows();
    ensure!(rows > 0, "cannot evaluate a VAE on no rows");
    if n_iwae.is_some() {
        ensure!(
            iwae_k >= 1,
            "iwae_k must be ≥ 1 importance samples, got {iwae_k}"
        );
    }
    ensure!(
        n_iwae != Some(0),
        "n_iwae must be ≥ 1 row (None skips the IWAE bound), got 0"
    );
    let xt = convert::array2_to_tensor(x, vae.device());
    let xt = vae.check_input(&xt).context("the evaluation data")?;
    let sums = elbo_sums(vae, &xt, i64::from_ne_bytes(seed.to_ne_bytes()))?;
    let iwae = match n_iwae {
        Some(m) => {
            tch::manual_seed(derived_seed(seed, 0));
            let m = i64::try_from(m.min(rows)).unwrap_or(i64::MAX);
            let bound = vae.iwae(&xt.narrow(0, 0, m), iwae_k)?;
            Some(bound.f_mean(Kind::Double)?.f_double_value(&[])?)
        }
        None => None,
    };
    Ok(VaeEval {
        n: rows,
        elbo: sums.elbo(),
        recon: sums.recon / sums.n,
        kl: sums.kl / sums.n,
        iwae,
        iwae_k: iwae.map(|_| iwae_k),
    })
}

//! Discrete distributions: independent binary dimensions ([`Bernoulli`]) and one draw from K
//! categories ([`Categorical`]).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use rand::Rng;

use crate::density::{assert_batch_shape, assert_point_shape, for_row_chunks};
use crate::numerics::{log_sigmoid, log_sum_exp_view, logit};
use crate::{DistributionError, LogDensity};

/// `a · b` with the measure-theory convention 0 · (±∞) = 0 (a zero count of an impossible
/// outcome contributes nothing).
fn mul0(a: f64, b: f64) -> f64 {
    if a == 0.0 { 0.0 } else { a * b }
}

/// Independent binary dimensions, p(x) = Πⱼ pⱼ^xⱼ (1 − pⱼ)^(1−xⱼ), parameterised by logits
/// lⱼ = ln(pⱼ / (1 − pⱼ)).
///
/// Logits keep log-probabilities finite where probabilities would round to 0 or 1:
/// ln p(x) = Σⱼ xⱼ lⱼ − softplus(lⱼ). A logit may be ±∞ (a dimension that is certainly 0 or 1,
/// as [`Bernoulli::from_probs`] makes of p = 0 or 1); NaN is rejected.
///
/// Points are scored with the same formula for any real x (for x ∈ [0, 1] it is the negative
/// binary cross-entropy, which is a likelihood only for binary x).
#[derive(Debug, Clone, PartialEq)]
pub struct Bernoulli {
    logits: Array1<f64>,
    /// ln pⱼ.
    ln_p1: Array1<f64>,
    /// ln(1 − pⱼ).
    ln_p0: Array1<f64>,
    /// Σⱼ ln(1 − pⱼ), used by the fast path when all logits are finite.
    sum_ln_p0: f64,
    all_finite: bool,
}

impl Bernoulli {
    /// From logits lⱼ (each finite or ±∞; not NaN).
    ///
    /// # Errors
    /// Empty logits, or a NaN logit.
    pub fn from_logits(logits: Array1<f64>) -> Result<Self, DistributionError> {
        if logits.is_empty() {
            return Err(DistributionError::Empty { name: "logits" });
        }
        for (index, &value) in logits.iter().enumerate() {
            if value.is_nan() {
                return Err(DistributionError::NonFinite {
                    name: "logits",
                    index,
                    value,
                });
            }
        }
        let ln_p1 = logits.mapv(log_sigmoid);
        let ln_p0 = logits.mapv(|l| log_sigmoid(-l));
        let all_finite = logits.iter().all(|l| l.is_finite());
        let sum_ln_p0 = ln_p0.sum();
        Ok(Self {
            logits,
            ln_p1,
            ln_p0,
            sum_ln_p0,
            all_finite,
        })
    }

    /// From probabilities pⱼ ∈ [0, 1] (0 and 1 allowed: they become logits ∓∞).
    ///
    /// # Errors
    /// Empty input, or a probability that is NaN or outside [0, 1].
    pub fn from_probs(probs: Array1<f64>) -> Result<Self, DistributionError> {
        if probs.is_empty() {
            return Err(DistributionError::Empty { name: "probs" });
        }
        for (index, &value) in probs.iter().enumerate() {
            if !(0.0..=1.0).contains(&value) {
                return Err(DistributionError::ProbabilityOutOfRange {
                    name: "probs",
                    index,
                    value,
                });
            }
        }
        Self::from_logits(probs.mapv(logit))
    }

    /// The logits lⱼ.
    pub fn logits(&self) -> ArrayView1<'_, f64> {
        self.logits.view()
    }

    /// The probabilities pⱼ = σ(lⱼ) of a one (computed).
    pub fn probs(&self) -> Array1<f64> {
        self.ln_p1.mapv(f64::exp)
    }

    /// ln pⱼ, finite for finite logits even where pⱼ underflows.
    pub fn ln_probs(&self) -> ArrayView1<'_, f64> {
        self.ln_p1.view()
    }

    /// ln(1 − pⱼ).
    pub fn ln_one_minus_probs(&self) -> ArrayView1<'_, f64> {
        self.ln_p0.view()
    }

    /// The mean, p.
    pub fn mean(&self) -> Array1<f64> {
        self.probs()
    }

    /// The per-dimension variances pⱼ(1 − pⱼ).
    pub fn variance(&self) -> Array1<f64> {
        Zip::from(&self.ln_p1)
            .and(&self.ln_p0)
            .map_collect(|&a, &b| (a + b).exp())
    }

    /// The covariance, diag p(1 − p) (dimensions are independent).
    pub fn covariance(&self) -> Array2<f64> {
        Array2::from_diag(&self.variance())
    }

    /// Entropy −Σⱼ [pⱼ ln pⱼ + (1 − pⱼ) ln(1 − pⱼ)], in nats.
    pub fn entropy(&self) -> f64 {
        Zip::from(&self.ln_p1)
            .and(&self.ln_p0)
            .fold(0.0, |acc, &a, &b| acc - mul0(a.exp(), a) - mul0(b.exp(), b))
    }

    /// One draw: xⱼ = 1 with probability pⱼ.
    pub fn sample(&self, rng: &mut impl Rng) -> Array1<f64> {
        let p = self.probs();
        p.mapv(|p| if rng.random::<f64>() < p { 1.0 } else { 0.0 })
    }

    /// `n` draws as the rows of an n × d matrix of zeros and ones.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let p = self.probs();
        let d = p.len();
        Array2::from_shape_fn(
            (n, d),
            |(_, j)| if rng.random::<f64>() < p[j] { 1.0 } else { 0.0 },
        )
    }

    fn ln_prob_row(&self, x: ArrayView1<'_, f64>) -> f64 {
        if self.all_finite {
            // x ln p + (1 − x) ln(1 − p) = x · l + ln(1 − p).
            x.dot(&self.logits) + self.sum_ln_p0
        } else {
            Zip::from(&x)
                .and(&self.ln_p1)
                .and(&self.ln_p0)
                .fold(0.0, |acc, &x, &a, &b| acc + mul0(x, a) + mul0(1.0 - x, b))
        }
    }
}

impl LogDensity for Bernoulli {
    fn dim(&self) -> usize {
        self.logits.len()
    }

    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        self.ln_prob_row(x)
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        for_row_chunks(
            x,
            out,
            2 * self.dim(),
            || (),
            |xc, mut oc, ()| {
                Zip::from(&mut oc)
                    .and(xc.rows())
                    .for_each(|o, r| *o = self.ln_prob_row(r));
            },
        );
    }
}

/// One draw from K categories with probabilities πₖ, held as normalised log-weights ln πₖ
/// (mixture weights, responsibilities).
///
/// As a [`LogDensity`] it scores a length-K vector x of counts, one-hot or soft:
/// ln p(x) = Σₖ xₖ ln πₖ (for a one-hot x, the log-probability of its category; the
/// multinomial coefficient is not included).
#[derive(Debug, Clone, PartialEq)]
pub struct Categorical {
    ln_probs: Array1<f64>,
}

impl Categorical {
    /// From unnormalised log-weights (normalised here with log-sum-exp). Entries may be −∞
    /// (an impossible category) but not NaN or +∞, and not all −∞.
    ///
    /// # Errors
    /// Empty input, a NaN or +∞ entry, or all entries −∞.
    pub fn from_ln_weights(ln_weights: Array1<f64>) -> Result<Self, DistributionError> {
        let name = "ln_weights";
        if ln_weights.is_empty() {
            return Err(DistributionError::Empty { name });
        }
        for (index, &value) in ln_weights.iter().enumerate() {
            if value.is_nan() || value == f64::INFINITY {
                return Err(DistributionError::NonFinite { name, index, value });
            }
        }
        let total = log_sum_exp_view(ln_weights.view());
        if total == f64::NEG_INFINITY {
            return Err(DistributionError::NoWeight {
                name,
                total_weight: 0.0,
            });
        }
        Ok(Self {
            ln_probs: ln_weights.mapv(|v| v - total),
        })
    }

    /// From non-negative weights (normalised here).
    ///
    /// # Errors
    /// Empty input, a non-finite or negative weight, or weights summing to zero.
    pub fn from_weights(weights: Array1<f64>) -> Result<Self, DistributionError> {
        let name = "weights";
        if weights.is_empty() {
            return Err(DistributionError::Empty { name });
        }
        for (index, &value) in weights.iter().enumerate() {
            if !value.is_finite() {
                return Err(DistributionError::NonFinite { name, index, value });
            }
            if value < 0.0 {
                return Err(DistributionError::Negative { name, index, value });
            }
        }
        let total: f64 = weights.sum();
        if total <= 0.0 || total.is_nan() {
            return Err(DistributionError::NoWeight {
                name,
                total_weight: total,
            });
        }
        Ok(Self {
            ln_probs: weights.mapv(|w| (w / total).ln()),
        })
    }

    /// Number of categories K.
    pub fn n_categories(&self) -> usize {
        self.ln_probs.len()
    }

    /// Normalised log-probabilities ln πₖ.
    pub fn ln_probs(&self) -> ArrayView1<'_, f64> {
        self.ln_probs.view()
    }

    /// Probabilities πₖ (computed).
    pub fn probs(&self) -> Array1<f64> {
        self.ln_probs.mapv(f64::exp)
    }

    /// ln πₖ of category `k`; −∞ for k ≥ K (a category that does not exist has probability 0).
    pub fn ln_prob_index(&self, k: usize) -> f64 {
        self.ln_probs.get(k).copied().unwrap_or(f64::NEG_INFINITY)
    }

    /// The mean of the one-hot encoding, π.
    pub fn mean(&self) -> Array1<f64> {
        self.probs()
    }

    /// The covariance of the one-hot encoding, diag(π) − π πᵀ.
    pub fn covariance(&self) -> Array2<f64> {
        let p = self.probs();
        let k = p.len();
        Array2::from_shape_fn((k, k), |(i, j)| {
            if i == j {
                p[i] - p[i] * p[i]
            } else {
                -p[i] * p[j]
            }
        })
    }

    /// Entropy −Σₖ πₖ ln πₖ, in nats.
    pub fn entropy(&self) -> f64 {
        -self.ln_probs.iter().map(|&l| mul0(l.exp(), l)).sum::<f64>()
    }

    /// One draw: the index of a category (inverse CDF).
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut last_possible = 0;
        for (k, &l) in self.ln_probs.iter().enumerate() {
            if l == f64::NEG_INFINITY {
                continue;
            }
            last_possible = k;
            acc += l.exp();
            if u < acc {
                return k;
            }
        }
        // Rounding left the cumulative sum just below 1 and u above it.
        last_possible
    }

    /// `n` draws of category indices.
    pub fn sample_n(&self, n: usize, rng: &mut impl Rng) -> Vec<usize> {
        (0..n).map(|_| self.sample(rng)).collect()
    }

    fn ln_prob_row(&self, x: ArrayView1<'_, f64>) -> f64 {
        Zip::from(&x)
            .and(&self.ln_probs)
            .fold(0.0, |acc, &x, &l| acc + mul0(x, l))
    }
}

impl LogDensity for Categorical {
    fn dim(&self) -> usize {
        self.ln_probs.len()
    }

    fn ln_prob(&self, x: ArrayView1<'_, f64>) -> f64 {
        assert_point_shape(self.dim(), x);
        self.ln_prob_row(x)
    }

    fn ln_prob_batch(&self, x: ArrayView2<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        assert_batch_shape(self.dim(), x, &out);
        for_row_chunks(
            x,
            out,
            self.dim(),
            || (),
            |xc, mut oc, ()| {
                Zip::from(&mut oc)
                    .and(xc.rows())
                    .for_each(|o, r| *o = self.ln_prob_row(r));
            },
        );
    }
}

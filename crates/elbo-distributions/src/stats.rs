//! Weighted sufficient statistics for maximum likelihood, as values that add.
//!
//! The M-step of EM needs only (Σ w, Σ w x, Σ w x xᵀ) per component. Summarising chunks of data
//! separately and merging the summaries gives the same estimate as one pass, which is what makes
//! streaming, mini-batch and parallel EM the same code.
//!
//! The Gaussian accumulators keep their sums around a shift point s (the weighted mean of the
//! first batch with positive weight): Σ w (x − s) and Σ w (x − s)(x − s)ᵀ. Data far from the
//! origin then do not lose digits when the covariance E[x xᵀ] − μ μᵀ is formed, and two
//! accumulators with different shifts merge exactly (the change of shift is an algebraic
//! identity, not an approximation).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip, linalg::general_mat_mul, s};

use crate::density::CHUNK_ROWS;
use crate::{Bernoulli, DiagNormal, DistributionError, MvNormal, SphericalNormal};

/// Panics unless a batch fits an accumulator (a programming error).
fn assert_push_shape(dim: usize, x: ArrayView2<'_, f64>, weights: ArrayView1<'_, f64>) {
    assert_eq!(
        x.ncols(),
        dim,
        "push_batch: `x` has {} columns but the statistics have dimension {}",
        x.ncols(),
        dim
    );
    assert_eq!(
        weights.len(),
        x.nrows(),
        "push_batch: `weights` has {} entries but `x` has {} rows",
        weights.len(),
        x.nrows()
    );
}

/// Σ w and the weighted mean of a batch, or None if the weights sum to nothing positive.
fn weighted_mean(x: ArrayView2<'_, f64>, weights: ArrayView1<'_, f64>) -> Option<Array1<f64>> {
    let total: f64 = weights.sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut m = Array1::zeros(x.ncols());
    Zip::from(x.rows()).and(&weights).for_each(|row, &w| {
        m.scaled_add(w, &row);
    });
    m /= total;
    Some(m)
}

/// Error unless the accumulated weight is positive and finite.
fn check_weight(total_weight: f64, name: &'static str) -> Result<(), DistributionError> {
    if total_weight > 0.0 && total_weight.is_finite() {
        Ok(())
    } else {
        Err(DistributionError::NoWeight { name, total_weight })
    }
}

/// Error unless `total_weight` is finite and ≥ 0 (a sum of non-negative weights).
fn check_sum_weight(total_weight: f64) -> Result<(), DistributionError> {
    if !total_weight.is_finite() {
        return Err(DistributionError::NonFinite {
            name: "total_weight",
            index: 0,
            value: total_weight,
        });
    }
    if total_weight < 0.0 {
        return Err(DistributionError::Negative {
            name: "total_weight",
            index: 0,
            value: total_weight,
        });
    }
    Ok(())
}

/// Error unless `values` has `expected` entries, all finite.
fn check_sum_values<'a>(
    name: &'static str,
    expected: usize,
    found: usize,
    values: impl IntoIterator<Item = &'a f64>,
) -> Result<(), DistributionError> {
    if found != expected {
        return Err(DistributionError::DimensionMismatch {
            name,
            expected,
            found,
        });
    }
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, &value)) => Err(DistributionError::NonFinite { name, index, value }),
        None => Ok(()),
    }
}

/// Weighted sufficient statistics of a full-covariance Gaussian: Σ w, Σ w x, Σ w x xᵀ (kept
/// around a shift point).
///
/// Weights must be ≥ 0 (responsibilities); that is not checked per call, for speed.
#[derive(Debug, Clone)]
pub struct GaussianStats {
    dim: usize,
    shift: Array1<f64>,
    has_shift: bool,
    weight: f64,
    /// Σ w (x − shift).
    s1: Array1<f64>,
    /// Σ w (x − shift)(x − shift)ᵀ.
    s2: Array2<f64>,
    /// Chunk of centred rows (allocated on first use, reused afterwards).
    centred: Array2<f64>,
    /// The same chunk scaled by the weights.
    weighted: Array2<f64>,
}

impl GaussianStats {
    /// An empty accumulator for `dim`-dimensional data.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            shift: Array1::zeros(dim),
            has_shift: false,
            weight: 0.0,
            s1: Array1::zeros(dim),
            s2: Array2::zeros((dim, dim)),
            centred: Array2::zeros((0, dim)),
            weighted: Array2::zeros((0, dim)),
        }
    }

    /// Dimension of the data.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Statistics from sums computed elsewhere (e.g. by one GEMM over many components):
    /// `total_weight` = Σ w, `sum_w_dx` = Σ w (x − shift), `sum_w_dx_dxt` = Σ w (x − shift)(x −
    /// shift)ᵀ. Equivalent to [`push_batch`](Self::push_batch) of the summed rows, and merges
    /// with any other accumulator of the same dimension.
    ///
    /// # Errors
    /// [`DistributionError::Empty`] for `shift` of length 0,
    /// [`DistributionError::DimensionMismatch`] / [`DistributionError::NotSquare`] if the sums
    /// do not have the dimension of `shift`, [`DistributionError::NonFinite`] for a NaN or
    /// infinite entry or weight, [`DistributionError::Negative`] for a negative weight.
    pub fn from_sums(
        total_weight: f64,
        shift: Array1<f64>,
        sum_w_dx: Array1<f64>,
        sum_w_dx_dxt: Array2<f64>,
    ) -> Result<Self, DistributionError> {
        let dim = shift.len();
        if dim == 0 {
            return Err(DistributionError::Empty { name: "shift" });
        }
        check_sum_weight(total_weight)?;
        check_sum_values("shift", dim, dim, shift.iter())?;
        check_sum_values("sum_w_dx", dim, sum_w_dx.len(), sum_w_dx.iter())?;
        let (rows, cols) = sum_w_dx_dxt.dim();
        if rows != cols {
            return Err(DistributionError::NotSquare {
                name: "sum_w_dx_dxt",
                rows,
                cols,
            });
        }
        check_sum_values("sum_w_dx_dxt", dim, rows, sum_w_dx_dxt.iter())?;
        Ok(Self {
            dim,
            shift,
            has_shift: true,
            weight: total_weight,
            s1: sum_w_dx,
            s2: sum_w_dx_dxt,
            centred: Array2::zeros((0, dim)),
            weighted: Array2::zeros((0, dim)),
        })
    }

    /// Adds Σ w, Σ w x and Σ w x xᵀ of the rows of `x` with weights `weights`. Allocates
    /// nothing after the first call (it works through a fixed chunk buffer, with one GEMM per
    /// chunk).
    ///
    /// # Panics
    /// If `x.ncols() != self.dim()` or `weights.len() != x.nrows()` (programming errors).
    pub fn push_batch(&mut self, x: ArrayView2<'_, f64>, weights: ArrayView1<'_, f64>) {
        assert_push_shape(self.dim, x, weights);
        if !self.has_shift {
            match weighted_mean(x, weights) {
                Some(m) => self.shift = m,
                // Nothing to learn a shift from: if the batch carries no weight at all, skip it.
                None if weights.iter().all(|&w| w == 0.0) => return,
                None => self.shift.fill(0.0),
            }
            self.has_shift = true;
        }
        if self.centred.nrows() < CHUNK_ROWS {
            self.centred = Array2::zeros((CHUNK_ROWS, self.dim));
            self.weighted = Array2::zeros((CHUNK_ROWS, self.dim));
        }
        for (xc, wc) in x
            .axis_chunks_iter(Axis(0), CHUNK_ROWS)
            .zip(weights.axis_chunks_iter(Axis(0), CHUNK_ROWS))
        {
            let m = xc.nrows();
            let mut c = self.centred.slice_mut(s![..m, ..]);
            let mut cw = self.weighted.slice_mut(s![..m, ..]);
            Zip::from(c.rows_mut())
                .and(cw.rows_mut())
                .and(xc.rows())
                .and(&wc)
                .for_each(|mut cr, mut cwr, xr, &w| {
                    Zip::from(&mut cr)
                        .and(&mut cwr)
                        .and(&xr)
                        .and(&self.shift)
                        .for_each(|c, cw, &x, &s| {
                            let d = x - s;
                            *c = d;
                            *cw = w * d;
                        });
                });
            for row in cw.rows() {
                self.s1 += &row;
            }
            self.weight += wc.sum();
            general_mat_mul(1.0, &c.t(), &cw, 1.0, &mut self.s2);
        }
    }

    /// Adds another accumulator's statistics (re-expressed around this one's shift).
    ///
    /// # Panics
    /// If the dimensions differ (a programming error).
    pub fn merge(&mut self, other: &Self) {
        assert_eq!(
            self.dim, other.dim,
            "merge: dimensions {} and {} differ",
            self.dim, other.dim
        );
        if !other.has_shift {
            return;
        }
        if !self.has_shift {
            self.shift.assign(&other.shift);
            self.has_shift = true;
            self.weight = other.weight;
            self.s1.assign(&other.s1);
            self.s2.assign(&other.s2);
            return;
        }
        // x − s = (x − s_o) + δ with δ = s_o − s.
        let delta = &other.shift - &self.shift;
        let w = other.weight;
        for i in 0..self.dim {
            for j in 0..self.dim {
                self.s2[[i, j]] += other.s2[[i, j]]
                    + other.s1[i] * delta[j]
                    + delta[i] * other.s1[j]
                    + w * delta[i] * delta[j];
            }
        }
        self.s1 += &other.s1;
        self.s1.scaled_add(w, &delta);
        self.weight += w;
    }

    /// Σ w.
    pub fn total_weight(&self) -> f64 {
        self.weight
    }

    /// Weighted mean Σ w x / Σ w (NaN if no weight was pushed).
    pub fn mean(&self) -> Array1<f64> {
        &self.shift + &(&self.s1 / self.weight)
    }

    /// Biased weighted covariance Σ w (x − μ)(x − μ)ᵀ / Σ w, symmetrised, plus `reg · I`
    /// (NaN if no weight was pushed).
    pub fn covariance(&self, reg: f64) -> Array2<f64> {
        let d = self.dim;
        let m = &self.s1 / self.weight;
        let mut c = Array2::zeros((d, d));
        for i in 0..d {
            for j in 0..=i {
                let v = 0.5 * (self.s2[[i, j]] + self.s2[[j, i]]) / self.weight - m[i] * m[j];
                c[[i, j]] = v;
                c[[j, i]] = v;
            }
            c[[i, i]] += reg;
        }
        c
    }

    /// The maximum-likelihood normal N(mean, covariance(reg)).
    ///
    /// # Errors
    /// [`DistributionError::NoWeight`] if the accumulated weight is not positive, and the
    /// errors of [`MvNormal::new`] (e.g. a covariance that is not positive definite: increase
    /// `reg`).
    pub fn mle(&self, reg: f64) -> Result<MvNormal, DistributionError> {
        check_weight(self.weight, "GaussianStats::mle")?;
        MvNormal::new(self.mean(), self.covariance(reg))
    }

    /// Empties the accumulator, keeping its buffers for the next iteration.
    pub fn clear(&mut self) {
        self.shift.fill(0.0);
        self.has_shift = false;
        self.weight = 0.0;
        self.s1.fill(0.0);
        self.s2.fill(0.0);
    }
}

/// Weighted sufficient statistics of a diagonal Gaussian: Σ w, Σ w x, Σ w x² (per coordinate,
/// kept around a shift point).
///
/// Weights must be ≥ 0 (responsibilities); that is not checked per call, for speed.
#[derive(Debug, Clone)]
pub struct DiagGaussianStats {
    dim: usize,
    shift: Array1<f64>,
    has_shift: bool,
    weight: f64,
    /// Σ w (x − shift).
    s1: Array1<f64>,
    /// Σ w (x − shift)².
    s2: Array1<f64>,
}

impl DiagGaussianStats {
    /// An empty accumulator for `dim`-dimensional data.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            shift: Array1::zeros(dim),
            has_shift: false,
            weight: 0.0,
            s1: Array1::zeros(dim),
            s2: Array1::zeros(dim),
        }
    }

    /// Dimension of the data.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Statistics from sums computed elsewhere: `total_weight` = Σ w, `sum_w_dx` = Σ w (x −
    /// shift), `sum_w_dx2` = Σ w (x − shift)² (per coordinate). Equivalent to
    /// [`push_batch`](Self::push_batch) of the summed rows.
    ///
    /// # Errors
    /// [`DistributionError::Empty`] for `shift` of length 0,
    /// [`DistributionError::DimensionMismatch`] if the sums do not have the length of `shift`,
    /// [`DistributionError::NonFinite`] for a NaN or infinite entry or weight,
    /// [`DistributionError::Negative`] for a negative weight.
    pub fn from_sums(
        total_weight: f64,
        shift: Array1<f64>,
        sum_w_dx: Array1<f64>,
        sum_w_dx2: Array1<f64>,
    ) -> Result<Self, DistributionError> {
        let dim = shift.len();
        if dim == 0 {
            return Err(DistributionError::Empty { name: "shift" });
        }
        check_sum_weight(total_weight)?;
        check_sum_values("shift", dim, dim, shift.iter())?;
        check_sum_values("sum_w_dx", dim, sum_w_dx.len(), sum_w_dx.iter())?;
        check_sum_values("sum_w_dx2", dim, sum_w_dx2.len(), sum_w_dx2.iter())?;
        Ok(Self {
            dim,
            shift,
            has_shift: true,
            weight: total_weight,
            s1: sum_w_dx,
            s2: sum_w_dx2,
        })
    }

    /// Adds the weighted rows of `x`. Allocates only on the first call (the shift).
    ///
    /// # Panics
    /// If `x.ncols() != self.dim()` or `weights.len() != x.nrows()` (programming errors).
    pub fn push_batch(&mut self, x: ArrayView2<'_, f64>, weights: ArrayView1<'_, f64>) {
        assert_push_shape(self.dim, x, weights);
        if !self.has_shift {
            match weighted_mean(x, weights) {
                Some(m) => self.shift = m,
                None if weights.iter().all(|&w| w == 0.0) => return,
                None => self.shift.fill(0.0),
            }
            self.has_shift = true;
        }
        Zip::from(x.rows()).and(&weights).for_each(|row, &w| {
            Zip::from(&mut self.s1)
                .and(&mut self.s2)
                .and(&row)
                .and(&self.shift)
                .for_each(|s1, s2, &x, &s| {
                    let d = x - s;
                    let wd = w * d;
                    *s1 += wd;
                    *s2 += wd * d;
                });
        });
        self.weight += weights.sum();
    }

    /// Adds another accumulator's statistics (re-expressed around this one's shift).
    ///
    /// # Panics
    /// If the dimensions differ (a programming error).
    pub fn merge(&mut self, other: &Self) {
        assert_eq!(
            self.dim, other.dim,
            "merge: dimensions {} and {} differ",
            self.dim, other.dim
        );
        if !other.has_shift {
            return;
        }
        if !self.has_shift {
            self.shift.assign(&other.shift);
            self.has_shift = true;
            self.weight = other.weight;
            self.s1.assign(&other.s1);
            self.s2.assign(&other.s2);
            return;
        }
        let w = other.weight;
        Zip::from(&mut self.s1)
            .and(&mut self.s2)
            .and(&other.s1)
            .and(&other.s2)
            .and(&other.shift)
            .and(&self.shift)
            .for_each(|s1, s2, &o1, &o2, &so, &ss| {
                let delta = so - ss;
                *s2 += o2 + 2.0 * o1 * delta + w * delta * delta;
                *s1 += o1 + w * delta;
            });
        self.weight += w;
    }

    /// Σ w.
    pub fn total_weight(&self) -> f64 {
        self.weight
    }

    /// Weighted mean (NaN if no weight was pushed).
    pub fn mean(&self) -> Array1<f64> {
        &self.shift + &(&self.s1 / self.weight)
    }

    /// Biased weighted per-coordinate variance, clamped at 0 against rounding, plus `reg`
    /// (NaN if no weight was pushed).
    pub fn variance(&self, reg: f64) -> Array1<f64> {
        Zip::from(&self.s1).and(&self.s2).map_collect(|&s1, &s2| {
            let m = s1 / self.weight;
            (s2 / self.weight - m * m).max(0.0) + reg
        })
    }

    /// The mean of the per-coordinate variances plus `reg`: the MLE of a spherical variance.
    pub fn spherical_variance(&self, reg: f64) -> f64 {
        self.variance(0.0).mean().unwrap_or(f64::NAN) + reg
    }

    /// The maximum-likelihood diagonal normal N(mean, diag variance(reg)).
    ///
    /// # Errors
    /// [`DistributionError::NoWeight`] if the accumulated weight is not positive, and the
    /// errors of [`DiagNormal::new`] (a zero variance: increase `reg`).
    pub fn mle(&self, reg: f64) -> Result<DiagNormal, DistributionError> {
        check_weight(self.weight, "DiagGaussianStats::mle")?;
        DiagNormal::new(self.mean(), self.variance(reg))
    }

    /// The maximum-likelihood spherical normal N(mean, spherical_variance(reg) · I).
    ///
    /// # Errors
    /// As [`DiagGaussianStats::mle`].
    pub fn mle_spherical(&self, reg: f64) -> Result<SphericalNormal, DistributionError> {
        check_weight(self.weight, "DiagGaussianStats::mle_spherical")?;
        SphericalNormal::new(self.mean(), self.spherical_variance(reg))
    }

    /// Empties the accumulator, keeping its buffers.
    pub fn clear(&mut self) {
        self.shift.fill(0.0);
        self.has_shift = false;
        self.weight = 0.0;
        self.s1.fill(0.0);
        self.s2.fill(0.0);
    }
}

/// Weighted sufficient statistics of independent Bernoulli dimensions: Σ w and Σ w x.
///
/// Weights must be ≥ 0 (responsibilities); that is not checked per call, for speed.
#[derive(Debug, Clone)]
pub struct BernoulliStats {
    dim: usize,
    weight: f64,
    s1: Array1<f64>,
}

impl BernoulliStats {
    /// An empty accumulator for `dim`-dimensional binary data.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            weight: 0.0,
            s1: Array1::zeros(dim),
        }
    }

    /// Dimension of the data.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Statistics from sums computed elsewhere: `total_weight` = Σ w, `sum_w_x` = Σ w x.
    /// Equivalent to [`push_batch`](Self::push_batch) of the summed rows.
    ///
    /// # Errors
    /// [`DistributionError::Empty`] for `sum_w_x` of length 0, [`DistributionError::NonFinite`]
    /// for a NaN or infinite entry or weight, [`DistributionError::Negative`] for a negative
    /// weight.
    pub fn from_sums(total_weight: f64, sum_w_x: Array1<f64>) -> Result<Self, DistributionError> {
        let dim = sum_w_x.len();
        if dim == 0 {
            return Err(DistributionError::Empty { name: "sum_w_x" });
        }
        check_sum_weight(total_weight)?;
        check_sum_values("sum_w_x", dim, dim, sum_w_x.iter())?;
        Ok(Self {
            dim,
            weight: total_weight,
            s1: sum_w_x,
        })
    }

    /// Adds the weighted rows of `x` (no allocation).
    ///
    /// # Panics
    /// If `x.ncols() != self.dim()` or `weights.len() != x.nrows()` (programming errors).
    pub fn push_batch(&mut self, x: ArrayView2<'_, f64>, weights: ArrayView1<'_, f64>) {
        assert_push_shape(self.dim, x, weights);
        Zip::from(x.rows()).and(&weights).for_each(|row, &w| {
            self.s1.scaled_add(w, &row);
        });
        self.weight += weights.sum();
    }

    /// Adds another accumulator's statistics.
    ///
    /// # Panics
    /// If the dimensions differ (a programming error).
    pub fn merge(&mut self, other: &Self) {
        assert_eq!(
            self.dim, other.dim,
            "merge: dimensions {} and {} differ",
            self.dim, other.dim
        );
        self.weight += other.weight;
        self.s1 += &other.s1;
    }

    /// Σ w.
    pub fn total_weight(&self) -> f64 {
        self.weight
    }

    /// Weighted mean Σ w x / Σ w (NaN if no weight was pushed).
    pub fn mean(&self) -> Array1<f64> {
        &self.s1 / self.weight
    }

    /// The weighted mean clipped to [clip, 1 − clip], so that no dimension becomes certain
    /// (a log-probability of −∞ on held-out data). Use `clip` in [0, 0.5).
    pub fn probs(&self, clip: f64) -> Array1<f64> {
        self.mean().mapv(|p| p.max(clip).min(1.0 - clip))
    }

    /// The maximum-likelihood Bernoulli with probabilities `probs(clip)`.
    ///
    /// # Errors
    /// [`DistributionError::NoWeight`] if the accumulated weight is not positive, and the
    /// errors of [`Bernoulli::from_probs`] (data outside [0, 1], or a NaN clip).
    pub fn mle(&self, clip: f64) -> Result<Bernoulli, DistributionError> {
        check_weight(self.weight, "BernoulliStats::mle")?;
        Bernoulli::from_probs(self.probs(clip))
    }

    /// Empties the accumulator.
    pub fn clear(&mut self) {
        self.weight = 0.0;
        self.s1.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded-free deterministic batch far from the origin, with uneven weights.
    fn batch(n: usize, d: usize) -> (Array2<f64>, Array1<f64>) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            1e3 + ((i * 7 + j * 13) % 17) as f64 * 0.37 - (j as f64) * 0.5
        });
        let w = Array1::from_shape_fn(n, |i| 0.25 + (i % 5) as f64 * 0.3);
        (x, w)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn gaussian_from_sums_equals_push_batch() {
        let (x, w) = batch(200, 3);
        let mut pushed = GaussianStats::new(3);
        pushed.push_batch(x.view(), w.view());
        // The sums of the batch around a shift of our choosing, computed directly.
        let shift = Array1::from(vec![999.0, 1001.0, 1000.5]);
        let dx = &x - &shift;
        let s1 = dx.t().dot(&w);
        let s2 = (&dx.t() * &w).dot(&dx);
        let built = GaussianStats::from_sums(w.sum(), shift, s1, s2).unwrap();
        assert!(close(built.total_weight(), pushed.total_weight()));
        for (a, b) in built.mean().iter().zip(pushed.mean().iter()) {
            assert!(close(*a, *b), "mean {a} vs {b}");
        }
        for (a, b) in built
            .covariance(0.0)
            .iter()
            .zip(pushed.covariance(0.0).iter())
        {
            assert!(close(*a, *b), "covariance {a} vs {b}");
        }
        // Merging a from_sums accumulator works like merging a pushed one.
        let mut merged = built.clone();
        merged.merge(&pushed);
        for (a, b) in merged
            .covariance(0.0)
            .iter()
            .zip(pushed.covariance(0.0).iter())
        {
            assert!(close(*a, *b), "merged covariance {a} vs {b}");
        }
    }

    #[test]
    fn diag_from_sums_equals_push_batch() {
        let (x, w) = batch(150, 4);
        let mut pushed = DiagGaussianStats::new(4);
        pushed.push_batch(x.view(), w.view());
        let shift = Array1::from(vec![1000.0; 4]);
        let dx = &x - &shift;
        let s1 = dx.t().dot(&w);
        let s2 = dx.mapv(|v| v * v).t().dot(&w);
        let built = DiagGaussianStats::from_sums(w.sum(), shift, s1, s2).unwrap();
        for (a, b) in built.mean().iter().zip(pushed.mean().iter()) {
            assert!(close(*a, *b), "mean {a} vs {b}");
        }
        for (a, b) in built.variance(0.0).iter().zip(pushed.variance(0.0).iter()) {
            assert!(close(*a, *b), "variance {a} vs {b}");
        }
        assert!(close(
            built.spherical_variance(0.0),
            pushed.spherical_variance(0.0)
        ));
    }

    #[test]
    fn bernoulli_from_sums_equals_push_batch() {
        let x = Array2::from_shape_fn((90, 5), |(i, j)| ((i * 3 + j) % 4 == 0) as u8 as f64);
        let w = Array1::from_shape_fn(90, |i| 0.5 + (i % 3) as f64);
        let mut pushed = BernoulliStats::new(5);
        pushed.push_batch(x.view(), w.view());
        let built = BernoulliStats::from_sums(w.sum(), x.t().dot(&w)).unwrap();
        for (a, b) in built.probs(1e-6).iter().zip(pushed.probs(1e-6).iter()) {
            assert!(close(*a, *b), "probs {a} vs {b}");
        }
    }

    #[test]
    fn from_sums_rejects_bad_input() {
        let z1 = || Array1::<f64>::zeros(2);
        assert!(matches!(
            GaussianStats::from_sums(1.0, z1(), Array1::zeros(3), Array2::zeros((2, 2))),
            Err(DistributionError::DimensionMismatch {
                name: "sum_w_dx",
                ..
            })
        ));
        assert!(matches!(
            GaussianStats::from_sums(1.0, z1(), z1(), Array2::zeros((2, 3))),
            Err(DistributionError::NotSquare { .. })
        ));
        assert!(matches!(
            GaussianStats::from_sums(1.0, z1(), z1(), Array2::zeros((3, 3))),
            Err(DistributionError::DimensionMismatch {
                name: "sum_w_dx_dxt",
                ..
            })
        ));
        assert!(matches!(
            GaussianStats::from_sums(-1.0, z1(), z1(), Array2::zeros((2, 2))),
            Err(DistributionError::Negative { .. })
        ));
        let mut bad = Array2::zeros((2, 2));
        bad[[1, 0]] = f64::NAN;
        assert!(matches!(
            GaussianStats::from_sums(1.0, z1(), z1(), bad),
            Err(DistributionError::NonFinite {
                name: "sum_w_dx_dxt",
                index: 2,
                ..
            })
        ));
        assert!(matches!(
            DiagGaussianStats::from_sums(f64::INFINITY, z1(), z1(), z1()),
            Err(DistributionError::NonFinite {
                name: "total_weight",
                ..
            })
        ));
        assert!(matches!(
            DiagGaussianStats::from_sums(1.0, z1(), z1(), Array1::zeros(1)),
            Err(DistributionError::DimensionMismatch {
                name: "sum_w_dx2",
                ..
            })
        ));
        assert!(matches!(
            DiagGaussianStats::from_sums(1.0, Array1::zeros(0), Array1::zeros(0), Array1::zeros(0)),
            Err(DistributionError::Empty { .. })
        ));
        assert!(matches!(
            BernoulliStats::from_sums(1.0, Array1::from(vec![0.5, f64::NAN])),
            Err(DistributionError::NonFinite {
                name: "sum_w_x",
                index: 1,
                ..
            })
        ));
    }
}

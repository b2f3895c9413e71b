//! Transforms: pure functions from a data set to a data set; the random ones take an RNG.
//!
//! Statistics that depend on data (standardisation) are fitted on the training split and
//! applied unchanged to the others, so no information leaks from test to train.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

/// Maps values from the known range `[lo, hi]` to [0, 1] (e.g. grey levels with `lo = 0`,
/// `hi = 255`); fails on a value outside the range, naming its row and column.
pub fn scale_to_unit(data: Dataset, lo: f32, hi: f32) -> Result<Dataset> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(DatasetError::invalid(
            "range",
            format!("[{lo}, {hi}] must be finite with lo < hi"),
        ));
    }
    let x = data.features();
    if let Some(((row, column), &v)) = x.indexed_iter().find(|(_, v)| !(lo..=hi).contains(*v)) {
        return Err(DatasetError::invalid(
            "value",
            format!(
                "row {row}, column {column} of `{}` is {v}, outside [{lo}, {hi}]",
                data.name()
            ),
        ));
    }
    let width = hi - lo;
    let scaled = x.mapv(|v| ((v - lo) / width).clamp(0.0, 1.0));
    Ok(data.map_features(scaled, &format!("scaled [{lo}, {hi}] -> [0, 1]")))
}

/// Binarises deterministically: 1 where the value is strictly above `threshold`, else 0.
pub fn binarize(data: Dataset, threshold: f32) -> Dataset {
    let binary = data
        .features()
        .mapv(|v| if v > threshold { 1.0 } else { 0.0 });
    data.map_features(binary, &format!("binarised at > {threshold}"))
}

/// Binarises stochastically: each value `p` in [0, 1] becomes 1 with probability `p`.
///
/// This is "dynamic binarisation": a runner draws a fresh binary copy each epoch. It fails on
/// values outside [0, 1] (scale first). See [`binarize_stochastic_into`] for the allocation-free
/// kernel.
pub fn binarize_stochastic(data: Dataset, rng: &mut impl Rng) -> Result<Dataset> {
    let mut out = Array2::zeros(data.features().dim());
    binarize_stochastic_into(data.features().view(), out.view_mut(), rng)?;
    Ok(data.map_features(
        out,
        "binarised stochastically (Bernoulli of the grey level)",
    ))
}

/// Writes a Bernoulli draw of each probability in `x` into `out` (same shape), so a training
/// loop can re-binarise every epoch into one buffer it owns.
pub fn binarize_stochastic_into(
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    rng: &mut impl Rng,
) -> Result<()> {
    if x.dim() != out.dim() {
        return Err(DatasetError::invalid(
            "output buffer",
            format!(
                "shape {:?} differs from the input's {:?}",
                out.dim(),
                x.dim()
            ),
        ));
    }
    if let Some(((row, column), &v)) = x.indexed_iter().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return Err(DatasetError::invalid(
            "probability",
            format!("row {row}, column {column} is {v}, outside [0, 1]; scale the data first"),
        ));
    }
    Zip::from(&mut out).and(&x).for_each(|o, &p| {
        let u: f32 = rng.random();
        *o = if u < p { 1.0 } else { 0.0 };
    });
    Ok(())
}

/// Adds uniform noise to quantised data in [0, 1] with `levels` grey levels:
/// `y = (x · (levels − 1) + u) / levels`, `u ~ U[0, 1)`, so that a continuous density model
/// is not rewarded for putting infinite density on the grid (theory.md §5; 256 for 8-bit).
pub fn dequantize(data: Dataset, levels: u32, rng: &mut impl Rng) -> Result<Dataset> {
    if levels < 2 {
        return Err(DatasetError::invalid(
            "levels",
            format!("{levels}: need at least 2"),
        ));
    }
    let x = data.features();
    if let Some(((row, column), &v)) = x.indexed_iter().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return Err(DatasetError::invalid(
            "value",
            format!("row {row}, column {column} is {v}, outside [0, 1]; scale the data first"),
        ));
    }
    let top = (levels - 1) as f32;
    let n = levels as f32;
    let mut y = Array2::zeros(x.dim());
    Zip::from(&mut y).and(x).for_each(|o, &v| {
        let u: f32 = rng.random();
        // Round to the grid first so noise never crosses into the next bin.
        *o = (((v * top).round() + u) / n).min(1.0 - f32::EPSILON);
    });
    Ok(data.map_features(y, &format!("dequantised ({levels} levels, uniform noise)")))
}

/// Per-feature mean and standard deviation fitted on a training split.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Array1<f32>,
    /// Per-feature standard deviation (population, divisor N); 1 where it is 0, so constant
    /// features are centred, not divided by zero.
    pub std: Array1<f32>,
}

impl Standardizer {
    /// Fits mean and standard deviation on `train` (needs at least one row).
    pub fn fit(train: &Dataset) -> Result<Self> {
        let x = train.features();
        if x.nrows() == 0 {
            return Err(DatasetError::invalid(
                "training split",
                "it has no rows to fit on",
            ));
        }
        let x64 = x.mapv(f64::from);
        let mean = x64
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let var = x64.var_axis(Axis(0), 0.0);
        let std = var.mapv(|v| if v > 0.0 { v.sqrt() as f32 } else { 1.0 });
        Ok(Self {
            mean: mean.mapv(|m| m as f32),
            std,
        })
    }

    /// Applies `(x − mean) / std`; fails if the feature count differs from the fitted one.
    pub fn transform(&self, data: Dataset) -> Result<Dataset> {
        if data.n_features() != self.mean.len() {
            return Err(DatasetError::invalid(
                "features",
                format!(
                    "`{}` has {} features, the standardiser was fitted on {}",
                    data.name(),
                    data.n_features(),
                    self.mean.len()
                ),
            ));
        }
        let mut y = data.features().clone();
        Zip::from(y.rows_mut()).for_each(|mut row| {
            Zip::from(&mut row)
                .and(&self.mean)
                .and(&self.std)
                .for_each(|v, &m, &s| *v = (*v - m) / s);
        });
        Ok(data.map_features(y, "standardised with training-split statistics"))
    }
}

/// The rows of each class, in data order.
fn rows_by_class(data: &Dataset) -> Option<Vec<Vec<usize>>> {
    let labels = data.labels()?;
    let mut by_class = vec![Vec::new(); data.n_classes()];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(rows) = by_class.get_mut(l) {
            rows.push(i);
        }
    }
    Some(by_class)
}

/// Splits `total` into per-class quotas proportional to `sizes` (largest remainder, ties to
/// the lower class), never above a class's size.
fn proportional_quotas(sizes: &[usize], total: usize) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let mut quotas: Vec<usize> = sizes.iter().map(|&s| s * total / n).collect();
    let mut remainders: Vec<(usize, usize)> = sizes
        .iter()
        .enumerate()
        .map(|(k, &s)| (s * total % n, k))
        .collect();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = total - quotas.iter().sum::<usize>();
    for &(_, k) in remainders.iter().cycle().take(sizes.len() * 2) {
        if left == 0 {
            break;
        }
        if let (Some(q), Some(&s)) = (quotas.get_mut(k), sizes.get(k))
            && *q < s
        {
            *q += 1;
            left -= 1;
        }
    }
    quotas
}

/// A random subset of `n` rows that keeps the class proportions (largest-remainder quotas);
/// rows keep their original order. Without labels it is a plain random subset.
pub fn stratified_subset(data: &Dataset, n: usize, rng: &mut impl Rng) -> Result<Dataset> {
    if n > data.n_examples() {
        return Err(DatasetError::invalid(
            "subset size",
            format!(
                "{n} rows asked of `{}`, which has {}",
                data.name(),
                data.n_examples()
            ),
        ));
    }
    let (chosen, _) = stratified_partition(data, n, rng);
    data.select(&chosen)
        .map(|d| d.with_name(format!("{}[subset {n}]", data.name())))
}

/// Draws `n` rows stratified by class; returns (chosen, rest), each in original order.
fn stratified_partition(data: &Dataset, n: usize, rng: &mut impl Rng) -> (Vec<usize>, Vec<usize>) {
    let groups = rows_by_class(data).unwrap_or_else(|| vec![(0..data.n_examples()).collect()]);
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let quotas = proportional_quotas(&sizes, n);
    let mut chosen = Vec::with_capacity(n);
    let mut rest = Vec::with_capacity(data.n_examples() - n);
    for (mut rows, quota) in groups.into_iter().zip(quotas) {
        rows.shuffle(rng);
        let (take, leave) = rows.split_at(quota.min(rows.len()));
        chosen.extend_from_slice(take);
        rest.extend_from_slice(leave);
    }
    chosen.sort_unstable();
    rest.sort_unstable();
    (chosen, rest)
}

/// Splits a training set into (train, validation), stratified by class when there are labels;
/// `validation_fraction` in (0, 1) of the rows (rounded) go to validation.
pub fn train_validation_split(
    data: &Dataset,
    validation_fraction: f64,
    rng: &mut impl Rng,
) -> Result<(Dataset, Dataset)> {
    if !(validation_fraction > 0.0 && validation_fraction < 1.0) {
        return Err(DatasetError::invalid(
            "validation_fraction",
            format!("{validation_fraction}: must be strictly between 0 and 1"),
        ));
    }
    let n_val = (data.n_examples() as f64 * validation_fraction).round() as usize;
    if n_val == 0 || n_val == data.n_examples() {
        return Err(DatasetError::invalid(
            "validation_fraction",
            format!(
                "{validation_fraction} of {} rows leaves an empty part; use a larger data set \
                 or another fraction",
                data.n_examples()
            ),
        ));
    }
    let (val, train) = stratified_partition(data, n_val, rng);
    let base = data.name().trim_end_matches("/train").to_owned();
    Ok((
        data.select(&train)?.with_name(format!("{base}/train")),
        data.select(&val)?.with_name(format!("{base}/validation")),
    ))
}

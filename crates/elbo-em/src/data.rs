//! Input conversion and validation: the one place where user data enters the crate.
//!
//! Models compute in `f64`; input may be `f64`, `f32` or `u8`. Data in standard (row-major)
//! layout is used in place; strided or transposed views are copied once per call.

use ndarray::{ArrayView1, ArrayView2, CowArray, Ix2};

use crate::error::EmError;

mod sealed {
    /// Keeps [`super::Element`] closed: only the types listed in this module implement it.
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
}

/// A scalar type accepted as input data: `f64`, `f32` or `u8`.
///
/// Models compute in `f64`; rows are converted chunk by chunk as they are read, so `f32` or
/// `u8` data is never copied whole. Sealed: only these three types implement it.
pub trait Element: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The value as `f64` (exact for all three types).
    fn to_f64(self) -> f64;
}

impl Element for f64 {
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Element for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for u8 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// The data in standard (row-major) layout, borrowed when it already is.
fn standard<A: Element>(x: ArrayView2<'_, A>) -> CowArray<'_, A, Ix2> {
    if x.is_standard_layout() {
        CowArray::from(x)
    } else {
        CowArray::from(x.as_standard_layout().into_owned())
    }
}

/// Checks data for fitting (not empty, every value finite) and puts it in standard layout.
pub(crate) fn prepare<A: Element>(x: ArrayView2<'_, A>) -> Result<CowArray<'_, A, Ix2>, EmError> {
    let (rows, cols) = x.dim();
    if rows == 0 || cols == 0 {
        return Err(EmError::EmptyData { rows, cols });
    }
    check_finite(x)?;
    Ok(standard(x))
}

/// Checks data for a fitted model with `n_features` columns (any number of rows).
pub(crate) fn prepare_for_model<A: Element>(
    x: ArrayView2<'_, A>,
    n_features: usize,
) -> Result<CowArray<'_, A, Ix2>, EmError> {
    if x.ncols() != n_features {
        return Err(EmError::DimensionMismatch {
            expected: n_features,
            found: x.ncols(),
        });
    }
    check_finite(x)?;
    Ok(standard(x))
}

/// Reports the first (row-major) non-finite value.
pub(crate) fn check_finite<A: Element>(x: ArrayView2<'_, A>) -> Result<(), EmError> {
    for (row, values) in x.rows().into_iter().enumerate() {
        if let Some((column, value)) = values
            .iter()
            .map(|v| v.to_f64())
            .enumerate()
            .find(|(_, v)| !v.is_finite())
        {
            return Err(EmError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// Reports the first (row-major) value that is neither 0 nor 1.
pub(crate) fn check_binary<A: Element>(x: ArrayView2<'_, A>) -> Result<(), EmError> {
    for (row, values) in x.rows().into_iter().enumerate() {
        if let Some((column, value)) = values
            .iter()
            .map(|v| v.to_f64())
            .enumerate()
            .find(|(_, v)| *v != 0.0 && *v != 1.0)
        {
            return Err(EmError::NonBinary { row, column, value });
        }
    }
    Ok(())
}

/// Checks sample weights: one per row, finite, non-negative, positive total.
/// Returns the total weight.
pub(crate) fn check_sample_weight(
    w: ArrayView1<'_, f64>,
    n_samples: usize,
) -> Result<f64, EmError> {
    if w.len() != n_samples {
        return Err(EmError::SampleWeight {
            reason: format!(
                "{} weights for {} samples; give one weight per row",
                w.len(),
                n_samples
            ),
        });
    }
    if let Some((i, v)) = w
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        return Err(EmError::SampleWeight {
            reason: format!("weight {i} is {v}; weights must be finite and non-negative"),
        });
    }
    let total: f64 = w.sum();
    if total <= 0.0 {
        return Err(EmError::SampleWeight {
            reason: "all weights are zero; at least one sample must have a positive weight"
                .to_owned(),
        });
    }
    Ok(total)
}

/// Number of rows with a positive weight (all rows without weights).
pub(crate) fn effective_rows(w: Option<ArrayView1<'_, f64>>, n: usize) -> usize {
    w.map_or(n, |w| w.iter().filter(|v| **v > 0.0).count())
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn strided_views_are_made_standard() {
        let x64 = array![[1.0, 2.0], [3.0, 4.0]];
        let t = prepare(x64.t()).unwrap();
        assert!(t.is_standard_layout());
        assert_eq!(t, array![[1.0, 3.0], [2.0, 4.0]]);
        assert!(prepare(x64.view()).unwrap().is_view());
    }

    #[test]
    fn first_non_finite_value_is_reported() {
        let x = array![[0.0f32, 1.0], [2.0, f32::INFINITY], [f32::NAN, 0.0]];
        match prepare(x.view()) {
            Err(EmError::NonFinite {
                row: 1,
                column: 1,
                value,
            }) => assert!(value.is_infinite()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sample_weights_are_checked() {
        assert!(check_sample_weight(array![1.0, 2.0].view(), 3).is_err());
        assert!(check_sample_weight(array![1.0, -2.0].view(), 2).is_err());
        assert!(check_sample_weight(array![0.0, 0.0].view(), 2).is_err());
        assert!(check_sample_weight(array![1.0, f64::NAN].view(), 2).is_err());
        assert_eq!(
            check_sample_weight(array![1.0, 2.5].view(), 2).unwrap(),
            3.5
        );
    }
}

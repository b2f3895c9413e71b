//! Conversions between `ndarray` arrays (what `elbo-datasets` hands out) and libtorch tensors.
//!
//! This is the one place where the two meet (an architecture invariant): data crates stay free
//! of tch, and the model crate takes and returns tensors.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use tch::kind::Element;
use tch::{Device, Tensor};

use crate::error::VaeError;

/// Copy a matrix into a `[rows, cols]` tensor of the same element type on `device`.
///
/// Any memory layout is accepted (transposed or strided views are copied row by row).
pub fn array2_to_tensor<T: Element + Copy>(a: ArrayView2<'_, T>, device: Device) -> Tensor {
    let (rows, cols) = a.dim();
    let flat = match a.as_slice() {
        Some(slice) => Tensor::from_slice(slice),
        None => Tensor::from_slice(&a.iter().copied().collect::<Vec<T>>()),
    };
    // Sizes of an in-memory array always fit an i64.
    let shape = [
        i64::try_from(rows).unwrap_or(i64::MAX),
        i64::try_from(cols).unwrap_or(i64::MAX),
    ];
    flat.view(shape).to_device(device)
}

/// Copy a vector into a 1-D tensor of the same element type on `device`.
pub fn array1_to_tensor<T: Element + Copy>(a: ArrayView1<'_, T>, device: Device) -> Tensor {
    let flat = match a.as_slice() {
        Some(slice) => Tensor::from_slice(slice),
        None => Tensor::from_slice(&a.iter().copied().collect::<Vec<T>>()),
    };
    flat.to_device(device)
}

/// Copy a 2-D tensor (any device, kind or layout) into an array of `T`, converting the kind.
pub fn tensor_to_array2<T: Element + Copy>(t: &Tensor) -> Result<Array2<T>, VaeError> {
    let size = t.size();
    let [rows, cols] = size[..] else {
        return Err(VaeError::Conversion {
            reason: format!("expected a 2-D tensor, got shape {size:?}"),
        });
    };
    let data = to_host_vec::<T>(t)?;
    let shape = (
        usize::try_from(rows).unwrap_or(0),
        usize::try_from(cols).unwrap_or(0),
    );
    Array2::from_shape_vec(shape, data).map_err(|e| VaeError::Conversion {
        reason: format!("shape {size:?}: {e}"),
    })
}

/// Copy a 1-D tensor (any device, kind or layout) into an array of `T`, converting the kind.
pub fn tensor_to_array1<T: Element + Copy>(t: &Tensor) -> Result<Array1<T>, VaeError> {
    let size = t.size();
    if size.len() != 1 {
        return Err(VaeError::Conversion {
            reason: format!("expected a 1-D tensor, got shape {size:?}"),
        });
    }
    Ok(Array1::from_vec(to_host_vec::<T>(t)?))
}

/// The elements of `t` in row-major order, as `T`, on the host.
fn to_host_vec<T: Element + Copy>(t: &Tensor) -> Result<Vec<T>, VaeError> {
    let host = t
        .f_to_device(Device::Cpu)
        .and_then(|h| h.f_to_kind(T::KIND))
        .and_then(|h| h.f_contiguous())
        .map_err(VaeError::torch("copying a tensor to the host"))?;
    let numel = host.numel();
    let mut data = vec![T::ZERO; numel];
    host.f_copy_data(&mut data, numel)
        .map_err(VaeError::torch("reading tensor data"))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ShapeBuilder, array};
    use tch::Kind;

    #[test]
    fn round_trips_f32_and_f64_in_any_layout() {
        let a = Array::from_shape_fn((3, 4), |(i, j)| (10 * i + j) as f32);
        let t = array2_to_tensor(a.view(), Device::Cpu);
        assert_eq!(t.size(), [3, 4]);
        assert_eq!(t.kind(), Kind::Float);
        assert_eq!(t.double_value(&[2, 1]), 21.0);
        assert_eq!(tensor_to_array2::<f32>(&t).unwrap(), a);

        // A transposed (column-major) view and a strided slice keep their logical order.
        let at = a.t();
        let tt = array2_to_tensor(at, Device::Cpu);
        assert_eq!(tt.size(), [4, 3]);
        assert_eq!(tensor_to_array2::<f32>(&tt).unwrap(), at.to_owned());
        let strided = a.slice(ndarray::s![.., ..;2]);
        assert_eq!(
            tensor_to_array2::<f32>(&array2_to_tensor(strided, Device::Cpu)).unwrap(),
            strided
        );
        let fortran = Array::from_shape_vec((2, 2).f(), vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let tf = array2_to_tensor(fortran.view(), Device::Cpu);
        assert_eq!(tf.kind(), Kind::Double);
        assert_eq!(
            tensor_to_array2::<f64>(&tf).unwrap(),
            array![[1.0, 3.0], [2.0, 4.0]]
        );

        // A non-contiguous tensor converts, and the kind is converted on the way.
        let back = tensor_to_array2::<f64>(&t.tr()).unwrap();
        assert_eq!(back, a.t().mapv(f64::from));

        let v = array![1.5f64, -2.0, 3.25];
        let tv = array1_to_tensor(v.view(), Device::Cpu);
        assert_eq!(tensor_to_array1::<f64>(&tv).unwrap(), v);
        let empty = Array2::<f32>::zeros((0, 5));
        assert_eq!(array2_to_tensor(empty.view(), Device::Cpu).size(), [0, 5]);
    }

    #[test]
    fn wrong_rank_is_an_error() {
        let t = Tensor::zeros([2, 3, 4], (Kind::Float, Device::Cpu));
        assert!(matches!(
            tensor_to_array2::<f32>(&t),
            Err(VaeError::Conversion { .. })
        ));
        assert!(matches!(
            tensor_to_array1::<f32>(&t),
            Err(VaeError::Conversion { .. })
        ));
    }
}

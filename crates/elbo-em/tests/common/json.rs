//! Reading the scikit-learn fixtures in `tests/fixtures/`: nested JSON lists as arrays.

use std::path::PathBuf;

use elbo_em::{Covariance, Covariances};
use ndarray::{Array, Array1, Array2, Array3, ArrayD, IxDyn};
use serde_json::Value;

/// The fixture `tests/fixtures/{file}.json`.
pub fn fixture(file: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        &format!("{file}.json"),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A nested JSON list (or a number) as an n-dimensional array.
pub fn array(v: &Value) -> ArrayD<f64> {
    fn shape(v: &Value, out: &mut Vec<usize>) {
        if let Value::Array(items) = v {
            out.push(items.len());
            if let Some(first) = items.first() {
                shape(first, out);
            }
        }
    }
    fn flatten(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other.as_f64().expect("a number")),
        }
    }
    let mut dims = Vec::new();
    shape(v, &mut dims);
    let mut data = Vec::new();
    flatten(v, &mut data);
    Array::from_shape_vec(IxDyn(&dims), data).expect("a rectangular list")
}

/// A JSON list as a vector.
pub fn a1(v: &Value) -> Array1<f64> {
    array(v).into_dimensionality().expect("a list of numbers")
}

/// A JSON list of lists as a matrix.
pub fn a2(v: &Value) -> Array2<f64> {
    array(v).into_dimensionality().expect("a list of lists")
}

/// A JSON list of matrices.
pub fn a3(v: &Value) -> Array3<f64> {
    array(v).into_dimensionality().expect("a list of matrices")
}

/// A covariance type from scikit-learn's name.
pub fn kind(name: &str) -> Covariance {
    match name {
        "full" => Covariance::Full,
        "tied" => Covariance::Tied,
        "diag" => Covariance::Diag,
        "spherical" => Covariance::Spherical,
        other => panic!("unknown covariance type {other}"),
    }
}

/// Covariance-shaped arrays as one n-dimensional array.
pub fn as_dyn(c: &Covariances) -> ArrayD<f64> {
    match c {
        Covariances::Full(a) => a.clone().into_dyn(),
        Covariances::Tied(a) | Covariances::Diag(a) => a.clone().into_dyn(),
        Covariances::Spherical(a) => a.clone().into_dyn(),
    }
}

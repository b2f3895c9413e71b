//! NumPy `.npy` files, so Python users can hand arrays over (`numpy.save`) and take them back.
//!
//! Format (NumPy's `numpy.lib.format` documentation, versions 1.0–3.0): the magic
//! `\x93NUMPY`, a major and minor version byte, a little-endian header length (`u16` in 1.0,
//! `u32` after), and an ASCII Python dict literal with `descr`, `fortran_order` and `shape`,
//! padded with spaces and ended by a newline; then the raw elements. Read here: `u1`, `f4`
//! and `f8` (either byte order), C or Fortran order, 1 to 3 dimensions. A 1-D array becomes
//! one column, a 3-D array `(n, h, w)` becomes `n` images of `h × w`.
//!
//! [`read_npy`] turns any of them into a data set of `f32`; [`read_npy_array`] and
//! [`write_npy`] keep the element type ([`NpyElement`]), for arrays exchanged with NumPy
//! programs as they are (the benchmarks' inputs).

use std::io::Write;
use std::mem::size_of;
use std::path::Path;

use ndarray::{Array2, ArrayView2, IxDyn, ShapeBuilder};

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

mod sealed {
    /// Keeps [`super::NpyElement`] to the types whose bytes this module knows.
    pub trait Sealed {}
}

/// An element type an `.npy` file is read into and written from unchanged: `u8` (`|u1`),
/// `f32` (`<f4`) and `f64` (`<f8`).
pub trait NpyElement: Copy + sealed::Sealed {
    /// NumPy's `descr` of this type, little-endian as written.
    const DESCR: &'static str;
    /// The element from its `size_of::<Self>()` bytes in the file's byte order.
    #[doc(hidden)]
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self;
    /// Appends the element's little-endian bytes.
    #[doc(hidden)]
    fn put_le(self, out: &mut Vec<u8>);
}

impl sealed::Sealed for u8 {}
impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    fn from_bytes(bytes: &[u8], _big_endian: bool) -> Self {
        bytes.first().copied().unwrap_or_default()
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

macro_rules! float_element {
    ($t:ty, $descr:literal) => {
        impl sealed::Sealed for $t {}
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
                let mut b = [0u8; size_of::<$t>()];
                b.copy_from_slice(bytes);
                if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
float_element!(f32, "<f4");
float_element!(f64, "<f8");

/// The element types read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    U8,
    F32 { big_endian: bool },
    F64 { big_endian: bool },
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        Some(match descr {
            "|u1" | "u1" | "<u1" | ">u1" | "=u1" | "|B" => Self::U8,
            "<f4" | "=f4" => Self::F32 { big_endian: false },
            ">f4" => Self::F32 { big_endian: true },
            "<f8" | "=f8" => Self::F64 { big_endian: false },
            ">f8" => Self::F64 { big_endian: true },
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::F32 { .. } => 4,
            Self::F64 { .. } => 8,
        }
    }

    /// The little-endian `descr` of the type, whatever the file's byte order.
    fn descr(self) -> &'static str {
        match self {
            Self::U8 => u8::DESCR,
            Self::F32 { .. } => f32::DESCR,
            Self::F64 { .. } => f64::DESCR,
        }
    }

    fn big_endian(self) -> bool {
        match self {
            Self::U8 => false,
            Self::F32 { big_endian } | Self::F64 { big_endian } => big_endian,
        }
    }
}

/// The parsed header dict.
#[derive(Debug)]
struct Header {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<usize>,
}

fn header_error(path: &Path, reason: impl Into<String>) -> DatasetError {
    DatasetError::NpyHeader {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The text after `'key':` in the header dict, or an error naming the key.
fn value_after<'a>(path: &Path, dict: &'a str, key: &str) -> Result<&'a str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let start = quoted
        .iter()
        .find_map(|q| dict.find(q.as_str()).map(|i| i + q.len()))
        .ok_or_else(|| header_error(path, format!("header dict has no '{key}' entry: {dict}")))?;
    let rest = dict.get(start..).unwrap_or_default().trim_start();
    rest.strip_prefix(':')
        .map(str::trim_start)
        .ok_or_else(|| header_error(path, format!("no ':' after '{key}' in the header: {dict}")))
}

fn parse_header(path: &Path, dict: &str) -> Result<Header> {
    let descr_text = value_after(path, dict, "descr")?;
    let quote = descr_text
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"');
    let descr = quote
        .and_then(|q| descr_text.get(1..).and_then(|s| s.split(q).next()))
        .ok_or_else(|| {
            header_error(
                path,
                "'descr' is not a quoted string (structured dtypes are not supported)",
            )
        })?;
    let dtype = Dtype::parse(descr).ok_or_else(|| {
        header_error(
            path,
            format!("dtype {descr:?} is not supported; save as uint8 ('|u1'), float32 ('<f4') or float64 ('<f8')"),
        )
    })?;

    let order = value_after(path, dict, "fortran_order")?;
    let fortran_order = if order.starts_with("True") {
        true
    } else if order.starts_with("False") {
        false
    } else {
        return Err(header_error(
            path,
            "'fortran_order' is neither True nor False",
        ));
    };

    let shape_text = value_after(path, dict, "shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| header_error(path, "'shape' is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| header_error(path, format!("'shape' ({inner}) is not a tuple of sizes")))?;
    Ok(Header {
        dtype,
        fortran_order,
        shape,
    })
}

/// Reads a `.npy` file into a [`Dataset`] named `name` (no labels; see [`read_npy_labels`]).
pub fn read_npy(name: &str, path: &Path) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    parse_npy(name, path, &bytes)
}

/// Parses the bytes of a `.npy` file (read from `path`, named in errors).
pub fn parse_npy(name: &str, path: &Path, bytes: &[u8]) -> Result<Dataset> {
    let (header, data) = split_header(path, bytes)?;
    let (n, cols, image) = rows_and_columns(path, &header.shape)?;
    let flat = c_order(path, &header, decode(path, &header, data)?)?;
    let features =
        Array2::from_shape_vec((n, cols), flat).map_err(|e| header_error(path, e.to_string()))?;
    if let Some((index, &v)) = features.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DatasetError::NonFinite {
            path: path.to_path_buf(),
            row: index / cols.max(1),
            column: index % cols.max(1),
            value: f64::from(v),
        });
    }
    let mut dataset =
        Dataset::new(name, features).with_provenance(format!("NPY {}", path.display()));
    if let Some((h, w)) = image {
        dataset = dataset.with_image_shape(h, w)?;
    }
    Ok(dataset)
}

/// Reads a `.npy` file holding `T`'s dtype (either byte order) into an `n × d` array of the
/// values as stored, with the shapes of [`read_npy`]; no conversion and no finiteness check.
pub fn read_npy_array<T: NpyElement>(path: &Path) -> Result<Array2<T>> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    let (header, data) = split_header(path, &bytes)?;
    if header.dtype.descr() != T::DESCR {
        return Err(header_error(
            path,
            format!(
                "the file holds {} elements but {} were asked for",
                header.dtype.descr(),
                T::DESCR
            ),
        ));
    }
    let (n, cols, _) = rows_and_columns(path, &header.shape)?;
    let values = c_order(
        path,
        &header,
        elements::<T>(data, header.dtype.big_endian()).collect(),
    )?;
    Array2::from_shape_vec((n, cols), values).map_err(|e| header_error(path, e.to_string()))
}

/// Rows, columns, and the image shape `(h, w)` of a 3-D array.
type Layout = (usize, usize, Option<(usize, usize)>);

/// `(n, d)` for a 1-D (one column), 2-D, or 3-D (`n` images of `h × w`) shape.
fn rows_and_columns(path: &Path, shape: &[usize]) -> Result<Layout> {
    match *shape {
        [n] => Ok((n, 1, None)),
        [n, d] => Ok((n, d, None)),
        [n, h, w] => Ok((n, h.saturating_mul(w), Some((h, w)))),
        _ => Err(header_error(
            path,
            format!("shape {shape:?}: only 1-, 2- and 3-dimensional arrays are read"),
        )),
    }
}

/// The elements in C (row-major) order, reordered if the file holds them in Fortran order.
fn c_order<T: Copy>(path: &Path, header: &Header, values: Vec<T>) -> Result<Vec<T>> {
    if !header.fortran_order || header.shape.len() < 2 {
        return Ok(values);
    }
    let array = ndarray::Array::from_shape_vec(IxDyn(&header.shape).f(), values)
        .map_err(|e| header_error(path, e.to_string()))?;
    Ok(array.as_standard_layout().iter().copied().collect())
}

/// Reads a 1-D `.npy` array of class labels (`u1`, or floats holding non-negative integers).
pub fn read_npy_labels(path: &Path) -> Result<Vec<usize>> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    let (header, data) = split_header(path, &bytes)?;
    if header.shape.len() != 1 {
        return Err(header_error(
            path,
            format!("labels must be a 1-D array, got shape {:?}", header.shape),
        ));
    }
    decode(path, &header, data)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(v as usize)
            } else {
                Err(DatasetError::NonFinite {
                    path: path.to_path_buf(),
                    row: i,
                    column: 0,
                    value: f64::from(v),
                })
            }
        })
        .collect()
}

/// Checks the magic and version, parses the header dict, checks the byte count, and returns
/// the header and the data bytes.
fn split_header<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Header, &'a [u8])> {
    if bytes.get(..MAGIC.len()) != Some(MAGIC) {
        return Err(header_error(
            path,
            format!(
                "not an NPY file: it starts with {:02x?}, expected \\x93NUMPY",
                bytes
                    .get(..MAGIC.len().min(bytes.len()))
                    .unwrap_or_default()
            ),
        ));
    }
    let major = bytes.get(6).copied().unwrap_or(0);
    let (header_len, dict_start) = match major {
        1 => match bytes.get(8..10) {
            Some(&[a, b]) => (usize::from(u16::from_le_bytes([a, b])), 10),
            _ => return Err(truncated(path, 10, bytes.len())),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(&[a, b, c, d]) => (u32::from_le_bytes([a, b, c, d]) as usize, 12),
            _ => return Err(truncated(path, 12, bytes.len())),
        },
        v => {
            return Err(header_error(
                path,
                format!("NPY format version {v} is not supported (1, 2 or 3 are)"),
            ));
        }
    };
    let data_start = dict_start + header_len;
    let dict_bytes = bytes
        .get(dict_start..data_start)
        .ok_or_else(|| truncated(path, data_start as u64, bytes.len()))?;
    let dict = std::str::from_utf8(dict_bytes)
        .map_err(|_| header_error(path, "the header dict is not text"))?;
    let header = parse_header(path, dict)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|c| c.checked_mul(header.dtype.size()))
        .ok_or_else(|| header_error(path, format!("shape {:?} overflows", header.shape)))?;
    let data = bytes.get(data_start..).unwrap_or_default();
    if data.len() < count {
        return Err(DatasetError::Truncated {
            path: path.to_path_buf(),
            expected: count as u64,
            found: data.len() as u64,
        });
    }
    if data.len() > count {
        return Err(DatasetError::TrailingBytes {
            path: path.to_path_buf(),
            expected: count as u64,
            extra: (data.len() - count) as u64,
        });
    }
    Ok((header, data))
}

fn truncated(path: &Path, expected: impl TryInto<u64>, found: usize) -> DatasetError {
    DatasetError::Truncated {
        path: path.to_path_buf(),
        expected: expected.try_into().unwrap_or(u64::MAX),
        found: found as u64,
    }
}

/// The elements of `data`, in file order.
fn elements<T: NpyElement>(data: &[u8], big_endian: bool) -> impl Iterator<Item = T> + '_ {
    data.chunks_exact(size_of::<T>())
        .map(move |c| T::from_bytes(c, big_endian))
}

/// Decodes the elements, in file order, to `f32`.
fn decode(path: &Path, header: &Header, data: &[u8]) -> Result<Vec<f32>> {
    let values: Vec<f32> = match header.dtype {
        Dtype::U8 => elements::<u8>(data, false).map(f32::from).collect(),
        Dtype::F32 { big_endian } => elements::<f32>(data, big_endian).collect(),
        Dtype::F64 { big_endian } => elements::<f64>(data, big_endian)
            .map(|v| v as f32)
            .collect(),
    };
    if values.len() * header.dtype.size() != data.len() {
        return Err(header_error(
            path,
            "data length is not a whole number of elements",
        ));
    }
    Ok(values)
}

/// Writes `array` as a little-endian, C-order `.npy` (format 1.0) of its element type that
/// `numpy.load` reads.
pub fn write_npy<T: NpyElement>(path: &Path, array: ArrayView2<'_, T>) -> Result<()> {
    let (n, d) = array.dim();
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({n}, {d}), }}",
        T::DESCR
    );
    // Pad so that magic + version + length + dict + newline is a multiple of 64 bytes.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + padding + 1;
    let header_len = u16::try_from(header_len)
        .map_err(|_| DatasetError::invalid("array shape", "NPY header too long"))?;
    let mut out = Vec::with_capacity(unpadded + padding + size_of::<T>() * n * d);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padding));
    out.push(b'\n');
    for &v in array.iter() {
        v.put_le(&mut out);
    }
    let mut file = std::fs::File::create(path).map_err(|e| DatasetError::io(path, e))?;
    file.write_all(&out).map_err(|e| DatasetError::io(path, e))
}

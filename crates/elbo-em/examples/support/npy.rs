//! The little NumPy `.npy` (format 1.0, C order, 2-D) reading and writing the benchmark
//! examples share with their Python peers in `bench/peers/`: `<f8` (f64) and `|u1` (u8).

use std::error::Error;
use std::io::Write;
use std::path::Path;

use ndarray::Array2;

type Res<T> = Result<T, Box<dyn Error>>;

/// A value type an `.npy` file can hold here.
pub trait NpyElement: Copy + Default {
    /// NumPy's `descr` string.
    const DESCR: &'static str;
    /// Bytes per value.
    const SIZE: usize;
    fn from_le(bytes: &[u8]) -> Self;
    fn to_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    const SIZE: usize = 8;
    fn from_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        f64::from_le_bytes(b)
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
    const SIZE: usize = 1;
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0]
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

/// Writes a matrix as `.npy` (format 1.0, C order).
pub fn write<T: NpyElement>(path: &Path, x: &Array2<T>) -> Res<()> {
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}",
        T::DESCR,
        x.nrows(),
        x.ncols()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + x.len() * T::SIZE);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&u16::try_from(header.len())?.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in x.as_standard_layout().iter() {
        v.to_le(&mut bytes);
    }
    let mut out = std::fs::File::create(path)?;
    out.write_all(&bytes)?;
    Ok(())
}

/// Reads a 2-D C-order `.npy` of exactly this element type.
pub fn read<T: NpyElement>(path: &Path) -> Res<Array2<T>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |why: &str| format!("{}: not a supported .npy file ({why})", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" || bytes[6] != 1 {
        return Err(bad("magic or version").into());
    }
    let len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(bytes.get(10..10 + len).ok_or_else(|| bad("header"))?)?;
    if !header.contains(&format!("'descr': '{}'", T::DESCR)) {
        return Err(bad(&format!("need descr {}, header {header}", T::DESCR)).into());
    }
    if !header.contains("'fortran_order': False") {
        return Err(bad("Fortran order").into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        return Err(bad("not 2-D").into());
    };
    let data = &bytes[10 + len..];
    if data.len() != rows * cols * T::SIZE {
        return Err(bad("size does not match the shape").into());
    }
    let values: Vec<T> = data.chunks_exact(T::SIZE).map(T::from_le).collect();
    Ok(Array2::from_shape_vec((rows, cols), values)?)
}

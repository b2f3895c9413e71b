//! IDX files (the MNIST format), raw or gzip-compressed.
//!
//! Layout (LeCun et al., "THE MNIST DATABASE" page): bytes 0–1 are zero, byte 2 is the element
//! type (`0x08` = unsigned byte, the only one used by MNIST-like data and the only one read
//! here), byte 3 the number of dimensions; then one big-endian `u32` per dimension; then the
//! elements, row-major. A file starting with `1f 8b` is read through gzip.
//!
//! The payload is streamed from the (decompressing) reader straight into the final `f32`
//! buffer in 64 KiB chunks, so peak memory is the output array plus a few buffers, never a
//! second copy of the bytes.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use ndarray::Array2;

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

/// The element type code for unsigned bytes.
const TYPE_U8: u8 = 0x08;
/// Largest element count preallocated in one go; beyond it the buffer grows as data arrives,
/// so a header that lies about a huge size cannot make us allocate gigabytes up front.
const MAX_PREALLOC: usize = 1 << 28;
const CHUNK: usize = 1 << 16;

/// Images read from an IDX file: raw grey levels (0–255 as `f32`), one image per row.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    /// `n × (height · width)` grey levels in 0..=255.
    pub pixels: Array2<f32>,
    /// Image height (IDX dimension 1).
    pub height: usize,
    /// Image width (IDX dimension 2).
    pub width: usize,
}

/// An open IDX file: where it is, how it is read, and how many bytes a raw file holds.
struct IdxReader {
    path: PathBuf,
    inner: Box<dyn Read>,
    gzip: bool,
    raw_len: u64,
    consumed: u64,
}

impl IdxReader {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let raw_len = file
            .metadata()
            .map_err(|e| DatasetError::io(path, e))?
            .len();
        let mut buffered = BufReader::with_capacity(CHUNK, file);
        let mut head = [0u8; 2];
        let n = peek(&mut buffered, &mut head).map_err(|e| DatasetError::io(path, e))?;
        let gzip = n == 2 && head == [0x1f, 0x8b];
        let inner: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            gzip,
            raw_len,
            consumed: 0,
        })
    }

    /// Fills `buf` completely, or reports how far it got as a truncation of `expected` bytes.
    fn read_exact_or_truncated(&mut self, buf: &mut [u8], expected: u64) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let Some(rest) = buf.get_mut(filled..) else {
                break;
            };
            match self.inner.read(rest) {
                Ok(0) => {
                    return Err(DatasetError::Truncated {
                        path: self.path.clone(),
                        expected,
                        found: self.consumed + filled as u64,
                    });
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e, expected, filled)),
            }
        }
        self.consumed += filled as u64;
        Ok(())
    }

    /// Maps a read error: a gzip stream that ends early is a truncation, other gzip failures
    /// are corruption, the rest is I/O.
    fn read_error(&self, e: std::io::Error, expected: u64, filled: usize) -> DatasetError {
        if !self.gzip {
            return DatasetError::io(&self.path, e);
        }
        if e.kind() == ErrorKind::UnexpectedEof {
            DatasetError::Truncated {
                path: self.path.clone(),
                expected,
                found: self.consumed + filled as u64,
            }
        } else {
            DatasetError::Gzip {
                path: self.path.clone(),
                offset: self.consumed + filled as u64,
                message: e.to_string(),
            }
        }
    }

    /// Reads the magic and the dimensions; checks the type is unsigned bytes and the rank is
    /// `ndim`. Returns the dimensions.
    fn header(&mut self, ndim: u8) -> Result<Vec<usize>> {
        let mut magic = [0u8; 4];
        self.read_exact_or_truncated(&mut magic, 4)?;
        if magic[0] != 0 || magic[1] != 0 || magic[3] == 0 {
            return Err(DatasetError::IdxMagic {
                path: self.path.clone(),
                found: magic,
            });
        }
        if magic[2] != TYPE_U8 {
            return Err(DatasetError::IdxHeader {
                path: self.path.clone(),
                reason: format!(
                    "element type 0x{:02x} is not supported; only unsigned bytes (0x08) are",
                    magic[2]
                ),
            });
        }
        if magic[3] != ndim {
            return Err(DatasetError::IdxHeader {
                path: self.path.clone(),
                reason: format!(
                    "{} dimensions, expected {ndim} ({})",
                    magic[3],
                    if ndim == 1 {
                        "a labels file"
                    } else {
                        "an images file: count, rows, columns"
                    }
                ),
            });
        }
        let header_len = 4 + 4 * u64::from(ndim);
        let mut dims = Vec::with_capacity(usize::from(ndim));
        for _ in 0..ndim {
            let mut word = [0u8; 4];
            self.read_exact_or_truncated(&mut word, header_len)?;
            dims.push(u32::from_be_bytes(word) as usize);
        }
        Ok(dims)
    }

    /// Streams exactly `n` payload bytes into `sink`, then checks nothing follows.
    fn payload(&mut self, n: usize, mut sink: impl FnMut(&[u8])) -> Result<()> {
        let header_len = self.consumed;
        let expected = n as u64;
        // A raw file's size is known: check it before allocating anything.
        if !self.gzip && self.raw_len < header_len + expected {
            return Err(DatasetError::Truncated {
                path: self.path.clone(),
                expected,
                found: self.raw_len.saturating_sub(header_len),
            });
        }
        let mut buf = vec![0u8; CHUNK];
        let mut remaining = n;
        while remaining > 0 {
            let want = remaining.min(CHUNK);
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            match self.inner.read(chunk) {
                Ok(0) => {
                    return Err(DatasetError::Truncated {
                        path: self.path.clone(),
                        expected,
                        found: (n - remaining) as u64,
                    });
                }
                Ok(k) => {
                    sink(chunk.get(..k).unwrap_or_default());
                    remaining -= k;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Report payload-relative positions, as for `Truncated` above.
                    self.consumed = 0;
                    return Err(self.read_error(e, expected, n - remaining));
                }
            }
        }
        self.consumed = header_len + expected;
        let mut extra = 0u64;
        loop {
            match self.inner.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => extra += k as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e, expected, 0)),
            }
        }
        if extra > 0 {
            return Err(DatasetError::TrailingBytes {
                path: self.path.clone(),
                expected,
                extra,
            });
        }
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes without consuming them from a `BufReader`.
fn peek(reader: &mut BufReader<File>, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::BufRead;
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
        dst.copy_from_slice(src);
    }
    Ok(n)
}

/// Reads an IDX images file (3 dimensions: count, rows, columns) of unsigned bytes.
///
/// Pixels keep their raw grey levels 0–255 (as `f32`); use [`crate::scale_to_unit`] for [0, 1].
pub fn read_idx_images(path: &Path) -> Result<IdxImages> {
    let mut reader = IdxReader::open(path)?;
    let dims = reader.header(3)?;
    let (n, height, width) = match dims.as_slice() {
        &[n, h, w] => (n, h, w),
        _ => unreachable_dims(path)?,
    };
    let per_image = height.checked_mul(width);
    let total = per_image.and_then(|p| p.checked_mul(n));
    let (Some(per_image), Some(total)) = (per_image, total) else {
        return Err(DatasetError::IdxHeader {
            path: path.to_path_buf(),
            reason: format!("dimensions {n} x {height} x {width} overflow"),
        });
    };
    let mut values: Vec<f32> = Vec::with_capacity(total.min(MAX_PREALLOC));
    reader.payload(total, |chunk| {
        values.extend(chunk.iter().map(|&b| f32::from(b)))
    })?;
    let pixels =
        Array2::from_shape_vec((n, per_image), values).map_err(|e| DatasetError::IdxHeader {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    tracing::debug!(path = %path.display(), n, height, width, "read IDX images");
    Ok(IdxImages {
        pixels,
        height,
        width,
    })
}

/// Reads an IDX labels file (1 dimension) of unsigned bytes.
pub fn read_idx_labels(path: &Path) -> Result<Vec<usize>> {
    let mut reader = IdxReader::open(path)?;
    let dims = reader.header(1)?;
    let n = match dims.as_slice() {
        &[n] => n,
        _ => unreachable_dims(path)?,
    };
    let mut labels = Vec::with_capacity(n.min(MAX_PREALLOC));
    reader.payload(n, |chunk| {
        labels.extend(chunk.iter().map(|&b| usize::from(b)))
    })?;
    Ok(labels)
}

/// `header` already checked the rank; this keeps the match total without a panic.
fn unreachable_dims<T>(path: &Path) -> Result<T> {
    Err(DatasetError::IdxHeader {
        path: path.to_path_buf(),
        reason: "unexpected number of dimensions".to_owned(),
    })
}

/// Loads an images file and, optionally, its labels file as one [`Dataset`] of raw grey levels
/// (0–255) with the image shape set; images and labels must agree in count.
pub fn load_idx(name: &str, images: &Path, labels: Option<&Path>) -> Result<Dataset> {
    let IdxImages {
        pixels,
        height,
        width,
    } = read_idx_images(images)?;
    let n_images = pixels.nrows();
    let mut provenance = format!("IDX {}", images.display());
    let mut dataset = Dataset::new(name, pixels);
    if let Some(labels_path) = labels {
        let labels = read_idx_labels(labels_path)?;
        if labels.len() != n_images {
            return Err(DatasetError::LabelCount {
                images: images.to_path_buf(),
                n_images,
                labels: labels_path.to_path_buf(),
                n_labels: labels.len(),
            });
        }
        provenance = format!("{provenance} + labels {}", labels_path.display());
        dataset = dataset.with_labels(labels)?;
    }
    Ok(dataset
        .with_image_shape(height, width)?
        .with_provenance(provenance))
}

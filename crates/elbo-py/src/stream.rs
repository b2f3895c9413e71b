//! A Python iterable of arrays as elbo-em's `ChunkSource`: each pass calls the Python
//! function that makes a fresh iterator, and takes the GIL only while it fetches a chunk.

use ndarray::Array2;
use numpy::PyReadonlyArray2;
use pyo3::prelude::*;
use pyo3::types::PyIterator;

/// One pass over the chunks. Python's signal handlers run before every chunk, so Ctrl-C
/// stops a streamed fit with `KeyboardInterrupt` (which elbo-em passes back as the stream's
/// error).
#[derive(Debug)]
pub(crate) struct PyChunks {
    iter: Option<Py<PyIterator>>,
    error: Option<PyErr>,
}

impl PyChunks {
    /// Calls `make_chunks()` for a fresh iterator.
    pub(crate) fn start(make_chunks: &Py<PyAny>) -> Self {
        Python::attach(
            |py| match make_chunks.bind(py).call0().and_then(|it| it.try_iter()) {
                Ok(iter) => Self {
                    iter: Some(iter.unbind()),
                    error: None,
                },
                Err(error) => Self {
                    iter: None,
                    error: Some(error),
                },
            },
        )
    }
}

impl Iterator for PyChunks {
    type Item = Result<Array2<f64>, PyErr>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.error.take() {
            return Some(Err(error));
        }
        let iter = self.iter.as_ref()?;
        let item = Python::attach(|py| {
            if let Err(e) = py.check_signals() {
                return Some(Err(e));
            }
            let mut it = iter.bind(py).clone();
            match it.next()? {
                Err(e) => Some(Err(e)),
                Ok(chunk) => Some(
                    chunk
                        .extract::<PyReadonlyArray2<'_, f64>>()
                        .map(|a| a.as_array().to_owned()),
                ),
            }
        });
        if !matches!(item, Some(Ok(_))) {
            self.iter = None;
        }
        item
    }
}

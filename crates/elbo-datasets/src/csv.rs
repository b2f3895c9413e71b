//! Numeric CSV tables with a header line, read with the `csv` crate.
//!
//! Comma-separated with RFC 4180 quoting: fields may be wrapped in double quotes (R's
//! `write.csv` quotes the header and row names) and a quoted field may hold commas, doubled
//! quotes and line breaks. Blank lines are skipped and a UTF-8 byte-order mark before the header
//! is dropped. Every cell of a feature column must be a finite number; the optional label column
//! must hold non-negative integers (class indices). Errors give the line a record starts on.

use std::path::Path;

use ndarray::Array2;

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

/// How to read a CSV file: which column holds labels and which columns to ignore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Name (from the header) of the column holding class labels; `None` for no labels.
    pub label_column: Option<String>,
    /// Names of columns to drop, e.g. `""` for R's unnamed row-name column.
    pub skip_columns: Vec<String>,
}

impl CsvOptions {
    /// Reads every column as a feature.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes labels from the column named `name`.
    pub fn label_column(mut self, name: impl Into<String>) -> Self {
        self.label_column = Some(name.into());
        self
    }

    /// Ignores the column named `name` (may be called repeatedly).
    pub fn skip_column(mut self, name: impl Into<String>) -> Self {
        self.skip_columns.push(name.into());
        self
    }
}

/// What each header column becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Feature,
    Label,
    Skip,
}

/// Reads the CSV file at `path` into a [`Dataset`] named `name`.
pub fn read_csv(name: &str, path: &Path, options: &CsvOptions) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    parse_csv(name, path, &text, options)
}

/// Parses CSV `text` (read from `path`, named in errors) into a [`Dataset`] named `name`.
pub fn parse_csv(name: &str, path: &Path, text: &str, options: &CsvOptions) -> Result<Dataset> {
    // Excel and Notepad start UTF-8 files with a byte-order mark; it is not part of the header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = ::csv::ReaderBuilder::new()
        // The header is read as a record so that its blank-line handling and errors match.
        .has_headers(false)
        // Row lengths are checked here, to report them with the header's length.
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records().filter(|r| !r.as_ref().is_ok_and(is_blank));
    // Reading from a `&str` cannot fail on I/O or UTF-8, but the error is passed on regardless.
    let read_error = |e: ::csv::Error| DatasetError::io(path, e.into());
    let Some(header) = records.next().transpose().map_err(read_error)? else {
        return Err(DatasetError::CsvHeader {
            path: path.to_path_buf(),
            reason: "the file is empty; expected a header line naming the columns".to_owned(),
        });
    };
    let columns: Vec<&str> = header.iter().collect();
    let mut roles = vec![Role::Feature; columns.len()];
    for skip in &options.skip_columns {
        let i = find_column(path, &columns, skip)?;
        if let Some(r) = roles.get_mut(i) {
            *r = Role::Skip;
        }
    }
    if let Some(label) = &options.label_column {
        let i = find_column(path, &columns, label)?;
        if let Some(r) = roles.get_mut(i) {
            *r = Role::Label;
        }
    }
    let n_features = roles.iter().filter(|&&r| r == Role::Feature).count();
    if n_features == 0 {
        return Err(DatasetError::CsvHeader {
            path: path.to_path_buf(),
            reason: "no feature column left after removing the label and skipped columns"
                .to_owned(),
        });
    }

    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    let mut n_rows = 0usize;
    for record in records {
        let record = record.map_err(read_error)?;
        let line_no = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != columns.len() {
            return Err(DatasetError::CsvRowLength {
                path: path.to_path_buf(),
                line: line_no,
                expected: columns.len(),
                found: record.len(),
            });
        }
        for ((cell, role), column) in record.iter().zip(&roles).zip(&columns) {
            let bad = |reason| DatasetError::CsvCell {
                path: path.to_path_buf(),
                line: line_no,
                column: (*column).to_owned(),
                value: cell.to_owned(),
                reason,
            };
            match role {
                Role::Skip => {}
                Role::Feature => {
                    let v: f64 = cell.parse().map_err(|_| bad("is not a number"))?;
                    if !v.is_finite() {
                        return Err(bad("is not finite (NaN or infinite)"));
                    }
                    values.push(v as f32);
                }
                Role::Label => {
                    labels.push(
                        parse_label(cell)
                            .ok_or_else(|| bad("is not a class index (a non-negative integer)"))?,
                    );
                }
            }
        }
        n_rows += 1;
    }
    let features = Array2::from_shape_vec((n_rows, n_features), values).map_err(|e| {
        DatasetError::CsvHeader {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let mut dataset =
        Dataset::new(name, features).with_provenance(format!("CSV {}", path.display()));
    if options.label_column.is_some() {
        dataset = dataset.with_labels(labels)?;
    }
    tracing::debug!(path = %path.display(), n_rows, n_features, "read CSV");
    Ok(dataset)
}

/// The index of the column called `name`, or an error listing the header.
fn find_column(path: &Path, columns: &[&str], name: &str) -> Result<usize> {
    columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| DatasetError::CsvHeader {
            path: path.to_path_buf(),
            reason: format!("no column named {name:?}; the header has {columns:?}"),
        })
}

/// A line holding nothing but spaces: one empty field after trimming.
fn is_blank(record: &::csv::StringRecord) -> bool {
    record.len() == 1 && record.get(0) == Some("")
}

/// A label: a non-negative integer, written `3` or `3.0`.
fn parse_label(cell: &str) -> Option<usize> {
    if let Ok(v) = cell.parse::<usize>() {
        return Some(v);
    }
    let v: f64 = cell.parse().ok()?;
    (v >= 0.0 && v.fract() == 0.0 && v < 1e15).then_some(v as usize)
}

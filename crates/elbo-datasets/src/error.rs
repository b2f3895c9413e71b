//! The one error type of this crate.
//!
//! Every variant that comes from a file names the file, and where it makes sense the record,
//! line, column or byte offset, so that a user can open the file and see the problem.

use std::path::PathBuf;

/// Everything that can go wrong while loading, checking or transforming data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The operating system refused a read (missing file, permissions, ...).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// A gzip stream could not be decompressed.
    #[error("{path}: corrupt gzip data after {offset} decompressed bytes: {message}")]
    Gzip {
        /// The compressed file.
        path: PathBuf,
        /// Decompressed bytes read successfully before the failure.
        offset: u64,
        /// What the decompressor said.
        message: String,
    },

    /// An IDX file does not start with the magic `0x00 0x00 <type> <ndim>`.
    #[error(
        "{path}: not an IDX file: magic bytes {found:02x?}, expected [00, 00, 08, ndim] (unsigned bytes)"
    )]
    IdxMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes found.
        found: [u8; 4],
    },

    /// An IDX file holds a type other than unsigned bytes, or the wrong number of dimensions.
    #[error("{path}: {reason}")]
    IdxHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        reason: String,
    },

    /// A file holds fewer bytes than its header promises (truncated download, or a lying header).
    #[error(
        "{path}: truncated: the header promises {expected} bytes of data but only {found} are there; \
         fetch the data set again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Data bytes promised by the header.
        expected: u64,
        /// Data bytes actually present.
        found: u64,
    },

    /// A file holds more bytes than its header promises.
    #[error(
        "{path}: {extra} unexpected bytes after the {expected} bytes of data the header promises"
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Data bytes promised by the header.
        expected: u64,
        /// Bytes found beyond that (at least this many).
        extra: u64,
    },

    /// Images and labels disagree in count.
    #[error(
        "{images} holds {n_images} images but {labels} holds {n_labels} labels; they must agree"
    )]
    LabelCount {
        /// The images file (or a description of the features).
        images: PathBuf,
        /// Number of images.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Number of labels.
        n_labels: usize,
    },

    /// A CSV file's header is missing, empty or lacks a requested column.
    #[error("{path}, line 1 (header): {reason}")]
    CsvHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A CSV row has the wrong number of fields.
    #[error("{path}, line {line}: {found} fields, but the header has {expected}")]
    CsvRowLength {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },

    /// A CSV cell is not a (finite) number, or a label is not a class index.
    #[error("{path}, line {line}, column `{column}`: value {value:?} {reason}")]
    CsvCell {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column's name from the header.
        column: String,
        /// The offending text.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// An NPY file's magic, header or dtype is wrong or unsupported.
    #[error("{path}: {reason}")]
    NpyHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        reason: String,
    },

    /// A numeric array holds NaN or an infinity.
    #[error("{path}: row {row}, column {column} is {value}; data must be finite")]
    NonFinite {
        /// The file (or a description of the source).
        path: PathBuf,
        /// 0-based row (example) index.
        row: usize,
        /// 0-based column (feature) index.
        column: usize,
        /// The value found.
        value: f64,
    },

    /// A JSON file is not the `{"data": [numbers]}` shape expected.
    #[error("{path}, byte {offset}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 0-based byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },

    /// A grey level in a digit file is outside [0, 1] or not finite.
    #[error("{path}: record {record}, pixel {pixel}: grey level {value} is outside [0, 1]")]
    PixelRange {
        /// The file.
        path: PathBuf,
        /// 0-based record (image) index in the file.
        record: usize,
        /// 0-based pixel index within the record.
        pixel: usize,
        /// The value found.
        value: f64,
    },

    /// A named data set is not in the data directory.
    #[error(
        "data set `{name}` is not installed in {dir}: run `{fetch_command}` \
         (or pass another --data-dir)"
    )]
    NotInstalled {
        /// The data set's name.
        name: String,
        /// The data directory searched.
        dir: PathBuf,
        /// The command that installs it.
        fetch_command: String,
    },

    /// No manifest carries this name.
    #[error("unknown data set `{name}`; known: {known}")]
    UnknownDataset {
        /// The requested name.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// An installed file's checksum differs from the manifest.
    #[error(
        "{path}: sha256 {found} differs from the manifest's {expected}; delete the data set's \
         folder and fetch it again"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The manifest's sha256.
        expected: String,
        /// The sha256 computed now.
        found: String,
    },

    /// A manifest in `datasets/` is malformed (a bug in the repository, not in user data).
    #[error("manifest `{name}`: {reason}")]
    Manifest {
        /// The manifest's file name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// An argument to a transform, generator or constructor is out of range.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument or field.
        what: &'static str,
        /// Why, and what is allowed.
        reason: String,
    },
}

impl DatasetError {
    /// An `Io` error for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An `InvalidArgument` error.
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }
}

/// This crate's result type.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

//! The tracing subscriber: human-readable lines on stderr (warnings by default), and once a run
//! directory exists, everything at info level and above into its `log.txt` as well.

use std::fs::File;
use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// A log file that is opened after the subscriber is installed (the run directory is created
/// later); until then its writer discards.
#[derive(Debug, Clone, Default)]
pub struct LogFile(Arc<Mutex<Option<File>>>);

impl LogFile {
    /// Appends to `path` from now on.
    pub fn open(&self, path: &Path) -> anyhow::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("could not open the log file {}", path.display()))?;
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
        Ok(())
    }
}

/// One writer handed out per event.
#[derive(Debug)]
pub struct LogFileWriter(Arc<Mutex<Option<File>>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            file.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(file) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            file.flush()?;
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(Arc::clone(&self.0))
    }
}

/// Installs the subscriber; returns the log file handle to open once a run directory exists.
pub fn init(verbose: u8) -> LogFile {
    // The runner's progress (one line per model and per epoch) shows by default: a long run
    // must say what it is doing even when stderr is not a terminal.
    let default = match verbose {
        0 => "warn,elbo_runner=info",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let file = LogFile::default();
    // On screen: one readable line per event, the message alone (the key=value fields go to
    // log.txt and metrics.jsonl), and colour codes only when stderr is a terminal.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .fmt_fields(tracing_subscriber::fmt::format::debug_fn(
            |writer, field, value| {
                if field.name() == "message" {
                    write!(writer, "{value:?}")
                } else {
                    Ok(())
                }
            },
        ))
        .with_filter(filter);
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(file.clone())
        .with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(stderr)
        .with(to_file)
        .init();
    file
}

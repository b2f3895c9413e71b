//! `elbo datasets list`: which named data sets are installed, and how to get the others.

use std::fmt::Write as _;
use std::path::Path;

use elbo_datasets::{InstallState, list_datasets};

/// A table of every named data set in `data_dir`: state, size on disk and the fetch command.
pub fn list_table(data_dir: &Path) -> anyhow::Result<String> {
    let rows = list_datasets(data_dir)?;
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    writeln!(out, "data directory: {}", data_dir.display())?;
    writeln!(
        out,
        "{:<name_w$}  {:<13}  {:>9}  how to get it",
        "name", "state", "size"
    )?;
    for row in rows {
        let (state, size, how) = match row.state {
            InstallState::Installed => ("installed", human_size(row.size_bytes), "-".to_owned()),
            InstallState::NotInstalled => ("not installed", "-".to_owned(), row.fetch_command),
            InstallState::Generated => (
                "generated",
                "-".to_owned(),
                "made from a seed at run time".to_owned(),
            ),
        };
        writeln!(out, "{:<name_w$}  {state:<13}  {size:>9}  {how}", row.name)?;
    }
    Ok(out)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directory_lists_every_dataset_with_its_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let table = list_table(dir.path()).unwrap();
        for name in ["mnist-10k", "fashion-mnist", "faithful"] {
            let line = table.lines().find(|l| l.starts_with(name)).expect(name);
            assert!(line.contains("not installed"), "{line}");
            assert!(
                line.contains(&format!("cargo xtask fetch-data {name}")),
                "{line}"
            );
        }
        let synthetic = table
            .lines()
            .find(|l| l.starts_with("synthetic-gmm"))
            .unwrap();
        assert!(synthetic.contains("generated"), "{synthetic}");
    }

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(31_400_000), "31.4 MB");
        assert_eq!(human_size(2_000_000_000), "2.0 GB");
    }
}

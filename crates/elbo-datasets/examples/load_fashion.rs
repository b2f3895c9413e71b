//! Benchmark: load the Fashion-MNIST training images (60,000 × 784, 47 MB of raw bytes, gzip on
//! disk) into an `Array2<f32>`, and report the wall time and the peak memory (`VmHWM`).
//!
//! Run: `cargo run --release -p elbo-datasets --example load_fashion [-- DATA_DIR]`
//! (DATA_DIR defaults to `ELBO_DATA`, else `${XDG_CACHE_HOME:-$HOME/.cache}/elbo/data`; fetch
//! first with `cargo xtask fetch-data fashion-mnist`). Target: < 1 s, peak growth within 1.5×
//! the final array.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

/// A `/proc/self/status` field in kB (Linux), e.g. `VmHWM` (peak resident set).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ELBO_DATA").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("elbo").join("data"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => default_data_dir().ok_or("pass DATA_DIR or set ELBO_DATA")?,
    };
    let path = data_dir
        .join("fashion-mnist")
        .join("train-images-idx3-ubyte.gz");
    if !path.is_file() {
        return Err(format!(
            "{} missing: run `cargo xtask fetch-data fashion-mnist`",
            path.display()
        )
        .into());
    }
    let before_kb = status_kb("VmHWM").unwrap_or(0);
    let start = Instant::now();
    let images = elbo_datasets::read_idx_images(&path)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak_kb = status_kb("VmHWM").unwrap_or(0);
    let array_mb = (images.pixels.len() * size_of::<f32>()) as f64 / 1e6;
    let growth_mb = peak_kb.saturating_sub(before_kb) as f64 * 1024.0 / 1e6;
    println!(
        "loaded {:?} f32 from {}",
        images.pixels.dim(),
        path.display()
    );
    println!("time: {seconds:.3} s");
    println!("final array: {array_mb:.1} MB");
    println!(
        "peak RSS: {:.1} MB before, {:.1} MB after: growth {growth_mb:.1} MB = {:.2}x the array",
        before_kb as f64 * 1024.0 / 1e6,
        peak_kb as f64 * 1024.0 / 1e6,
        growth_mb / array_mb
    );
    Ok(())
}

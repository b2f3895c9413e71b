//! Which libtorch this process runs on: version, device, threads and where it was loaded from.
//!
//! The location is read from the process's own memory map rather than from build-time
//! settings, so `elbo info` reports the library that is really in use.

use std::fmt;
use std::path::{Path, PathBuf};

use tch::Device;

/// A snapshot of the libtorch runtime, for `elbo info` and run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// PyTorch / libtorch version, e.g. `2.13.0+cu130`; `None` if it could not be determined.
    pub torch_version: Option<String>,
    /// The default device: CUDA when available, else CPU.
    pub device: Device,
    /// Intra-op threads libtorch uses.
    pub threads: i32,
    /// The directory holding the loaded `libtorch_cpu.so`, if found.
    pub libtorch_lib: Option<PathBuf>,
}

impl RuntimeInfo {
    /// Inspect the running process.
    pub fn detect() -> Self {
        let device = Device::cuda_if_available();
        let threads = tch::get_num_threads();
        let libtorch_lib = loaded_library_dir("libtorch_cpu.so");
        let torch_version = libtorch_lib.as_deref().and_then(version_near);
        RuntimeInfo {
            torch_version,
            device,
            threads,
            libtorch_lib,
        }
    }

    /// `cpu`, `cuda:0`, … as users write it.
    pub fn device_name(&self) -> String {
        match self.device {
            Device::Cpu => "cpu".to_owned(),
            Device::Cuda(i) => format!("cuda:{i}"),
            Device::Mps => "mps".to_owned(),
            Device::Vulkan => "vulkan".to_owned(),
        }
    }
}

impl fmt::Display for RuntimeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = "unknown";
        writeln!(
            f,
            "torch:    {}",
            self.torch_version.as_deref().unwrap_or(unknown)
        )?;
        writeln!(f, "device:   {}", self.device_name())?;
        writeln!(f, "threads:  {}", self.threads)?;
        match &self.libtorch_lib {
            Some(dir) => write!(f, "libtorch: {}", dir.display()),
            None => write!(f, "libtorch: {unknown}"),
        }
    }
}

/// The directory of a shared library mapped into this process (Linux `/proc/self/maps`).
fn loaded_library_dir(file_name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(Path::new)
        .find(|p| p.file_name().is_some_and(|n| n == file_name))
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The version recorded next to a libtorch `lib/` directory: `build-version` in a libtorch
/// archive, `version.py` in a PyTorch wheel.
fn version_near(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(v) = std::fs::read_to_string(root.join("build-version")) {
        return Some(v.trim().to_owned());
    }
    let py = std::fs::read_to_string(root.join("version.py")).ok()?;
    py.lines().find_map(|line| {
        let rest = line
            .strip_prefix("__version__")?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        let quoted = rest.split(['\'', '"']).nth(1)?;
        Some(quoted.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_loaded_libtorch() {
        // Touch libtorch so it is certainly mapped.
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0]).sum(tch::Kind::Float);
        assert_eq!(t.double_value(&[]), 3.0);
        let info = RuntimeInfo::detect();
        let lib = info
            .libtorch_lib
            .clone()
            .expect("libtorch_cpu.so is mapped");
        assert!(lib.join("libtorch_cpu.so").is_file(), "{}", lib.display());
        let version = info
            .torch_version
            .clone()
            .expect("version next to libtorch");
        assert!(
            version.starts_with("2.13.0"),
            "tch 0.26 needs torch 2.13.0, found {version}"
        );
        assert!(info.threads >= 1);
        let shown = info.to_string();
        assert!(
            shown.contains(&version) && shown.contains(&info.device_name()),
            "{shown}"
        );
    }

    #[test]
    fn reads_both_version_file_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let lib = dir.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert_eq!(version_near(&lib), None);
        std::fs::write(
            dir.join("version.py"),
            "x = 1\n__version__ = '2.13.0+cu130'\n",
        )
        .unwrap();
        assert_eq!(version_near(&lib).as_deref(), Some("2.13.0+cu130"));
        std::fs::write(dir.join("build-version"), "2.13.0+cpu\n").unwrap();
        assert_eq!(version_near(&lib).as_deref(), Some("2.13.0+cpu"));
    }
}

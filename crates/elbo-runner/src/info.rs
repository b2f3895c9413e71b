//! `elbo info`: what elbo runs on, the first thing to check on a new machine.

use std::fmt;

#[cfg(feature = "torch")]
pub use elbo_vae::RuntimeInfo;

/// elbo's own version together with the libtorch runtime it found.
#[derive(Debug, Clone)]
pub struct Info {
    /// This package's version.
    pub elbo_version: &'static str,
    /// The libtorch runtime.
    #[cfg(feature = "torch")]
    pub runtime: RuntimeInfo,
}

impl Info {
    /// Gather the information (starts libtorch if it is not running yet).
    pub fn gather() -> Self {
        Info {
            elbo_version: env!("CARGO_PKG_VERSION"),
            #[cfg(feature = "torch")]
            runtime: RuntimeInfo::detect(),
        }
    }
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "elbo:     {}", self.elbo_version)?;
        #[cfg(feature = "torch")]
        return write!(f, "{}", self.runtime);
        #[cfg(not(feature = "torch"))]
        write!(
            f,
            "torch:    not built in (the `torch` feature is off): EM models and presets only"
        )
    }
}

#[cfg(all(test, feature = "torch"))]
mod tests {
    use super::*;

    #[test]
    fn info_names_version_device_and_library() {
        let info = Info::gather();
        let text = info.to_string();
        assert!(
            text.starts_with(&format!("elbo:     {}", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        for key in ["torch:", "device:", "threads:", "libtorch:"] {
            assert!(text.contains(key), "missing {key} in\n{text}");
        }
        assert!(
            info.runtime.libtorch_lib.is_some(),
            "the test binary loads libtorch via rpath"
        );
    }
}

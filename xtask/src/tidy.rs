//! Repository invariants from `docs/architecture.md`, checked as tests (`cargo xtask test`
//! runs them with the rest of the suite).

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn root() -> PathBuf {
        crate::workspace_root()
    }

    fn cargo_tree(args: &[&str]) -> String {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .arg("tree")
            .args(args)
            .args(["--prefix", "none", "--offline"])
            .current_dir(root())
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn crate_names(tree: &str) -> Vec<&str> {
        tree.lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect()
    }

    /// **Architecture Invariant**: the EM, HMM, distributions and datasets crates and the Python
    /// package never reach libtorch, with any kind of edge (normal, build or dev), so their
    /// users need no libtorch.
    #[test]
    fn torch_free_crates_do_not_reach_torch() {
        for krate in [
            "elbo-distributions",
            "elbo-datasets",
            "elbo-em",
            "elbo-hmm",
            "elbo-py",
        ] {
            let tree = cargo_tree(&["-p", krate, "-e", "normal,build,dev"]);
            let names = crate_names(&tree);
            assert!(
                names.contains(&krate),
                "cargo tree did not list {krate}:\n{tree}"
            );
            for torch in ["torch-sys", "tch"] {
                assert!(
                    !names.contains(&torch),
                    "{krate} depends on {torch}:\n{tree}"
                );
            }
        }
    }

    /// **Architecture Invariant**: the `elbo` binary built without its default `torch` feature
    /// reaches neither libtorch's bindings nor the VAE crate, so `elbo gmm` and the EM presets
    /// need no libtorch download.
    #[test]
    fn the_binary_without_torch_does_not_reach_torch() {
        let tree = cargo_tree(&["-p", "elbo", "--no-default-features", "-e", "normal,build"]);
        let names = crate_names(&tree);
        assert!(names.contains(&"elbo-runner"), "{tree}");
        for banned in ["torch-sys", "tch", "elbo-vae"] {
            assert!(
                !names.contains(&banned),
                "the torch-free elbo depends on {banned}:\n{tree}"
            );
        }
        // And the default build does (the test is not vacuous).
        let tree = cargo_tree(&["-p", "elbo", "-e", "normal,build"]);
        assert!(crate_names(&tree).contains(&"torch-sys"), "{tree}");
    }

    /// **Architecture Invariant**: library crates log with `tracing` macros and return typed
    /// errors; the subscriber and `anyhow` belong to the binary, the runner and xtask.
    #[test]
    fn libraries_do_not_depend_on_subscriber_or_anyhow() {
        for krate in [
            "elbo-distributions",
            "elbo-datasets",
            "elbo-em",
            "elbo-hmm",
            "elbo-vae",
            "elbo-py",
        ] {
            let tree = cargo_tree(&["-p", krate, "-e", "normal", "--depth", "1"]);
            let names = crate_names(&tree);
            for banned in ["tracing-subscriber", "anyhow"] {
                assert!(
                    !names.contains(&banned),
                    "{krate} depends on {banned}:\n{tree}"
                );
            }
        }
    }

    fn tracked_files() -> Vec<PathBuf> {
        let out = Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(root())
            .output()
            .expect("git ls-files runs");
        assert!(out.status.success());
        out.stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
            .collect()
    }

    /// Absolute paths of this machine must never be committed: they are computed at run time.
    #[test]
    fn no_machine_paths_in_tracked_files() {
        let mut needles: Vec<String> = Vec::new();
        let root_dir = root();
        needles.push(root_dir.display().to_string());
        for var in ["HOME", "CARGO_HOME", "XDG_CACHE_HOME", "VIRTUAL_ENV"] {
            if let Some(v) = std::env::var_os(var) {
                let v = v.to_string_lossy().trim_end_matches('/').to_owned();
                // "/" or "/root"-like homes are only meaningful as directory prefixes.
                if v.len() > 1 {
                    needles.push(format!("{v}/"));
                }
            }
        }
        let files = tracked_files();
        assert!(!files.is_empty(), "git lists no tracked files");
        let mut hits = Vec::new();
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for needle in &needles {
                if text.contains(needle.as_str()) {
                    hits.push(format!("{} contains {needle}", rel(file)));
                }
            }
        }
        assert!(
            hits.is_empty(),
            "machine paths in tracked files:\n{}",
            hits.join("\n")
        );
    }

    /// **Architecture Invariant**: no library crate reads environment variables (settings
    /// arrive as arguments); only build scripts, the binary and xtask may.
    #[test]
    fn libraries_do_not_read_the_environment() {
        let mut hits = Vec::new();
        for krate in [
            "elbo-distributions",
            "elbo-datasets",
            "elbo-em",
            "elbo-hmm",
            "elbo-vae",
            "elbo-runner",
            "elbo-py",
        ] {
            let src = root().join("crates").join(krate).join("src");
            for file in rust_files(&src) {
                let text = std::fs::read_to_string(&file).expect("readable source");
                for (n, line) in text.lines().enumerate() {
                    if line.contains("env::var") || line.contains("env!(\"HOME") {
                        hits.push(format!("{}:{}: {}", rel(&file), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            hits.is_empty(),
            "library code reads the environment:\n{}",
            hits.join("\n")
        );
    }

    fn rust_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        out
    }

    fn rel(p: &Path) -> String {
        p.strip_prefix(root()).unwrap_or(p).display().to_string()
    }
}

//! Architecture invariant: elbo-em, and the crate it builds on, never depend on libtorch, so
//! that a user of the EM crate needs no libtorch. Checked on the manifests (offline, fast).

use std::path::Path;

/// Names of the dependencies listed in a manifest's `[dependencies]` table.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps
            && !line.is_empty()
            && !line.starts_with('#')
            && let Some(name) = line.split(['=', '.']).next()
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

#[test]
fn no_tch_in_the_em_crate_or_its_foundation() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for manifest in [
        here.join("Cargo.toml"),
        here.join("../elbo-distributions/Cargo.toml"),
    ] {
        let deps = dependencies(&manifest);
        assert!(
            deps.iter().any(|d| d == "ndarray"),
            "{}: parsed no dependencies",
            manifest.display()
        );
        for dep in &deps {
            assert!(
                !dep.contains("tch") && !dep.contains("torch"),
                "{} depends on {dep}",
                manifest.display()
            );
        }
    }
}

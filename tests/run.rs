//! End-to-end tests of `elbo run`, `elbo preset check` and `elbo report` through the binary,
//! on generated data (no network, no installed data set needed).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Two-dimensional data from a known 3-component mixture; a GMM by exact EM and a small VAE.
const TINY: &str = r#"
name = "tiny"
title = "tiny end-to-end run"
seed = 11

[data]
dataset = "synthetic-gmm"
test_fraction = 0.3
validation = 0.1
synthetic = { n_samples = 3000, n_features = 2, n_components = 3, covariance = "full" }

[[models]]
kind = "gmm"
name = "gmm-3"
n_components = 3
covariance = "full"
n_init = 2

[[models]]
kind = "vae"
name = "vae-2"
latent_dim = 2
architecture = { mlp = { hidden = [16] } }
likelihood = { gaussian = { variance = "learned" } }

[train]
epochs = 3
batch_size = 64
lr = 5e-3
threads = 1

[eval]
iwae_k = 50
n_test = 100
n_samples = 64
"#;

fn elbo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_elbo"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The only run directory under `runs/tiny/`.
fn the_run(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs.join("tiny"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn metrics(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn epochs_of(metrics: &[Value], model: &str) -> Vec<Value> {
    metrics
        .iter()
        .filter(|m| m["model"] == model && m["step"] == "epoch")
        .map(|m| m["epoch"].clone())
        .collect()
}

#[test]
fn a_tiny_preset_runs_end_to_end_and_writes_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    std::fs::write(&preset, TINY).unwrap();
    let runs = tmp.path().join("runs");
    let out = run_ok(
        elbo()
            .arg("run")
            .arg(&preset)
            .arg("--runs-dir")
            .arg(&runs)
            .arg("--data-dir")
            .arg(tmp.path().join("no-data-needed")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = the_run(&runs);
    for file in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "report.md",
        "report.html",
        "log.txt",
        "models/gmm-3.json",
    ] {
        assert!(dir.join(file).is_file(), "missing {file}");
    }
    // config.toml is the resolved preset, and valid.
    run_ok(
        elbo()
            .args(["preset", "check"])
            .arg(dir.join("config.toml")),
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let models = summary["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    // Every model was scored on the same evaluation rows: `eval.n_test` of the test split.
    let eval = &summary["eval"];
    assert_eq!(eval["n_test"], 100, "{eval}");
    assert_eq!(eval["n_train"], 100, "{eval}");
    let hash = eval["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 16, "{eval}");
    for m in models {
        assert_eq!(m["eval_hash"].as_str(), Some(hash), "{m}");
    }
    assert_eq!(models[0]["elbo_q"], "exact posterior");
    assert_eq!(models[1]["elbo_q"], "encoder");
    // The mixture is within 0.05 nats per example of the true test log-likelihood.
    let truth = summary["data"]["true_test_ll"].as_f64().unwrap();
    let gmm = &models[0];
    let gmm_ll = gmm["test_ll"].as_f64().unwrap();
    assert!(
        (gmm_ll - truth).abs() < 0.05,
        "GMM test ll {gmm_ll} vs truth {truth}"
    );
    // Exact EM: the ELBO under the posterior equals log p(x).
    assert!(gmm["kl_gap"].as_f64().unwrap().abs() < 1e-6, "{gmm}");
    // The VAE's ELBO improved over training, and its IWAE bound is at least its ELBO.
    let m = metrics(&dir);
    let ep = epochs_of(&m, "vae-2");
    assert_eq!(ep.len(), 3);
    let first = ep[0]["train_elbo"].as_f64().unwrap();
    let last = ep[2]["train_elbo"].as_f64().unwrap();
    assert!(last > first, "train ELBO {first} → {last}");
    let vae = &models[1];
    assert!(
        vae["test_ll"].as_f64().unwrap() >= vae["test_elbo"].as_f64().unwrap() - 0.05,
        "{vae}"
    );
    // EM's trace: one line per iteration, never decreasing.
    let bounds: Vec<f64> = m
        .iter()
        .filter(|l| l["model"] == "gmm-3")
        .map(|l| l["lower_bound"].as_f64().unwrap())
        .collect();
    assert_eq!(bounds.len(), gmm["iterations"].as_u64().unwrap() as usize);
    assert!(bounds.windows(2).all(|w| w[1] >= w[0] - 1e-10 * w[0].abs()));
    // Every figure the summary names exists and is a PNG.
    for f in summary["figures"].as_array().unwrap() {
        let bytes = std::fs::read(dir.join(f["file"].as_str().unwrap())).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{f}");
    }
    // The report's table has one row per model, and stdout printed it.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for name in ["gmm-3", "vae-2"] {
        assert_eq!(
            md.lines()
                .filter(|l| l.starts_with('|') && l.contains(name))
                .count(),
            1,
            "{name} in:\n{md}"
        );
        assert!(stdout.contains(name), "{stdout}");
    }
    assert!(stdout.contains("report: "), "{stdout}");
    // The VAE checkpoint samples from the CLI; `elbo report` rebuilds the report.
    std::fs::remove_file(dir.join("report.html")).unwrap();
    run_ok(elbo().arg("report").arg(&dir));
    assert!(dir.join("report.html").is_file());
}

#[test]
fn bad_presets_fail_with_one_line_naming_the_problem_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let cases: [(&str, String, &str); 5] = [
        (
            "unknown key",
            TINY.replace("lr = 5e-3", "lr = 5e-3\nlearning_rate = 1"),
            "learning_rate",
        ),
        (
            "wrong type",
            TINY.replace("epochs = 3", "epochs = \"three\""),
            "train.epochs",
        ),
        (
            "out of range",
            TINY.replace("latent_dim = 2", "latent_dim = 0"),
            "models[1].latent_dim: must be ≥ 1, got 0",
        ),
        (
            "bad strategy",
            TINY.replace(
                "n_init = 2",
                "n_init = 2\nstrategy = { kind = \"monte-carlo\", samples = 0 }",
            ),
            "models[0].strategy.samples: must be at least 1 draw per row, got 0",
        ),
        (
            "missing data set",
            TINY.replace("synthetic-gmm", "mnist-10k")
                .replace(
                    "synthetic = { n_samples = 3000, n_features = 2, n_components = 3, covariance = \"full\" }",
                    "",
                )
                .replace("test_fraction = 0.3", "binarize = \"none\""),
            "cargo xtask fetch-data mnist-10k",
        ),
    ];
    for (what, text, needle) in cases {
        let preset = tmp.path().join(format!("{}.toml", what.replace(' ', "-")));
        std::fs::write(&preset, text).unwrap();
        let out = elbo()
            .arg("run")
            .arg(&preset)
            .arg("--runs-dir")
            .arg(&runs)
            .arg("--data-dir")
            .arg(tmp.path().join("empty-data"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: succeeded");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: not one line:\n{stderr}");
        assert!(lines[0].contains(needle), "{what}: {stderr}");
        assert!(!runs.exists(), "{what}: wrote {runs:?}");
    }
}

/// Every model is checked before the first is fitted: a preset whose third model is invalid
/// fails at once (no fitting of the first two), with one line naming the key path, and writes
/// nothing.
#[test]
fn an_invalid_third_model_fails_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let text = format!(
        "{TINY}\n[[models]]\nkind = \"gmm\"\nname = \"third\"\nn_components = 2\ntol = -1.0\n"
    )
    // The models come before [train] in TINY; TOML accepts the array of tables anywhere.
    .replace("n_samples = 3000", "n_samples = 300000");
    let preset = tmp.path().join("third.toml");
    std::fs::write(&preset, text).unwrap();
    let started = std::time::Instant::now();
    let out = elbo()
        .arg("run")
        .arg(&preset)
        .arg("--runs-dir")
        .arg(&runs)
        .arg("--data-dir")
        .arg(tmp.path().join("no-data"))
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line:\n{stderr}");
    assert!(
        lines[0].contains("models[2].tol: must be a finite number >= 0"),
        "{stderr}"
    );
    assert!(!runs.exists(), "wrote {runs:?}");
    // 300,000 generated points and two models before it (a GMM with 2 restarts and 3 VAE
    // epochs): fitting them takes far longer than this bound, which only leaves room for
    // starting the binary (libtorch loads) on a busy machine. Quiet, it is well under a second.
    assert!(seconds < 5.0, "took {seconds:.2} s");
}

#[test]
fn resume_continues_the_metrics_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tmp.path().join("tiny.toml");
    // No IWAE work to speak of: this test is about the training loop.
    std::fs::write(&preset, TINY.replace("iwae_k = 50", "iwae_k = 2")).unwrap();
    let data = tmp.path().join("no-data");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(
        elbo()
            .arg("run")
            .arg(&preset)
            .args(["--set", "train.epochs=2", "--runs-dir"])
            .arg(&a)
            .arg("--data-dir")
            .arg(&data),
    );
    run_ok(
        elbo()
            .arg("run")
            .arg(&preset)
            .args(["--set", "train.epochs=1", "--runs-dir"])
            .arg(&b)
            .arg("--data-dir")
            .arg(&data),
    );
    let dir_b = the_run(&b);
    assert_eq!(epochs_of(&metrics(&dir_b), "vae-2").len(), 1);
    run_ok(
        elbo()
            .arg("run")
            .arg("--resume")
            .arg(&dir_b)
            .args(["--set", "train.epochs=2", "--data-dir"])
            .arg(&data),
    );
    let (ma, mb) = (metrics(&the_run(&a)), metrics(&dir_b));
    let (ea, eb) = (epochs_of(&ma, "vae-2"), epochs_of(&mb, "vae-2"));
    assert_eq!(eb.len(), 2, "{mb:?}");
    for (x, y) in ea.iter().zip(&eb) {
        for key in ["train_elbo", "train_kl", "val_elbo"] {
            let (u, v) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(
                (u - v).abs() <= 1e-6 * u.abs().max(1.0),
                "epoch {}: {key} {u} vs {v}",
                x["epoch"]
            );
        }
    }
    // The mixture was reused, not refitted: its lines appear once.
    let gmm_a = ma.iter().filter(|l| l["model"] == "gmm-3").count();
    let gmm_b = mb.iter().filter(|l| l["model"] == "gmm-3").count();
    assert_eq!(gmm_a, gmm_b);
}

#[test]
fn preset_check_accepts_every_builtin_and_help_has_examples() {
    for name in [
        "quickstart",
        "faithful",
        "synthetic",
        "fashion-mnist",
        "beta-sweep",
        "em-family",
    ] {
        run_ok(elbo().args(["preset", "check", name]));
    }
    for cmd in [
        vec!["run", "--help"],
        vec!["gmm", "fit", "--help"],
        vec!["vae", "sample", "--help"],
        vec!["preset", "check", "--help"],
        vec!["report", "--help"],
    ] {
        let out = run_ok(elbo().args(&cmd));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{cmd:?}:\n{text}");
    }
}

/// The `em-family` preset, shrunk: one trace line per EM iteration of every model, with the
/// gap the theory predicts, and the side-by-side figures.
#[test]
fn em_family_traces_every_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    run_ok(
        elbo()
            .args(["run", "em-family", "--set", "data.synthetic.n_samples=2000"])
            .args([
                "--set",
                "models.exact.max_iter=30",
                "--set",
                "models.monte-carlo.max_iter=30",
                "--runs-dir",
            ])
            .arg(&runs),
    );
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs.join("em-family"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    let metrics = metrics(dir);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let names: Vec<&str> = summary["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.starts_with(&["exact", "monte-carlo", "generalized", "online"]),
        "{names:?}"
    );
    for name in ["exact", "monte-carlo", "generalized", "online"] {
        let lines: Vec<&Value> = metrics.iter().filter(|l| l["model"] == name).collect();
        assert!(!lines.is_empty(), "{name}: no metrics");
        for l in &lines {
            let t = &l["trace"];
            let gap = t["after_e_step"]["log_likelihood"].as_f64().unwrap()
                - t["after_e_step"]["elbo"].as_f64().unwrap();
            let ll = t["after_e_step"]["log_likelihood"].as_f64().unwrap();
            assert_eq!(ll, l["lower_bound"].as_f64().unwrap(), "{name}");
            if name == "monte-carlo" {
                assert!(gap >= -1e-9 * ll.abs().max(1.0), "{name}: gap {gap}");
            } else {
                assert!(gap.abs() < 1e-9 * ll.abs().max(1.0), "{name}: gap {gap}");
            }
        }
        if name == "monte-carlo" {
            let total: f64 = lines
                .iter()
                .map(|l| {
                    let t = &l["trace"]["after_e_step"];
                    t["log_likelihood"].as_f64().unwrap() - t["elbo"].as_f64().unwrap()
                })
                .sum();
            assert!(total > 1e-3, "Monte Carlo EM closed its gap: {total}");
        }
    }
    for f in [
        "em-family-log-likelihood.png",
        "em-family-gap.png",
        "exact-em-bound.png",
    ] {
        let bytes = std::fs::read(dir.join("figures").join(f)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{f}");
    }
}

//! `elbo hmm fit | decode | score | sample` through the binary, against elbo-hmm fitting the
//! same data in-process.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use elbo_hmm::{AnyHmm, Covariance, Covariances, DecodeAlgorithm, GaussianHmm};
use ndarray::{Array2, array};
use rand::SeedableRng;

fn elbo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_elbo"))
}

/// Three sequences from a 2-state HMM, rounded to f32 (the CSV loader's precision) so that the
/// binary and the library see the same numbers.
fn data() -> (Array2<f64>, Vec<usize>) {
    let truth = GaussianHmm::from_parts(
        array![0.5, 0.5],
        array![[0.9, 0.1], [0.15, 0.85]],
        array![[0.0, 0.0], [3.0, 1.0]],
        Covariances::Diag(array![[1.0, 0.5], [0.7, 1.2]]),
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let lengths = vec![150, 100, 50];
    let mut rows = Vec::new();
    for &n in &lengths {
        let (x, _) = truth.sample(n, &mut rng, None);
        rows.extend(x.iter().map(|v| f64::from(*v as f32)));
    }
    (Array2::from_shape_vec((300, 2), rows).unwrap(), lengths)
}

fn write_inputs(dir: &std::path::Path, x: &Array2<f64>, lengths: &[usize]) {
    let mut text = String::from("a,b\n");
    for row in x.rows() {
        text.push_str(&format!("{},{}\n", row[0] as f32, row[1] as f32));
    }
    std::fs::write(dir.join("x.csv"), text).unwrap();
    let l: Vec<String> = lengths.iter().map(ToString::to_string).collect();
    std::fs::write(dir.join("lengths.txt"), l.join("\n")).unwrap();
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn fit_decode_score_sample_match_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (x, lengths) = data();
    write_inputs(dir, &x, &lengths);
    let model = dir.join("model.json");
    let report = ok(&elbo()
        .current_dir(dir)
        .args([
            "hmm",
            "fit",
            "--data",
            "x.csv",
            "--lengths",
            "lengths.txt",
            "-k",
            "2",
        ])
        .args([
            "--covariance-type",
            "full",
            "--n-iter",
            "50",
            "--tol",
            "1e-4",
        ])
        .args(["--n-init", "2", "--seed", "3", "--out", "model.json"])
        .output()
        .unwrap());
    assert!(report.contains("BIC"), "{report}");

    let lib = GaussianHmm::params(2)
        .covariance_type(Covariance::Full)
        .n_iter(50)
        .tol(1e-4)
        .n_init(2)
        .seed(3)
        .fit(x.view(), Some(&lengths))
        .unwrap()
        .model;
    let saved = match AnyHmm::load(&model).unwrap() {
        AnyHmm::Gaussian(m) => m,
        other => panic!("expected a Gaussian HMM, got {other:?}"),
    };
    assert_eq!(saved, lib, "the binary and the library fit the same model");

    let decoded = ok(&elbo()
        .current_dir(dir)
        .args(["hmm", "decode", "--model", "model.json", "--data", "x.csv"])
        .args(["--lengths", "lengths.txt"])
        .output()
        .unwrap());
    let states: Vec<usize> = decoded.lines().map(|l| l.parse().unwrap()).collect();
    let (_, expected) = lib
        .decode(x.view(), Some(&lengths), DecodeAlgorithm::Viterbi)
        .unwrap();
    assert_eq!(states, expected);

    let score = ok(&elbo()
        .current_dir(dir)
        .args(["hmm", "score", "--model", "model.json", "--data", "x.csv"])
        .args(["--lengths", "lengths.txt", "--posteriors", "post.csv"])
        .output()
        .unwrap());
    let value: f64 = score.trim().parse().unwrap();
    let expected = lib.score(x.view(), Some(&lengths)).unwrap();
    assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
    let post = std::fs::read_to_string(dir.join("post.csv")).unwrap();
    assert_eq!(post.lines().count(), 301);

    ok(&elbo()
        .current_dir(dir)
        .args([
            "hmm",
            "sample",
            "--model",
            "model.json",
            "-n",
            "40",
            "--seed",
            "1",
        ])
        .args(["--out", "samples.csv"])
        .output()
        .unwrap());
    let samples = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
    let mut lines = samples.lines();
    assert_eq!(lines.next(), Some("x0,x1,state"));
    assert_eq!(lines.count(), 40);
}

#[test]
fn bad_lengths_fail_naming_the_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (x, _) = data();
    write_inputs(dir, &x, &[150, 100, 49]);
    let out = elbo()
        .current_dir(dir)
        .args([
            "hmm",
            "fit",
            "--data",
            "x.csv",
            "--lengths",
            "lengths.txt",
            "-k",
            "2",
        ])
        .args(["--out", "model.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lengths sum to 299 but the data have 300 rows"),
        "{err}"
    );
    assert!(!dir.join("model.json").exists());
}

//! `elbo gmm fit | predict | score` and `elbo eval` through the binary, against the library
//! fitting the same data in-process.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use ndarray::Array2;

fn elbo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_elbo"))
}

/// Two well-separated blobs, deterministic.
fn data() -> Array2<f64> {
    Array2::from_shape_fn((300, 2), |(i, j)| {
        let centre = if i % 2 == 0 { 0.0 } else { 6.0 };
        let u = ((i * 7919 + j * 104_729) % 1000) as f64 / 1000.0 - 0.5;
        centre + u * (1.0 + j as f64)
    })
}

fn write_csv(path: &std::path::Path, x: &Array2<f64>) {
    let mut text = String::from("a,b\n");
    for row in x.rows() {
        text.push_str(&format!("{},{}\n", row[0], row[1]));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn fit_predict_score_match_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("points.csv");
    let x = data();
    write_csv(&csv, &x);
    let model = tmp.path().join("model.json");
    let out = elbo()
        .args(["gmm", "fit", "--data"])
        .arg(&csv)
        .args(["-k", "2", "--covariance", "diag", "--seed", "3", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CSV is read as f32 (the Dataset type), as the library sees it here.
    let x32 = x.mapv(|v| v as f32);
    let fit = elbo_em::GaussianMixture::params(2)
        .covariance(elbo_em::Covariance::Diag)
        .seed(3)
        .fit(x32.view())
        .unwrap();
    let out = elbo()
        .args(["gmm", "score", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let expected = fit.model.score(x32.view()).unwrap();
    assert!((printed - expected).abs() < 1e-6, "{printed} vs {expected}");
    let out = elbo()
        .args(["gmm", "predict", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&csv)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let labels: Vec<usize> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(labels, fit.model.predict(x32.view()).unwrap().to_vec());
    let out = elbo()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{expected:.4}")));
}

#[test]
fn bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("bad.csv");
    std::fs::write(&csv, "a,b\n1,2\n3,oops\n").unwrap();
    let out = elbo()
        .args(["gmm", "fit", "--data"])
        .arg(&csv)
        .args(["-k", "1", "--out"])
        .arg(tmp.path().join("m.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.csv") && err.contains("oops"), "{err}");
    assert!(!tmp.path().join("m.json").exists());
    // More components than rows: the typed error reaches the user.
    let ok = tmp.path().join("ok.csv");
    std::fs::write(&ok, "a,b\n1,2\n3,4\n").unwrap();
    let out = elbo()
        .args(["gmm", "fit", "--data"])
        .arg(&ok)
        .args(["-k", "5", "--out"])
        .arg(tmp.path().join("m.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("n_components"), "{err}");
    // A model of the wrong width.
    let wide = tmp.path().join("wide.csv");
    std::fs::write(&wide, "a,b,c\n1,2,3\n").unwrap();
    let model = tmp.path().join("m2.json");
    let x = data();
    let pts = tmp.path().join("pts.csv");
    write_csv(&pts, &x);
    assert!(
        elbo()
            .args(["gmm", "fit", "--data"])
            .arg(&pts)
            .args(["-k", "2", "--out"])
            .arg(&model)
            .status()
            .unwrap()
            .success()
    );
    let out = elbo()
        .args(["gmm", "score", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&wide)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains('3') && err.contains('2'), "{err}");
}

//! Parity with hmmlearn 0.3.3: every iteration's log-likelihood, the final parameters, the
//! Viterbi and MAP paths, posteriors, score, BIC and AIC, for GaussianHMM (four covariance
//! types), CategoricalHMM and GMMHMM (four covariance types), with the data as one sequence
//! and as several, in both implementations. Fixtures: `scripts/make_hmmlearn_fixtures.py`.

use elbo_hmm::{
    CategoricalHmm, Covariance, Covariances, DecodeAlgorithm, GaussianHmm, GmmCovars, GmmHmm, Hmm,
    Implementation,
};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, IxDyn};
use serde_json::Value;

/// Relative tolerance of the issue: every iteration and every final parameter.
const REL: f64 = 1e-8;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn arr(v: &Value) -> ArrayD<f64> {
    fn shape(v: &Value, out: &mut Vec<usize>) {
        if let Value::Array(a) = v {
            out.push(a.len());
            if let Some(first) = a.first() {
                shape(first, out);
            }
        }
    }
    fn flat(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
            x => out.push(x.as_f64().expect("number")),
        }
    }
    let mut s = Vec::new();
    shape(v, &mut s);
    let mut data = Vec::new();
    flat(v, &mut data);
    ArrayD::from_shape_vec(IxDyn(&s), data).expect("rectangular")
}

fn a1(v: &Value) -> Array1<f64> {
    arr(v).into_dimensionality().expect("1-d")
}
fn a2(v: &Value) -> Array2<f64> {
    arr(v).into_dimensionality().expect("2-d")
}
fn a3(v: &Value) -> Array3<f64> {
    arr(v).into_dimensionality().expect("3-d")
}
fn a4(v: &Value) -> Array4<f64> {
    arr(v).into_dimensionality().expect("4-d")
}

fn lengths(case: &Value) -> Option<Vec<usize>> {
    case["lengths"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_u64().expect("int") as usize)
            .collect()
    })
}

fn path(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("path")
        .iter()
        .map(|s| s.as_u64().expect("state") as usize)
        .collect()
}

/// Worst relative error seen, for the report.
#[derive(Default, Debug)]
struct Worst {
    history: f64,
    params: f64,
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

/// Relative error of every entry, against the reference's scale where an entry is tiny
/// compared with the largest of its array (a 1e-17 transition next to 0.9 has no relative
/// digits to match).
fn check_array(
    what: &str,
    ours: impl IntoIterator<Item = f64>,
    theirs: &ArrayD<f64>,
    worst: &mut f64,
) {
    let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let ours: Vec<f64> = ours.into_iter().collect();
    assert_eq!(ours.len(), theirs.len(), "{what}: size");
    for (i, (&a, &b)) in ours.iter().zip(theirs.iter()).enumerate() {
        let e = (a - b).abs() / b.abs().max(1e-6 * scale);
        *worst = worst.max(e);
        assert!(
            e <= REL,
            "{what}[{i}]: ours {a}, hmmlearn {b} (relative error {e:e})"
        );
    }
}

fn check_common<E: elbo_hmm::Emission>(
    label: &str,
    fit: &elbo_hmm::HmmFit<E>,
    case: &Value,
    x: &Array2<f64>,
    worst: &mut Worst,
) {
    let history: Vec<f64> = case["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    assert_eq!(
        fit.log_likelihoods.len(),
        history.len(),
        "{label}: iterations"
    );
    for (i, (&a, &b)) in fit.log_likelihoods.iter().zip(&history).enumerate() {
        let e = rel(a, b);
        worst.history = worst.history.max(e);
        assert!(
            e <= REL,
            "{label}: iteration {i}: ours {a}, hmmlearn {b} ({e:e})"
        );
    }
    let f = &case["final"];
    check_array(
        &format!("{label} startprob"),
        fit.model.startprob().iter().copied(),
        &arr(&f["startprob"]),
        &mut worst.params,
    );
    check_array(
        &format!("{label} transmat"),
        fit.model.transmat().iter().copied(),
        &arr(&f["transmat"]),
        &mut worst.params,
    );
    let lens = lengths(case);
    let l = lens.as_deref();
    let m = &fit.model;
    let score = m.score(x.view(), l).expect("score");
    assert!(
        rel(score, case["score"].as_f64().expect("score")) <= REL,
        "{label}: score"
    );
    let (vlp, vit) = m
        .decode(x.view(), l, DecodeAlgorithm::Viterbi)
        .expect("viterbi");
    assert_eq!(vit, path(&case["viterbi"]), "{label}: Viterbi path");
    assert!(
        rel(vlp, case["viterbi_log_prob"].as_f64().expect("lp")) <= REL,
        "{label}: Viterbi log-probability"
    );
    let (_, map) = m.decode(x.view(), l, DecodeAlgorithm::Map).expect("map");
    assert_eq!(map, path(&case["map"]), "{label}: MAP path");
    let post = m.predict_proba(x.view(), l).expect("posteriors");
    let head = a2(&case["posteriors_head"]);
    for (a, b) in post.rows().into_iter().zip(head.rows()) {
        for (p, q) in a.iter().zip(b.iter()) {
            assert!((p - q).abs() <= 1e-8, "{label}: posterior {p} vs {q}");
        }
    }
    if let Some(bic) = case.get("bic").and_then(Value::as_f64) {
        assert!(
            rel(m.bic(x.view(), l).expect("bic"), bic) <= REL,
            "{label}: bic"
        );
        let aic = case["aic"].as_f64().expect("aic");
        assert!(
            rel(m.aic(x.view(), l).expect("aic"), aic) <= REL,
            "{label}: aic"
        );
    }
}

fn kind_of(case: &Value) -> Covariance {
    match case["covariance_type"].as_str().expect("type") {
        "full" => Covariance::Full,
        "tied" => Covariance::Tied,
        "diag" => Covariance::Diag,
        _ => Covariance::Spherical,
    }
}

fn gaussian_covars(kind: Covariance, v: &Value) -> Covariances {
    match kind {
        Covariance::Full => Covariances::Full(a3(v)),
        Covariance::Tied => Covariances::Tied(a2(v)),
        Covariance::Diag => Covariances::Diag(a2(v)),
        Covariance::Spherical => Covariances::Spherical(a1(v)),
    }
}

fn gaussian_values(c: &Covariances) -> Vec<f64> {
    match c {
        Covariances::Full(a) => a.iter().copied().collect(),
        Covariances::Tied(a) | Covariances::Diag(a) => a.iter().copied().collect(),
        Covariances::Spherical(a) => a.to_vec(),
    }
}

#[test]
fn gaussian_hmm_matches_hmmlearn_every_iteration() {
    let file = load("hmmlearn_gaussian.json");
    let x = a2(&file["x"]);
    let mut worst = Worst::default();
    for imp in [Implementation::Log, Implementation::Scaling] {
        for case in file["cases"].as_array().expect("cases") {
            let kind = kind_of(case);
            let label = format!("{kind:?} {:?} {imp:?}", lengths(case).map(|l| l.len()));
            let init = &case["init"];
            let start = GaussianHmm::from_parts(
                a1(&init["startprob"]),
                a2(&init["transmat"]),
                a2(&init["means"]),
                gaussian_covars(kind, &init["covars"]),
            )
            .expect("init model");
            let fit = GaussianHmm::params(3)
                .covariance_type(kind)
                .n_iter(12)
                .tol(0.0)
                .init_params("")
                .implementation(imp)
                .given(start)
                .fit(x.view(), lengths(case).as_deref())
                .expect("fit");
            check_common(&label, &fit, case, &x, &mut worst);
            let f = &case["final"];
            let e = fit.model.emission();
            check_array(
                &format!("{label} means"),
                e.means().iter().copied(),
                &arr(&f["means"]),
                &mut worst.params,
            );
            check_array(
                &format!("{label} covars"),
                gaussian_values(e.covars()),
                &arr(&f["covars"]),
                &mut worst.params,
            );
        }
    }
    println!("GaussianHMM worst relative errors: {worst:?}");
}

#[test]
fn categorical_hmm_matches_hmmlearn_every_iteration() {
    let file = load("hmmlearn_categorical.json");
    let x = a2(&file["x"]);
    let mut worst = Worst::default();
    for imp in [Implementation::Log, Implementation::Scaling] {
        for case in file["cases"].as_array().expect("cases") {
            let label = format!("categorical {:?} {imp:?}", lengths(case).map(|l| l.len()));
            let init = &case["init"];
            let start = CategoricalHmm::from_parts(
                a1(&init["startprob"]),
                a2(&init["transmat"]),
                a2(&init["emissionprob"]),
            )
            .expect("init model");
            let fit = CategoricalHmm::params(3)
                .n_iter(12)
                .tol(0.0)
                .init_params("")
                .implementation(imp)
                .given(start)
                .fit(x.view(), lengths(case).as_deref())
                .expect("fit");
            check_common(&label, &fit, case, &x, &mut worst);
            check_array(
                &format!("{label} emissionprob"),
                fit.model.emission().emissionprob().iter().copied(),
                &arr(&case["final"]["emissionprob"]),
                &mut worst.params,
            );
        }
    }
    println!("CategoricalHMM worst relative errors: {worst:?}");
}

fn gmm_covars(kind: Covariance, v: &Value) -> GmmCovars {
    match kind {
        Covariance::Full => GmmCovars::Full(a4(v)),
        Covariance::Tied => GmmCovars::Tied(a3(v)),
        Covariance::Diag => GmmCovars::Diag(a3(v)),
        Covariance::Spherical => GmmCovars::Spherical(a2(v)),
    }
}

fn gmm_values(c: &GmmCovars) -> Vec<f64> {
    match c {
        GmmCovars::Full(a) => a.iter().copied().collect(),
        GmmCovars::Tied(a) | GmmCovars::Diag(a) => a.iter().copied().collect(),
        GmmCovars::Spherical(a) => a.iter().copied().collect(),
    }
}

#[test]
fn gmm_hmm_matches_hmmlearn_every_iteration() {
    let file = load("hmmlearn_gmm.json");
    let x = a2(&file["x"]);
    let n_mix = file["n_mix"].as_u64().expect("n_mix") as usize;
    let mut worst = Worst::default();
    for imp in [Implementation::Log, Implementation::Scaling] {
        for case in file["cases"].as_array().expect("cases") {
            let kind = kind_of(case);
            let label = format!("GMM {kind:?} {:?} {imp:?}", lengths(case).map(|l| l.len()));
            let init = &case["init"];
            let start = GmmHmm::from_parts(
                a1(&init["startprob"]),
                a2(&init["transmat"]),
                a2(&init["weights"]),
                a3(&init["means"]),
                gmm_covars(kind, &init["covars"]),
            )
            .expect("init model");
            let fit: elbo_hmm::HmmFit<elbo_hmm::GmmEmission> = Hmm::params(2)
                .n_mix(n_mix)
                .covariance_type(kind)
                .n_iter(12)
                .tol(0.0)
                .init_params("")
                .implementation(imp)
                .given(start)
                .fit(x.view(), lengths(case).as_deref())
                .expect("fit");
            check_common(&label, &fit, case, &x, &mut worst);
            let f = &case["final"];
            let e = fit.model.emission();
            check_array(
                &format!("{label} weights"),
                e.weights().iter().copied(),
                &arr(&f["weights"]),
                &mut worst.params,
            );
            check_array(
                &format!("{label} means"),
                e.means().iter().copied(),
                &arr(&f["means"]),
                &mut worst.params,
            );
            check_array(
                &format!("{label} covars"),
                gmm_values(e.covars()),
                &arr(&f["covars"]),
                &mut worst.params,
            );
        }
    }
    println!("GMMHMM worst relative errors: {worst:?}");
}

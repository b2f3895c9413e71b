//! Writes models the way the `elbo` CLI does (`elbo gmm fit --out model.json` saves
//! `fit.model.to_json()`), for the Python package's test that loads them.
//!
//! `cargo run -p elbo-py --example save_models -- DIR` writes into DIR: `data.csv` (the rows,
//! in shortest round-trip form), one `<name>.json` per model, and `scores.json` with each
//! model's `score_samples` of the rows computed here in Rust.

#![allow(clippy::print_stdout)] // a command-line example

use std::path::PathBuf;

use elbo_em::{
    BayesianGaussianMixture, BernoulliMixture, Covariance, Covariances, GaussianMixture,
};
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: save_models OUT_DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let truth = GaussianMixture::from_covariances(
        array![0.5, 0.3, 0.2],
        array![[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]],
        Covariances::Spherical(array![1.0, 0.6, 1.5]),
    )?;
    let (x, _) = truth.sample(400, &mut ChaCha8Rng::seed_from_u64(11));
    let mut csv = String::new();
    for row in x.rows() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    std::fs::write(dir.join("data.csv"), csv)?;
    let mut scores = serde_json::Map::new();
    for kind in Covariance::ALL {
        let fit = GaussianMixture::params(3)
            .covariance(kind)
            .seed(0)
            .fit(x.view())?;
        let name = format!("gmm_{kind}");
        std::fs::write(dir.join(format!("{name}.json")), fit.model.to_json()?)?;
        scores.insert(name, score_list(fit.model.score_samples(x.view())?));
    }
    let bayes = BayesianGaussianMixture::params(5).seed(0).fit(x.view())?;
    std::fs::write(dir.join("bgmm_full.json"), bayes.model.to_json()?)?;
    scores.insert(
        "bgmm_full".into(),
        score_list(bayes.model.score_samples(x.view())?),
    );
    let binary: Array2<f64> = x.mapv(|v| f64::from(u8::from(v > 0.5)));
    let bern = BernoulliMixture::params(2).seed(0).fit(binary.view())?;
    std::fs::write(dir.join("bmm.json"), bern.model.to_json()?)?;
    scores.insert(
        "bmm".into(),
        score_list(bern.model.score_samples(binary.view())?),
    );
    std::fs::write(
        dir.join("scores.json"),
        serde_json::to_string(&serde_json::Value::Object(scores))?,
    )?;
    println!("wrote models to {}", dir.display());
    Ok(())
}

fn score_list(s: ndarray::Array1<f64>) -> serde_json::Value {
    serde_json::Value::from(s.to_vec())
}

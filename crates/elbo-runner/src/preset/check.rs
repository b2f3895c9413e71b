//! [`Preset::check`]: every value of a preset validated before any work, each model by its own
//! family (which asks its library: one rule, written once). The first error names the key
//! path, the value and what is allowed.

use std::collections::BTreeSet;

use anyhow::{bail, ensure};

use super::{Experiment, Preset};
use crate::data::{DataFacts, DataSource};

impl Preset {
    /// Validates every value; the error names the key path, the value and what is allowed.
    pub fn check(self) -> anyhow::Result<Experiment> {
        let p = &self;
        ensure!(
            !p.name.is_empty()
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "name: must be letters, digits, `-` or `_` (it names the run directory), got {:?}",
            p.name
        );
        let d = &p.data;
        let facts = DataFacts::of(d)?;
        if let DataSource::SyntheticGmm(s) | DataSource::SyntheticBernoulli(s) = &facts.source {
            ensure!(
                s.n_samples >= 10,
                "data.synthetic.n_samples: must be ≥ 10, got {}",
                s.n_samples
            );
            ensure!(
                s.n_features >= 1,
                "data.synthetic.n_features: must be ≥ 1, got {}",
                s.n_features
            );
            ensure!(
                s.n_components >= 1,
                "data.synthetic.n_components: must be ≥ 1, got {}",
                s.n_components
            );
            if matches!(facts.source, DataSource::SyntheticBernoulli(_)) {
                ensure!(
                    s.covariance.is_none(),
                    "data.synthetic.covariance: only for synthetic-gmm"
                );
            }
        }
        ensure!(
            d.threshold.is_finite() && (0.0..1.0).contains(&d.threshold),
            "data.threshold: must be in [0, 1), got {}",
            d.threshold
        );
        ensure!(
            d.validation.is_finite() && (0.0..0.9).contains(&d.validation),
            "data.validation: must be a fraction in [0, 0.9), got {}",
            d.validation
        );
        ensure!(
            d.test_fraction.is_finite() && d.test_fraction > 0.0 && d.test_fraction < 0.9,
            "data.test_fraction: must be a fraction in (0, 0.9), got {}",
            d.test_fraction
        );
        if let Some(s) = &d.subset {
            for (key, v) in [("train", s.train), ("test", s.test)] {
                if let Some(v) = v {
                    ensure!(v >= 2, "data.subset.{key}: must be ≥ 2, got {v}");
                }
            }
        }
        ensure!(
            !(d.standardize && d.binarize.is_binary()),
            "data.standardize: cannot be combined with binarize = {:?}: binary data are not standardised",
            d.binarize
        );
        let e = &p.eval;
        ensure!(
            (1..=100_000).contains(&e.iwae_k),
            "eval.iwae_k: must be in 1..=100000, got {}",
            e.iwae_k
        );
        for (key, v) in [("n_test", e.n_test), ("n_train", e.n_train)] {
            if let Some(n) = v {
                ensure!(n >= 1, "eval.{key}: must be ≥ 1, got {n}");
            }
        }
        ensure!(
            (1..=1024).contains(&e.n_samples),
            "eval.n_samples: must be in 1..=1024, got {}",
            e.n_samples
        );
        let t = &p.train;
        // A preset's sane range for the learning rate; the loop itself accepts any lr > 0.
        ensure!(
            t.lr.is_finite() && t.lr > 0.0 && t.lr < 1.0,
            "train.lr: must be in (0, 1), got {}",
            t.lr
        );
        t.check()
            .map_err(|e| anyhow::anyhow!("train.{}: {}", e.field, e.rule))?;
        if t.seed != 0 || t.dynamic_binarization {
            bail!(
                "train: `seed` and `dynamic_binarization` are set by the preset's `seed` and `data.binarize`; remove them from [train]"
            );
        }
        if t.early_stop.is_some() {
            ensure!(
                d.validation > 0.0,
                "train.early_stop: needs a validation split: set data.validation (e.g. 0.1)"
            );
        }
        ensure!(!p.models.is_empty(), "models: at least one model is needed");
        let exp = Experiment {
            data: facts,
            preset: self,
        };
        let mut names = BTreeSet::new();
        for (i, m) in exp.preset.models.iter().enumerate() {
            let at = format!("models[{i}]");
            let name = m.name();
            ensure!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{at}.name: must be letters, digits, `-`, `_` or `.` (it names files), got {name:?}"
            );
            ensure!(
                names.insert(name.to_owned()),
                "{at}.name: {name:?} is used by two models; names must be unique"
            );
            m.family().check(&exp, &at, &exp.data)?;
        }
        Ok(exp)
    }
}

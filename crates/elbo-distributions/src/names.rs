//! Named choices shared by every crate that fits or generates Gaussian models, with one
//! spelling each: serde (the presets' and saved models' names) and `FromStr` (the command
//! line) read the same words.

use serde::{Deserialize, Serialize};

/// A word that names none of a choice's values; says which words would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {got:?}; expected one of: {}", allowed.join(", "))]
pub struct UnknownName {
    /// What was being named, e.g. "covariance type".
    pub what: &'static str,
    /// The word given.
    pub got: String,
    /// The accepted words.
    pub allowed: &'static [&'static str],
}

/// Parses `s` as one of `table`'s words (case-insensitive; `-` and `_` are the same).
pub fn parse_name<T: Copy>(
    what: &'static str,
    s: &str,
    table: &[(&'static str, T)],
    allowed: &'static [&'static str],
) -> Result<T, UnknownName> {
    let norm = |w: &str| w.trim().to_ascii_lowercase().replace('_', "-");
    let want = norm(s);
    table
        .iter()
        .find(|(w, _)| norm(w) == want)
        .map(|&(_, v)| v)
        .ok_or_else(|| UnknownName {
            what,
            got: s.to_owned(),
            allowed,
        })
}

/// The shape of a Gaussian mixture's covariances (scikit-learn's `covariance_type`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Covariance {
    /// Each component has its own full covariance matrix.
    #[default]
    Full,
    /// All components share one full covariance matrix.
    Tied,
    /// Each component has its own diagonal covariance.
    Diag,
    /// Each component has its own single variance.
    Spherical,
}

impl Covariance {
    /// All four types, in scikit-learn's order; handy for model selection.
    pub const ALL: [Covariance; 4] = [
        Covariance::Full,
        Covariance::Tied,
        Covariance::Diag,
        Covariance::Spherical,
    ];

    /// The accepted words, for messages and `--help`.
    pub const NAMES: [&'static str; 4] = ["full", "tied", "diag", "spherical"];

    /// scikit-learn's name for the type (`"full"`, `"tied"`, `"diag"`, `"spherical"`).
    pub fn name(self) -> &'static str {
        match self {
            Covariance::Full => "full",
            Covariance::Tied => "tied",
            Covariance::Diag => "diag",
            Covariance::Spherical => "spherical",
        }
    }

    /// Free parameters of the covariances of `k` components in `d` dimensions.
    pub fn n_parameters(self, k: usize, d: usize) -> usize {
        match self {
            Covariance::Full => k * d * (d + 1) / 2,
            Covariance::Tied => d * (d + 1) / 2,
            Covariance::Diag => k * d,
            Covariance::Spherical => k,
        }
    }
}

impl std::fmt::Display for Covariance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Covariance {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let table = Covariance::ALL.map(|c| (c.name(), c));
        parse_name("covariance type", s, &table, &Covariance::NAMES)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for c in Covariance::ALL {
            assert_eq!(c.name().parse::<Covariance>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Covariance>(&json).unwrap(), c);
        }
        assert_eq!("DIAG".parse::<Covariance>().unwrap(), Covariance::Diag);
        let e = "fll".parse::<Covariance>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown covariance type \"fll\"; expected one of: full, tied, diag, spherical"
        );
    }
}

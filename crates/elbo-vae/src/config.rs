//! What a VAE is made of: input shape, networks, latent size, likelihood, β and free bits.
//!
//! [`VaeConfig`] is the unchecked form a preset deserialises into; [`VaeConfig::check`] turns it
//! into a [`CheckedVaeConfig`], the only form [`Vae::new`](crate::Vae::new) accepts.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::error::VaeError;
use crate::mlp::Activation;

/// Settings of a variational autoencoder, as written in a preset or beside a checkpoint.
///
/// In TOML:
/// ```toml
/// input = 784                      # or [1, 28, 28] (channels, height, width)
/// architecture = { mlp = { hidden = [400] } }
/// latent_dim = 20
/// likelihood = "bernoulli"         # or { gaussian = { variance = "learned" } }
/// beta = 1.0
/// seed = 0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Shape of one example. Data always reaches the model flattened, one example per row.
    pub input: InputShape,
    /// Encoder and decoder networks.
    #[serde(default)]
    pub architecture: Architecture,
    /// Non-linearity between hidden layers.
    #[serde(default)]
    pub activation: Activation,
    /// Dimension of z.
    pub latent_dim: usize,
    /// p(x | z): what the decoder's output parameterises.
    #[serde(default)]
    pub likelihood: Likelihood,
    /// Weight of the KL term in the loss (β-VAE). Only β = 1 makes the loss a bound on
    /// −log p(x).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Free bits λ (Kingma et al. 2016), in nats per latent dimension: each dimension's KL,
    /// averaged over the batch, counts in the loss as at least λ, so the encoder is not pushed
    /// to collapse it. `None` turns it off.
    #[serde(default)]
    pub free_bits: Option<f64>,
    /// Seed of libtorch's generator when the weights are initialised.
    #[serde(default)]
    pub seed: u64,
}

fn default_beta() -> f64 {
    1.0
}

/// The shape of one example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "an input width (784) or an image shape [channels, height, width]"
)]
pub enum InputShape {
    /// A vector of this many values.
    Vector(usize),
    /// An image `[channels, height, width]`, flattened row-major (channel first) in the data.
    Image([usize; 3]),
}

impl InputShape {
    /// Number of values in one flattened example.
    pub fn dim(&self) -> usize {
        match *self {
            InputShape::Vector(d) => d,
            InputShape::Image([c, h, w]) => c.saturating_mul(h).saturating_mul(w),
        }
    }
}

/// Encoder and decoder networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Architecture {
    /// Fully connected. The encoder runs `input → hidden[0] → … → 2·latent` (mean and
    /// log-variance); the decoder mirrors it, `latent → …reversed hidden… → input`. An empty
    /// `hidden` gives linear maps (the probabilistic-PCA case).
    Mlp {
        /// Widths of the hidden layers.
        hidden: Vec<usize>,
    },
    /// Convolutional, for images: stride-2 convolutions (kernel 4, padding 1) halve the height
    /// and width at each of `channels`, then a hidden fully connected layer; the decoder
    /// mirrors it with transposed convolutions. Height and width must be divisible by
    /// 2^`channels.len()` (28×28 with two layers: 28 → 14 → 7).
    Conv {
        /// Output channels of each convolution.
        #[serde(default = "default_conv_channels")]
        channels: Vec<usize>,
        /// Width of the fully connected layer between the convolutions and the latent code.
        #[serde(default = "default_conv_hidden")]
        hidden: usize,
    },
}

fn default_conv_channels() -> Vec<usize> {
    vec![32, 64]
}

fn default_conv_hidden() -> usize {
    256
}

impl Default for Architecture {
    /// The classic single-hidden-layer MLP of Kingma & Welling (400 units).
    fn default() -> Self {
        Architecture::Mlp { hidden: vec![400] }
    }
}

/// The observation model p(x | z).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Likelihood {
    /// Independent Bernoulli pixels; the decoder outputs logits. Binary data only.
    #[default]
    Bernoulli,
    /// Independent Gaussians; the decoder outputs the means.
    Gaussian {
        /// How the variance is set.
        variance: Variance,
    },
}

/// The variance of a Gaussian likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variance {
    /// The same fixed σ² for every dimension.
    Fixed(f64),
    /// One σ²_d per dimension, learned with the networks (stored as log σ², so it stays
    /// positive).
    Learned,
}

/// Widths and counts must fit an `i64` (libtorch's index type); this bound is far above any
/// model that fits in memory.
const MAX_SIZE: usize = 1 << 40;

impl VaeConfig {
    /// The classic MLP VAE on `input_dim` binary values: one hidden layer of 400, β = 1.
    pub fn new(input_dim: usize, latent_dim: usize) -> Self {
        VaeConfig {
            input: InputShape::Vector(input_dim),
            architecture: Architecture::default(),
            activation: Activation::default(),
            latent_dim,
            likelihood: Likelihood::default(),
            beta: 1.0,
            free_bits: None,
            seed: 0,
        }
    }

    /// Validate every field; the error names the first field that is wrong.
    pub fn check(&self) -> Result<CheckedVaeConfig, VaeError> {
        let err = |field, message: String| Err(VaeError::Config { field, message });
        match self.input {
            InputShape::Vector(d) if d == 0 || d > MAX_SIZE => {
                return err(
                    "input",
                    format!("must be a width between 1 and {MAX_SIZE}, got {d}"),
                );
            }
            InputShape::Image(shape) if shape.contains(&0) || self.input.dim() > MAX_SIZE => {
                return err(
                    "input",
                    format!(
                        "image shape [channels, height, width] needs positive sizes, got {shape:?}"
                    ),
                );
            }
            _ => {}
        }
        match &self.architecture {
            Architecture::Mlp { hidden } => {
                if let Some(i) = hidden.iter().position(|&h| h == 0 || h > MAX_SIZE) {
                    return err(
                        "architecture.mlp.hidden",
                        format!(
                            "layer {i} has width {}; widths must be at least 1",
                            hidden[i]
                        ),
                    );
                }
            }
            Architecture::Conv { channels, hidden } => {
                let InputShape::Image([_, height, width]) = self.input else {
                    return err(
                        "architecture",
                        "`conv` needs an image input shape [channels, height, width]; \
                         set `input` to e.g. [1, 28, 28] or use `mlp`"
                            .to_owned(),
                    );
                };
                if channels.is_empty() || channels.len() > 16 {
                    return err(
                        "architecture.conv.channels",
                        format!("needs 1 to 16 convolution layers, got {}", channels.len()),
                    );
                }
                if let Some(i) = channels.iter().position(|&c| c == 0 || c > MAX_SIZE) {
                    return err(
                        "architecture.conv.channels",
                        format!(
                            "layer {i} has {} channels; it needs at least 1",
                            channels[i]
                        ),
                    );
                }
                let factor = 1usize << channels.len();
                if height % factor != 0 || width % factor != 0 {
                    return err(
                        "architecture.conv.channels",
                        format!(
                            "{} stride-2 layers need height and width divisible by {factor}, \
                             the image is {height}×{width}; use fewer layers",
                            channels.len()
                        ),
                    );
                }
                if *hidden == 0 || *hidden > MAX_SIZE {
                    return err(
                        "architecture.conv.hidden",
                        format!("must be at least 1, got {hidden}"),
                    );
                }
            }
        }
        if self.latent_dim == 0 || self.latent_dim > MAX_SIZE {
            return err(
                "latent_dim",
                format!("must be at least 1, got {}", self.latent_dim),
            );
        }
        if let Likelihood::Gaussian {
            variance: Variance::Fixed(v),
        } = self.likelihood
            && !(v.is_finite() && v > 0.0)
        {
            return err(
                "likelihood.gaussian.variance",
                format!("a fixed variance must be finite and positive, got {v}"),
            );
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return err(
                "beta",
                format!("must be finite and non-negative, got {}", self.beta),
            );
        }
        if let Some(lambda) = self.free_bits
            && !(lambda.is_finite() && lambda >= 0.0)
        {
            return err(
                "free_bits",
                format!(
                    "must be finite and non-negative (nats per latent dimension), got {lambda}"
                ),
            );
        }
        Ok(CheckedVaeConfig(self.clone()))
    }
}

/// A [`VaeConfig`] that passed [`VaeConfig::check`]. Read it through `Deref`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedVaeConfig(VaeConfig);

impl CheckedVaeConfig {
    /// The settings, for serialising or editing (editing needs another `check`).
    pub fn into_inner(self) -> VaeConfig {
        self.0
    }

    /// Width of one flattened example.
    pub fn input_dim(&self) -> i64 {
        // `check` bounded it by MAX_SIZE, so it fits.
        i64::try_from(self.0.input.dim()).unwrap_or(i64::MAX)
    }

    /// Dimension of z.
    pub fn latent(&self) -> i64 {
        i64::try_from(self.0.latent_dim).unwrap_or(i64::MAX)
    }
}

impl Deref for CheckedVaeConfig {
    type Target = VaeConfig;
    fn deref(&self) -> &VaeConfig {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: &VaeConfig) -> &'static str {
        match config.check() {
            Err(VaeError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn default_config_is_valid_and_round_trips_through_json() {
        let config = VaeConfig::new(784, 20);
        let checked = config.check().unwrap();
        assert_eq!(checked.input_dim(), 784);
        assert_eq!(checked.latent(), 20);
        let json = serde_json::to_string(&config).unwrap();
        let back: VaeConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn parses_every_variant() {
        let json = r#"{
            "input": [1, 28, 28],
            "architecture": {"conv": {"channels": [16, 32], "hidden": 64}},
            "activation": "tanh",
            "latent_dim": 8,
            "likelihood": {"gaussian": {"variance": {"fixed": 0.25}}},
            "beta": 4.0,
            "free_bits": 0.5,
            "seed": 3
        }"#;
        let c: VaeConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.input, InputShape::Image([1, 28, 28]));
        assert_eq!(c.input.dim(), 784);
        assert_eq!(
            c.architecture,
            Architecture::Conv {
                channels: vec![16, 32],
                hidden: 64
            }
        );
        assert_eq!(c.activation, Activation::Tanh);
        assert_eq!(
            c.likelihood,
            Likelihood::Gaussian {
                variance: Variance::Fixed(0.25)
            }
        );
        assert_eq!((c.beta, c.free_bits, c.seed), (4.0, Some(0.5), 3));
        c.check().unwrap();

        let learned: VaeConfig = serde_json::from_str(
            r#"{"input": 10, "latent_dim": 2, "likelihood": {"gaussian": {"variance": "learned"}}}"#,
        )
        .unwrap();
        assert_eq!(
            learned.likelihood,
            Likelihood::Gaussian {
                variance: Variance::Learned
            }
        );
        assert_eq!(learned.architecture, Architecture::default());
        assert_eq!(learned.beta, 1.0);
        let conv_defaults: VaeConfig = serde_json::from_str(
            r#"{"input": [1, 28, 28], "latent_dim": 2, "architecture": {"conv": {}}}"#,
        )
        .unwrap();
        assert_eq!(
            conv_defaults.architecture,
            Architecture::Conv {
                channels: vec![32, 64],
                hidden: 256
            }
        );
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let e = serde_json::from_str::<VaeConfig>(r#"{"input": 4, "latent_dim": 2, "latnt": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("latnt"), "{e}");
        let e = serde_json::from_str::<VaeConfig>(
            r#"{"input": 4, "latent_dim": 2, "architecture": {"mlp": {"hiden": [3]}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("hiden"), "{e}");
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = VaeConfig::new(784, 20);
        let with = |f: &dyn Fn(&mut VaeConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c
        };
        assert_eq!(
            field_of(&with(&|c| c.input = InputShape::Vector(0))),
            "input"
        );
        assert_eq!(
            field_of(&with(&|c| c.input = InputShape::Image([1, 0, 28]))),
            "input"
        );
        assert_eq!(
            field_of(&with(&|c| c.architecture = Architecture::Mlp {
                hidden: vec![400, 0]
            })),
            "architecture.mlp.hidden"
        );
        let conv = |channels: Vec<usize>, hidden| Architecture::Conv { channels, hidden };
        assert_eq!(
            field_of(&with(&|c| c.architecture = conv(vec![32], 64))),
            "architecture"
        );
        let image = |c: &mut VaeConfig| c.input = InputShape::Image([1, 28, 28]);
        assert_eq!(
            field_of(&with(&|c| {
                image(c);
                c.architecture = conv(vec![], 64);
            })),
            "architecture.conv.channels"
        );
        assert_eq!(
            field_of(&with(&|c| {
                image(c);
                c.architecture = conv(vec![8, 8, 8], 64); // 28 is not divisible by 8
            })),
            "architecture.conv.channels"
        );
        assert_eq!(
            field_of(&with(&|c| {
                image(c);
                c.architecture = conv(vec![8, 0], 64);
            })),
            "architecture.conv.channels"
        );
        assert_eq!(
            field_of(&with(&|c| {
                image(c);
                c.architecture = conv(vec![8, 8], 0);
            })),
            "architecture.conv.hidden"
        );
        assert_eq!(field_of(&with(&|c| c.latent_dim = 0)), "latent_dim");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                field_of(&with(&|c| {
                    c.likelihood = Likelihood::Gaussian {
                        variance: Variance::Fixed(bad),
                    }
                })),
                "likelihood.gaussian.variance"
            );
        }
        for bad in [-0.5, f64::NAN, f64::INFINITY] {
            assert_eq!(field_of(&with(&|c| c.beta = bad)), "beta");
            assert_eq!(field_of(&with(&|c| c.free_bits = Some(bad))), "free_bits");
        }
        // The boundary values are allowed.
        with(&|c| {
            c.beta = 0.0;
            c.free_bits = Some(0.0);
        })
        .check()
        .unwrap();
    }
}

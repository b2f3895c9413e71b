//! The VAE: encoder q(z | x), decoder p(x | z), the ELBO, the importance-weighted bound, and
//! the ways to look at a trained model (samples, reconstructions, interpolations, traversals).
//!
//! Everything is in nats and per example. Randomness (initialisation, ε, samples) comes from
//! libtorch's global generator: [`Vae::new`] seeds it with the config's `seed`, and results are
//! reproducible on CPU for a fixed number of threads (`tch::set_num_threads`).

use std::f64::consts::PI;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::config::{Architecture, CheckedVaeConfig, Likelihood, VaeConfig, Variance};
use crate::error::VaeError;
use crate::likelihood::Decoded;
use crate::mlp::{Activation, Mlp};

/// Default number of decoder rows (codes) per IWAE chunk: bounds memory to a few
/// `chunk_rows × max(D, hidden)` tensors whatever k is.
pub const DEFAULT_IWAE_CHUNK_ROWS: usize = 1024;

/// The device a model goes to unless the caller says otherwise: the first GPU if there is one.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

/// A variational autoencoder. Its variables live in the `nn::VarStore` it was built on (the
/// caller owns that, for optimisers and checkpoints).
#[derive(Debug)]
pub struct Vae {
    config: CheckedVaeConfig,
    encoder: Box<dyn Module>,
    decoder: Box<dyn Module>,
    /// log σ² of a Gaussian likelihood.
    obs_log_var: ObsLogVar,
    /// A variable of the model, to read the device and kind the store is on now.
    probe: Tensor,
    input_dim: i64,
    latent_dim: i64,
}

/// log σ² of the observation model.
#[derive(Debug)]
enum ObsLogVar {
    /// Bernoulli: no variance.
    None,
    /// The same fixed value for every dimension.
    Fixed(f64),
    /// A variable `likelihood.log_var`, one per dimension.
    Learned(Tensor),
}

/// q(z | x) = N(mean, diag exp(log_var)) for a batch, `[n, latent]` each.
#[derive(Debug)]
pub struct Posterior {
    /// Posterior means.
    pub mean: Tensor,
    /// Posterior log-variances.
    pub log_var: Tensor,
}

/// The ELBO of a batch, its two parts kept apart, and the training loss.
#[derive(Debug)]
pub struct Elbo {
    /// log p(x | z) for one reparameterised z ~ q(z | x), `[n]`.
    pub reconstruction: Tensor,
    /// KL(q(z | x) ‖ N(0, I)) in closed form, `[n]`.
    pub kl: Tensor,
    /// The scalar to minimise: mean over the batch of −reconstruction + β·KL, where with free
    /// bits each latent dimension's batch-mean KL counts as at least λ.
    pub loss: Tensor,
}

impl Elbo {
    /// reconstruction − KL per example, `[n]`.
    pub fn per_example(&self) -> Tensor {
        &self.reconstruction - &self.kl
    }

    /// The batch mean of the ELBO, as a number.
    pub fn mean(&self) -> f64 {
        self.per_example().mean(Kind::Double).double_value(&[])
    }
}

impl Posterior {
    /// σ = exp(½ log σ²).
    pub fn std(&self) -> Tensor {
        (&self.log_var * 0.5).exp()
    }

    /// z = μ + σ ⊙ ε with fresh ε ~ N(0, I): a sample that gradients flow through.
    pub fn rsample(&self) -> Tensor {
        self.rsample_with_noise(&self.mean.randn_like())
    }

    /// z = μ + σ ⊙ ε for a given ε of the same shape (fixed noise for tests and comparisons).
    pub fn rsample_with_noise(&self, eps: &Tensor) -> Tensor {
        &self.mean + self.std() * eps
    }

    /// ½ (μ² + σ² − log σ² − 1) per example and latent dimension, `[n, latent]`.
    pub fn kl_per_dim(&self) -> Tensor {
        (self.mean.square() + self.log_var.exp() - &self.log_var - 1.0) * 0.5
    }

    /// KL(q ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1), `[n]`.
    pub fn kl_to_standard_normal(&self) -> Tensor {
        self.kl_per_dim()
            .sum_dim_intlist(-1, false, self.mean.kind())
    }

    /// log q(z | x) for codes `z` shaped like the mean, `[n]`.
    pub fn log_prob(&self, z: &Tensor) -> Tensor {
        let kind = self.mean.kind();
        let dim = self.mean.size().last().copied().unwrap_or(1) as f64;
        let quad =
            ((z - &self.mean).square() * (-&self.log_var).exp()).sum_dim_intlist(-1, false, kind);
        let log_det = self.log_var.sum_dim_intlist(-1, false, kind);
        (quad + log_det + dim * (2.0 * PI).ln()) * -0.5
    }
}

impl VaeConfig {
    /// Check the config and build the model under `path` (see [`Vae::new`]).
    pub fn init(&self, path: &nn::Path) -> Result<Vae, VaeError> {
        Ok(Vae::new(path, &self.check()?))
    }
}

impl Vae {
    /// Build the networks under `path` with explicit names (`encoder.fc0`, …, `decoder.…`,
    /// `likelihood.log_var`), after seeding libtorch's global generator with `config.seed`, so
    /// the same config gives the same initial weights.
    pub fn new(path: &nn::Path, config: &CheckedVaeConfig) -> Vae {
        tch::manual_seed(i64::from_ne_bytes(config.seed.to_ne_bytes()));
        let input_dim = config.input_dim();
        let latent_dim = config.latent();
        let act = config.activation;
        let (encoder, decoder): (Box<dyn Module>, Box<dyn Module>) = match &config.architecture {
            Architecture::Mlp { hidden } => {
                let hidden: Vec<i64> = hidden.iter().map(|&h| to_i64(h)).collect();
                let enc_dims: Vec<i64> = std::iter::once(input_dim)
                    .chain(hidden.iter().copied())
                    .chain(std::iter::once(2 * latent_dim))
                    .collect();
                let dec_dims: Vec<i64> = std::iter::once(latent_dim)
                    .chain(hidden.iter().rev().copied())
                    .chain(std::iter::once(input_dim))
                    .collect();
                (
                    Box::new(Mlp::new(&(path / "encoder"), &enc_dims, act)),
                    Box::new(Mlp::new(&(path / "decoder"), &dec_dims, act)),
                )
            }
            Architecture::Conv { channels, hidden } => {
                let image = match config.input {
                    crate::InputShape::Image([c, h, w]) => [to_i64(c), to_i64(h), to_i64(w)],
                    // `check` rejects a conv architecture on vector input.
                    crate::InputShape::Vector(d) => [1, 1, to_i64(d)],
                };
                let channels: Vec<i64> = channels.iter().map(|&c| to_i64(c)).collect();
                let hidden = to_i64(*hidden);
                (
                    Box::new(ConvEncoder::new(
                        &(path / "encoder"),
                        image,
                        &channels,
                        hidden,
                        latent_dim,
                        act,
                    )),
                    Box::new(ConvDecoder::new(
                        &(path / "decoder"),
                        image,
                        &channels,
                        hidden,
                        latent_dim,
                        act,
                    )),
                )
            }
        };
        let obs_log_var = match config.likelihood {
            Likelihood::Gaussian {
                variance: Variance::Learned,
            } => ObsLogVar::Learned((path / "likelihood").zeros("log_var", &[input_dim])),
            Likelihood::Gaussian {
                variance: Variance::Fixed(v),
            } => ObsLogVar::Fixed(v.ln()),
            Likelihood::Bernoulli => ObsLogVar::None,
        };
        // The encoder's first layer always exists (`encoder.fc0` or `encoder.conv0`).
        let probe = ["fc0", "conv0"]
            .iter()
            .find_map(|layer| (path / "encoder" / *layer).get("weight"))
            .unwrap_or_else(|| Tensor::zeros([0], (path.kind(), path.device())));
        Vae {
            config: config.clone(),
            encoder,
            decoder,
            obs_log_var,
            probe,
            input_dim,
            latent_dim,
        }
    }

    /// Check `config`, make a fresh `VarStore` on `device` and build the model at its root.
    /// Use [`default_device`] unless you need a particular one; everything works on CPU.
    pub fn build(config: &VaeConfig, device: Device) -> Result<(nn::VarStore, Vae), VaeError> {
        let checked = config.check()?;
        let vs = nn::VarStore::new(device);
        let vae = Vae::new(&vs.root(), &checked);
        Ok((vs, vae))
    }

    /// The validated settings the model was built from.
    pub fn config(&self) -> &CheckedVaeConfig {
        &self.config
    }

    /// Width of one flattened example.
    pub fn input_dim(&self) -> i64 {
        self.input_dim
    }

    /// Dimension of z.
    pub fn latent_dim(&self) -> i64 {
        self.latent_dim
    }

    /// Where the variables are now.
    pub fn device(&self) -> Device {
        self.probe.device()
    }

    /// Element kind of the variables now (`Float`, or `Double` after `VarStore::double`).
    pub fn kind(&self) -> Kind {
        self.probe.kind()
    }

    /// Validate a batch and bring it to the model's device and kind: a `[n, D]` matrix (or one
    /// `[D]` example), finite, and binary for a Bernoulli likelihood.
    pub fn check_input(&self, x: &Tensor) -> Result<Tensor, VaeError> {
        let size = x.size();
        let x = match size[..] {
            [_] => x.unsqueeze(0),
            [_, _] => x.shallow_clone(),
            _ => return Err(VaeError::InputShape { shape: size }),
        };
        let width = x.size()[1];
        if width != self.input_dim {
            return Err(VaeError::InputWidth {
                expected: self.input_dim,
                found: width,
            });
        }
        let x = x.to_device(self.device()).to_kind(self.kind());
        if x.numel() == 0 {
            return Ok(x);
        }
        match self.config.likelihood {
            Likelihood::Bernoulli => {
                let binary = x.eq(0.0).logical_or_(&x.eq(1.0));
                if !bool_value(&binary.all()) {
                    let (row, col, value) = first_false(&binary, &x);
                    if value.is_finite() {
                        return Err(VaeError::NonBinaryInput { row, col, value });
                    }
                    return Err(VaeError::NonFiniteInput { row, col, value });
                }
            }
            Likelihood::Gaussian { .. } => {
                let finite = x.isfinite();
                if !bool_value(&finite.all()) {
                    let (row, col, value) = first_false(&finite, &x);
                    return Err(VaeError::NonFiniteInput { row, col, value });
                }
            }
        }
        Ok(x)
    }

    /// q(z | x): the encoder's mean and log-variance for a batch.
    pub fn encode(&self, x: &Tensor) -> Result<Posterior, VaeError> {
        let x = self.check_input(x)?;
        Ok(self.encode_checked(&x))
    }

    fn encode_checked(&self, x: &Tensor) -> Posterior {
        let out = self.encoder.forward(x);
        let mean = out.narrow(1, 0, self.latent_dim);
        let log_var = out.narrow(1, self.latent_dim, self.latent_dim);
        Posterior { mean, log_var }
    }

    /// p(x | z): the likelihood's parameters for codes `z` (`[n, latent]`).
    pub fn decode(&self, z: &Tensor) -> Result<Decoded, VaeError> {
        let size = z.size();
        match size[..] {
            [_, l] if l == self.latent_dim => {}
            _ => {
                return Err(VaeError::InvalidArgument {
                    name: "z",
                    message: format!(
                        "expected codes of shape [n, {}], got {size:?}",
                        self.latent_dim
                    ),
                });
            }
        }
        Ok(self.decode_checked(&z.to_device(self.device()).to_kind(self.kind())))
    }

    fn decode_checked(&self, z: &Tensor) -> Decoded {
        let out = self.decoder.forward(z);
        match &self.obs_log_var {
            ObsLogVar::None => Decoded::Bernoulli { logits: out },
            ObsLogVar::Learned(log_var) => Decoded::Gaussian {
                mean: out,
                log_var: log_var.shallow_clone(),
            },
            ObsLogVar::Fixed(lv) => {
                let log_var = Tensor::full([self.input_dim], *lv, (out.kind(), out.device()));
                Decoded::Gaussian { mean: out, log_var }
            }
        }
    }

    /// The ELBO of a batch with one reparameterised sample per example, and the loss to
    /// minimise (β and free bits applied to the loss only; `reconstruction` and `kl` are the
    /// plain terms).
    pub fn elbo(&self, x: &Tensor) -> Result<Elbo, VaeError> {
        let x = self.check_input(x)?;
        let posterior = self.encode_checked(&x);
        let eps = posterior.mean.randn_like();
        Ok(self.elbo_checked(&x, &posterior, &eps))
    }

    /// [`Vae::elbo`] with given noise ε (`[n, latent]`), so two calls can be compared exactly.
    pub fn elbo_with_noise(&self, x: &Tensor, eps: &Tensor) -> Result<Elbo, VaeError> {
        let x = self.check_input(x)?;
        let n = x.size()[0];
        let eps = self.check_noise(eps, &[n, self.latent_dim])?;
        let posterior = self.encode_checked(&x);
        Ok(self.elbo_checked(&x, &posterior, &eps))
    }

    fn elbo_checked(&self, x: &Tensor, posterior: &Posterior, eps: &Tensor) -> Elbo {
        let z = posterior.rsample_with_noise(eps);
        let reconstruction = self.decode_checked(&z).log_prob(x);
        let kl_per_dim = posterior.kl_per_dim();
        let kind = kl_per_dim.kind();
        let kl = kl_per_dim.sum_dim_intlist(-1, false, kind);
        let kl_term = match self.config.free_bits {
            Some(lambda) => kl_per_dim
                .mean_dim(0, false, kind)
                .clamp_min(lambda)
                .sum(kind),
            None => kl.mean(kind),
        };
        let loss = kl_term * self.config.beta - reconstruction.mean(kind);
        Elbo {
            reconstruction,
            kl,
            loss,
        }
    }

    /// Importance-weighted estimate L_k of log p(x) per example (Burda et al. 2016), `[n]`:
    /// log (1/k) Σ_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x), by log-sum-exp. L_1 is an
    /// unbiased estimate of the ELBO; L_k rises towards log p(x) with k. Runs without
    /// gradients, in chunks of [`DEFAULT_IWAE_CHUNK_ROWS`] codes.
    pub fn iwae(&self, x: &Tensor, k: usize) -> Result<Tensor, VaeError> {
        self.iwae_chunked(x, k, DEFAULT_IWAE_CHUNK_ROWS)
    }

    /// [`Vae::iwae`] with at most `chunk_rows` decoder rows (examples × samples) per step.
    pub fn iwae_chunked(
        &self,
        x: &Tensor,
        k: usize,
        chunk_rows: usize,
    ) -> Result<Tensor, VaeError> {
        if k == 0 {
            return Err(VaeError::InvalidArgument {
                name: "k",
                message: "the number of importance samples must be at least 1".to_owned(),
            });
        }
        let x = self.check_input(x)?;
        Ok(self.iwae_checked(&x, to_i64(k), chunk_rows, None))
    }

    /// [`Vae::iwae_chunked`] with given noise ε, `[n, k, latent]` (z_i = μ + σ ε_i), so chunked
    /// and unchunked runs can be compared exactly.
    pub fn iwae_with_noise(
        &self,
        x: &Tensor,
        eps: &Tensor,
        chunk_rows: usize,
    ) -> Result<Tensor, VaeError> {
        let x = self.check_input(x)?;
        let n = x.size()[0];
        let k = match eps.size()[..] {
            [en, k, l] if en == n && l == self.latent_dim && k > 0 => k,
            _ => {
                return Err(VaeError::InvalidArgument {
                    name: "eps",
                    message: format!(
                        "expected noise of shape [{n}, k, {}] with k ≥ 1, got {:?}",
                        self.latent_dim,
                        eps.size()
                    ),
                });
            }
        };
        let eps = eps.to_device(self.device()).to_kind(self.kind());
        Ok(self.iwae_checked(&x, k, chunk_rows, Some(&eps)))
    }

    fn iwae_checked(
        &self,
        x: &Tensor,
        k: i64,
        chunk_rows: usize,
        noise: Option<&Tensor>,
    ) -> Tensor {
        let _guard = tch::no_grad_guard();
        let n = x.size()[0];
        let kind = self.kind();
        let options = (kind, self.device());
        let rows = to_i64(chunk_rows.max(1));
        let block = n.min(rows).max(1);
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < n {
            let b = block.min(n - start);
            let xb = x.narrow(0, start, b);
            let post = self.encode_checked(&xb);
            let mean = post.mean.unsqueeze(1);
            let std = post.std().unsqueeze(1);
            // ½ Σ_j log σ_j²: the part of −log q(z | x) that does not depend on the sample.
            let half_log_det = post.log_var.sum_dim_intlist(-1, true, kind) * 0.5;
            let per_chunk = (rows / b).max(1);
            let mut acc: Option<Tensor> = None;
            let mut s = 0;
            while s < k {
                let c = per_chunk.min(k - s);
                let eps = match noise {
                    Some(e) => e.narrow(0, start, b).narrow(1, s, c),
                    None => Tensor::randn([b, c, self.latent_dim], options),
                };
                let z = &mean + &std * &eps;
                let decoded = self.decode_checked(&z.view([b * c, self.latent_dim]));
                let decoded = match decoded {
                    Decoded::Bernoulli { logits } => Decoded::Bernoulli {
                        logits: logits.view([b, c, self.input_dim]),
                    },
                    Decoded::Gaussian { mean, log_var } => Decoded::Gaussian {
                        mean: mean.view([b, c, self.input_dim]),
                        log_var,
                    },
                };
                // log w = log p(x|z) + log p(z) − log q(z|x); the 2π terms cancel:
                // log p(z) − log q(z|x) = ½ Σ (ε² − z²) + ½ Σ log σ².
                let prior_minus_q =
                    (eps.square() - z.square()).sum_dim_intlist(-1, false, kind) * 0.5;
                let log_w = decoded.log_prob_grouped(&xb) + prior_minus_q + &half_log_det;
                let lse = log_w.logsumexp(1, false);
                acc = Some(match acc {
                    None => lse,
                    Some(a) => a.logaddexp(&lse),
                });
                s += c;
            }
            if let Some(a) = acc {
                pieces.push(a - (k as f64).ln());
            }
            start += b;
        }
        if pieces.is_empty() {
            return Tensor::zeros([0], options);
        }
        Tensor::cat(&pieces, 0)
    }

    /// `n` samples from the model: z ~ N(0, I), returned as E[x | z] (`[n, D]`; probabilities
    /// for Bernoulli), which is what one looks at.
    pub fn sample(&self, n: usize) -> Tensor {
        let _guard = tch::no_grad_guard();
        let z = Tensor::randn([to_i64(n), self.latent_dim], (self.kind(), self.device()));
        self.decode_checked(&z).mean()
    }

    /// `n` draws x ~ p(x | z), z ~ N(0, I) (binary for Bernoulli), `[n, D]`.
    pub fn sample_observations(&self, n: usize) -> Tensor {
        let _guard = tch::no_grad_guard();
        let z = Tensor::randn([to_i64(n), self.latent_dim], (self.kind(), self.device()));
        self.decode_checked(&z).sample()
    }

    /// E[x | z = μ(x)]: the decoder's mean at the encoder's mean, `[n, D]`.
    pub fn reconstruct(&self, x: &Tensor) -> Result<Tensor, VaeError> {
        let _guard = tch::no_grad_guard();
        let post = self.encode(x)?;
        Ok(self.decode_checked(&post.mean).mean())
    }

    /// Decoded means along the straight line between the codes (encoder means) of two
    /// examples, `steps` points including both ends, `[steps, D]`.
    pub fn interpolate(
        &self,
        x_a: &Tensor,
        x_b: &Tensor,
        steps: usize,
    ) -> Result<Tensor, VaeError> {
        if steps < 2 {
            return Err(VaeError::InvalidArgument {
                name: "steps",
                message: format!(
                    "an interpolation needs at least 2 points (both ends), got {steps}"
                ),
            });
        }
        let _guard = tch::no_grad_guard();
        let z_a = self.single_code(x_a, "x_a")?;
        let z_b = self.single_code(x_b, "x_b")?;
        let t =
            Tensor::linspace(0.0, 1.0, to_i64(steps), (self.kind(), self.device())).unsqueeze(1);
        let z = &z_a + (&z_b - &z_a) * t;
        Ok(self.decode_checked(&z).mean())
    }

    /// Latent traversal: start from the code of `x` (its encoder mean; the prior mean 0 when
    /// `x` is `None`), set latent dimension `dim` to each of `values` in turn, decode,
    /// `[values.len(), D]`.
    pub fn traverse(
        &self,
        x: Option<&Tensor>,
        dim: usize,
        values: &[f64],
    ) -> Result<Tensor, VaeError> {
        let dim = to_i64(dim);
        if dim >= self.latent_dim {
            return Err(VaeError::InvalidArgument {
                name: "dim",
                message: format!(
                    "latent dimension {dim} does not exist; the model has {}",
                    self.latent_dim
                ),
            });
        }
        let _guard = tch::no_grad_guard();
        let options = (self.kind(), self.device());
        let base = match x {
            Some(x) => self.single_code(x, "x")?,
            None => Tensor::zeros([1, self.latent_dim], options),
        };
        let steps = to_i64(values.len());
        let z = base.expand([steps, self.latent_dim], false).contiguous();
        let column = Tensor::from_slice(values)
            .to_kind(self.kind())
            .to_device(self.device());
        z.narrow(1, dim, 1)
            .f_copy_(&column.unsqueeze(1))
            .map_err(VaeError::torch("setting the traversed latent dimension"))?;
        Ok(self.decode_checked(&z).mean())
    }

    /// The encoder mean of one example, `[1, latent]`.
    fn single_code(&self, x: &Tensor, name: &'static str) -> Result<Tensor, VaeError> {
        let x = self.check_input(x)?;
        if x.size()[0] != 1 {
            return Err(VaeError::InvalidArgument {
                name,
                message: format!("expected one example, got {}", x.size()[0]),
            });
        }
        Ok(self.encode_checked(&x).mean)
    }

    fn check_noise(&self, eps: &Tensor, shape: &[i64]) -> Result<Tensor, VaeError> {
        if eps.size() != shape {
            return Err(VaeError::InvalidArgument {
                name: "eps",
                message: format!("expected noise of shape {shape:?}, got {:?}", eps.size()),
            });
        }
        Ok(eps.to_device(self.device()).to_kind(self.kind()))
    }
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn bool_value(t: &Tensor) -> bool {
    t.int64_value(&[]) != 0
}

/// Row, column and value of the first `false` in `mask` (a `[n, D]` boolean tensor).
fn first_false(mask: &Tensor, x: &Tensor) -> (i64, i64, f64) {
    let bad = mask.logical_not().nonzero();
    if bad.size().first().copied().unwrap_or(0) == 0 {
        return (-1, -1, f64::NAN);
    }
    let row = bad.int64_value(&[0, 0]);
    let col = bad.int64_value(&[0, 1]);
    (row, col, x.double_value(&[row, col]))
}

/// Stride-2 convolutions down to a small feature map, then fully connected layers to the
/// posterior's mean and log-variance.
#[derive(Debug)]
struct ConvEncoder {
    image: [i64; 3],
    convs: Vec<nn::Conv2D>,
    mlp: Mlp,
    activation: Activation,
}

fn conv_config() -> nn::ConvConfig {
    nn::ConvConfig {
        stride: 2,
        padding: 1,
        ..Default::default()
    }
}

impl ConvEncoder {
    fn new(
        path: &nn::Path,
        image: [i64; 3],
        channels: &[i64],
        hidden: i64,
        latent: i64,
        activation: Activation,
    ) -> Self {
        let mut convs = Vec::with_capacity(channels.len());
        let mut c_in = image[0];
        for (i, &c_out) in channels.iter().enumerate() {
            convs.push(nn::conv2d(
                path / format!("conv{i}"),
                c_in,
                c_out,
                4,
                conv_config(),
            ));
            c_in = c_out;
        }
        let shrink = 1i64 << channels.len();
        let flat = c_in * (image[1] / shrink) * (image[2] / shrink);
        let mlp = Mlp::new(path, &[flat, hidden, 2 * latent], activation);
        ConvEncoder {
            image,
            convs,
            mlp,
            activation,
        }
    }
}

impl Module for ConvEncoder {
    fn forward(&self, x: &Tensor) -> Tensor {
        let [c, h, w] = self.image;
        let mut t = x.view([-1, c, h, w]);
        for conv in &self.convs {
            t = self.activation.apply(&t.apply(conv));
        }
        self.mlp.forward(&t.flatten(1, -1))
    }
}

/// Fully connected layers from z to a small feature map, then stride-2 transposed
/// convolutions up to the image; outputs the likelihood's parameters, flattened.
#[derive(Debug)]
struct ConvDecoder {
    start: [i64; 3],
    mlp: Mlp,
    deconvs: Vec<nn::ConvTranspose2D>,
    activation: Activation,
    input_dim: i64,
}

impl ConvDecoder {
    fn new(
        path: &nn::Path,
        image: [i64; 3],
        channels: &[i64],
        hidden: i64,
        latent: i64,
        activation: Activation,
    ) -> Self {
        let shrink = 1i64 << channels.len();
        let c_last = channels.last().copied().unwrap_or(image[0]);
        let start = [c_last, image[1] / shrink, image[2] / shrink];
        let mlp = Mlp::new(path, &[latent, hidden, start.iter().product()], activation);
        let targets: Vec<i64> = channels
            .iter()
            .rev()
            .skip(1)
            .copied()
            .chain(std::iter::once(image[0]))
            .collect();
        let mut deconvs = Vec::with_capacity(targets.len());
        let mut c_in = c_last;
        for (i, &c_out) in targets.iter().enumerate() {
            let cfg = nn::ConvTransposeConfig {
                stride: 2,
                padding: 1,
                ..Default::default()
            };
            deconvs.push(nn::conv_transpose2d(
                path / format!("deconv{i}"),
                c_in,
                c_out,
                4,
                cfg,
            ));
            c_in = c_out;
        }
        ConvDecoder {
            start,
            mlp,
            deconvs,
            activation,
            input_dim: image.iter().product(),
        }
    }
}

impl Module for ConvDecoder {
    fn forward(&self, z: &Tensor) -> Tensor {
        let [c, h, w] = self.start;
        let mut t = self
            .activation
            .apply(&self.mlp.forward(z))
            .view([-1, c, h, w]);
        let last = self.deconvs.len().saturating_sub(1);
        for (i, deconv) in self.deconvs.iter().enumerate() {
            t = t.apply(deconv);
            if i < last {
                t = self.activation.apply(&t);
            }
        }
        t.view([-1, self.input_dim])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InputShape;

    fn mlp_config(
        input: usize,
        hidden: Vec<usize>,
        latent: usize,
        likelihood: Likelihood,
    ) -> VaeConfig {
        VaeConfig {
            architecture: Architecture::Mlp { hidden },
            likelihood,
            ..VaeConfig::new(input, latent)
        }
    }

    /// A model in f64 on CPU, so exact comparisons are tight.
    fn build_f64(config: &VaeConfig) -> (nn::VarStore, Vae) {
        let (mut vs, vae) = Vae::build(config, Device::Cpu).unwrap();
        vs.double();
        (vs, vae)
    }

    fn binary_batch(n: i64, d: i64) -> Tensor {
        Tensor::rand([n, d], (Kind::Double, Device::Cpu))
            .lt(0.3)
            .to_kind(Kind::Double)
    }

    fn sorted_names(vs: &nn::VarStore) -> Vec<String> {
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        names
    }

    #[test]
    fn variables_have_explicit_names_and_shapes() {
        let _rng = crate::rng_lock();
        let (vs, vae) = Vae::build(
            &mlp_config(12, vec![8], 3, Likelihood::Bernoulli),
            Device::Cpu,
        )
        .unwrap();
        assert_eq!(
            sorted_names(&vs),
            [
                "decoder.fc0.bias",
                "decoder.fc0.weight",
                "decoder.fc1.bias",
                "decoder.fc1.weight",
                "encoder.fc0.bias",
                "encoder.fc0.weight",
                "encoder.fc1.bias",
                "encoder.fc1.weight"
            ]
        );
        let vars = vs.variables();
        assert_eq!(vars["encoder.fc1.weight"].size(), [6, 8]); // mean and log-variance heads
        assert_eq!(vars["decoder.fc1.weight"].size(), [12, 8]);
        assert_eq!(
            (vae.input_dim(), vae.latent_dim(), vae.device(), vae.kind()),
            (12, 3, Device::Cpu, Kind::Float)
        );

        let learned = Likelihood::Gaussian {
            variance: Variance::Learned,
        };
        let (vs, _) = Vae::build(&mlp_config(5, vec![], 2, learned), Device::Cpu).unwrap();
        assert_eq!(
            sorted_names(&vs),
            [
                "decoder.fc0.bias",
                "decoder.fc0.weight",
                "encoder.fc0.bias",
                "encoder.fc0.weight",
                "likelihood.log_var"
            ]
        );
        // The same seed gives the same weights; another seed does not.
        let config = mlp_config(12, vec![8], 3, Likelihood::Bernoulli);
        let (a, _) = Vae::build(&config, Device::Cpu).unwrap();
        let (b, _) = Vae::build(&config, Device::Cpu).unwrap();
        let (c, _) = Vae::build(&VaeConfig { seed: 9, ..config }, Device::Cpu).unwrap();
        let w = |vs: &nn::VarStore| vs.variables()["encoder.fc0.weight"].shallow_clone();
        assert!(w(&a).equal(&w(&b)));
        assert!(!w(&a).equal(&w(&c)));
    }

    #[test]
    fn conv_architecture_runs_end_to_end() {
        let _rng = crate::rng_lock();
        let config = VaeConfig {
            input: InputShape::Image([1, 8, 8]),
            architecture: Architecture::Conv {
                channels: vec![4, 6],
                hidden: 16,
            },
            ..VaeConfig::new(64, 3)
        };
        let (vs, vae) = Vae::build(&config, Device::Cpu).unwrap();
        let vars = vs.variables();
        assert_eq!(vars["encoder.conv0.weight"].size(), [4, 1, 4, 4]);
        assert_eq!(vars["encoder.conv1.weight"].size(), [6, 4, 4, 4]);
        assert_eq!(vars["encoder.fc0.weight"].size(), [16, 6 * 2 * 2]);
        assert_eq!(vars["encoder.fc1.weight"].size(), [6, 16]);
        assert_eq!(vars["decoder.fc1.weight"].size(), [6 * 2 * 2, 16]);
        assert_eq!(vars["decoder.deconv0.weight"].size(), [6, 4, 4, 4]);
        assert_eq!(vars["decoder.deconv1.weight"].size(), [4, 1, 4, 4]);
        let x = Tensor::rand([5, 64], (Kind::Float, Device::Cpu))
            .lt(0.5)
            .to_kind(Kind::Float);
        let elbo = vae.elbo(&x).unwrap();
        assert_eq!(elbo.reconstruction.size(), [5]);
        elbo.loss.backward();
        let g = vars["encoder.conv0.weight"].grad();
        assert!(g.abs().sum(Kind::Double).double_value(&[]) > 0.0);
        assert_eq!(vae.reconstruct(&x).unwrap().size(), [5, 64]);
        let ll = vae.iwae_chunked(&x, 20, 30).unwrap();
        assert_eq!(ll.size(), [5]);
        assert!(bool_value(&ll.isfinite().all()));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let _rng = crate::rng_lock();
        let (_vs, vae) = Vae::build(
            &mlp_config(4, vec![5], 2, Likelihood::Bernoulli),
            Device::Cpu,
        )
        .unwrap();
        let ok = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]).view([2, 4]);
        assert!(vae.elbo(&ok).is_ok());
        // Integer data is converted to the model's kind.
        assert!(vae.encode(&ok.to_kind(Kind::Uint8)).is_ok());
        // One example as a vector is a batch of one.
        assert_eq!(vae.encode(&ok.get(0)).unwrap().mean.size(), [1, 2]);

        let wide = Tensor::zeros([2, 5], (Kind::Float, Device::Cpu));
        assert!(matches!(
            vae.elbo(&wide),
            Err(VaeError::InputWidth {
                expected: 4,
                found: 5
            })
        ));
        let cube = Tensor::zeros([2, 2, 4], (Kind::Float, Device::Cpu));
        assert!(matches!(vae.elbo(&cube), Err(VaeError::InputShape { .. })));

        let grey = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.0, 1.0, 0.5, 1.0, 1.0]).view([2, 4]);
        match vae.elbo(&grey) {
            Err(e @ VaeError::NonBinaryInput { row: 1, col: 1, .. }) => {
                assert!(e.to_string().contains("binarise"), "{e}");
            }
            other => panic!("expected NonBinaryInput, got {other:?}"),
        }
        let nan = Tensor::from_slice(&[0.0f32, 1.0, f32::NAN, 0.0]).view([1, 4]);
        assert!(matches!(
            vae.iwae(&nan, 3),
            Err(VaeError::NonFiniteInput { row: 0, col: 2, .. })
        ));
        assert!(matches!(
            vae.iwae(&ok, 0),
            Err(VaeError::InvalidArgument { name: "k", .. })
        ));
        assert!(matches!(
            vae.decode(&Tensor::zeros([3, 5], (Kind::Float, Device::Cpu))),
            Err(VaeError::InvalidArgument { name: "z", .. })
        ));

        let gaussian = Likelihood::Gaussian {
            variance: Variance::Fixed(0.5),
        };
        let (_vs, g) = Vae::build(&mlp_config(4, vec![5], 2, gaussian), Device::Cpu).unwrap();
        assert!(
            g.elbo(&grey).is_ok(),
            "grey levels are fine for a Gaussian likelihood"
        );
        let inf = Tensor::from_slice(&[0.3f32, 0.2, 0.1, f32::INFINITY]).view([1, 4]);
        assert!(matches!(
            g.elbo(&inf),
            Err(VaeError::NonFiniteInput { row: 0, col: 3, .. })
        ));
    }

    /// The closed-form KL to N(0, I) matches (a) a Monte-Carlo estimate E_q[log q − log p]
    /// within four standard errors and (b) `elbo-distributions`' KL for the same numbers.
    #[test]
    fn analytic_kl_matches_monte_carlo_and_elbo_distributions() {
        let _rng = crate::rng_lock();
        tch::manual_seed(11);
        let mean_v = [0.8f64, -1.5, 0.0, 2.2];
        let log_var_v = [-1.0f64, 0.5, -2.5, 0.0];
        let post = Posterior {
            mean: Tensor::from_slice(&mean_v).view([1, 4]),
            log_var: Tensor::from_slice(&log_var_v).view([1, 4]),
        };
        let analytic = post.kl_to_standard_normal().double_value(&[0]);

        let m = 200_000i64;
        let many = Posterior {
            mean: post.mean.expand([m, 4], false),
            log_var: post.log_var.expand([m, 4], false),
        };
        let z = many.rsample();
        let log_ratio = many.log_prob(&z) - crate::likelihood::standard_normal_log_prob(&z);
        let mc = log_ratio.mean(Kind::Double).double_value(&[]);
        let se = log_ratio.std(true).double_value(&[]) / (m as f64).sqrt();
        assert!(
            (mc - analytic).abs() < 4.0 * se,
            "analytic {analytic}, Monte Carlo {mc} ± {se}"
        );

        let var = ndarray::Array1::from_iter(log_var_v.iter().map(|v| v.exp()));
        let q =
            elbo_distributions::DiagNormal::new(ndarray::Array1::from_vec(mean_v.to_vec()), var)
                .unwrap();
        let reference = elbo_distributions::kl_diag_normal_standard(&q);
        let general = elbo_distributions::kl_diag_normal(
            &q,
            &elbo_distributions::DiagNormal::standard(4).unwrap(),
        )
        .unwrap();
        assert!(
            (analytic - reference).abs() < 1e-12,
            "{analytic} vs {reference}"
        );
        assert!(
            (analytic - general).abs() < 1e-12,
            "{analytic} vs {general}"
        );
        // Per-dimension terms add up to the total.
        let per_dim = post.kl_per_dim().sum(Kind::Double).double_value(&[]);
        assert!((per_dim - analytic).abs() < 1e-12);
    }

    /// With β = 0 the loss reaches the encoder only through z = μ + σ ε, so a non-zero encoder
    /// gradient is the reparameterisation at work; it also matches a finite difference.
    #[test]
    fn gradients_flow_through_the_reparameterised_sample() {
        let _rng = crate::rng_lock();
        let config = VaeConfig {
            beta: 0.0,
            ..mlp_config(6, vec![5], 2, Likelihood::Bernoulli)
        };
        let (vs, vae) = build_f64(&config);
        let x = binary_batch(8, 6);
        let eps = Tensor::randn([8, 2], (Kind::Double, Device::Cpu));
        let loss = vae.elbo_with_noise(&x, &eps).unwrap().loss;
        loss.backward();
        let vars = vs.variables();
        for name in ["encoder.fc0.weight", "encoder.fc1.weight"] {
            let g = vars[name].grad();
            let total = g.abs().sum(Kind::Double).double_value(&[]);
            assert!(total.is_finite() && total > 0.0, "{name}: |grad| = {total}");
        }
        // Row 2 of the head is the log-variance of latent 0: it acts only through σ ε.
        let w = vars["encoder.fc1.weight"].shallow_clone();
        let analytic = w.grad().double_value(&[2, 1]);
        assert!(analytic != 0.0);
        let h = 1e-6;
        let loss_at = |delta: f64| {
            tch::no_grad(|| {
                let _ = w.get(2).get(1).f_add_(&Tensor::from(delta)).unwrap();
            });
            vae.elbo_with_noise(&x, &eps)
                .unwrap()
                .loss
                .double_value(&[])
        };
        let up = loss_at(h);
        let down = loss_at(-2.0 * h);
        loss_at(h);
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (analytic - numeric).abs() <= 1e-6 * (1.0 + numeric.abs()),
            "{analytic} vs {numeric}"
        );
    }

    /// β scales the KL in the loss; free bits floor each dimension's batch-mean KL at λ; the
    /// reported reconstruction and KL stay the plain terms.
    #[test]
    fn beta_and_free_bits_shape_the_loss() {
        let _rng = crate::rng_lock();
        let base = mlp_config(6, vec![5], 3, Likelihood::Bernoulli);
        let x = binary_batch(10, 6);
        let eps = Tensor::randn([10, 3], (Kind::Double, Device::Cpu));
        let parts = |config: &VaeConfig| {
            let (_vs, vae) = build_f64(config);
            let e = vae.elbo_with_noise(&x, &eps).unwrap();
            let post = vae.encode(&x).unwrap();
            let kl_dims: Vec<f64> =
                Vec::<f64>::try_from(post.kl_per_dim().mean_dim(0, false, Kind::Double)).unwrap();
            (
                e.reconstruction.mean(Kind::Double).double_value(&[]),
                e.kl.mean(Kind::Double).double_value(&[]),
                kl_dims,
                e.loss.double_value(&[]),
            )
        };
        let (recon, kl, _, loss) = parts(&base);
        assert!((loss - (kl - recon)).abs() < 1e-12);
        let (recon_b, kl_b, _, loss_b) = parts(&VaeConfig {
            beta: 2.5,
            ..base.clone()
        });
        assert_eq!(
            (recon_b, kl_b),
            (recon, kl),
            "β must not change the reported terms"
        );
        assert!((loss_b - (2.5 * kl - recon)).abs() < 1e-12);
        let lambda = 0.05;
        let (_, _, dims, loss_f) = parts(&VaeConfig {
            free_bits: Some(lambda),
            ..base.clone()
        });
        let floored: f64 = dims.iter().map(|&k| k.max(lambda)).sum();
        assert!(dims.iter().any(|&k| k < lambda) || dims.iter().all(|&k| k >= lambda));
        assert!((loss_f - (floored - recon)).abs() < 1e-12);
        let (_, _, _, loss_big) = parts(&VaeConfig {
            free_bits: Some(100.0),
            ..base
        });
        assert!(
            (loss_big - (300.0 - recon)).abs() < 1e-9,
            "every dimension floored at λ"
        );
    }

    /// The chunked IWAE combines chunk log-sum-exps exactly: any chunk size gives the value of
    /// one big log-mean-exp over the same noise, computed here independently.
    #[test]
    fn iwae_chunked_equals_unchunked_for_fixed_noise() {
        let _rng = crate::rng_lock();
        let gaussian = Likelihood::Gaussian {
            variance: Variance::Learned,
        };
        for likelihood in [Likelihood::Bernoulli, gaussian] {
            let (_vs, vae) = build_f64(&mlp_config(7, vec![6], 3, likelihood));
            let x = binary_batch(5, 7);
            let k = 37;
            let eps = Tensor::randn([5, k, 3], (Kind::Double, Device::Cpu));
            let whole = vae.iwae_with_noise(&x, &eps, 1 << 20).unwrap();
            for rows in [1, 4, 7, 36, 100] {
                let chunked = vae.iwae_with_noise(&x, &eps, rows).unwrap();
                let diff = (&chunked - &whole).abs().max().double_value(&[]);
                assert!(diff < 1e-10, "chunk_rows {rows}: max difference {diff}");
            }
            // Independent reference: log-mean-exp of log p(x|z) + log p(z) − log q(z|x), point by point.
            let post = vae.encode(&x).unwrap();
            for i in 0..5 {
                let xi = x.get(i).unsqueeze(0).expand([k, 7], false);
                let post_i = Posterior {
                    mean: post.mean.get(i).unsqueeze(0).expand([k, 3], false),
                    log_var: post.log_var.get(i).unsqueeze(0).expand([k, 3], false),
                };
                let z = post_i.rsample_with_noise(&eps.get(i));
                let log_w = vae.decode(&z).unwrap().log_prob(&xi)
                    + crate::likelihood::standard_normal_log_prob(&z)
                    - post_i.log_prob(&z);
                let w: Vec<f64> = Vec::<f64>::try_from(log_w).unwrap();
                let m = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lme = m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln();
                let ours = whole.double_value(&[i]);
                assert!((ours - lme).abs() < 1e-10, "point {i}: {ours} vs {lme}");
            }
        }
    }

    /// L_1 is an unbiased estimate of the ELBO: over many independent draws the mean of
    /// `iwae(x, 1)` matches the mean of the one-sample ELBO within four standard errors.
    #[test]
    fn iwae_with_one_sample_equals_the_elbo_in_expectation() {
        let _rng = crate::rng_lock();
        let (_vs, vae) = build_f64(&mlp_config(10, vec![8], 2, Likelihood::Bernoulli));
        let m = 20_000;
        let x = binary_batch(1, 10).expand([m, 10], false);
        let l1 = vae.iwae(&x, 1).unwrap();
        let elbo = tch::no_grad(|| vae.elbo(&x).unwrap().per_example());
        let (a, b) = (
            l1.mean(Kind::Double).double_value(&[]),
            elbo.mean(Kind::Double).double_value(&[]),
        );
        let var = |t: &Tensor| t.var(true).double_value(&[]) / m as f64;
        let se = (var(&l1) + var(&elbo)).sqrt();
        assert!((a - b).abs() < 4.0 * se, "L_1 {a} vs ELBO {b} (se {se})");
        assert!(
            se < 0.05,
            "the check is meaningful only if the error is small: {se}"
        );
    }

    /// L_k rises with k on average (Burda et al. 2016, theorem 1): averaged over 20 seeds,
    /// each step up in k does not lower the mean, and L_1000 is clearly above L_1.
    #[test]
    fn iwae_is_non_decreasing_in_k_on_average() {
        let _rng = crate::rng_lock();
        let (_vs, vae) = build_f64(&mlp_config(10, vec![8], 2, Likelihood::Bernoulli));
        let x = binary_batch(4, 10);
        let ks = [1usize, 10, 100, 1000];
        let seeds = 20;
        let mut means = Vec::new();
        let mut ses = Vec::new();
        for &k in &ks {
            let runs: Vec<f64> = (0..seeds)
                .map(|s| {
                    tch::manual_seed(1000 + s);
                    vae.iwae(&x, k)
                        .unwrap()
                        .mean(Kind::Double)
                        .double_value(&[])
                })
                .collect();
            let mean = runs.iter().sum::<f64>() / seeds as f64;
            let var = runs.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (seeds - 1) as f64;
            means.push(mean);
            ses.push((var / seeds as f64).sqrt());
        }
        for i in 1..ks.len() {
            let tol = 2.0 * (ses[i].powi(2) + ses[i - 1].powi(2)).sqrt();
            assert!(
                means[i] >= means[i - 1] - tol,
                "L_{} = {} < L_{} = {}",
                ks[i],
                means[i],
                ks[i - 1],
                means[i - 1]
            );
        }
        let tol = 4.0 * (ses[0].powi(2) + ses[3].powi(2)).sqrt();
        assert!(
            means[3] > means[0] + tol,
            "L_1000 {} not above L_1 {}",
            means[3],
            means[0]
        );
    }

    #[test]
    fn sampling_reconstruction_interpolation_and_traversal() {
        let _rng = crate::rng_lock();
        let (_vs, vae) = build_f64(&mlp_config(6, vec![5], 2, Likelihood::Bernoulli));
        let probs = vae.sample(7);
        assert_eq!(probs.size(), [7, 6]);
        assert!(probs.min().double_value(&[]) >= 0.0 && probs.max().double_value(&[]) <= 1.0);
        let draws = vae.sample_observations(7);
        assert!(bool_value(&draws.eq(0.0).logical_or(&draws.eq(1.0)).all()));
        tch::manual_seed(5);
        let s1 = vae.sample(3);
        tch::manual_seed(5);
        assert!(s1.equal(&vae.sample(3)), "same seed, same samples");

        let x = binary_batch(2, 6);
        let rec = vae.reconstruct(&x).unwrap();
        assert_eq!(rec.size(), [2, 6]);
        let path = vae.interpolate(&x.get(0), &x.get(1), 5).unwrap();
        assert_eq!(path.size(), [5, 6]);
        assert!(path.get(0).allclose(&rec.get(0), 1e-12, 1e-12, false));
        assert!(path.get(4).allclose(&rec.get(1), 1e-12, 1e-12, false));
        assert!(matches!(
            vae.interpolate(&x.get(0), &x.get(1), 1),
            Err(VaeError::InvalidArgument { name: "steps", .. })
        ));
        assert!(matches!(
            vae.interpolate(&x, &x.get(1), 3),
            Err(VaeError::InvalidArgument { name: "x_a", .. })
        ));

        // Traversing dimension 1 through its own value reproduces the reconstruction.
        let mu = vae.encode(&x.get(0)).unwrap().mean;
        let own = mu.double_value(&[0, 1]);
        let walk = vae.traverse(Some(&x.get(0)), 1, &[-2.0, own, 2.0]).unwrap();
        assert_eq!(walk.size(), [3, 6]);
        assert!(walk.get(1).allclose(&rec.get(0), 1e-12, 1e-12, false));
        assert!(!walk.get(0).allclose(&walk.get(2), 1e-9, 1e-9, false));
        let from_prior = vae.traverse(None, 0, &[0.0]).unwrap();
        let at_origin = vae
            .decode(&Tensor::zeros([1, 2], (Kind::Double, Device::Cpu)))
            .unwrap()
            .mean();
        assert!(from_prior.allclose(&at_origin, 1e-12, 1e-12, false));
        assert!(matches!(
            vae.traverse(None, 2, &[0.0]),
            Err(VaeError::InvalidArgument { name: "dim", .. })
        ));
    }
}

//! A multi-layer perceptron whose variables live under explicit names.

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

/// The non-linearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Apply the non-linearity element-wise.
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// Linear layers `dims[0] → dims[1] → … → dims[last]`, the activation between them and none
/// after the last, so the output can be any real vector (logits, means, log-variances).
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
}

impl Mlp {
    /// Build the layers under `path / "fc0"`, `path / "fc1"`, …: explicit names, so checkpoint
    /// keys do not depend on construction order (tch renames duplicates otherwise).
    ///
    /// `dims` needs at least two entries (input and output width).
    pub fn new(path: &nn::Path, dims: &[i64], activation: Activation) -> Self {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| nn::linear(path / format!("fc{i}"), w[0], w[1], Default::default()))
            .collect();
        Mlp { layers, activation }
    }

    /// Number of linear layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
}

impl nn::Module for Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len().saturating_sub(1);
        let mut h = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = h.apply(layer);
            if i < last {
                h = self.activation.apply(&h);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{Module, OptimizerConfig};
    use tch::{Device, Kind};

    #[test]
    fn variables_have_explicit_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _mlp = Mlp::new(&(vs.root() / "encoder"), &[6, 5, 4], Activation::Relu);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "encoder.fc0.bias",
                "encoder.fc0.weight",
                "encoder.fc1.bias",
                "encoder.fc1.weight"
            ]
        );
    }

    /// Forward and backward on CPU: the gradient of a quadratic loss through the network
    /// matches a central finite difference of the same loss (f64, so the check is tight).
    #[test]
    fn backward_matches_finite_differences() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), &[3, 4, 2], Activation::Tanh);
        let mut vs = vs;
        vs.double();
        let x = Tensor::randn([5, 3], (Kind::Double, Device::Cpu));
        let loss_of = |m: &Mlp| m.forward(&x).pow_tensor_scalar(2).sum(Kind::Double);

        let loss = loss_of(&mlp);
        loss.backward();
        let weight = vs.variables()["fc0.weight"].shallow_clone();
        let analytic = weight.grad().double_value(&[1, 2]);
        assert!(
            analytic.is_finite() && analytic != 0.0,
            "gradient {analytic}"
        );

        let h = 1e-6;
        let bump = |delta: f64| {
            tch::no_grad(|| {
                let _ = weight.get(1).get(2).f_add_(&Tensor::from(delta)).unwrap();
            });
            loss_of(&mlp).double_value(&[])
        };
        let up = bump(h);
        let down = bump(-2.0 * h);
        bump(h);
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (analytic - numeric).abs() <= 1e-6 * (1.0 + numeric.abs()),
            "analytic {analytic} vs finite difference {numeric}"
        );
    }

    /// A few Adam steps on a least-squares problem lower the loss: the whole
    /// forward / backward / optimiser path runs through libtorch.
    #[test]
    fn adam_steps_reduce_the_loss() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), &[4, 16, 1], Activation::Relu);
        let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
        let x = Tensor::randn([64, 4], (Kind::Float, Device::Cpu));
        let y = x.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let mse = |m: &Mlp| (m.forward(&x) - &y).pow_tensor_scalar(2).mean(Kind::Float);
        let before = mse(&mlp).double_value(&[]);
        for _ in 0..200 {
            opt.backward_step(&mse(&mlp));
        }
        let after = mse(&mlp).double_value(&[]);
        assert!(after < 0.1 * before, "loss {before} -> {after}");
    }
}

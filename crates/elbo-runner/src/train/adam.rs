//! Adam (Kingma & Ba 2015, PyTorch's defaults) with its moments held as tensors this crate
//! owns, so they are checkpointed with the weights and a resume continues exactly.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail, ensure};
use tch::{Kind, Tensor, nn};

/// Alignment of each variable in [`Adam`]'s flat buffers, in elements (64 bytes of f32).
const ALIGN_ELEMENTS: i64 = 16;

/// Adam (Kingma & Ba 2015) over the trainable variables of a `VarStore`, with PyTorch's
/// update (`torch.optim.Adam`: no weight decay, no AMSGrad, β₁ = 0.9, β₂ = 0.999, ε = 1e-8):
///
/// m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
/// θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε),
///
/// evaluated as θ + m / ((√v + ε·√(1 − β₂ᵗ)) / s) with s = −lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ): the same
/// number up to rounding, with fewer passes over the data.
///
/// Unlike `tch::nn::Optimizer` it owns its state, so [`Adam::save`] / [`Adam::load`] make a
/// resumed run continue exactly. For speed, [`Adam::new`] moves the variables into one
/// contiguous buffer (each variable becomes a view of it, `Tensor::set_data`), and the
/// gradients into another as soon as autograd has created them, so a step is seven in-place
/// operations over all parameters at once instead of ten per variable. Variables are ordered
/// by name. A variable that has no gradient at a step counts as having a zero gradient (its
/// moments decay), where PyTorch would skip it; in a VAE every variable gets a gradient.
#[derive(Debug)]
pub struct Adam {
    pub(crate) lr: f64,
    pub(crate) step: u64,
    pub(crate) params: Vec<AdamParam>,
    /// Every variable, concatenated.
    pub(crate) flat: Tensor,
    /// Every gradient, concatenated.
    pub(crate) grad: Tensor,
    /// First moments, laid out like `flat`.
    pub(crate) m: Tensor,
    /// Second moments.
    pub(crate) v: Tensor,
    /// Scratch for g².
    pub(crate) scratch: Tensor,
    /// (√v + ε√(1 − β₂ᵗ)) / s.
    pub(crate) denom: Tensor,
}

#[derive(Debug)]
pub(crate) struct AdamParam {
    pub(crate) name: String,
    pub(crate) value: Tensor,
    pub(crate) shape: Vec<i64>,
    pub(crate) offset: i64,
    pub(crate) numel: i64,
}

impl AdamParam {
    /// This variable's part of a flat buffer, shaped like the variable.
    pub(crate) fn view_of(&self, flat: &Tensor) -> Result<Tensor, tch::TchError> {
        flat.f_narrow(0, self.offset, self.numel)?
            .f_view(self.shape.as_slice())
    }
}

impl Adam {
    /// β₁, decay of the first moment.
    pub const BETA1: f64 = 0.9;
    /// β₂, decay of the second moment.
    pub const BETA2: f64 = 0.999;
    /// ε, added to √v̂.
    pub const EPS: f64 = 1e-8;

    /// Adam with zero moments over the variables of `vs` that require gradients (all of one
    /// kind). Their values are moved into the optimiser's flat buffer; they keep their names,
    /// shapes and values, and every handle to them (layers, the model) sees the move.
    pub fn new(vs: &nn::VarStore, lr: f64) -> anyhow::Result<Adam> {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let kind = named.first().map_or(Kind::Float, |(_, t)| t.kind());
        if let Some((name, t)) = named.iter().find(|(_, t)| t.kind() != kind) {
            bail!(
                "Adam needs variables of one kind: `{name}` is {:?}, the others {kind:?}",
                t.kind()
            );
        }
        let mut params = Vec::with_capacity(named.len());
        let mut offset = 0i64;
        for (name, value) in named {
            let shape = value.size();
            let numel = shape.iter().product::<i64>();
            params.push(AdamParam {
                name,
                value,
                shape,
                offset,
                numel,
            });
            // Start every variable on a 64-byte boundary, as separate allocations would:
            // matrix kernels are slower on misaligned operands. Padding stays zero.
            offset += (numel + ALIGN_ELEMENTS - 1) / ALIGN_ELEMENTS * ALIGN_ELEMENTS;
        }
        let options = (kind, vs.device());
        let flat = Tensor::f_zeros([offset], options)?;
        tch::no_grad(|| -> anyhow::Result<()> {
            for p in &mut params {
                let mut slot = p.view_of(&flat)?;
                slot.f_copy_(&p.value)?;
                p.value.f_set_data(&slot)?;
            }
            Ok(())
        })?;
        Ok(Adam {
            lr,
            step: 0,
            params,
            grad: Tensor::f_zeros([offset], options)?,
            m: Tensor::f_zeros([offset], options)?,
            v: Tensor::f_zeros([offset], options)?,
            scratch: Tensor::f_zeros([offset], options)?,
            denom: Tensor::f_zeros([offset], options)?,
            flat,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Make every variable a view of `flat` and every existing gradient a view of `grad`
    /// again, copying the values in, where something (autograd's first backward, a user)
    /// gave them storage of their own.
    fn bind(&mut self) -> anyhow::Result<()> {
        tch::no_grad(|| {
            for p in &mut self.params {
                let slot = p.view_of(&self.flat)?;
                if p.value.data_ptr() != slot.data_ptr() || p.value.kind() != slot.kind() {
                    bail!(
                        "the variable `{}` was moved or converted after the optimiser was \
                         built; build the optimiser after the model is on its device and kind",
                        p.name
                    );
                }
                let mut g = p.value.grad();
                if !g.defined() {
                    continue;
                }
                let mut slot = p.view_of(&self.grad)?;
                if g.data_ptr() != slot.data_ptr() {
                    slot.f_copy_(&g)?;
                    g.f_set_data(&slot)?;
                }
            }
            Ok(())
        })
    }

    /// Set all gradients to zero (before the next `backward`).
    pub fn zero_grad(&mut self) -> anyhow::Result<()> {
        self.bind()?;
        let _ = self.grad.f_zero_()?;
        Ok(())
    }

    /// Rescale the gradients in place so that their global L2 norm is at most `max_norm`
    /// (PyTorch's `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when below 1). Returns
    /// the norm before clipping; a non-finite norm is an error.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> anyhow::Result<f64> {
        self.bind()?;
        let total = tch::no_grad(|| self.grad.f_norm()?.f_double_value(&[]))?;
        ensure!(
            total.is_finite(),
            "the gradient norm is {total}; training diverged — lower train.lr"
        );
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            let _ = self.grad.f_mul_scalar_(coef)?;
        }
        Ok(total)
    }

    /// One Adam step on the current gradients.
    pub fn step(&mut self) -> anyhow::Result<()> {
        self.bind()?;
        self.step += 1;
        let t = self.step as f64;
        let bias1 = 1.0 - Self::BETA1.powf(t);
        let bias2_sqrt = (1.0 - Self::BETA2.powf(t)).sqrt();
        let scale = -self.lr * bias2_sqrt / bias1;
        tch::no_grad(|| -> Result<(), tch::TchError> {
            let _ = self.m.f_lerp_(&self.grad, 1.0 - Self::BETA1)?;
            let _ = self.grad.f_mul_out(&self.scratch, &self.grad)?;
            let _ = self.v.f_lerp_(&self.scratch, 1.0 - Self::BETA2)?;
            let _ = self.v.f_sqrt_out(&self.denom)?;
            let _ = self.denom.f_add_scalar_(Self::EPS * bias2_sqrt)?;
            // θ + m / (denom / scale) = θ + scale · m / denom (an in-place division is several
            // times faster than `mul_out` with a scalar).
            let _ = self.denom.f_div_scalar_(scale)?;
            let _ = self.flat.f_addcdiv_(&self.m, &self.denom)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Write the moments and the step count as safetensors (`m.<name>`, `v.<name>`, `step`).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let step = Tensor::from_slice(&[i64::try_from(self.step).unwrap_or(i64::MAX)]);
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for p in &self.params {
            named.push((format!("m.{}", p.name), p.view_of(&self.m)?));
            named.push((format!("v.{}", p.name), p.view_of(&self.v)?));
        }
        named.push(("step".to_owned(), step));
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("could not write the optimiser state {}", path.display()))
    }

    /// Read a state written by [`Adam::save`] for the same variables (names and shapes are
    /// checked before anything is copied).
    pub fn load(&mut self, path: &Path) -> anyhow::Result<()> {
        let stored: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
            .with_context(|| format!("could not read the optimiser state {}", path.display()))?
            .into_iter()
            .collect();
        let mut problems = Vec::new();
        let mut expected = vec!["step".to_owned()];
        for p in &self.params {
            for key in [format!("m.{}", p.name), format!("v.{}", p.name)] {
                match stored.get(&key) {
                    None => problems.push(format!("`{key}` is missing")),
                    Some(t) if t.size() != p.shape => problems.push(format!(
                        "`{key}` has shape {:?}, the variable {:?}",
                        t.size(),
                        p.shape
                    )),
                    Some(_) => {}
                }
                expected.push(key);
            }
        }
        for name in stored.keys().filter(|k| !expected.contains(k)) {
            problems.push(format!("`{name}` is not a moment of this model"));
        }
        let step = match stored.get("step") {
            Some(t) if t.numel() == 1 => u64::try_from(t.f_int64_value(&[0])?).ok(),
            _ => None,
        };
        if step.is_none() {
            problems.push("`step` is missing or invalid".to_owned());
        }
        ensure!(
            problems.is_empty(),
            "the optimiser state {} does not fit the model: {}",
            path.display(),
            problems.join("; ")
        );
        tch::no_grad(|| -> anyhow::Result<()> {
            for p in &self.params {
                for (prefix, flat) in [("m", &self.m), ("v", &self.v)] {
                    if let Some(src) = stored.get(&format!("{prefix}.{}", p.name)) {
                        p.view_of(flat)?.f_copy_(src)?;
                    }
                }
            }
            Ok(())
        })?;
        self.step = step.unwrap_or(0);
        Ok(())
    }
}

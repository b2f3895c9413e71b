"""PyTorch peer for elbo-vae's benchmark (crates/elbo-vae/examples/bench_step.rs).

Same model, same libtorch, same threads: the classic 784-400-20 MLP VAE (`--arch mlp`) or
elbo-vae's default convolutional VAE (`--arch conv`, mirroring crates/elbo-vae/src/model.rs:
conv 1->32->64, kernel 4, stride 2, padding 1, ReLU, 3136->256->2x20; decoder 20->256->3136,
ReLU, transposed conv 64->32->1), with a Bernoulli decoder (logits), Adam(lr=1e-3), batch 128.
`--what step|iwae|all` picks what is timed (`seconds` in the output is that median):
  * one training step (forward, loss, backward, Adam step) on a fixed batch, 5 x 100 steps after
    20 warm-up steps, median;
  * the IWAE estimate of log p(x) with k = 5000 importance samples on 100 points, written the
    usual way (per point, all k samples in one batch, logsumexp - log k, inference mode).
Prints one JSON object. Synthetic binary data (x ~ Bernoulli(sigmoid(ZW + b)), Z ~ N(0, I_10));
its content does not change the timings.

    python bench/peers/vae_step.py [--what step|iwae|all] [--arch mlp|conv] [--threads 2]
        [--loss bce|softplus] [--k 5000] [--n-test 100] [--reps 5] [--steps 100] [--iwae-reps 3]
        [--train-steps 200] [--warmup-steps 20]

--loss bce (default) is what a PyTorch user writes: F.binary_cross_entropy_with_logits with
reduction="sum"; --loss softplus uses the same formula as elbo-vae (sum x*l - softplus(l)),
to separate the loop's overhead from the choice of kernels.
"""
import argparse
import json
import math
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--what", choices=["step", "iwae", "all"], default="all")
parser.add_argument("--arch", choices=["mlp", "conv"], default="mlp")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--loss", choices=["bce", "softplus"], default="bce")
parser.add_argument("--k", type=int, default=5000)
parser.add_argument("--n-test", type=int, default=100)
parser.add_argument("--reps", type=int, default=5)
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--iwae-reps", type=int, default=3)
parser.add_argument("--train-steps", type=int, default=200)
parser.add_argument("--warmup-steps", type=int, default=20)
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

D, H, L, B = 784, 400, 20, 128


def synthetic(n):
    w = torch.randn(10, D)
    b = torch.randn(D) - 1.0
    p = torch.sigmoid(torch.randn(n, 10) @ w + b)
    return (torch.rand(n, D) < p).float()


class ConvVae(nn.Module):
    """elbo-vae's `conv` architecture with channels [32, 64], hidden 256, on 1x28x28 images."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 32, 4, stride=2, padding=1)
        self.conv1 = nn.Conv2d(32, 64, 4, stride=2, padding=1)
        self.enc0 = nn.Linear(64 * 7 * 7, 256)
        self.enc1 = nn.Linear(256, 2 * L)
        self.dec0 = nn.Linear(L, 256)
        self.dec1 = nn.Linear(256, 64 * 7 * 7)
        self.deconv0 = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        self.deconv1 = nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1)

    def encode(self, x):
        t = x.view(-1, 1, 28, 28)
        t = F.relu(self.conv0(t))
        t = F.relu(self.conv1(t))
        out = self.enc1(F.relu(self.enc0(t.flatten(1))))
        return out[:, :L], out[:, L:]

    def decode(self, z):
        t = F.relu(self.dec1(F.relu(self.dec0(z)))).view(-1, 64, 7, 7)
        t = F.relu(self.deconv0(t))
        return self.deconv1(t).view(-1, D)


class Vae(nn.Module):
    """Encoder 784-400-(2x20): one head gives mean and log-variance; decoder 20-400-784."""

    def __init__(self):
        super().__init__()
        self.enc0 = nn.Linear(D, H)
        self.enc1 = nn.Linear(H, 2 * L)
        self.dec0 = nn.Linear(L, H)
        self.dec1 = nn.Linear(H, D)

    def encode(self, x):
        out = self.enc1(F.relu(self.enc0(x)))
        return out[:, :L], out[:, L:]

    def decode(self, z):
        return self.dec1(F.relu(self.dec0(z)))


def log_px_z(logits, x):
    if args.loss == "bce":
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    return (logits * x - F.softplus(logits)).sum(-1)


def loss_fn(model, x):
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    logits = model.decode(z)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1).sum()
    if args.loss == "bce":
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    else:
        rec = log_px_z(logits, x).sum()
    return (kl - rec) / x.shape[0]


@torch.inference_mode()
def iwae(model, xs, k):
    out = []
    for i in range(xs.shape[0]):
        x = xs[i : i + 1]
        mean, log_var = model.encode(x)
        eps = torch.randn(k, L)
        z = mean + torch.exp(0.5 * log_var) * eps
        log_w = (
            log_px_z(model.decode(z), x.expand(k, -1))
            + 0.5 * (eps.pow(2) - z.pow(2)).sum(-1)
            + 0.5 * log_var.sum()
        )
        out.append(torch.logsumexp(log_w, 0) - math.log(k))
    return torch.stack(out)


train = synthetic(B * 50)
test = synthetic(args.n_test)
model = ConvVae() if args.arch == "conv" else Vae()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def step(x):
    loss = loss_fn(model, x)
    opt.zero_grad()
    loss.backward()
    opt.step()


out = {
    "impl": f"pytorch {torch.__version__} (python {platform.python_version()}, loss={args.loss})",
    "arch": args.arch,
    "what": args.what,
    "threads": args.threads,
    "batch": B,
}

if args.what != "step":
    for i in range(args.train_steps):  # a short training run, as in the Rust benchmark
        step(train[(i % 50) * B : (i % 50 + 1) * B])
    iwae(model, test[:2], args.k)  # untimed warm-up, as in the Rust benchmark
    iwae_s, iwae_ll = [], []
    for r in range(args.iwae_reps):
        torch.manual_seed(100 + r)
        t0 = time.perf_counter()
        ll = iwae(model, test, args.k)
        iwae_s.append(time.perf_counter() - t0)
        iwae_ll.append(ll.mean().item())
    out.update({
        "iwae_k": args.k,
        "iwae_n_test": args.n_test,
        "iwae_s_median": statistics.median(iwae_s),
        "iwae_s_all": iwae_s,
        "iwae_mean_ll": iwae_ll,
        "seconds": statistics.median(iwae_s),
    })

if args.what != "iwae":
    x = train[:B]
    for _ in range(args.warmup_steps):
        step(x)
    step_s = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(x)
        step_s.append((time.perf_counter() - t0) / args.steps)
    med = statistics.median(step_s)
    out.update({
        "step_ms_median": 1e3 * med,
        "steps_per_s": 1 / med,
        "samples_per_s": B / med,
        "step_ms_all": [1e3 * s for s in step_s],
        "seconds": med,
    })

print(json.dumps(out))

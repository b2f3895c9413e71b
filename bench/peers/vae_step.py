"""PyTorch peer for elbo-vae's benchmark (crates/elbo-vae/examples/bench_step.rs).

Same model, same libtorch, same threads: the classic 784-400-20 MLP VAE with a Bernoulli
decoder (logits), Adam(lr=1e-3), batch 128. Times
  * one training step (forward, loss, backward, Adam step) on a fixed batch, 5 x 100 steps after
    20 warm-up steps, median;
  * the IWAE estimate of log p(x) with k = 5000 importance samples on 100 points, written the
    usual way (per point, all k samples in one batch, logsumexp - log k, inference mode).
Prints one JSON object. Synthetic binary data (x ~ Bernoulli(sigmoid(ZW + b)), Z ~ N(0, I_10));
its content does not change the timings.

    python bench/peers/vae_step.py [--threads 2] [--loss bce|softplus] [--k 5000] [--n-test 100]

--loss bce (default) is what a PyTorch user writes: F.binary_cross_entropy_with_logits with
reduction="sum"; --loss softplus uses the same formula as elbo-vae (sum x*l - softplus(l)),
to separate the loop's overhead from the choice of kernels.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--loss", choices=["bce", "softplus"], default="bce")
parser.add_argument("--k", type=int, default=5000)
parser.add_argument("--n-test", type=int, default=100)
parser.add_argument("--reps", type=int, default=5)
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--iwae-reps", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

D, H, L, B = 784, 400, 20, 128


def synthetic(n):
    w = torch.randn(10, D)
    b = torch.randn(D) - 1.0
    p = torch.sigmoid(torch.randn(n, 10) @ w + b)
    return (torch.rand(n, D) < p).float()


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
model = Vae()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def step(x):
    loss = loss_fn(model, x)
    opt.zero_grad()
    loss.backward()
    opt.step()


for i in range(200):  # a short training run, as in the Rust benchmark
    step(train[(i % 50) * B : (i % 50 + 1) * B])

iwae_s, iwae_ll = [], []
for r in range(args.iwae_reps):
    torch.manual_seed(100 + r)
    t0 = time.perf_counter()
    ll = iwae(model, test, args.k)
    iwae_s.append(time.perf_counter() - t0)
    iwae_ll.append(round(ll.mean().item(), 3))

x = train[:B]
for _ in range(20):
    step(x)
step_s = []
for _ in range(args.reps):
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(x)
    step_s.append((time.perf_counter() - t0) / args.steps)

med = statistics.median(step_s)
print(json.dumps({
    "impl": f"pytorch {torch.__version__} (python, loss={args.loss})",
    "threads": args.threads,
    "step_ms_median": round(1e3 * med, 4),
    "steps_per_s": round(1 / med, 1),
    "step_ms_all": [round(1e3 * s, 3) for s in step_s],
    "iwae_k": args.k,
    "iwae_n_test": args.n_test,
    "iwae_s_median": round(statistics.median(iwae_s), 4),
    "iwae_s_all": [round(s, 4) for s in iwae_s],
    "iwae_mean_ll": iwae_ll,
}))

#!/usr/bin/python3
"""PyTorch reference benchmark for latticeflow.

Mirrors the model of ../shared/seeds/flow-model-lattice-field-theory-notebook.txt
("Flow Model for Lattice Field Theory", after arXiv:2101.08176): NormalPrior,
checkerboard get_mask, affine CouplingLayer, get_CNN (Conv2d with circular
padding, PReLU() with one parameter, Tanh on the output), get_flow (parity i%2),
ScalarPhi4Action, the reverse-KL loss and Adam(lr=1e-3). The notebook's L=8 and
hidden/kernel sizes are generalised to the command-line values.

The TypeScript bench runner calls this as a subprocess. It writes exactly one
JSON line on stdout (the last line); progress goes to stderr.

Workloads: train (one reverse-KL step), sample (prior -> flow -> action for n
configs, no grad), hmc (phi^4 HMC with an analytic torch.roll force) and ess
(train from scratch until the 100-step moving average of ESS reaches a target;
with --ess-draws N, then the ESS over N fresh draws, as `latticeflow lnz` gives it).

--flow realnvp-mlp: RealNVP with MLP conditioners, the model of latticeflow's
src/flows/realnvp-mlp.ts (stripes partition; Linear/ReLU conditioners over the
whole frozen half, s = tanh, t; parameters {l}.net.{0,2,4}.{weight,bias}).

Caveat: Debian's python3-torch is built with BLAS_INFO=generic against the netlib
reference libblas3, so float64 Conv2d runs through _slow_conv2d + unoptimised
dgemm (float32 goes through oneDNN). The JSON reports "blas_info" for that reason.
"""
import argparse
import json
import os
import re
import resource
import sys
import time

import numpy as np
import torch


# ---------------------------------------------------------------- notebook model
class NormalPrior:
    def __init__(self, mean, var):
        self.mean = torch.flatten(mean)
        self.var = torch.flatten(var)
        # as in the notebook: `var` is passed as the scale (identical for ones)
        self.dist = torch.distributions.normal.Normal(self.mean, self.var)
        self.shape = mean.shape

    def log_prob(self, x):
        logp = self.dist.log_prob(x.reshape(x.shape[0], -1))
        return torch.sum(logp, dim=1)

    def sample(self, batch_size):
        x = self.dist.sample((batch_size,))
        return x.reshape(batch_size, *self.shape)


def get_mask(shape, parity):
    # The notebook text reads `mask[:, :2, ::2]` (a PDF-extraction artefact: the
    # mask is 2-D); its printed example is the checkerboard built here.
    mask = torch.ones(shape, dtype=torch.uint8)
    mask -= parity
    mask[::2, ::2] = parity
    mask[1::2, 1::2] = parity
    return mask


class CouplingLayer(torch.nn.Module):
    def __init__(self, net, mask_shape, mask_parity):
        super().__init__()
        self.mask = get_mask(mask_shape, mask_parity)
        self.net = net

    def forward(self, x):
        x_2 = self.mask * x
        x_1 = (1 - self.mask) * x
        func = self.net(x_2.unsqueeze(1))
        s, t = func[:, 0], func[:, 1]
        fx = (1 - self.mask) * t + x_1 * torch.exp(s) + x_2
        axes = range(1, len(s.size()))
        logJ = torch.sum((1 - self.mask) * s, dim=tuple(axes))
        return fx, logJ


def get_CNN(hidden_sizes, kernel_size, in_channels, out_channels):
    sizes = [in_channels] + hidden_sizes + [out_channels]
    padding_size = kernel_size // 2
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Conv2d(sizes[i], sizes[i + 1], kernel_size, padding=padding_size,
                                      stride=1, padding_mode='circular'))
        layers.append(torch.nn.PReLU() if i != len(sizes) - 2 else torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def get_flow(n_layers, lattice_shape, hidden_sizes, kernel_size):
    layers = []
    for i in range(n_layers):
        net = get_CNN(hidden_sizes, kernel_size, in_channels=1, out_channels=2)
        layers.append(CouplingLayer(net, lattice_shape, i % 2))
    return torch.nn.Sequential(*layers)


def apply_flow_to_prior(prior, layers, batch_size):
    x = prior.sample(batch_size)
    logq = prior.log_prob(x)
    for l in layers:
        x, logJ = l.forward(x)
        logq = logq - logJ
    return x, logq


class ScalarPhi4Action:
    def __init__(self, m2, lam):
        self.m2 = m2
        self.lam = lam

    def __call__(self, state):
        action_density = self.m2 * state ** 2 + self.lam * state ** 4
        dims = range(1, len(state.shape))
        for direction in dims:
            action_density += 2 * state ** 2
            action_density -= state * torch.roll(state, -1, direction)
            action_density -= state * torch.roll(state, 1, direction)
        return torch.sum(action_density, dim=tuple(dims))

    def force(self, state):
        """Analytic dS/dphi (the gradient of __call__), written with torch.roll."""
        f = 2 * self.m2 * state + 4 * self.lam * state ** 3
        for direction in range(1, len(state.shape)):
            f = f + 4 * state - 2 * torch.roll(state, -1, direction) - 2 * torch.roll(state, 1, direction)
        return f


def ess(logp, logq):
    logw = logp - logq
    log_ess = 2 * torch.logsumexp(logw, dim=0) - torch.logsumexp(2 * logw, dim=0)
    return torch.exp(log_ess) / len(logw)


def kl_divergence(logp, logq):
    return torch.mean(logq - logp)


def train_step(layers, prior, action, optimizer, batch_size):
    optimizer.zero_grad()
    apply = apply_mlp_flow_to_prior if isinstance(layers[0], MlpCoupling) else apply_flow_to_prior
    x, logq = apply(prior, layers, batch_size)
    logp = -action(x)
    loss = kl_divergence(logp, logq)
    loss.backward()
    optimizer.step()
    return loss.detach(), logp.detach(), logq.detach()


# ---------------------------------------------------------------- RealNVP with MLP conditioners
def stripe_partition(shape, axis, parity):
    """Frozen: sites whose coordinate along `axis` is = parity (mod 2); active: the rest.
    Both in ascending row-major flat index (latticeflow's stripePartition)."""
    coords = np.indices(shape).reshape(len(shape), -1)
    frozen_mask = coords[axis] % 2 == parity
    idx = np.arange(coords.shape[1])
    return idx[frozen_mask], idx[~frozen_mask]


def checkerboard_partition(shape, parity):
    coords = np.indices(shape).reshape(len(shape), -1)
    frozen_mask = coords.sum(axis=0) % 2 == parity
    idx = np.arange(coords.shape[1])
    return idx[frozen_mask], idx[~frozen_mask]


class MlpCoupling(torch.nn.Module):
    """y_A = x_A·exp(s) + t, y_F = x_F; (s̃, t) = MLP(x_F) viewed [B, 2, n_A], s = tanh s̃."""

    def __init__(self, frozen, active, hidden):
        super().__init__()
        self.register_buffer('frozen', torch.as_tensor(frozen, dtype=torch.long), persistent=False)
        self.register_buffer('active', torch.as_tensor(active, dtype=torch.long), persistent=False)
        sizes = [len(frozen)] + list(hidden) + [2 * len(active)]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):  # x [B, V]
        out = self.net(x[:, self.frozen]).view(x.shape[0], 2, -1)
        s, t = torch.tanh(out[:, 0]), out[:, 1]
        y = x.index_copy(1, self.active, x[:, self.active] * torch.exp(s) + t)
        return y, s.sum(dim=1)


def get_mlp_flow(n_layers, lattice_shape, hidden, partition):
    layers = []
    d = len(lattice_shape)
    for l in range(n_layers):
        if partition == 'stripes':
            frozen, active = stripe_partition(lattice_shape, (l // 2) % d, l % 2)
        else:
            frozen, active = checkerboard_partition(lattice_shape, l % 2)
        layers.append(MlpCoupling(frozen, active, hidden))
    return torch.nn.Sequential(*layers)


def apply_mlp_flow_to_prior(prior, layers, batch_size):
    x = prior.sample(batch_size)
    logq = prior.log_prob(x)
    shape = x.shape
    x = x.reshape(batch_size, -1)
    for l in layers:
        x, logJ = l(x)
        logq = logq - logJ
    return x.reshape(shape), logq


# ---------------------------------------------------------------- workloads
def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(fn, warmup, repeats, warmup_seconds=3.0):
    # At least `warmup` calls and at least `warmup_seconds` (the same rule as
    # bench/workload.ts): both sides are timed in their steady state.
    t0 = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - t0 < warmup_seconds:
        fn()
        done += 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def build(args):
    shape = (args.L,) * args.dim
    prior = NormalPrior(torch.zeros(shape), torch.ones(shape))
    if args.flow == 'realnvp-mlp':
        layers = get_mlp_flow(args.layers, shape, args.hidden, args.partition)
    else:
        layers = get_flow(args.layers, shape, args.hidden, args.kernel)
    optimizer = torch.optim.Adam(layers.parameters(), lr=1e-3)
    return prior, layers, optimizer


def run_train(args, action, out):
    prior, layers, opt = build(args)
    times = timed(lambda: train_step(layers, prior, action, opt, args.batch), args.warmup, args.repeats)
    out.update(median_ms=float(np.median(times)), times_ms=times)


def run_sample(args, action, out):
    prior, layers, _ = build(args)

    def one_pass():
        with torch.no_grad():
            apply = apply_mlp_flow_to_prior if args.flow == 'realnvp-mlp' else apply_flow_to_prior
            x, logq = apply(prior, layers, args.n)
            return -action(x), logq

    times = timed(one_pass, args.warmup, args.repeats)
    out.update(n=args.n, median_ms=float(np.median(times)), times_ms=times)


def run_hmc(args, action, out, block=20):
    phi = torch.randn((1,) + (args.L,) * args.dim)
    stats = {'acc': 0, 'tot': 0}

    def trajectory():
        nonlocal phi
        p = torch.randn_like(phi)
        h0 = 0.5 * torch.sum(p * p) + action(phi)[0]
        x = phi
        p = p - 0.5 * args.eps * action.force(x)
        for i in range(args.leapfrog):
            x = x + args.eps * p
            p = p - (args.eps if i < args.leapfrog - 1 else 0.5 * args.eps) * action.force(x)
        h1 = 0.5 * torch.sum(p * p) + action(x)[0]
        accept = bool(torch.rand(()) < torch.exp(h0 - h1))
        if accept:
            phi = x
        stats['acc'] += accept
        stats['tot'] += 1

    def run_block():
        for _ in range(block):
            trajectory()

    with torch.no_grad():
        for _ in range(args.warmup):  # warmup blocks also thermalise the chain
            run_block()
        stats.update(acc=0, tot=0)
        times = timed(run_block, 0, args.repeats)
    out.update(trajectories_per_s=float(np.median([block * 1e3 / t for t in times])),
               acceptance=stats['acc'] / max(stats['tot'], 1), block=block,
               leapfrog=args.leapfrog, eps=args.eps, times_ms=times)


def run_ess(args, action, out, window=100):
    prior, layers, opt = build(args)
    history, losses, times = [], [], []
    t_start = time.perf_counter()
    seconds = steps = None
    while time.perf_counter() - t_start < args.max_seconds and len(history) < args.max_steps:
        t0 = time.perf_counter()
        loss, logp, logq = train_step(layers, prior, action, opt, args.batch)
        times.append(round((time.perf_counter() - t0) * 1e3, 3))
        history.append(float(ess(logp, logq)))
        losses.append(float(loss))
        ma = float(np.mean(history[-window:]))
        if len(history) % 100 == 0:
            log(f'step {len(history)}  ess_ma {ma:.4f}  {time.perf_counter() - t_start:.1f}s')
        if len(history) >= window and ma >= args.target_ess:
            seconds, steps = time.perf_counter() - t_start, len(history)
            break
    out.update(seconds_to_target=seconds, steps_to_target=steps, target_ess=args.target_ess,
               steps=len(history), elapsed_s=time.perf_counter() - t_start,
               final_ess_ma=float(np.mean(history[-window:])) if history else None,
               final_loss_ma=float(np.mean(losses[-window:])) if losses else None,
               final_loss=losses[-1] if losses else None,
               median_step_ms=float(np.median(times)) if times else None, times_ms=times)
    if args.ess_draws > 0:
        # The ESS of the trained flow over many fresh draws, as `latticeflow lnz` takes it: the
        # batch ESS of 64 samples overstates it (the rare large weights are seldom in a batch).
        apply = apply_mlp_flow_to_prior if args.flow == 'realnvp-mlp' else apply_flow_to_prior
        logw = []
        with torch.no_grad():
            for start in range(0, args.ess_draws, 1024):
                x, logq = apply(prior, layers, min(1024, args.ess_draws - start))
                logw.append(-action(x) - logq)
        logw = torch.cat(logw)
        out.update(ess_draws=args.ess_draws,
                   draws_ess=float(torch.exp(2 * torch.logsumexp(logw, 0) - torch.logsumexp(2 * logw, 0)) / len(logw)))


def blas_info():
    m = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--workload', choices=['train', 'sample', 'hmc', 'ess'], required=True)
    ap.add_argument('--L', type=int, default=8)
    ap.add_argument('--dim', type=int, default=2, choices=[2])
    ap.add_argument('--layers', type=int, default=16)
    ap.add_argument('--hidden', default='8,8', help='comma-separated CNN hidden channels')
    ap.add_argument('--kernel', type=int, default=3)
    ap.add_argument('--flow', choices=['affine-cnn', 'realnvp-mlp'], default='affine-cnn')
    ap.add_argument('--partition', choices=['stripes', 'checkerboard'], default='stripes')
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--dtype', choices=['float32', 'float64'], default='float64')
    ap.add_argument('--m2', type=float, default=-4.0)
    ap.add_argument('--lam', type=float, default=8.0)
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--n', type=int, default=1024, help='configurations per sampling pass')
    ap.add_argument('--leapfrog', type=int, default=10)
    ap.add_argument('--eps', type=float, default=0.05, help='HMC step size')
    ap.add_argument('--target-ess', type=float, default=0.25)
    ap.add_argument('--max-seconds', type=float, default=600.0)
    ap.add_argument('--max-steps', type=int, default=10**9, help='ess: stop after this many steps')
    ap.add_argument('--ess-draws', type=int, default=0,
                    help='ess: after training, the ESS over this many fresh draws')
    args = ap.parse_args()
    args.hidden = [int(h) for h in args.hidden.split(',') if h.strip()]

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(getattr(torch, args.dtype))  # notebook: DoubleTensor on CPU
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    action = ScalarPhi4Action(args.m2, args.lam)

    out = {'workload': args.workload, 'flow': args.flow, 'dtype': args.dtype, 'threads': torch.get_num_threads(),
           'torch_version': torch.__version__, 'L': args.L, 'dim': args.dim, 'layers': args.layers,
           'hidden': args.hidden, 'kernel': args.kernel, 'batch': args.batch, 'm2': args.m2,
           'lam': args.lam, 'seed': args.seed, 'repeats': args.repeats, 'warmup': args.warmup,
           'blas_info': blas_info(), 'mkldnn': torch.backends.mkldnn.is_available()}
    {'train': run_train, 'sample': run_sample, 'hmc': run_hmc, 'ess': run_ess}[args.workload](args, action, out)
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()

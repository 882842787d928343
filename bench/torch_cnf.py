#!/usr/bin/python3
"""PyTorch reference of latticeflow's equivariant continuous flow (`--flow cnf`) on phi^4.

The model of src/flows/continuous-flow.ts and src/flows/equivariant-vector-field.ts (Gerdes,
de Haan, Rainone, Bondesan, Cheng, arXiv 2207.00283: their Phi4CNF with its defaults), written
from those files, as a PyTorch user would write it:

- vector field v_x(phi, t) = sum_y sum_f K_f(y - x, t) h_f(phi_y), with
  h_f(phi) = sum_{k<K} A_fk sin(omega_k phi) + A_fK phi, A = featureMix / (K+1);
  K_f(d, t) = sum_tau w[o(d), f, tau] a_tau(t), a = (timeMix / (2J+1)) e(t),
  e(t) = (sin 2 pi j t (j = 1..J), cos 2 pi j t (j = 1..J), 1);
  o(d) = the class of offset d under reflections of each axis and permutations of equal axes,
  numbered in order of first appearance over row-major offsets (offsetOrbits);
- the convolution by FFT (torch.fft.rfftn: the kernel is even, so its transform is real);
- div v = sum_k c_k omega_k sum_x cos(omega_k phi_x) + V c_K, c = A^T K(0, t);
- RK4 in `steps` steps over t in [0, 1], the log-det integrated at the same stages, autograd
  through the solver (discretise-then-optimise, as latticeflow);
- prior N(0, 1), log q = log r(z) - int div v dt; phi^4 action
  S = sum_x [(m^2 + 2d) phi^2 + lam phi^4 - 2 sum_mu phi_x phi_{x+mu}];
- one training step: z ~ N(0,1) [B, L, L] -> x, log q -> loss = mean(log q + S) -> backward
  -> Adam(lr 1e-3).

Parameters are named as latticeflow's (0.w [O, F, T], 0.timeMix [T, 2J+1],
0.featureMix [F, K+1], 0.omega [K]).

Usage (the bench runner, bench/run.ts, calls this; one JSON line on stdout):
  /usr/bin/python3 bench/torch_cnf.py [--L 8] [--ode-steps 20] [--batch 64] [--dtype float64]
      [--threads 1] [--repeats 5] [--warmup 2]
  /usr/bin/python3 bench/torch_cnf.py --check /tmp/cnf-check.safetensors
      (compare with the loss, log q, S, x and gradients written by `node dist/bench/cnf.js --dump`)
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mera import read_safetensors  # noqa: E402
from torch_reference import blas_info, log, timed  # noqa: E402  (same warm-up rule)


def offset_orbits(shape):
    """Orbit index of every offset (row-major), zero offset first: latticeflow's offsetOrbits."""
    square = all(L == shape[0] for L in shape)
    keys = {}
    orbit = []
    for i in range(int(np.prod(shape))):
        r, folded = i, [0] * len(shape)
        for a in range(len(shape) - 1, -1, -1):
            c = r % shape[a]
            r //= shape[a]
            folded[a] = min(c, shape[a] - c)
        key = tuple(sorted(folded)) if square else tuple(folded)
        orbit.append(keys.setdefault(key, len(keys)))
    return len(keys), torch.tensor(orbit)


class Phi4CNF(torch.nn.Module):
    def __init__(self, shape, K, J, F, T, steps):
        super().__init__()
        self.shape, self.K, self.J, self.steps = tuple(shape), K, J, steps
        self.O, orbit = offset_orbits(shape)
        self.register_buffer('orbit', orbit, persistent=False)
        self.dims = tuple(range(1, len(shape) + 1))
        self.w = torch.nn.Parameter(torch.zeros(self.O, F, T))
        self.timeMix = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(T, 2 * J + 1)))
        self.featureMix = torch.nn.Parameter(torch.nn.init.orthogonal_(torch.empty(F, K + 1)))
        self.omega = torch.nn.Parameter(5 * torch.rand(K))

    def kernel(self, t):
        J = self.J
        j = torch.arange(1, J + 1, dtype=self.w.dtype)
        e = torch.cat([torch.sin(2 * math.pi * j * t), torch.cos(2 * math.pi * j * t), torch.ones(1)])
        a = (self.timeMix / (2 * J + 1)) @ e
        return (self.w.reshape(-1, a.shape[0]) @ a).reshape(self.O, -1)  # [O, F]

    def field(self, phi, t):
        k = self.kernel(t)
        A = self.featureMix / (self.K + 1)
        arg = phi[..., None] * self.omega
        h = torch.cat([torch.sin(arg), phi[..., None]], -1) @ A.T  # [B, *shape, F]
        kfull = k[self.orbit].reshape(*self.shape, -1)  # K_f(d) over offsets d
        khat = torch.fft.rfftn(kfull, dim=tuple(range(len(self.shape))))
        hhat = torch.fft.rfftn(h, dim=self.dims)
        v = torch.fft.irfftn((hhat * khat).sum(-1), s=self.shape, dim=self.dims)
        c = k[0] @ A  # A^T K(0, t)
        cs = torch.cos(arg).sum(self.dims)  # [B, K]
        div = cs @ (c[:-1] * self.omega) + c[-1] * float(np.prod(self.shape))
        return v, div

    def forward(self, z):
        n, h = self.steps, 1.0 / self.steps
        phi, logdet = z, 0
        for i in range(n):
            t = i / n
            v1, d1 = self.field(phi, t)
            v2, d2 = self.field(phi + v1 * (h / 2), t + h / 2)
            v3, d3 = self.field(phi + v2 * (h / 2), t + h / 2)
            v4, d4 = self.field(phi + v3 * h, t + h)
            phi = phi + (v1 * (h / 6) + v2 * (h / 3) + (v3 * (h / 3) + v4 * (h / 6)))
            logdet = logdet + (d1 * (h / 6) + d2 * (h / 3) + (d3 * (h / 3) + d4 * (h / 6)))
        return phi, logdet


def action(x, m2, lam):
    d = x.dim() - 1
    hop = sum(x * torch.roll(x, -1, mu) for mu in range(1, d + 1))
    return ((m2 + 2 * d) * x * x + lam * x ** 4 - 2 * hop).sum(tuple(range(1, d + 1)))


def log_prior(z):
    V = z[0].numel()
    return -0.5 * (z * z).reshape(z.shape[0], -1).sum(1) - 0.5 * V * math.log(2 * math.pi)


def loss_terms(flow, z, m2, lam):
    x, logdet = flow(z)
    logq = log_prior(z) - logdet
    s = action(x, m2, lam)
    return torch.mean(logq + s), x, logq, s


def step_flops(B, V, steps, K, F):
    """bench/cnf.ts's stepFlops: the feature contraction's matrix products."""
    return steps * 4 * 3 * 2 * B * V * (K + 1) * F


def run_check(args):
    t, meta = read_safetensors(args.check)
    L, steps = int(meta['L']), int(meta['steps'])
    m2, lam = float(meta['m2']), float(meta['lam'])
    dtype = {'float64': torch.float64, 'float32': torch.float32}[meta['dtype']]
    torch.set_default_dtype(dtype)
    K = t['param/0.omega'].shape[0]
    F = t['param/0.featureMix'].shape[0]
    T, J2 = t['param/0.timeMix'].shape
    flow = Phi4CNF((L, L), K, (J2 - 1) // 2, F, T, steps)
    names = {f'0.{k}': p for k, p in flow.named_parameters()}
    ours = {k[len('param/'):] for k in t if k.startswith('param/')}
    assert ours == set(names), f'parameter names differ: {sorted(ours ^ set(names))}'
    with torch.no_grad():
        for k, p in names.items():
            p.copy_(torch.from_numpy(t['param/' + k]))
    loss, x, logq, s = loss_terms(flow, torch.from_numpy(t['z']), m2, lam)
    loss.backward()
    rel = lambda a, b: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
    r = {'check': args.check, 'L': L, 'steps': steps, 'dtype': meta['dtype'], 'batch': int(t['z'].shape[0]),
         'loss_torch': float(loss), 'loss_latticeflow': float(t['loss'][0]),
         'loss_rel_diff': abs(float(loss) - float(t['loss'][0])) / abs(float(t['loss'][0])),
         'x_rel_diff': rel(x.detach().numpy(), t['x']),
         'logq_rel_diff': rel(logq.detach().numpy(), t['logq']),
         'action_rel_diff': rel(s.detach().numpy(), -t['logp']),
         'grad_rel_diff': {k: rel(p.grad.numpy(), t['grad/' + k]) for k, p in names.items()}}
    log(f'loss torch {r["loss_torch"]!r} latticeflow {r["loss_latticeflow"]!r} rel {r["loss_rel_diff"]:.2e}; '
        f'x {r["x_rel_diff"]:.2e}, log q {r["logq_rel_diff"]:.2e}, S {r["action_rel_diff"]:.2e}, '
        f'grads {max(r["grad_rel_diff"].values()):.2e}')
    print(json.dumps(r), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', default=None, help='safetensors file written by bench/cnf.ts --dump')
    ap.add_argument('--L', type=int, default=8)
    ap.add_argument('--ode-steps', type=int, default=20)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--frequencies', type=int, default=49)
    ap.add_argument('--time-frequencies', type=int, default=10)
    ap.add_argument('--hidden', default='20,20')
    ap.add_argument('--m2', type=float, default=-4.0)
    ap.add_argument('--lam', type=float, default=8.0)
    ap.add_argument('--dtype', choices=['float32', 'float64'], default='float64')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--warmup-seconds', type=float, default=3.0)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--max-seconds', type=float, default=600.0, help='accepted for the runner; unused')
    ap.add_argument('--ops-repeats', default=None, help='accepted for the runner; unused')
    ap.add_argument('--convolution', default=None, help='accepted for the runner; unused')
    args = ap.parse_args()
    if args.check:
        run_check(args)
        return

    load_start = os.getloadavg()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(getattr(torch, args.dtype))
    torch.manual_seed(args.seed)
    F, T = (int(s) for s in args.hidden.split(','))
    flow = Phi4CNF((args.L, args.L), args.frequencies, args.time_frequencies, F, T, args.ode_steps)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    losses, cpu = [], []

    def step():
        c0 = time.process_time()
        opt.zero_grad()
        z = torch.randn(args.batch, args.L, args.L)
        loss = loss_terms(flow, z, args.m2, args.lam)[0]
        loss.backward()
        opt.step()
        losses.append(float(loss))
        cpu.append((time.process_time() - c0) * 1e3)

    times = timed(step, args.warmup, args.repeats, args.warmup_seconds)
    med = float(np.median(times))
    flops = step_flops(args.batch, args.L * args.L, args.ode_steps, args.frequencies, F)
    out = {'workload': 'cnf-train', 'dtype': args.dtype, 'threads': torch.get_num_threads(),
           'torch_version': torch.__version__, 'L': args.L, 'ode_steps': args.ode_steps,
           'batch': args.batch, 'seed': args.seed, 'repeats': args.repeats, 'warmup': args.warmup,
           'blas_info': blas_info(), 'loadavg_start': load_start,
           'median_ms': med, 'times_ms': times, 'cpu_median_ms': float(np.median(cpu[-args.repeats:])),
           'flops_per_step': flops, 'gflops': flops / (med * 1e6), 'last_loss': losses[-1]}
    out['loadavg_end'] = os.getloadavg()
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()

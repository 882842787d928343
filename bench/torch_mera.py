#!/usr/bin/python3
"""PyTorch reference of latticeflow's MERA flow for the relaxed Ising model.

The model of src/flows/mera.ts, src/flows/blockwise.ts, src/flows/neuralrg-block.ts
(NeuralRG, Li & Wang arXiv 1802.02840) and the action of src/theories/ising.ts, written
from those files:

- MERA on an L x L lattice (L = 2^n): in the RG direction (x -> z) level k = 0 .. n-1
  applies ndis + 1 block layers j = 0 .. ndis on the 2x2 blocks of the stride-2^k
  sublattice, aligned for even j, shifted by one sublattice step (periodic) for odd j;
  block-local order (0,0), (0,1), (1,0), (1,1). The generative flow (z -> x) holds these
  layers in reverse order; every layer has its own block weights, shared by all blocks of
  the layer (vectorised: the blocks of all configurations are gathered into one [B*n, 4]
  batch and copied back with index_copy).
- The block: a RealNVP of `nlayers` affine couplings on 4 variables. Coupling j updates the
  active pair A_j given the frozen pair F_j, split floor(j/2) mod 3 of
  ({0,1}|{2,3}), ({0,2}|{1,3}), ({0,3}|{1,2}), the first half active for even j:
    u = m_j * x  (m_j = 1 on F_j),  s = scale * tanh(Lin(H->4) ELU Lin(4->H) u) * (1 - m_j),
    t = (Lin(H->4) ELU Lin(4->H) u) * (1 - m_j),
    y = m_j * x + (1 - m_j) * (x * exp(s) + t),   log|det| = sum(s).
  This is NeuralRG's masked formulation (`--variant masked`, the default). `--variant
  gathered` computes the same function the way latticeflow does (only the two frozen input
  columns and the two active output rows of each net; half the matrix-product work).
- Parameters named as latticeflow's: {l}.{j}.s.0.weight [H,4], {l}.{j}.s.0.bias,
  {l}.{j}.s.2.weight [4,H], {l}.{j}.s.2.bias, {l}.{j}.s.scale [4], {l}.{j}.t.{0,2}.*;
  PyTorch's default Linear initialisation, scale = 0 (NeuralRG's ScalableTanh).
- Prior N(0,1)^(L^2); log q = log r(z) - sum of the layers' log|det|.
- Action S(x) = 1/2 x^T K^-1 x - sum ln cosh x, K = Adj/T + c I, c = 0.1 - lambda_min(Adj)/T,
  periodic L x L. `--action fft` (default; K is circulant: x^T K^-1 x = sum_k |fft2(x)_k|^2 /
  kappa_k with the orthonormal FFT) or `--action dense` (K^-1 as an N x N matrix).
- One training step: z ~ N(0,1) [B, L, L] -> x, log q -> loss = mean(log q + S) -> backward
  -> Adam(lr).

Usage (the bench runner, bench/run.ts, calls this; one JSON line on stdout):
  /usr/bin/python3 bench/torch_mera.py --L 8 [--ndis 2] [--layers 8] [--hidden 64]
      [--batch 1024] [--dtype float32] [--threads 1] [--repeats 10] [--warmup 3]
      [--variant masked|gathered] [--action fft|dense]
  /usr/bin/python3 bench/torch_mera.py --check /tmp/mera-check.safetensors
      (compare with the loss, log q, S and gradients written by `node dist/bench/mera.js --dump`)
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
from torch_reference import blas_info, log, timed  # noqa: E402  (same warm-up rule)

ISING_TC = 2.269185314213022
BLOCK_SPLITS = [([0, 1], [2, 3]), ([0, 2], [1, 3]), ([0, 3], [1, 2])]


def neuralrg_split(j):
    """(active, frozen) block-local indices of coupling j."""
    first, second = BLOCK_SPLITS[(j // 2) % 3]
    return (first, second) if j % 2 == 0 else (second, first)


def block_indices(L, stride, shifted):
    n = L // stride
    o = 1 if shifted else 0
    h = n // 2
    out = []
    for a in range(h):
        for b in range(h):
            for u in range(2):
                for v in range(2):
                    i = ((2 * a + u + o) % n) * stride
                    j = ((2 * b + v + o) % n) * stride
                    out.append(i * L + j)
    return out


def mera_plan(L, ndis):
    """RG-direction list of (level, blocks); the flow holds it reversed."""
    levels = int(round(math.log2(L)))
    assert 1 << levels == L, 'L must be a power of 2'
    return [(k, block_indices(L, 1 << k, j % 2 == 1)) for k in range(levels) for j in range(ndis + 1)]


# ---------------------------------------------------------------- the block
class ScaledTanhNet(torch.nn.Sequential):
    """s-net: scale * tanh(Linear(4,H) - ELU - Linear(H,4)); `scale` [4] starts at 0."""

    def __init__(self, hidden):
        super().__init__(torch.nn.Linear(4, hidden), torch.nn.ELU(), torch.nn.Linear(hidden, 4))
        self.scale = torch.nn.Parameter(torch.zeros(4))

    def forward(self, u):
        return self.scale * torch.tanh(super().forward(u))


class Coupling(torch.nn.Module):
    def __init__(self, j, hidden_s, hidden_t, variant):
        super().__init__()
        active, frozen = neuralrg_split(j)
        self.variant = variant
        mask = torch.zeros(4)
        mask[frozen] = 1
        self.register_buffer('mask', mask, persistent=False)
        self.register_buffer('active', torch.tensor(active), persistent=False)
        self.register_buffer('frozen', torch.tensor(frozen), persistent=False)
        self.s = ScaledTanhNet(hidden_s)
        self.t = torch.nn.Sequential(torch.nn.Linear(4, hidden_t), torch.nn.ELU(), torch.nn.Linear(hidden_t, 4))

    def forward(self, x):  # x [M, 4]
        if self.variant == 'masked':  # NeuralRG's RealNVP layer
            m = self.mask
            u = m * x
            s = self.s(u) * (1 - m)
            t = self.t(u) * (1 - m)
            return u + (1 - m) * (x * torch.exp(s) + t), s.sum(dim=1)
        # gathered: the same function through the frozen columns / active rows only
        a, f = self.active, self.frozen
        xf = x[:, f]

        def net(seq):
            h = torch.nn.functional.elu(torch.nn.functional.linear(xf, seq[0].weight[:, f], seq[0].bias))
            return torch.nn.functional.linear(h, seq[2].weight[a], seq[2].bias[a])

        s = self.s.scale[a] * torch.tanh(net(self.s))
        t = net(self.t)
        return x.index_copy(1, a, x[:, a] * torch.exp(s) + t), s.sum(dim=1)


class BlockLayer(torch.nn.ModuleList):
    """One Blockwise layer: the RealNVP block (couplings '0'..) on every block of `blocks`."""

    def __init__(self, blocks, nlayers, hidden_s, hidden_t, variant):
        super().__init__([Coupling(j, hidden_s, hidden_t, variant) for j in range(nlayers)])
        self.register_buffer('blocks', torch.tensor(blocks), persistent=False)
        self.n_blocks = len(blocks) // 4

    def forward(self, x):  # x [B, V], generative direction
        b = x.shape[0]
        xb = x[:, self.blocks].reshape(b * self.n_blocks, 4)
        logdet = 0
        for c in self:
            xb, ld = c(xb)
            logdet = logdet + ld
        y = x.index_copy(1, self.blocks, xb.reshape(b, self.n_blocks * 4))
        return y, logdet.view(b, self.n_blocks).sum(dim=1)


class Mera(torch.nn.ModuleList):
    def __init__(self, L, ndis, nlayers, hidden_s, hidden_t, variant='masked'):
        plan = list(reversed(mera_plan(L, ndis)))
        super().__init__([BlockLayer(blocks, nlayers, hidden_s, hidden_t, variant) for _, blocks in plan])
        self.L = L
        self.levels = [k for k, _ in plan]

    def forward(self, z):
        """z [B, L, L] -> x [B, L, L], log q(x)."""
        b = z.shape[0]
        v = self.L * self.L
        x = z.reshape(b, v)
        logq = -0.5 * (x * x).sum(dim=1) - 0.5 * v * math.log(2 * math.pi)
        for layer in self:
            x, ld = layer(x)
            logq = logq - ld
        return x.reshape(b, self.L, self.L), logq


def n_blocks_per_config(L, ndis):
    return sum(len(blocks) // 4 for _, blocks in mera_plan(L, ndis))


def step_flops(L, ndis, nlayers, hidden, batch, k_in, k_out):
    """Matrix-product flops of one training step: 3 x forward (forward, input gradient, weight
    gradient), forward = blocks x batch x nlayers x 2 nets x 2 (k_in H + H k_out). k_in = k_out
    = 2 for latticeflow and --variant gathered, 4 for --variant masked."""
    return 3 * n_blocks_per_config(L, ndis) * batch * nlayers * 2 * 2 * (k_in * hidden + hidden * k_out)


# ---------------------------------------------------------------- the action
class IsingRelaxedAction:
    """S(x) = 1/2 x^T K^-1 x - sum ln cosh x on a periodic L x L lattice (src/theories/ising.ts)."""

    def __init__(self, L, T, mode, dtype):
        self.L = L
        self.mode = mode
        ring = [2 * math.cos(2 * math.pi * k / L) for k in range(L)]
        lmin = 2 * min(ring)
        self.offset = 0.1 - lmin / T
        a = torch.tensor(ring, dtype=torch.float64)
        kappa = (a[:, None] + a[None, :]) / T + self.offset  # eigenvalues of K on the Fourier modes
        self.inv_kappa = (1 / kappa).to(dtype)
        # Dense K^-1 from the adjacency matrix (float64, then cast).
        n = L * L
        adj = torch.zeros(n, n, dtype=torch.float64)
        for i in range(L):
            for j in range(L):
                s = i * L + j
                for t in (((i + 1) % L) * L + j, i * L + (j + 1) % L):
                    adj[s, t] += 1
                    adj[t, s] += 1
        self.lmin_dense = float(torch.linalg.eigvalsh(adj)[0])
        k = adj / T + (0.1 - self.lmin_dense / T) * torch.eye(n, dtype=torch.float64)
        self.kinv = torch.linalg.inv(k).to(dtype)

    def quad(self, x):  # x [B, L, L] -> x^T K^-1 x [B]
        if self.mode == 'dense':
            v = x.reshape(x.shape[0], -1)
            return ((v @ self.kinv) * v).sum(dim=1)
        f = torch.fft.fft2(x, norm='ortho')
        return ((f.real ** 2 + f.imag ** 2) * self.inv_kappa).sum(dim=(1, 2))

    def __call__(self, x):
        a = x.abs()
        logcosh = a + torch.log1p(torch.exp(-2 * a)) - math.log(2)
        return 0.5 * self.quad(x) - logcosh.sum(dim=(1, 2))


# ---------------------------------------------------------------- step, check
def train_step(flow, action, opt, batch, L):
    opt.zero_grad()
    z = torch.randn(batch, L, L)
    x, logq = flow(z)
    loss = torch.mean(logq + action(x))
    loss.backward()
    opt.step()
    return loss.detach()


def read_safetensors(path):
    with open(path, 'rb') as fh:
        raw = fh.read()
    n = int.from_bytes(raw[:8], 'little')
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dt = {'F64': np.float64, 'F32': np.float32}[info['dtype']]
        s, e = info['data_offsets']
        out[name] = np.frombuffer(data[s:e], dtype=dt).reshape(info['shape']).copy()
    return out, header.get('__metadata__', {})


def run_check(args):
    """Load latticeflow's parameters and prior draws, recompute loss, log q, S and the gradient."""
    t, meta = read_safetensors(args.check)
    L, ndis, nlayers, hidden = (int(meta[k]) for k in ('L', 'ndis', 'nlayers', 'hidden'))
    T = float(meta['T'])
    dtype = {'float64': torch.float64, 'float32': torch.float32}[meta['dtype']]
    torch.set_default_dtype(dtype)
    rel = lambda a, b: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
    result = {'check': args.check, 'L': L, 'ndis': ndis, 'nlayers': nlayers, 'hidden': hidden,
              'dtype': meta['dtype'], 'batch': int(t['z'].shape[0])}
    for variant in ('masked', 'gathered'):
        for mode in ('fft', 'dense'):
            flow = Mera(L, ndis, nlayers, hidden, hidden, variant)
            names = dict(flow.named_parameters())
            ours = {k[len('param/'):] for k in t if k.startswith('param/')}
            assert ours == set(names), f'parameter names differ: {sorted(ours ^ set(names))[:6]}'
            with torch.no_grad():
                for k, p in names.items():
                    p.copy_(torch.from_numpy(t['param/' + k]))
            action = IsingRelaxedAction(L, T, mode, dtype)
            z = torch.from_numpy(t['z'])
            x, logq = flow(z)
            s = action(x)
            loss = torch.mean(logq + s)
            loss.backward()
            g_ref = np.concatenate([t['grad/' + k].ravel() for k in sorted(names)])
            g = np.concatenate([names[k].grad.numpy().ravel() for k in sorted(names)])
            r = {
                'loss_torch': float(loss), 'loss_latticeflow': float(t['loss'][0]),
                'loss_rel_diff': abs(float(loss) - float(t['loss'][0])) / abs(float(t['loss'][0])),
                'logq_rel_diff': rel(logq.detach().numpy(), t['logq']),
                'action_rel_diff': rel(s.detach().numpy(), -t['logp']),
                'x_rel_diff': rel(x.detach().numpy().reshape(-1), t['x'].reshape(-1)) if 'x' in t else None,
                'grad_rel_diff': rel(g, g_ref),
                'grad_worst_param_rel_diff': max(
                    rel(names[k].grad.numpy(), t['grad/' + k]) for k in names),
            }
            result[f'{variant}/{mode}'] = r
            log(f'{variant:8s} {mode:5s}: loss torch {r["loss_torch"]!r} latticeflow {r["loss_latticeflow"]!r} '
                f'rel {r["loss_rel_diff"]:.2e}; log q {r["logq_rel_diff"]:.2e}, S {r["action_rel_diff"]:.2e}, '
                f'grad {r["grad_rel_diff"]:.2e} (worst tensor {r["grad_worst_param_rel_diff"]:.2e})')
    result['lambda_min_dense'] = IsingRelaxedAction(L, T, 'dense', torch.float64).lmin_dense
    print(json.dumps(result), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', default=None, help='safetensors file written by bench/mera.ts --dump')
    ap.add_argument('--L', type=int, default=8)
    ap.add_argument('--ndis', type=int, default=2)
    ap.add_argument('--layers', type=int, default=8, help='couplings per RealNVP block')
    ap.add_argument('--hidden', type=int, default=64)
    ap.add_argument('--batch', type=int, default=1024)
    ap.add_argument('--T', type=float, default=ISING_TC)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--dtype', choices=['float32', 'float64'], default='float32')
    ap.add_argument('--variant', choices=['masked', 'gathered'], default='masked')
    ap.add_argument('--action', choices=['fft', 'dense'], default='fft')
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--warmup-seconds', type=float, default=3.0)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--max-seconds', type=float, default=600.0, help='accepted for the runner; unused')
    args = ap.parse_args()
    if args.check:
        run_check(args)
        return

    load_start = os.getloadavg()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(getattr(torch, args.dtype))
    torch.manual_seed(args.seed)
    flow = Mera(args.L, args.ndis, args.layers, args.hidden, args.hidden, args.variant)
    action = IsingRelaxedAction(args.L, args.T, args.action, getattr(torch, args.dtype))
    opt = torch.optim.Adam(flow.parameters(), lr=args.lr)
    losses = []
    cpu = []

    def step():
        c0 = time.process_time()
        losses.append(float(train_step(flow, action, opt, args.batch, args.L)))
        cpu.append((time.process_time() - c0) * 1e3)

    times = timed(step, args.warmup, args.repeats, args.warmup_seconds)
    k = 4 if args.variant == 'masked' else 2
    flops = step_flops(args.L, args.ndis, args.layers, args.hidden, args.batch, k, k)
    med = float(np.median(times))
    out = {'workload': 'mera-train', 'variant': args.variant, 'action': args.action, 'dtype': args.dtype,
           'threads': torch.get_num_threads(), 'torch_version': torch.__version__, 'L': args.L,
           'ndis': args.ndis, 'layers': args.layers, 'hidden': args.hidden, 'batch': args.batch,
           'T': args.T, 'seed': args.seed, 'repeats': args.repeats, 'warmup': args.warmup,
           'blas_info': blas_info(), 'loadavg_start': load_start,
           'median_ms': med, 'times_ms': times, 'cpu_median_ms': float(np.median(cpu[-args.repeats:])),
           'flops_per_step': flops, 'gflops': flops / (med * 1e6), 'last_loss': losses[-1],
           'params': sum(p.numel() for p in flow.parameters())}
    out['loadavg_end'] = os.getloadavg()
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()

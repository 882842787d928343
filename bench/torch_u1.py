#!/usr/bin/python3
"""PyTorch reference of latticeflow's U(1) gauge-equivariant flow (the u1-tutorial preset).

The model of the U(1) half of the tutorial of Albergo et al. (arXiv 2101.08176; gauge-equivariant
flows after Kanwar et al., arXiv 2003.06413), as latticeflow builds it (src/flows/u1-flow.ts,
gauge-coupling.ts, plaquette-masks.ts, plaquette-conditioner.ts, ncp-transformer.ts,
src/engine/ops/ncp.ts, src/theories/u1.ts), written in the tutorial's style: full-lattice
tensors, 0/1 masks, autograd everywhere.

- Links theta [B, 2, L0, L1]; plaquettes P(x) = theta_0(x) + theta_1(x+e0) - theta_0(x+e1)
  - theta_1(x) (torch.roll by -1 reads the neighbour at x + e).
- Layer i: mu = i mod 2, offset o = (i // 2) mod 4, nu = 1 - mu. A plaquette with
  k = (x_nu - o) mod 4 is active for k = 0, frozen for k = 1, 2, passive for k = 3; the updated
  links are theta_mu(x) at the active plaquettes.
- Conditioner: (cos(m P), sin(m P)) with m = 1 on frozen plaquettes (the tutorial's
  stack_cos_sin of the masked angle), Conv2d(circular) - LeakyReLU(0.01) - ... - Conv2d, no final
  tanh; output channels s_1..s_C, t.
- NCP mixture on the active plaquettes: h(x|s) = 2 atan(e^s tan(x/2)) mod 2pi, averaged over the C
  components, plus t, mod 2pi; log h' = -log(e^-s cos^2(x/2) + e^s sin^2(x/2)), log-det =
  logsumexp_c log h'_c - log C summed over the active plaquettes.
- Link update: delta = P' - P at the active plaquettes, theta_0(x) += delta for mu = 0,
  theta_1(x) -= delta for mu = 1, mod 2pi (the tutorial's stack((delta, -delta)) on the
  active-link mask); log-det of the layer = that of the plaquette map.
- Prior: uniform on [0, 2pi) per link, log r = -2 V log 2pi. Action: Wilson, S = -beta sum cos P.
- One training step: z ~ U[0, 2pi) [B, 2, L, L] -> x, log q -> loss = mean(log q + S) ->
  backward -> Adam(lr). Sampling pass: z -> x, log q and S for n configurations, no autograd.
- Parameters {i}.plaq_coupling.net.{2j}.weight|bias: the tutorial's ModuleList state_dict and
  latticeflow's names; PyTorch's default Conv2d initialisation.

Usage (the bench runner, bench/run.ts, calls this; one JSON line on stdout):
  /usr/bin/python3 bench/torch_u1.py --workload train|sample [--L 8] [--beta 2] [--layers 16]
      [--hidden 8,8] [--kernel 3] [--components 2] [--batch 64] [--n 4096] [--dtype float64]
      [--threads 1] [--repeats 10] [--warmup 3] [--warmup-seconds 3]
  /usr/bin/python3 bench/torch_u1.py --check /tmp/u1-check.safetensors
      (compare with the loss, log q, S, x and gradient written by `node dist/bench/u1.js --dump`)
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

TWO_PI = 2 * math.pi


def wrap(x):
    """x mod 2pi in [0, 2pi) (torch.remainder; its gradient is 1)."""
    return torch.remainder(x, TWO_PI)


def plaquettes(links):
    """P_01(x) of links [B, 2, L0, L1] -> [B, L0, L1]."""
    t0, t1 = links[:, 0], links[:, 1]
    return t0 + torch.roll(t1, -1, 1) - torch.roll(t0, -1, 2) - t1


def wilson_action(links, beta):
    return -beta * torch.cos(plaquettes(links)).sum(dim=(1, 2))


# ---------------------------------------------------------------- masks
def plaquette_classes(shape, mu, offset):
    """k = (x_nu - offset) mod 4 per plaquette, [L0, L1] (nu = 1 - mu)."""
    coord = torch.arange(shape[1 - mu]).sub(offset).remainder(4)
    return coord.view(1, -1).expand(*shape) if mu == 0 else coord.view(-1, 1).expand(*shape)


def layer_masks(shape, mu, offset, dtype):
    k = plaquette_classes(shape, mu, offset)
    active = (k == 0).to(dtype)
    frozen = ((k == 1) | (k == 2)).to(dtype)
    passive = (k == 3).to(dtype)
    links = torch.zeros((2,) + tuple(shape), dtype=dtype)
    links[mu] = active
    return active, frozen, passive, links


# ---------------------------------------------------------------- NCP mixture
def ncp_h(x, s):
    """2 atan(e^s tan(x/2)) mod 2pi: each component's circle map."""
    return wrap(2 * torch.atan(torch.exp(s) * torch.tan(x / 2)))


def ncp_log_dh(x, s):
    return -torch.log(torch.exp(-s) * torch.cos(x / 2) ** 2 + torch.exp(s) * torch.sin(x / 2) ** 2)


def conv_net(hidden, kernel, in_channels, out_channels):
    sizes = [in_channels] + list(hidden) + [out_channels]
    mods = []
    for j in range(len(sizes) - 1):
        mods.append(torch.nn.Conv2d(sizes[j], sizes[j + 1], kernel, padding=kernel // 2,
                                    padding_mode='circular'))
        if j < len(sizes) - 2:
            mods.append(torch.nn.LeakyReLU())
    return torch.nn.Sequential(*mods)


class NcpPlaquetteCoupling(torch.nn.Module):
    def __init__(self, shape, mu, offset, hidden, kernel, components, dtype):
        super().__init__()
        active, frozen, passive, _ = layer_masks(shape, mu, offset, dtype)
        self.register_buffer('active', active, persistent=False)
        self.register_buffer('frozen', frozen, persistent=False)
        self.register_buffer('passive', passive, persistent=False)
        self.components = components
        self.net = conv_net(hidden, kernel, 2, components + 1)

    def forward(self, p):  # p [B, L0, L1]
        pf = self.frozen * p
        out = self.net(torch.stack((torch.cos(pf), torch.sin(pf)), dim=1))
        s, t = out[:, :-1], out[:, -1]
        pa = (self.active * p).unsqueeze(1)
        ld = torch.logsumexp(ncp_log_dh(pa, s), dim=1) - math.log(self.components)
        log_det = (self.active * ld).sum(dim=(1, 2))
        h = self.active * ncp_h(pa, s).mean(dim=1)
        y = self.active * wrap(h + t) + (self.passive + self.frozen) * p
        return y, log_det


class GaugeLayer(torch.nn.Module):
    def __init__(self, shape, i, hidden, kernel, components, dtype):
        super().__init__()
        mu, offset = i % 2, (i // 2) % 4
        self.register_buffer('link_mask', layer_masks(shape, mu, offset, dtype)[3], persistent=False)
        self.plaq_coupling = NcpPlaquetteCoupling(shape, mu, offset, hidden, kernel, components, dtype)

    def forward(self, links):
        p = plaquettes(links)
        p_new, log_det = self.plaq_coupling(p)
        d = p_new - p
        moved = wrap(torch.stack((d, -d), dim=1) + links)
        return self.link_mask * moved + (1 - self.link_mask) * links, log_det


class U1Flow(torch.nn.ModuleList):
    def __init__(self, shape, layers, hidden, kernel, components, dtype):
        super().__init__([GaugeLayer(shape, i, hidden, kernel, components, dtype) for i in range(layers)])
        self.log_prior = -2 * shape[0] * shape[1] * math.log(TWO_PI)

    def forward(self, z):
        x = z
        logq = torch.full((z.shape[0],), self.log_prior, dtype=z.dtype)
        for layer in self:
            x, ld = layer(x)
            logq = logq - ld
        return x, logq


def draw(batch, shape):
    return torch.rand((batch, 2) + tuple(shape)) * TWO_PI


def conv_flops(shape, layers, hidden, kernel, components):
    """Multiply-add flops of every convolution in one forward pass of one configuration."""
    sizes = [2] + list(hidden) + [components + 1]
    per = sum(2 * sizes[j] * sizes[j + 1] * kernel * kernel for j in range(len(sizes) - 1))
    return layers * shape[0] * shape[1] * per


# ---------------------------------------------------------------- check
def run_check(args):
    t, meta = read_safetensors(args.check)
    shape = (int(meta['L0']), int(meta['L1']))
    nlayers, kernel, comps = (int(meta[k]) for k in ('layers', 'kernel', 'components'))
    hidden = [int(h) for h in meta['hidden'].split(',') if h]
    beta = float(meta['beta'])
    dtype = {'float64': torch.float64, 'float32': torch.float32}[meta['dtype']]
    torch.set_default_dtype(dtype)
    flow = U1Flow(shape, nlayers, hidden, kernel, comps, dtype)
    names = dict(flow.named_parameters())
    ours = {k[len('param/'):] for k in t if k.startswith('param/')}
    assert ours == set(names), f'parameter names differ: {sorted(ours ^ set(names))[:6]}'
    with torch.no_grad():
        for k, p in names.items():
            p.copy_(torch.from_numpy(t['param/' + k]))
    z = torch.from_numpy(t['z'])
    x, logq = flow(z)
    s = wilson_action(x, beta)
    loss = torch.mean(logq + s)
    loss.backward()

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    dx = x.detach().numpy() - t['x']
    dx = np.abs(np.arctan2(np.sin(dx), np.cos(dx)))  # angles: the distance on the circle
    g_ref = np.concatenate([t['grad/' + k].ravel() for k in sorted(names)])
    g = np.concatenate([names[k].grad.numpy().ravel() for k in sorted(names)])
    worst = max(names, key=lambda k: rel(names[k].grad.numpy(), t['grad/' + k]))
    lf = float(t['loss'][0])
    r = {
        'check': args.check, 'L': list(shape), 'beta': beta, 'layers': nlayers, 'hidden': hidden,
        'kernel': kernel, 'components': comps, 'dtype': meta['dtype'], 'batch': int(z.shape[0]),
        'params': len(names), 'numbers': int(g.size),
        'loss_torch': float(loss), 'loss_latticeflow': lf,
        'loss_rel_diff': abs(float(loss) - lf) / abs(lf),
        'logq_rel_diff': rel(logq.detach().numpy(), t['logq']),
        'action_rel_diff': rel(s.detach().numpy(), -t['logp']),
        'x_max_circle_diff': float(dx.max()),
        'x_rel_diff': float(dx.max() / TWO_PI),
        'grad_rel_diff': rel(g, g_ref),
        'grad_worst_param': worst,
        'grad_worst_param_rel_diff': rel(names[worst].grad.numpy(), t['grad/' + worst]),
    }
    log(f'{meta["dtype"]}: loss torch {r["loss_torch"]!r} latticeflow {lf!r} rel {r["loss_rel_diff"]:.2e}; '
        f'log q {r["logq_rel_diff"]:.2e}, S {r["action_rel_diff"]:.2e}, x {r["x_max_circle_diff"]:.2e} rad, '
        f'grad {r["grad_rel_diff"]:.2e} (worst tensor {worst} {r["grad_worst_param_rel_diff"]:.2e})')
    print(json.dumps(r), flush=True)


# ---------------------------------------------------------------- workloads
def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', default=None, help='safetensors file written by bench/u1.ts --dump')
    ap.add_argument('--workload', choices=['train', 'sample'], default='train')
    ap.add_argument('--L', type=int, default=8)
    ap.add_argument('--beta', type=float, default=2.0)
    ap.add_argument('--layers', type=int, default=16)
    ap.add_argument('--hidden', default='8,8', help='comma-separated CNN hidden channels')
    ap.add_argument('--kernel', type=int, default=3)
    ap.add_argument('--components', type=int, default=2, help='NCP mixture components')
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--n', type=int, default=4096, help='configurations per sampling pass')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--dtype', choices=['float32', 'float64'], default='float64')
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
    hidden = [int(h) for h in args.hidden.split(',') if h.strip()]
    shape = (args.L, args.L)
    dtype = getattr(torch, args.dtype)
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(dtype)
    torch.manual_seed(args.seed)
    flow = U1Flow(shape, args.layers, hidden, args.kernel, args.components, dtype)
    opt = torch.optim.Adam(flow.parameters(), lr=args.lr)
    per_config = conv_flops(shape, args.layers, hidden, args.kernel, args.components)
    last = []
    cpu = []

    if args.workload == 'train':
        def work():
            opt.zero_grad()
            x, logq = flow(draw(args.batch, shape))
            loss = torch.mean(logq + wilson_action(x, args.beta))
            loss.backward()
            opt.step()
            last.append(float(loss))
        flops = 3 * args.batch * per_config  # forward, input gradient, weight gradient
    else:
        def work():
            with torch.no_grad():
                x, logq = flow(draw(args.n, shape))
                s = wilson_action(x, args.beta)
            last.append(float(s[0] + logq[0]))
            if not math.isfinite(last[-1]):
                raise RuntimeError('non-finite sample')
        flops = args.n * per_config

    def step():
        c0 = time.process_time()
        work()
        cpu.append((time.process_time() - c0) * 1e3)

    times = timed(step, args.warmup, args.repeats, args.warmup_seconds)
    med = float(np.median(times))
    out = {'workload': f'u1-{args.workload}', 'dtype': args.dtype, 'threads': torch.get_num_threads(),
           'torch_version': torch.__version__, 'L': args.L, 'beta': args.beta, 'layers': args.layers,
           'hidden': hidden, 'kernel': args.kernel, 'components': args.components, 'batch': args.batch,
           'n': args.n if args.workload == 'sample' else None, 'seed': args.seed, 'repeats': args.repeats,
           'warmup': args.warmup, 'blas_info': blas_info(), 'mkldnn': torch.backends.mkldnn.is_available(),
           'loadavg_start': load_start, 'median_ms': med, 'times_ms': times,
           'cpu_median_ms': float(np.median(cpu[-args.repeats:])), 'flops_per_step': flops,
           'gflops': flops / (med * 1e6), 'last_value': last[-1],
           'params': sum(p.numel() for p in flow.parameters())}
    out['loadavg_end'] = os.getloadavg()
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()

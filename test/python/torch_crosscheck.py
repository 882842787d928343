"""The seed notebook's PyTorch model, loaded from a latticeflow checkpoint with load_state_dict.

  grad DIR   compare log q, the loss and every gradient for one batch (params.safetensors, z.npy)
  train DIR  replay Adam steps on the same prior draws (init.safetensors, zs.npy) and print losses
"""
import json, os, struct, sys
import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    return {k: torch.tensor(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype="<f8")
                            .reshape(v["shape"]).copy())
            for k, v in header.items() if k != "__metadata__"}


def get_mask(shape, parity):
    mask = torch.ones(shape, dtype=torch.uint8) - parity
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
        return fx, torch.sum((1 - self.mask) * s, dim=(1, 2))


def get_cnn():
    sizes = [1, 8, 8, 2]
    layers = []
    for i in range(3):
        layers.append(torch.nn.Conv2d(sizes[i], sizes[i + 1], 3, padding=1, padding_mode="circular"))
        layers.append(torch.nn.PReLU() if i != 2 else torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def action(s):
    a = -4 * s ** 2 + 8 * s ** 4
    for d in (1, 2):
        a = a + 2 * s ** 2 - s * torch.roll(s, -1, d) - s * torch.roll(s, 1, d)
    return a.sum(dim=(1, 2))


def loss_of(flow, z):
    logq = torch.distributions.Normal(0., 1.).log_prob(z).sum(dim=(1, 2))
    x = z
    for layer in flow:
        x, logj = layer(x)
        logq = logq - logj
    return torch.mean(logq + action(x)), logq


mode, d = sys.argv[1], sys.argv[2]
flow = torch.nn.Sequential(*[CouplingLayer(get_cnn(), (8, 8), i % 2) for i in range(16)])
if mode == "grad":
    flow.load_state_dict(load(os.path.join(d, "params.safetensors")))
    loss, logq = loss_of(flow, torch.tensor(np.load(os.path.join(d, "z.npy"))))
    loss.backward()
    print("torch loss", loss.item())
    print("max |logq diff|", np.abs(logq.detach().numpy() - np.load(os.path.join(d, "logq.npy"))).max())
    g = load(os.path.join(d, "grads.safetensors"))
    err = max(((p.grad - g[k]).abs().max() / (g[k].abs().max() + 1e-30)).item() for k, p in flow.named_parameters())
    print("max relative grad diff", err)
else:
    flow.load_state_dict(load(os.path.join(d, "init.safetensors")))
    zs = torch.tensor(np.load(os.path.join(d, "zs.npy")))
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    for z in zs:
        opt.zero_grad()
        loss, _ = loss_of(flow, z)
        loss.backward()
        opt.step()
        print("step loss", repr(loss.item()))

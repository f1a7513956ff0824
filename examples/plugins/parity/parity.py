#!/usr/bin/python3
"""Parity harness, PyTorch side: trains a small fixed MLP with YOUR PyTorch
optimizer and writes everything the C driver (parity.c) needs into one
safetensors file: the initial weights, the batches, the loss of every step
and the final weights, plus the clgrad spec to run.

    python3 parity.py OUT.safetensors
    ./parity OUT.safetensors ./clgrad-plugin-mine.so [cpu|opencl]

Edit the two marked places: the PyTorch optimizer (a torch.optim class, or
your own Optimizer subclass as below) and the clgrad spec that should do the
same. The model is y = tanh(x W0^T + b0) W2^T + b2 with MSE, as the
project's own fixtures (tests/plugins/gen_fixtures.py) use.
Needs only torch (the file is written without the safetensors package).
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F


# ---- 1. your optimizer, as PyTorch code ---------------------------------
class Lion(torch.optim.Optimizer):
    """The reference Lion (lucidrains/lion-pytorch)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.data.mul_(1 - lr * wd)
                update = exp_avg.clone().mul_(beta1).add(p.grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(p.grad, alpha=1 - beta2)


LR = 3e-3
def make_optimizer(params):
    return Lion(params, lr=LR, betas=(0.95, 0.98), weight_decay=0.1)


# ---- 2. the same optimizer as a clgrad spec ------------------------------
SPEC = "lion:beta1=0.95,beta2=0.98,weight_decay=0.1"
STEPS, TOL = 100, 1e-6

# ---------------------------------------------------------------------------
IN, HID, OUT, B, NB = 4, 8, 3, 8, 5
torch.manual_seed(0)
init = [torch.randn(HID, IN) * 0.5, torch.randn(HID) * 0.1,
        torch.randn(OUT, HID) * 0.5, torch.randn(OUT) * 0.1]
xs, ys = torch.randn(NB, B, IN), torch.randn(NB, B, OUT)
params = [t.clone().requires_grad_(True) for t in init]
opt = make_optimizer(params)
losses = []
for i in range(STEPS):
    x, y = xs[i % NB], ys[i % NB]
    loss = F.mse_loss(torch.tanh(x @ params[0].t() + params[1]) @ params[2].t() + params[3], y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())

names = ["0.weight", "0.bias", "2.weight", "2.bias"]
tensors = {n: t for n, t in zip(names, init)}
tensors.update({"want." + n: p.detach() for n, p in zip(names, params)})
tensors.update({"x": xs, "y": ys, "want.loss": torch.tensor(losses)})
meta = {"spec": SPEC, "lr": repr(LR), "steps": str(STEPS), "tol": repr(TOL),
        "torch": torch.__version__}

# safetensors: u64 header length, JSON header, raw little-endian f32 data
header, blobs, off = {"__metadata__": meta}, [], 0
for name, t in tensors.items():
    b = t.contiguous().to(torch.float32).numpy().tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print("wrote %s: %s, %d steps, final loss %.6g" % (sys.argv[1], SPEC, STEPS, losses[-1]))

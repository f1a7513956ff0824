#!/usr/bin/python3
"""Writes tests/core/fixtures/layers.safetensors with PyTorch (Debian's
python3-torch): for each layer case, its input, parameters and buffers, the
output, and the gradients of sum(output * g) for a fixed random g with
respect to the input and every parameter; for BatchNorm in training mode the
running statistics after the step. test_layers.c builds the same layers with
clgrad's public functions and compares on every backend (1e-4 relative).

    /usr/bin/python3 tests/core/gen_layer_fixtures.py

Tensor names: "<case>.<what>", e.g. "ln.x", "ln.weight", "ln.y", "ln.dx",
"ln.dweight"; the case's hyperparameters are in the metadata."""
import json
import os
import struct

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "layers.safetensors")


def st_save(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def record(out, meta, name, module, x_shape, hparams, train=True):
    """Runs module on a random x, backpropagates sum(y * g)."""
    for pname, p in module.named_parameters():  # not the default ones and zeros
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and pname == "weight" else 0.0))
    for bname, b in module.named_buffers():
        if b.dtype == torch.float32:
            with torch.no_grad():
                b.copy_(torch.rand_like(b) + (0.5 if "var" in bname else -0.5))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(*x_shape, requires_grad=True)
    module.train(train)
    y = module(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out[name + ".x"] = x
    out[name + ".g"] = g
    out[name + ".y"] = y
    out[name + ".dx"] = x.grad
    for k, v in before.items():
        out[name + "." + k] = v
    for k, p in module.named_parameters():
        out[name + ".d" + k] = p.grad
    for k, b in module.named_buffers():
        out[name + ".after." + k] = b
    meta[name] = json.dumps(hparams)


def main():
    torch.manual_seed(11)
    out, meta = {}, {}
    record(out, meta, "lin", nn.Linear(4, 5), (2, 3, 4), {})
    record(out, meta, "ln", nn.LayerNorm(5, eps=1e-5), (3, 4, 5), {"eps": 1e-5})
    record(out, meta, "ln2", nn.LayerNorm(7, eps=1e-3), (6, 7), {"eps": 1e-3})
    record(out, meta, "bn1", nn.BatchNorm1d(4, eps=1e-3, momentum=0.2), (6, 4),
           {"eps": 1e-3, "momentum": 0.2, "train": 1})
    record(out, meta, "bn1l", nn.BatchNorm1d(3, eps=1e-5, momentum=0.1), (4, 3, 5),
           {"eps": 1e-5, "momentum": 0.1, "train": 1})
    record(out, meta, "bn2", nn.BatchNorm2d(3, eps=1e-5, momentum=0.1), (2, 3, 4, 5),
           {"eps": 1e-5, "momentum": 0.1, "train": 1})
    record(out, meta, "bn2e", nn.BatchNorm2d(3, eps=1e-4, momentum=0.1), (2, 3, 4, 5),
           {"eps": 1e-4, "momentum": 0.1, "train": 0}, train=False)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    st_save(OUT, out, meta)
    print("wrote %d tensors, %d cases to %s" % (len(out), len(meta), OUT))


if __name__ == "__main__":
    main()

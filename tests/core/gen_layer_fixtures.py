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
        dt = {np.float32: "F32", np.int64: "I64", np.int32: "I32"}[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def record(out, meta, name, module, x_shape, hparams, train=True, x=None):
    """Runs module on a random x (or the given one), backpropagates sum(y * g)."""
    for pname, p in module.named_parameters():  # not the default ones and zeros
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and pname == "weight" else 0.0))
    for bname, b in module.named_buffers():
        if b.dtype == torch.float32:
            with torch.no_grad():
                b.copy_(torch.rand_like(b) + (0.5 if "var" in bname else -0.5))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(*x_shape) if x is None else x
    x.requires_grad_(True)
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
    # 2-D layers; the window as (h, w) pairs in the metadata
    def win(k, s, p, d):
        return {"kh": k[0], "kw": k[1], "sh": s[0], "sw": s[1], "ph": p[0], "pw": p[1],
                "dh": d[0], "dw": d[1]}
    record(out, meta, "conv", nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 6),
           dict(win((3, 3), (1, 1), (1, 1), (1, 1)), out=4, groups=1, bias=1))
    record(out, meta, "convg", nn.Conv2d(4, 6, (2, 3), stride=(2, 1), padding=(1, 0),
                                         dilation=(1, 2), groups=2), (2, 4, 7, 8),
           dict(win((2, 3), (2, 1), (1, 0), (1, 2)), out=6, groups=2, bias=1))
    record(out, meta, "convnb", nn.Conv2d(2, 3, 2, stride=2, bias=False), (3, 2, 5, 5),
           dict(win((2, 2), (2, 2), (0, 0), (1, 1)), out=3, groups=1, bias=0))
    # ties on purpose (values on a coarse grid): the gradient must go to the
    # first maximum of each window, the input PyTorch picks
    grid = torch.randint(-2, 3, (2, 3, 6, 7)).float()
    record(out, meta, "maxpool", nn.MaxPool2d(2), None,
           dict(win((2, 2), (2, 2), (0, 0), (1, 1))), x=grid)
    record(out, meta, "maxpool3", nn.MaxPool2d(3, stride=1, padding=1), (2, 2, 5, 4),
           dict(win((3, 3), (1, 1), (1, 1), (1, 1))))
    record(out, meta, "avgpool", nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 6),
           dict(win((3, 3), (2, 2), (1, 1), (1, 1))))
    record(out, meta, "adaptive", nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5), {"oh": 3, "ow": 2})
    # sequence layers
    emb = nn.Embedding(11, 6)
    ids = torch.randint(0, 11, (3, 5))
    y = emb(ids)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out["emb.x"] = ids.int()
    out["emb.weight"] = emb.weight
    out["emb.y"] = y
    out["emb.g"] = g
    out["emb.dweight"] = emb.weight.grad
    meta["emb"] = json.dumps({"vocab": 11, "dim": 6})

    class Seq(nn.Module):  # the whole output sequence of an RNN, as clgrad's layer
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    def seq_case(name, rnn, kind, hidden, layers, shape):
        m = Seq(rnn)
        record(out, meta, name, m, shape, {"kind": kind, "hidden": hidden, "layers": layers})
        for k in list(out):  # names without the wrapper's "rnn." prefix
            if k.startswith(name + ".") and ".rnn." in k or k.startswith(name + ".drnn."):
                out[k.replace(".rnn.", ".").replace(".drnn.", ".d")] = out.pop(k)

    seq_case("rnn", nn.RNN(4, 5, batch_first=True), 0, 5, 1, (2, 3, 4))
    seq_case("rnnrelu2", nn.RNN(4, 3, 2, nonlinearity="relu", batch_first=True), 1, 3, 2, (2, 4, 4))
    seq_case("lstm2", nn.LSTM(3, 5, 2, batch_first=True), 2, 5, 2, (2, 4, 3))
    seq_case("gru2", nn.GRU(3, 4, 2, batch_first=True), 3, 4, 2, (3, 4, 3))

    class SelfAttn(nn.Module):
        def __init__(self, e, h, causal):
            super().__init__()
            self.a = nn.MultiheadAttention(e, h, batch_first=True)
            self.causal = causal

        def forward(self, x):
            t = x.shape[1]
            mask = torch.triu(torch.full((t, t), float("-inf")), 1) if self.causal else None
            return self.a(x, x, x, attn_mask=mask, need_weights=False)[0]

    for name, causal in (("attn", 0), ("attnc", 1)):
        record(out, meta, name, SelfAttn(8, 2, causal), (2, 5, 8), {"heads": 2, "causal": causal})
        for k in list(out):
            if k.startswith(name + ".a.") or k.startswith(name + ".da."):
                out[k.replace(".a.", ".").replace(".da.", ".d")] = out.pop(k)

    class Enc(nn.Module):
        def __init__(self, e, h, f, act, causal):
            super().__init__()
            self.l = nn.TransformerEncoderLayer(e, h, f, 0.0, act, batch_first=True, norm_first=True)
            self.causal = causal

        def forward(self, x):
            t = x.shape[1]
            mask = torch.triu(torch.full((t, t), float("-inf")), 1) if self.causal else None
            return self.l(x, src_mask=mask)

    record(out, meta, "tfc", Enc(8, 2, 12, "gelu", 1), (2, 5, 8),
           {"heads": 2, "ff": 12, "causal": 1, "gelu": 1})
    record(out, meta, "tfr", Enc(6, 3, 10, "relu", 0), (3, 4, 6),
           {"heads": 3, "ff": 10, "causal": 0, "gelu": 0})
    for name in ("tfc", "tfr"):
        for k in list(out):
            if k.startswith(name + ".l.") or k.startswith(name + ".dl."):
                out[k.replace(".l.", ".", 1).replace(".dl.", ".d", 1)] = out.pop(k)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    st_save(OUT, out, meta)
    print("wrote %d tensors, %d cases to %s" % (len(out), len(meta), OUT))


if __name__ == "__main__":
    main()

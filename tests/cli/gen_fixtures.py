#!/usr/bin/python3
"""Regenerates tests/cli/fixtures/ with PyTorch (Debian's python3-torch 1.13):
the small data sets, starting weights as torch state_dicts in safetensors, and
for every case the weights PyTorch reaches when it trains the equivalent
nn.Sequential with the same data order, batches and hyperparameters as
`clgrad train --no-shuffle`. The C test (test_cli.c) runs clgrad on each case
and compares its --save output with these files.

    /usr/bin/python3 tests/cli/gen_fixtures.py              # regenerate
    /usr/bin/python3 tests/cli/gen_fixtures.py --check CLGRAD
        also runs CLGRAD on every case, loads its --save output into the torch
        model (load_state_dict, strict) and compares with PyTorch's weights.

safetensors is written and read by the small functions below (the python
`safetensors` package is not in Debian 12)."""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as e:  # meson counts exit 77 as skipped, not passed
    print("SKIP: pytorch: %s (apt-get install python3-torch)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
BATCH = 5
CLS = ("cls", "img", "txt")      # data sets with class labels (3 classes; txt: 256 bytes)
N_IN = {"reg": 4, "cls": 4, "bin": 4, "img": 36, "txt": 8}
SEQ = 8                          # text:...,seq=8 windows; the last 10 % of them are the test set


def n_classes(data):
    return 256 if data == "txt" else 3 if data in CLS else 1


def read_text(split):
    """The windows clgrad's text:PATH,seq=SEQ makes: (x ids, next-byte labels)."""
    with open(os.path.join(FIX, "tiny.txt"), "rb") as f:
        b = torch.tensor(list(f.read()), dtype=torch.long)
    n = (len(b) - 1) // SEQ
    nv = int(0.1 * n + 0.5)
    idx = torch.arange(n * SEQ).reshape(n, SEQ)
    x, y = b[idx], b[idx + 1]
    return (x[: n - nv], y[: n - nv]) if split == "train" else (x[n - nv:], y[n - nv:])


def read_data(data, split="train"):
    """(x, target) as the loss takes them (text: flattened over positions)."""
    if data == "txt":
        return read_text(split)
    x, t = read_csv(os.path.join(FIX, data + ".csv"))
    return x, (t.long() if data in CLS else t.reshape(-1, 1))


def loss_of(crit, data, pred, y):
    if data == "txt":
        return crit(pred.reshape(-1, pred.shape[-1]), y.reshape(-1))
    return crit(pred, y)
RTOL, ATOL = 1e-4, 1e-6


# ---------------------------------------------------------------- safetensors
def st_save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.int32: "I32", np.float64: "F64", np.int64: "I64"}[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "I32": "<i4", "F64": "<f8", "I64": "<i8"}[e["dtype"]]
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


# ----------------------------------------------------------------- data sets
def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("%.5g" % v for v in r) + "\n")


def read_csv(path):
    with open(path) as f:
        next(f)
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    a = np.array(rows, dtype=np.float32)
    return torch.from_numpy(a[:, :-1].copy()), torch.from_numpy(a[:, -1].copy())


def make_data():
    g = np.random.default_rng(1234)
    n, f = 23, 4
    x = g.normal(size=(n, f))
    w = g.normal(size=f)
    y = x @ w + 0.3 + 0.1 * g.normal(size=n)
    write_csv(os.path.join(FIX, "reg.csv"), ["x1", "x2", "x3", "x4", "y"], np.c_[x, y])
    logits = x @ g.normal(size=(f, 3))
    write_csv(os.path.join(FIX, "cls.csv"), ["x1", "x2", "x3", "x4", "label"],
              np.c_[x, logits.argmax(1)])
    write_csv(os.path.join(FIX, "bin.csv"), ["x1", "x2", "x3", "x4", "y"], np.c_[x, (y > 0.3)])
    # 6x6 "images" of 3 classes (a bright row, column or diagonal), for the CNN cases
    imgs, labels = [], []
    for i in range(22):
        c = i % 3
        im = 0.3 * g.normal(size=(6, 6))
        k = g.integers(0, 6)
        if c == 0:
            im[k, :] += 1
        elif c == 1:
            im[:, k] += 1
        else:
            im[np.arange(6), np.arange(6)] += 1
        imgs.append(im.reshape(-1))
        labels.append(c)
    # a small text for the language-model cases (byte level)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it", "was", "red"]
    text = " ".join(words[int(k)] for k in g.integers(0, len(words), 160)) + ".\n"
    with open(os.path.join(FIX, "tiny.txt"), "w") as f:
        f.write(text)
    write_csv(os.path.join(FIX, "img.csv"), ["p%d" % i for i in range(36)] + ["label"],
              np.c_[np.array(imgs), np.array(labels)])


# --------------------------------------------------------------------- cases
# name, data, model spec, loss spec, optimizer spec, lr, scheduler spec, epochs, extra args
CASES = [
    ("sgd", "reg", "mlp:6", "mse", "sgd", 0.05, None, 3, []),
    ("sgd_nesterov_wd", "reg", "mlp:6", "mse", "sgd:momentum=0.9,nesterov=1,weight_decay=0.01", 0.02, None, 3, []),
    ("sgd_dampening_max", "reg", "mlp:6", "mse", "sgd:momentum=0.5,dampening=0.3", 0.02, None, 3, []),
    ("adam", "reg", "mlp:6", "mse", "adam", 0.01, None, 3, []),
    ("adam_amsgrad_wd", "reg", "mlp:6", "mse", "adam:amsgrad=1,weight_decay=0.01,beta1=0.8", 0.01, None, 3, []),
    ("adamw", "reg", "mlp:6", "mse", "adamw", 0.01, None, 3, []),
    ("rmsprop", "reg", "mlp:6", "mse", "rmsprop:momentum=0.5,centered=1", 0.005, None, 3, []),
    ("rmsprop_plain", "reg", "mlp:6", "mse", "rmsprop:weight_decay=0.01", 0.005, None, 3, []),
    ("adagrad", "reg", "mlp:6", "mse", "adagrad:lr_decay=0.01,initial_accumulator_value=0.1", 0.05, None, 3, []),
    ("l1", "reg", "mlp:6,act=tanh", "l1", "sgd", 0.05, None, 3, []),
    ("huber", "reg", "mlp:6", "huber:delta=0.5", "sgd", 0.05, None, 3, []),
    ("smooth_l1", "reg", "mlp:6,act=gelu", "smooth-l1:beta=0.5", "sgd", 0.05, None, 3, []),
    ("mse_sum", "reg", "linear", "mse:reduction=sum", "sgd", 0.005, None, 3, []),
    ("bce", "bin", "mlp:6,out=sigmoid", "bce", "sgd:momentum=0.9", 0.1, None, 3, []),
    ("bce_logits", "bin", "mlp:6,act=sigmoid", "bce-with-logits:pos_weight=2", "sgd", 0.1, None, 3, []),
    ("cross_entropy", "cls", "mlp:6", "cross-entropy:label_smoothing=0.1", "adam", 0.01, None, 3, []),
    ("nll", "cls", "mlp:6,out=log_softmax", "nll", "sgd", 0.1, None, 3, []),
    ("sched_constant", "reg", "mlp:6", "mse", "sgd", 0.05, "constant:factor=0.5,total_iters=2", 3, []),
    ("sched_step", "reg", "mlp:6", "mse", "sgd", 0.05, "step:step_size=1,gamma=0.5", 3, []),
    ("sched_multistep", "reg", "mlp:6", "mse", "sgd", 0.05, "multistep:milestones=1/2,gamma=0.3", 3, []),
    ("sched_exponential", "reg", "mlp:6", "mse", "adam", 0.01, "exponential:gamma=0.8", 3, []),
    ("sched_linear", "reg", "mlp:6", "mse", "sgd", 0.05, "linear:start_factor=0.5,end_factor=1,total_iters=3", 3, []),
    ("sched_cosine_step", "reg", "mlp:6", "mse", "sgd", 0.05, "cosine:T_max=10,eta_min=0.001,interval=step", 3, []),
    ("sched_invsqrt", "reg", "mlp:6", "mse", "sgd", 0.05, "invsqrt:interval=step", 3, []),
    ("sched_warmup", "reg", "mlp:6", "mse", "sgd", 0.05, "warmup:steps=4,start_factor=0.1,interval=step", 3, []),
    ("sched_chain", "reg", "mlp:6", "mse", "sgd", 0.05, "warmup:steps=2,start_factor=0.5+exponential:gamma=0.9", 3, []),
    ("sched_onecycle", "reg", "mlp:6", "mse", "sgd:momentum=0.9", 0.05, "onecycle:max_lr=0.1,total_steps=15,interval=step", 3, []),
    ("sched_plateau", "reg", "mlp:6", "mse", "sgd", 0.05, "plateau:patience=0,factor=0.5,threshold=0.5", 4, []),
    ("clip", "reg", "mlp:6", "mse", "sgd", 0.05, None, 3, ["--clip-grad-norm", "0.5"]),
    ("accumulate", "reg", "mlp:6", "mse", "adam", 0.01, None, 3, ["--accumulate", "2"]),
    # --model pipelines (issue #11): layers joined by '>', numbered as nn.Sequential
    ("pipe_layernorm", "cls", "linear:out=8 > layernorm:eps=0.001 > gelu:approximate=tanh > linear",
     "cross-entropy", "adam", 0.01, None, 3, []),
    ("pipe_batchnorm", "reg", "linear:out=6 > batchnorm:momentum=0.2 > leakyrelu:slope=0.1 > linear",
     "mse", "sgd:momentum=0.9", 0.02, None, 3, []),
    ("pipe_cnn", "img", "reshape:shape=1/6/6 > conv2d:out=4,k=3,pad=1 > batchnorm > relu > "
     "maxpool2d:k=2 > conv2d:out=6,k=2,groups=2 > tanh > adaptiveavgpool2d:out=1 > flatten > linear",
     "cross-entropy", "sgd:momentum=0.9", 0.05, None, 3, []),
    ("pipe_cnn_pools", "img", "reshape:shape=1/6/6 > conv2d:out=3,k=2,stride=2,bias=0 > "
     "avgpool2d:k=3,stride=1,pad=1 > leakyrelu > maxpool2d:k=3,stride=1,pad=1 > flatten > linear",
     "cross-entropy", "adam", 0.01, None, 3, []),
    ("pipe_lstm", "cls", "reshape:shape=4/1 > lstm:hidden=5,layers=2 > last > linear",
     "cross-entropy", "adam", 0.01, None, 3, []),
    ("pipe_gru", "reg", "reshape:shape=2/2 > gru:hidden=4 > flatten > linear", "mse", "sgd", 0.05,
     None, 3, []),
    ("pipe_rnn_attention", "cls", "reshape:shape=4/1 > linear:out=4 > attention:heads=2,causal=1 > "
     "rnn:hidden=3,nonlinearity=relu > last > linear", "cross-entropy", "sgd:momentum=0.9", 0.05, None, 3, []),
    ("pipe_transformer", "cls", "reshape:shape=4/1 > linear:out=6 > posembedding:max=5 > "
     "transformer:heads=2,ff=8,dropout=0,causal=1,activation=gelu > transformer:heads=3,ff=4,dropout=0 > "
     "layernorm > last > linear", "cross-entropy", "sgd:momentum=0.9", 0.05, None, 3, []),
    # (not Adam for attention: the key part of in_proj_bias has a gradient of
    # exactly zero in theory, rounding noise in practice, which Adam scales up
    # to full steps in both frameworks, differently)
    ("lm_lstm", "txt", "embedding:dim=6 > lstm:hidden=8,layers=2 > linear", "cross-entropy",
     "adam", 0.01, None, 2, []),
    ("lm_gru", "txt", "embedding:dim=6 > gru:hidden=8 > linear", "cross-entropy", "sgd:momentum=0.9",
     0.1, None, 2, []),
    ("lm_transformer", "txt", "embedding:dim=8 > posembedding > transformer:heads=2,ff=12,dropout=0,"
     "causal=1,activation=gelu > layernorm > linear", "cross-entropy", "sgd:momentum=0.9", 0.1, None, 2, []),
    ("pipe_views", "cls", "linear:out=6,bias=0 > tanh > reshape:shape=2/-1 > layernorm > flatten > "
     "sigmoid > linear:out=5 > relu > linear > logsoftmax", "nll", "sgd", 0.1, None, 3, []),
    # fine-tuning (issue #13): --lr-scale as torch param_groups, each group's
    # scheduler from its own initial_lr (cosine's eta_min and plateau's min_lr
    # are absolute, so the groups' curves differ in shape); --freeze as
    # requires_grad_(False) and the parameter left out of the optimizer
    # (BatchNorm's running statistics still update in train mode).
    ("groups_cosine", "reg", "mlp:6", "mse", "sgd:momentum=0.9", 0.05, "cosine:T_max=4,eta_min=0.01", 3,
     ["--lr-scale", "0.*=0.1,2.bias=3,2.*=0.5"]),
    ("groups_plateau", "reg", "mlp:6", "mse", "adam", 0.01, "plateau:patience=0,factor=0.5,threshold=0.5,min_lr=0.004", 4,
     ["--lr-scale", "2.*=0.5"]),
    ("freeze_head", "cls", "mlp:6", "cross-entropy", "adam:weight_decay=0.1", 0.01, None, 3, ["--freeze", "2.*"]),
    ("freeze_bn_groups", "reg", "linear:out=6 > batchnorm:momentum=0.2 > leakyrelu:slope=0.1 > linear",
     "mse", "sgd:momentum=0.9", 0.02, "exponential:gamma=0.7", 3, ["--freeze", "1.*", "--lr-scale", "0.*=2"]),
]


def hp(spec):
    name, _, rest = spec.partition(":")
    kv = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        kv[k] = v
    return name, kv


def fnum(kv, k, d):
    return float(kv.get(k, d))


def boolean(kv, k):
    return kv.get(k, "0") in ("1", "true")


class Reshape(nn.Module):
    """clgrad's reshape layer: a view of [B, ...] as [B, *shape]; no tensors."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class LSTMSeq(nn.LSTM):  # clgrad's layers output the whole sequence; names unchanged
    def forward(self, x):
        return super().forward(x)[0]


class GRUSeq(nn.GRU):
    def forward(self, x):
        return super().forward(x)[0]


class RNNSeq(nn.RNN):
    def forward(self, x):
        return super().forward(x)[0]


def causal_mask(t):
    return torch.triu(torch.full((t, t), float("-inf")), 1)


class SelfAttention(nn.MultiheadAttention):
    def __init__(self, e, heads, causal):
        super().__init__(e, heads, batch_first=True)
        self.causal = causal

    def forward(self, x):
        mask = causal_mask(x.shape[1]) if self.causal else None
        return super().forward(x, x, x, attn_mask=mask, need_weights=False)[0]


class Encoder(nn.TransformerEncoderLayer):
    def __init__(self, e, heads, ff, dropout, act, causal):
        super().__init__(e, heads, ff, dropout, act, batch_first=True, norm_first=True)
        self.causal = causal

    def forward(self, x):
        return super().forward(x, src_mask=causal_mask(x.shape[1]) if self.causal else None)


class PosEmbedding(nn.Module):
    def __init__(self, t, d):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(t, d))

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


class Last(nn.Module):
    def forward(self, x):
        return x[:, -1]


def build_pipeline(spec, n_in, n_out):
    """The nn.Sequential of a clgrad pipeline 'layer > layer > ...'."""
    parts = [p.strip() for p in spec.split(">") if p.strip()]
    last_linear = max(i for i, p in enumerate(parts) if hp(p)[0] == "linear")
    layers = []
    x = torch.zeros(2, n_in, dtype=torch.long) if hp(parts[0])[0] == "embedding" else torch.zeros(2, n_in)
    for i, p in enumerate(parts):
        name, kv = hp(p)
        w = x.shape[-1]
        if name == "embedding":
            m = nn.Embedding(int(kv.get("vocab", n_out)), int(kv["dim"]))
        elif name == "linear":
            out = int(kv["out"]) if "out" in kv else n_out
            assert "out" in kv or i == last_linear
            m = nn.Linear(w, out, bias=kv.get("bias", "1") in ("1", "true"))
        elif name in ("relu", "tanh", "sigmoid"):
            m = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()
        elif name == "gelu":
            m = nn.GELU(approximate=kv.get("approximate", "none"))
        elif name == "leakyrelu":
            m = nn.LeakyReLU(fnum(kv, "slope", 0.01))
        elif name == "softmax":
            m = nn.Softmax(dim=-1)
        elif name == "logsoftmax":
            m = nn.LogSoftmax(dim=-1)
        elif name == "flatten":
            m = nn.Flatten()
        elif name == "reshape":
            m = Reshape([int(v) for v in kv["shape"].split("/")])
        elif name == "layernorm":
            m = nn.LayerNorm(w, eps=fnum(kv, "eps", 1e-5))
        elif name == "conv2d":
            k = int(kv["k"])
            m = nn.Conv2d(x.shape[1], int(kv["out"]), k, stride=int(kv.get("stride", 1)),
                          padding=int(kv.get("pad", 0)), dilation=int(kv.get("dilation", 1)),
                          groups=int(kv.get("groups", 1)), bias=kv.get("bias", "1") in ("1", "true"))
        elif name in ("maxpool2d", "avgpool2d"):
            k = int(kv["k"])
            cls = nn.MaxPool2d if name == "maxpool2d" else nn.AvgPool2d
            m = cls(k, stride=int(kv.get("stride", k)), padding=int(kv.get("pad", 0)))
        elif name == "adaptiveavgpool2d":
            m = nn.AdaptiveAvgPool2d(int(kv["out"]))
        elif name in ("lstm", "gru", "rnn"):
            h, nl = int(kv["hidden"]), int(kv.get("layers", 1))
            if name == "rnn":
                m = RNNSeq(w, h, nl, nonlinearity=kv.get("nonlinearity", "tanh"), batch_first=True)
            else:
                m = (LSTMSeq if name == "lstm" else GRUSeq)(w, h, nl, batch_first=True)
        elif name == "last":
            m = Last()
        elif name == "attention":
            m = SelfAttention(w, int(kv["heads"]), kv.get("causal", "0") == "1")
        elif name == "transformer":
            m = Encoder(w, int(kv["heads"]), int(kv["ff"]), fnum(kv, "dropout", 0.1),
                        kv.get("activation", "relu"), kv.get("causal", "0") == "1")
        elif name == "posembedding":
            m = PosEmbedding(int(kv.get("max", x.shape[1])), w)
        elif name == "batchnorm":
            cls = nn.BatchNorm1d if x.dim() <= 3 else nn.BatchNorm2d
            m = cls(x.shape[1], eps=fnum(kv, "eps", 1e-5), momentum=fnum(kv, "momentum", 0.1))
        else:
            raise ValueError(name)
        layers.append(m)
        with torch.no_grad():
            x = m.eval()(x)
        m.train()
    return nn.Sequential(*layers)


def build_model(spec, n_in, n_out):
    if ">" in spec:
        return build_pipeline(spec, n_in, n_out)
    name, _, rest = spec.partition(":")
    hidden, act, out = [], "relu", None
    for item in filter(None, rest.split(",")):
        if item.startswith("act="):
            act = item[4:]
        elif item.startswith("out="):
            out = item[4:]
        else:
            hidden.append(int(item))
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
    layers, w = [], n_in
    for h in hidden:
        layers += [nn.Linear(w, h), acts[act]()]
        w = h
    layers.append(nn.Linear(w, n_out))
    if out == "sigmoid":
        layers.append(nn.Sigmoid())
    elif out == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif out == "log_softmax":
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers)


def make_loss(spec):
    name, kv = hp(spec)
    red = kv.get("reduction", "mean")
    if name == "mse":
        return nn.MSELoss(reduction=red)
    if name == "l1":
        return nn.L1Loss(reduction=red)
    if name == "huber":
        return nn.HuberLoss(reduction=red, delta=fnum(kv, "delta", 1.0))
    if name == "smooth-l1":
        return nn.SmoothL1Loss(reduction=red, beta=fnum(kv, "beta", 1.0))
    if name == "bce":
        return nn.BCELoss(reduction=red)
    if name == "bce-with-logits":
        return nn.BCEWithLogitsLoss(reduction=red, pos_weight=torch.tensor([fnum(kv, "pos_weight", 1)]))
    if name == "cross-entropy":
        return nn.CrossEntropyLoss(reduction=red, label_smoothing=fnum(kv, "label_smoothing", 0))
    if name == "nll":
        return nn.NLLLoss(reduction=red)
    raise ValueError(name)


def make_optimizer(spec, params, lr):
    name, kv = hp(spec)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=fnum(kv, "momentum", 0),
                               dampening=fnum(kv, "dampening", 0), nesterov=boolean(kv, "nesterov"),
                               weight_decay=fnum(kv, "weight_decay", 0))
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=(fnum(kv, "beta1", 0.9), fnum(kv, "beta2", 0.999)),
                   eps=fnum(kv, "eps", 1e-8), amsgrad=boolean(kv, "amsgrad"),
                   weight_decay=fnum(kv, "weight_decay", 0 if name == "adam" else 0.01))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=fnum(kv, "alpha", 0.99), eps=fnum(kv, "eps", 1e-8),
                                   weight_decay=fnum(kv, "weight_decay", 0),
                                   momentum=fnum(kv, "momentum", 0), centered=boolean(kv, "centered"))
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=fnum(kv, "lr_decay", 0),
                                   weight_decay=fnum(kv, "weight_decay", 0),
                                   initial_accumulator_value=fnum(kv, "initial_accumulator_value", 0),
                                   eps=fnum(kv, "eps", 1e-10))
    raise ValueError(name)


def make_scheduler(spec, opt):
    """(scheduler or None, interval)"""
    if spec is None:
        return None, "epoch"
    if "+" in spec:
        parts = [make_scheduler(p, opt) for p in spec.split("+")]
        return torch.optim.lr_scheduler.ChainedScheduler([p[0] for p in parts]), parts[0][1]
    name, kv = hp(spec)
    interval = kv.get("interval", "epoch")
    S = torch.optim.lr_scheduler
    if name == "constant":
        return S.ConstantLR(opt, fnum(kv, "factor", 1.0), int(kv.get("total_iters", 5))), interval
    if name == "step":
        return S.StepLR(opt, int(kv["step_size"]), fnum(kv, "gamma", 0.1)), interval
    if name == "multistep":
        return S.MultiStepLR(opt, [int(v) for v in kv["milestones"].split("/")], fnum(kv, "gamma", 0.1)), interval
    if name == "exponential":
        return S.ExponentialLR(opt, fnum(kv, "gamma", 0.1)), interval
    if name == "linear":
        return S.LinearLR(opt, fnum(kv, "start_factor", 1 / 3), fnum(kv, "end_factor", 1.0),
                          int(kv.get("total_iters", 5))), interval
    if name == "cosine":
        return S.CosineAnnealingLR(opt, int(kv["T_max"]), fnum(kv, "eta_min", 0)), interval
    if name == "invsqrt":
        return S.LambdaLR(opt, lambda t: (1 + t) ** -0.5), interval
    if name == "warmup":
        return S.LinearLR(opt, fnum(kv, "start_factor", 0.001), 1.0, int(kv.get("steps", 5))), interval
    if name == "onecycle":
        return S.OneCycleLR(opt, max_lr=fnum(kv, "max_lr", 0), total_steps=int(kv["total_steps"]),
                            pct_start=fnum(kv, "pct_start", 0.3), anneal_strategy=kv.get("anneal", "cos"),
                            cycle_momentum=False), interval
    if name == "plateau":
        return S.ReduceLROnPlateau(opt, mode=kv.get("mode", "min"), factor=fnum(kv, "factor", 0.1),
                                   patience=int(kv.get("patience", 10)), threshold=fnum(kv, "threshold", 1e-4),
                                   cooldown=int(kv.get("cooldown", 0)), min_lr=fnum(kv, "min_lr", 0)), interval
    raise ValueError(name)


def param_groups(model, extra, lr):
    """--freeze and --lr-scale as torch does them: frozen parameters get
    requires_grad=False and stay out of the optimizer; the others go to one
    group per factor (the first matching pattern wins) with lr = lr * F."""
    import fnmatch
    frozen = extra[extra.index("--freeze") + 1].split(",") if "--freeze" in extra else []
    scales = []
    if "--lr-scale" in extra:
        for item in extra[extra.index("--lr-scale") + 1].split(","):
            pat, f = item.split("=")
            scales.append((pat, float(f)))
    groups = {}
    for name, p in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, g) for g in frozen):
            p.requires_grad_(False)
            continue
        f = next((f for pat, f in scales if fnmatch.fnmatchcase(name, pat)), 1.0)
        groups.setdefault(f, []).append(p)
    return [{"params": ps, "lr": lr * f} for f, ps in groups.items()]


def train_torch(case):
    name, data, model_spec, loss_spec, opt_spec, lr, sched_spec, epochs, extra = case
    x, y = read_data(data)
    n_out = n_classes(data)
    model = build_model(model_spec, N_IN[data], n_out)
    init = st_load(os.path.join(FIX, "init_%s.safetensors" % init_key(model_spec, n_out)))
    model.load_state_dict(init, strict=True)  # the torch file clgrad reads with --init
    crit = make_loss(loss_spec)
    opt = make_optimizer(opt_spec, param_groups(model, extra, lr), lr)
    sched, interval = make_scheduler(sched_spec, opt)
    clip = float(extra[extra.index("--clip-grad-norm") + 1]) if "--clip-grad-norm" in extra else 0
    k = int(extra[extra.index("--accumulate") + 1]) if "--accumulate" in extra else 1
    micro = 0
    for epoch in range(epochs):
        lsum = 0.0
        for b in range(0, x.shape[0], BATCH):
            loss = loss_of(crit, data, model(x[b:b + BATCH]), y[b:b + BATCH])
            lsum += float(loss) * len(x[b:b + BATCH])
            (loss / k if k > 1 else loss).backward()
            micro += 1
            if micro % k:
                continue
            if clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            opt.zero_grad()
            if sched is not None and interval == "step":
                sched.step()
        if sched is not None and interval == "epoch":
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(lsum / x.shape[0])
            else:
                sched.step()
    return model


def init_key(model_spec, n_out):
    if ">" in model_spec:  # a pipeline: its layers' names, shortened
        key = "".join(c if c.isalnum() else "_" for c in model_spec)
        while "__" in key:
            key = key.replace("__", "_")
        return "pipe_%08x_%d" % (zlib.crc32(key.encode()), n_out)
    return "%s_%d" % (model_spec.split(",out=")[0].replace(":", "").replace(",", "_").replace("=", ""), n_out)


def clgrad_args(case, out_path):
    name, data, model_spec, loss_spec, opt_spec, lr, sched_spec, epochs, extra = case
    n_out = n_classes(data)
    src = ("text:@FIX@/tiny.txt,seq=%d" % SEQ if data == "txt" else
           "csv:@FIX@/%s.csv%s" % (data, ",classes=3" if data in CLS else ""))
    a = ["--data", src, "--model", model_spec, "--loss", loss_spec,
         "--optimizer", opt_spec, "--lr", repr(lr), "--epochs", str(epochs), "--batch-size", str(BATCH),
         "--no-shuffle", "--init", "@FIX@/init_%s.safetensors" % init_key(model_spec, n_out)]
    if sched_spec:
        a += ["--scheduler", sched_spec]
    return a + extra + ["--save", out_path, "--quiet"]


def compare(name, got, want):
    worst = 0.0
    for k, w in want.items():
        g = got[k]
        assert g.shape == w.shape, (name, k, g.shape, w.shape)
        err = ((g.double() - w.double()).abs() / (RTOL * w.double().abs() + ATOL)).max().item()
        worst = max(worst, err)
    return worst  # <= 1 passes


def main():
    os.makedirs(FIX, exist_ok=True)
    torch.manual_seed(0)
    make_data()
    # Starting weights: one file per model shape, torch's default init.
    done = set()
    for case in CASES:
        n_out = n_classes(case[1])
        key = init_key(case[2], n_out)
        if key not in done:
            done.add(key)
            st_save(os.path.join(FIX, "init_%s.safetensors" % key),
                    build_model(case[2], N_IN[case[1]], n_out).state_dict())
    lines = []
    for case in CASES:
        model = train_torch(case)
        st_save(os.path.join(FIX, "want_%s.safetensors" % case[0]), model.state_dict())
        lines.append("%s\t%s" % (case[0], "\t".join(clgrad_args(case, "@OUT@"))))
    with open(os.path.join(FIX, "cases.tsv"), "w") as f:
        f.write("# generated by gen_fixtures.py: name, then clgrad train arguments (tab-separated)\n")
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (len(CASES), FIX))
    if len(sys.argv) >= 3 and sys.argv[1] == "--check":
        check(sys.argv[2])


def check(clgrad):
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            out = os.path.join(tmp, case[0] + ".safetensors")
            args = [a.replace("@FIX@", FIX) for a in clgrad_args(case, out)]
            r = subprocess.run([clgrad, "train"] + args, capture_output=True, text=True)
            if r.returncode != 0:
                print("FAIL %-20s clgrad exit %d: %s" % (case[0], r.returncode, r.stderr.strip()))
                bad += 1
                continue
            n_out = n_classes(case[1])
            model = build_model(case[2], N_IN[case[1]], n_out)
            model.load_state_dict(st_load(out), strict=True)  # clgrad's file loads into torch
            want = st_load(os.path.join(FIX, "want_%s.safetensors" % case[0]))
            worst = compare(case[0], model.state_dict(), want)
            print("%s %-20s worst error %.3g of tolerance" % ("ok  " if worst <= 1 else "FAIL", case[0], worst))
            bad += worst > 1
            if ">" in case[2]:  # eval mode: batchnorm on running statistics, no update
                bad += check_eval(clgrad, case, out, model)
    sys.exit(1 if bad else 0)


def check_eval(clgrad, case, weights, model):
    """`clgrad eval` of the saved weights against the torch model in eval mode."""
    data = clgrad_args(case, weights)[1].replace("@FIX@", FIX)
    r = subprocess.run([clgrad, "eval", "--data", data, "--model", case[2], "--loss", case[3],
                        "--load", weights, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL %-20s clgrad eval exit %d: %s" % (case[0], r.returncode, r.stderr.strip()))
        return 1
    got = json.loads(r.stdout)["loss"]
    x, y = read_data(case[1], "test" if case[1] == "txt" else "train")
    model.eval()
    with torch.no_grad():
        want = float(loss_of(make_loss(case[3]), case[1], model(x), y))
    e = abs(got - want) / (RTOL * abs(want) + ATOL)
    print("%s %-20s eval loss %.7g, torch %.7g (%.3g of tolerance)" % (
        "ok  " if e <= 1 else "FAIL", case[0], got, want, e))
    return int(e > 1)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--check-only":
        check(sys.argv[2])
    main()

#!/usr/bin/python3
"""Speed of the CPU backend against PyTorch on the same models, data and
batch: a CNN epoch on 28x28 images (the `cnn:32,64` preset, batch 128), an
LSTM language-model epoch on bytes (`lstm:128`, seq 64, batch 32) and a
causal Transformer one (`transformer:d=64,heads=4,layers=2,seq=64`). Both sides
train one epoch with SGD after a warm-up; samples per second are printed and
their ratio. The data are random (speed does not depend on them), written as
MNIST-format IDX files and a text file in a temporary directory.

    bench/layers/cnn_lstm_vs_torch.py build/tools/clgrad [N_IMAGES] [TEXT_BYTES]

The interpreter that runs PyTorch is this one; TORCH_PYTHON=/path/python
runs the PyTorch side with another (e.g. a venv with PyPI's torch)."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

CLGRAD = sys.argv[1]
N_IMG = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
N_TXT = int(sys.argv[3]) if len(sys.argv) > 3 else 64 * 32 * 16 + 1

TORCH_SIDE = r'''
import sys, time, torch
from torch import nn
kind, path, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
if kind == "cnn":
    raw = open(path + "/train-images-idx3-ubyte", "rb").read()[16:]
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).float().div(255).reshape(-1, 1, 28, 28)
    y = torch.frombuffer(bytearray(open(path + "/train-labels-idx1-ubyte", "rb").read()[8:]),
                         dtype=torch.uint8).long()
    m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 10))
    B = 128
else:
    b = torch.tensor(list(open(path, "rb").read()), dtype=torch.long)
    T = 64
    k = (len(b) - 1) // T
    idx = torch.arange(k * T).reshape(k, T)
    x, y = b[idx], b[idx + 1]
    class LSTMSeq(nn.LSTM):
        def forward(self, v):
            return super().forward(v)[0]
    if kind == "lstm":
        m = nn.Sequential(nn.Embedding(256, 64), LSTMSeq(64, 128, batch_first=True), nn.Linear(128, 256))
    else:
        class Pos(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(T, 64))
            def forward(self, v):
                return v + self.weight
        mask = torch.triu(torch.full((T, T), float("-inf")), 1)
        class Enc(nn.TransformerEncoderLayer):
            def forward(self, v):
                return super().forward(v, src_mask=mask)
        m = nn.Sequential(nn.Embedding(256, 64), Pos(),
                          *[Enc(64, 4, 256, 0.1, batch_first=True, norm_first=True) for _ in range(2)],
                          nn.LayerNorm(64), nn.Linear(64, 256))
    B = 32
opt = torch.optim.SGD(m.parameters(), lr=0.01)
crit = nn.CrossEntropyLoss()
def epoch():
    for i in range(0, len(x), B):
        out = m(x[i:i + B])
        loss = crit(out.reshape(-1, out.shape[-1]), y[i:i + B].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
epoch()  # warm-up
t = time.perf_counter()
epoch()
print(len(x) / (time.perf_counter() - t))
'''


def idx(path, magic_dims, data):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(magic_dims)]) + b"".join(struct.pack(">I", d) for d in magic_dims))
        f.write(data)


def clgrad_rate(args):
    r = subprocess.run([CLGRAD, "train"] + args + ["--epochs", "2", "--json", "--backend", "cpu",
                                                    "--optimizer", "sgd", "--lr", "0.01"],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("clgrad failed: " + r.stderr)
    return json.loads(r.stdout.strip().split("\n")[-1])["samples_per_s"]  # 2nd epoch: warm


def main():
    tp = os.environ.get("TORCH_PYTHON", sys.executable)
    threads = os.cpu_count()
    with tempfile.TemporaryDirectory() as d:
        rnd = os.urandom(N_IMG * 784)
        idx(os.path.join(d, "train-images-idx3-ubyte"), [N_IMG, 28, 28], rnd)
        labels = bytes(b % 10 for b in os.urandom(N_IMG))
        idx(os.path.join(d, "train-labels-idx1-ubyte"), [N_IMG], labels)
        idx(os.path.join(d, "t10k-images-idx3-ubyte"), [64, 28, 28], rnd[:64 * 784])
        idx(os.path.join(d, "t10k-labels-idx1-ubyte"), [64], labels[:64])
        txt = os.path.join(d, "text.txt")
        with open(txt, "wb") as f:
            f.write(bytes(32 + b % 95 for b in os.urandom(N_TXT)))
        rows = []
        for name, args, kind, path in (
                ("cnn:32,64 (batch 128)", ["--data", "mnist:" + d,
                                           "--model", "cnn:32,64", "--batch-size", "128"], "cnn", d),
                ("lstm:128 seq 64 (batch 32)", ["--data", "text:%s,seq=64" % txt, "--model",
                                                "lstm:128,dim=64", "--batch-size", "32"], "lstm", txt),
                ("transformer d64 h4 x2 seq 64 (batch 32)",
                 ["--data", "text:%s,seq=64" % txt, "--model",
                  "transformer:d=64,heads=4,layers=2,seq=64", "--batch-size", "32"], "transformer", txt)):
            c = clgrad_rate(args)
            r = subprocess.run([tp, "-c", TORCH_SIDE, kind, path, str(N_IMG), str(threads)],
                               capture_output=True, text=True)
            if r.returncode:
                sys.exit("torch failed: " + r.stderr)
            t = float(r.stdout)
            rows.append((name, c, t))
        print("model                                    clgrad samples/s  torch samples/s  ratio")
        for name, c, t in rows:
            print("%-41s %14.1f %16.1f %6.2f" % (name, c, t, c / t))


if __name__ == "__main__":
    main()

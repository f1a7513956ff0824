#!/usr/bin/python3
"""PyTorch side of bench/fashion_mnist.sh: one epoch of an MLP on Fashion-MNIST
with SGD (momentum 0.9), the same model, batch and data scaling as
`clgrad train --data fashion-mnist --model mlp:H1,H2`. Prints one JSON line
with samples_per_s (training loop only, like clgrad's). Any interpreter with
torch runs it (the bench takes them from TORCH_PYTHON), so the line names
the torch version and its BLAS."""
import argparse
import gzip
import json
import os
import re
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    if not os.path.exists(path):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(idx(os.path.join(a.dir, "train-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(idx(os.path.join(a.dir, "train-labels-idx1-ubyte")).astype(np.int64))
    layers, w = [], 784
    for h in map(int, a.hidden.split(",")):
        layers += [nn.Linear(w, h), nn.ReLU()]
        w = h
    model = nn.Sequential(*layers, nn.Linear(w, 10))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    crit = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0])
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0.0
    for b in range(0, x.shape[0], a.batch_size):
        i = perm[b:b + a.batch_size]
        loss = crit(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(i)  # one host sync per step, as clgrad
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # cpu_seconds (every thread's CPU time in the loop): on a shared machine
    # a 1-thread run's CPU time is its work, what the wall clock is not
    print(json.dumps({"train_loss": total / x.shape[0], "seconds": dt, "cpu_seconds": cpu,
                      "samples_per_s": x.shape[0] / dt, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "blas": "MKL" if torch.backends.mkl.is_available() else
                      "".join(re.findall(r"BLAS_INFO=(\w+)", torch.__config__.show())) or "?"}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The PyTorch side of a reference recipe (bench/recipes/recipes.py).

    torch_recipe.py NAME DATA --init-out FILE     PyTorch's initial weights (seeded) as safetensors
    torch_recipe.py NAME DATA [--init FILE] [--threads N] [--seed S] [--epochs E]
                                                 train; one JSON line per epoch

DATA is the Fashion-MNIST directory (cnn) or the text file (lstm,
transformer). Each epoch line has train_loss (mean over the epoch's batches,
as clgrad reports it), test_loss, test_accuracy (cnn) or test_bits_per_byte,
seconds and samples_per_s."""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "layers"))
import common  # noqa: E402
from recipes import RECIPES  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(RECIPES))
    ap.add_argument("data")
    ap.add_argument("--init-out")
    ap.add_argument("--init")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int)
    a = ap.parse_args()
    r = RECIPES[a.name]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    kind = "cnn" if a.name == "cnn" else a.name
    m = common.make_model(kind, **r["model"])
    if a.init_out:
        common.st_save(a.init_out, m.state_dict())
        return
    if a.init:
        m.load_state_dict(common.st_load(a.init), strict=True)
    if r["data"] == "fashion-mnist":
        x, y = common.fashion_mnist(a.data, "train")
        xt, yt = common.fashion_mnist(a.data, "test")
    else:
        x, y, xt, yt = common.text_windows(a.data)
    epochs = a.epochs or r["epochs"]
    opt = torch.optim.Adam(m.parameters(), lr=r["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs) if r["cosine"] else None
    crit = nn.CrossEntropyLoss()
    B, n = r["batch"], len(x)
    g = torch.Generator().manual_seed(a.seed)

    def loss_of(out, t):
        return crit(out.reshape(-1, out.shape[-1]), t.reshape(-1))

    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        m.train()
        perm = torch.randperm(n, generator=g)
        tot, nb = 0.0, 0
        for i in range(0, n, B):
            j = perm[i:i + B]
            loss = loss_of(m(x[j]), y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
            nb += 1
        dt_train = time.perf_counter() - t0
        lr = opt.param_groups[0]["lr"]
        if sched:
            sched.step()
        m.eval()
        with torch.no_grad():
            tl, correct = 0.0, 0
            for i in range(0, len(xt), 1000):
                out = m(xt[i:i + 1000])
                tl += loss_of(out, yt[i:i + 1000]).item() * out[..., 0].numel()
                if kind == "cnn":
                    correct += (out.argmax(-1) == yt[i:i + 1000]).sum().item()
            tl /= yt.numel()
        rec = {"epoch": ep, "train_loss": tot / nb, "test_loss": tl, "lr": lr,
               "seconds": time.perf_counter() - t0, "samples_per_s": n / dt_train, "steps": nb * ep}
        if kind == "cnn":
            rec["test_accuracy"] = correct / len(xt)
        else:
            rec["test_bits_per_byte"] = tl / math.log(2)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference results: run a recipe (bench/recipes/recipes.py) with clgrad and
with PyTorch (bench/recipes/torch_recipe.py) from the same initial weights and
print the two side by side, with the issue's bar for each.

    bench/recipes/compare.py [--clgrad build/tools/clgrad] [--bytes N] [--serial] [--epochs E] [--log-dir DIR] [NAME...]

NAME: cnn, lstm, transformer (default all three). The LM corpus is Debian's
`fortunes` text (common.fortunes_corpus), cut to --bytes (default 600000; 0: all of it, 2.6 MB),
written to a temporary file. PyTorch's interpreter is TORCH_PYTHON (default
/usr/bin/python3, Debian's torch). Both sides run on one thread each, at the
same time (--serial: one after the other). Exit status 1 when a bar is missed:
cnn test accuracy >= 0.91 and within one point of PyTorch's; LM test bits per
byte within 2 % of PyTorch's after the same number of steps."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "layers"))
import common  # noqa: E402
from recipes import RECIPES, clgrad_args  # noqa: E402


def run_pair(name, clgrad, data, tmp, serial, log_dir, epochs, log):
    init = os.path.join(tmp, name + "-init.safetensors")
    tp = common.torch_python()
    recipe = os.path.join(HERE, "torch_recipe.py")
    common.run_json([tp, recipe, name, data, "--init-out", init])
    cmds = {"clgrad": [clgrad, "train", "--backend", "cpu", "--json", "--init", init] +
            clgrad_args(name, data, epochs),
            "pytorch": [tp, recipe, name, data, "--init", init, "--threads", "1"] +
               (["--epochs", str(epochs)] if epochs else [])}
    env = common.env_threads(1, {"OPENBLAS_VERBOSE": "0"})
    t0 = time.time()
    out = {}
    procs = {}
    for side, cmd in cmds.items():
        # each side's JSON lines go to a file as they come: a long run shows its epochs
        path = os.path.join(log_dir, "%s-%s.jsonl" % (name, side))
        log("$ OMP_NUM_THREADS=1 %s > %s" % (" ".join(cmd), path))
        with open(path, "w") as o, open(path + ".err", "w") as e:
            procs[side] = (subprocess.Popen(cmd, stdout=o, stderr=e, env=env), path)
        if serial:
            procs[side][0].wait()
    for side, (p, path) in procs.items():
        if p.wait():
            sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(p.args), open(path + ".err").read()[-3000:]))
        out[side] = [json.loads(l) for l in open(path) if l.startswith("{")]
    log("(%.0f s)" % (time.time() - t0))
    return out["clgrad"], out["pytorch"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=["cnn", "lstm", "transformer"])
    ap.add_argument("--clgrad", default=os.path.join(HERE, "..", "..", "build", "tools", "clgrad"))
    ap.add_argument("--fmnist", default=common.FMNIST_DIR)
    ap.add_argument("--bytes", type=int, default=600000)
    ap.add_argument("--serial", action="store_true")
    ap.add_argument("--epochs", type=int, help="override the recipes' length (e.g. cnn --epochs 8)")
    ap.add_argument("--log-dir", help="keep each side's JSON lines here (default: a temporary directory)")
    a = ap.parse_args()
    for n in a.names:
        if n not in RECIPES:
            sys.exit("compare.py: unknown recipe '%s' (known: %s)" % (n, ", ".join(sorted(RECIPES))))

    def log(s):
        print(s, flush=True)

    ok = True
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "fortunes.txt")
        if any(RECIPES[n]["data"] == "text" for n in a.names):
            size = common.fortunes_corpus(corpus, a.bytes)
            log("corpus: %d bytes of %s (name order, no .dat/.u8)" % (size, common.FORTUNES_DIR))
        for n in a.names:
            data = a.fmnist if RECIPES[n]["data"] == "fashion-mnist" else corpus
            if a.log_dir:
                os.makedirs(a.log_dir, exist_ok=True)
            c, t = run_pair(n, a.clgrad, data, tmp, a.serial, a.log_dir or tmp, a.epochs, log)
            for ce, te in zip(c, t):
                log("  epoch %d  clgrad train %.4f test %.4f | torch train %.4f test %.4f" %
                    (ce["epoch"], ce["train_loss"], ce["test_loss"], te["train_loss"], te["test_loss"]))
            cl, tl = c[-1], t[-1]
            if n == "cnn":
                cv, tv = cl["test_accuracy"], tl["test_accuracy"]
                good = cv >= 0.91 and abs(cv - tv) <= 0.01
                rows.append((n, "test accuracy", cv, tv, "%+.2f points" % (100 * (cv - tv)), good))
            else:
                cv, tv = cl["test_bits_per_byte"], tl["test_bits_per_byte"]
                good = abs(cv / tv - 1) <= 0.02
                rows.append((n, "test bits/byte after %d steps" % tl["steps"], cv, tv,
                             "%+.2f %%" % (100 * (cv / tv - 1)), good))
            ok &= good
    log("\n%-12s %-32s %8s %8s %14s" % ("recipe", "metric", "clgrad", "pytorch", "difference"))
    for n, what, cv, tv, d, good in rows:
        log("%-12s %-32s %8.4f %8.4f %14s  %s" % (n, what, cv, tv, d, "ok" if good else "MISSED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""What bounds a training step of clgrad's CPU backend: `perf record` over one
epoch of a reference recipe (bench/recipes/recipes.py), samples grouped into
GEMM (OpenBLAS), im2col/col2im, elementwise (the backend's unary/binary loops
and libm), reductions (softmax, norms, sums), memory fills and copies (libc),
the executor and its checks, the OpenMP runtime and the kernel; then the
hottest symbols.

    bench/layers/step_profile.py cnn|lstm|transformer [--clgrad build/tools/clgrad] [--samples N] [--threads 1]

--samples: cnn train images (default 6400), LM corpus bytes (default 300000).
Needs `perf` (Debian's linux-perf) and perf_event_paranoid <= 2."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))
import common  # noqa: E402
from recipes import RECIPES, clgrad_args  # noqa: E402

GROUPS = (  # first match wins: (group, dso regex, symbol regex)
    ("GEMM (OpenBLAS)", r"blas", r""),
    ("GEMM (oneDNN)", r"dnnl", r""),
    ("GEMM (portable)", r"backend-cpu", r"gemm"),
    ("im2col/col2im", r"", r"im2col|col2im"),
    ("reductions, softmax, norms", r"backend-cpu", r"reduce|softmax|norm|sum|max|argmax|cross|nll"),
    ("elementwise", r"backend-cpu|libm|sleef", r"^[ubt]_|elementwise|exp|tanh|log|sigmoid|erf|pow|sqrt|gelu|relu|where|dropout|philox|rand"),
    ("memset/memcpy", r"libc", r"mem(set|cpy|move)"),
    ("other backend ops", r"backend-cpu", r""),
    ("OpenMP runtime", r"gomp", r""),
    ("kernel", r"kernel", r""),
    ("executor, checks, malloc, rest", r"", r""),
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(RECIPES))
    ap.add_argument("--clgrad", default=os.path.join(common.HERE, "..", "..", "build", "tools", "clgrad"))
    ap.add_argument("--samples", type=int)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    r = RECIPES[a.name]
    with tempfile.TemporaryDirectory() as tmp:
        if r["data"] == "fashion-mnist":
            common.fmnist_subset(tmp, a.samples or 6400, 256)
            data = tmp
        else:
            data = os.path.join(tmp, "fortunes.txt")
            common.fortunes_corpus(data, a.samples or 300000)
        args = clgrad_args(a.name, data, 1)
        pd = os.path.join(tmp, "perf.data")
        cmd = ["perf", "record", "-q", "-F", "999", "-o", pd, "--", a.clgrad, "train", "--backend", "cpu",
               "--quiet"] + args
        print("$ OMP_NUM_THREADS=%d %s" % (a.threads, " ".join(cmd)), flush=True)
        if subprocess.run(cmd, env=common.env_threads(a.threads, {"OPENBLAS_VERBOSE": "0"})).returncode:
            sys.exit("step_profile.py: perf record failed")
        rep = subprocess.run(["perf", "report", "-i", pd, "--stdio", "--no-children", "--sort", "dso,sym", "-q"],
                             capture_output=True, text=True).stdout
    rows = []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(4).strip()))
    share = {}
    for pct, dso, sym in rows:
        for g, dre, sre in GROUPS:
            if re.search(dre, dso) and re.search(sre, sym):
                share[g] = share.get(g, 0) + pct
                break
    print("\n%s (%s), %d thread(s): share of CPU samples" % (a.name, r["spec"], a.threads))
    for g, _, _ in GROUPS:
        if share.get(g, 0) >= 0.05:
            print("  %-32s %5.1f %%" % (g, share[g]))
    # oneDNN's JIT-compiled GEMM kernels run from anonymous memory: perf
    # reports them as many tiny rows of no DSO, which the -q listing drops
    rest = 100.0 - sum(share.values())
    if rest >= 0.05:
        print("  %-32s %5.1f %%" % ("JIT code (oneDNN GEMM), unlisted", rest))
    print("hottest symbols:")
    for pct, dso, sym in rows[:12]:
        print("  %5.1f %%  %-26s %s" % (pct, dso, sym))


if __name__ == "__main__":
    main()

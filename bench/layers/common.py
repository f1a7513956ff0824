"""What the layer-model benches (bench/layers/) and the reference recipes
(bench/recipes/) share: the data both sides read (Fashion-MNIST, the fortunes
corpus), the PyTorch twins of clgrad's `cnn`, `lstm` and `transformer` presets,
a safetensors reader/writer (so PyTorch's initial weights reach `clgrad
--init`), and the run/median helpers of the drivers.

The drivers need only the standard library; the functions that need torch
import it when called, so one driver can hand the PyTorch side to another
interpreter (TORCH_PYTHON)."""
import gzip
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
FORTUNES_DIR = "/usr/share/games/fortunes"
SEQ = 64


def torch_python():
    """PyTorch's interpreter: TORCH_PYTHON, else Debian's (python3-torch)."""
    return os.environ.get("TORCH_PYTHON", "/usr/bin/python3")


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# ---------------------------------------------------------------- data
def fortunes_corpus(path, max_bytes=0, src=FORTUNES_DIR):
    """Write the text corpus: Debian's `fortunes` files (not the .dat indexes
    nor the .u8 links to the same text) concatenated in name order, cut to
    max_bytes when > 0. Deterministic for a given fortunes package."""
    names = sorted(n for n in os.listdir(src)
                   if not n.endswith((".dat", ".u8")) and os.path.isfile(os.path.join(src, n)))
    if not names:
        sys.exit("no fortunes text in %s (apt-get install fortunes)" % src)
    data = b"".join(open(os.path.join(src, n), "rb").read() for n in names)
    if max_bytes > 0:
        data = data[:max_bytes]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def _idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            nd = raw[3]
            dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
            return raw[4 + 4 * nd:], dims
    sys.exit("no %s[.gz] (apt-get install dataset-fashion-mnist)" % path)


def fashion_mnist(d=FMNIST_DIR, split="train"):
    """(x [N, 1, 28, 28] in [0, 1], y [N]) as clgrad's `fashion-mnist` reads them."""
    import torch
    pre = "train" if split == "train" else "t10k"
    img, dims = _idx(os.path.join(d, pre + "-images-idx3-ubyte"))
    lab, _ = _idx(os.path.join(d, pre + "-labels-idx1-ubyte"))
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).float().div(255).reshape(-1, 1, dims[1], dims[2])
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).long()
    return x, y


def text_windows(path, seq=SEQ, val_frac=0.1):
    """clgrad's `text:PATH,seq=T`: sample k is bytes [kT, kT+T), its targets
    one byte later; the last round(val_frac * n) samples are the test set."""
    import torch
    b = torch.tensor(list(open(path, "rb").read()), dtype=torch.long)
    n = (len(b) - 1) // seq
    nv = int(val_frac * n + 0.5)
    i = torch.arange(n * seq).reshape(n, seq)
    x, y = b[i], b[i + 1]
    return x[:n - nv], y[:n - nv], x[n - nv:], y[n - nv:]


# ---------------------------------------------------------------- models
def make_model(kind, **kw):
    """The nn.Sequential equivalent of clgrad's preset, with the same child
    indices (so state_dict names are clgrad's tensor names):
    cnn: `cnn:C1,C2,fc=H,bn=1,dropout=P` for 1x28x28 inputs, 10 classes;
    lstm: `lstm:H,dim=D`; transformer: `transformer:d=D,heads=H,layers=L,seq=T`
    (ff = 4D, causal, dropout as the transformer layer's)."""
    import torch
    from torch import nn
    if kind == "cnn":
        layers, c, side = [], 1, 28
        for co in kw.get("channels", (32, 64)):
            layers.append(nn.Conv2d(c, co, 3))
            if kw.get("bn"):
                layers.append(nn.BatchNorm2d(co))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            c, side = co, (side - 2) // 2
        layers.append(nn.Flatten())
        if kw.get("dropout"):
            layers.append(nn.Dropout(kw["dropout"]))
        w = c * side * side
        if kw.get("fc"):
            layers += [nn.Linear(w, kw["fc"]), nn.ReLU()]
            w = kw["fc"]
        layers.append(nn.Linear(w, 10))
        return nn.Sequential(*layers)

    class LSTMSeq(nn.LSTM):  # clgrad's lstm layer outputs the whole sequence
        def forward(self, v):
            return super().forward(v)[0]

    if kind == "lstm":
        d, h = kw.get("dim", 64), kw.get("hidden", 128)
        return nn.Sequential(nn.Embedding(256, d), LSTMSeq(d, h, kw.get("layers", 1), batch_first=True),
                             nn.Linear(h, 256))
    if kind == "transformer":
        d, t = kw.get("d", 64), kw.get("seq", SEQ)
        mask = torch.triu(torch.full((t, t), float("-inf")), 1)

        class Pos(nn.Module):  # clgrad's posembedding: a learned [T, D] table
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(t, d))

            def forward(self, v):
                return v + self.weight[: v.shape[1]]

        class Enc(nn.TransformerEncoderLayer):
            def forward(self, v):
                return super().forward(v, src_mask=mask[: v.shape[1], : v.shape[1]])

        return nn.Sequential(nn.Embedding(256, d), Pos(),
                             *[Enc(d, kw.get("heads", 4), kw.get("ff", 4 * d), kw.get("dropout", 0.1),
                                   batch_first=True, norm_first=True) for _ in range(kw.get("layers", 2))],
                             nn.LayerNorm(d), nn.Linear(d, 256))
    raise ValueError(kind)


# ---------------------------------------------------------------- safetensors
def st_save(path, tensors):
    """A state_dict as safetensors (F32/I64 as PyTorch keeps them), written to
    a temporary name and renamed into place."""
    import numpy as np
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.int32: "I32", np.float64: "F64", np.int64: "I64"}[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)


def st_load(path):
    """A safetensors file as a state_dict (torch tensors)."""
    import numpy as np
    import torch
    raw = open(path, "rb").read()
    (k,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + k])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "I32": "<i4", "F64": "<f8", "I64": "<i8"}[e["dtype"]]
        b, end = e["data_offsets"]
        a = np.frombuffer(raw[8 + k + b:8 + k + end], dtype=dt).reshape(e["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


# ---------------------------------------------------------------- running
def run_json(cmd, env=None):
    """Run a command that prints JSON lines; return them parsed (exit on failure)."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr[-3000:]))
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")], r.stderr


def env_threads(n, extra=None):
    """The environment for a run on n threads: OpenMP (clgrad's CPU backend and
    torch) and OpenBLAS; OPENBLAS_VERBOSE=2 makes OpenBLAS name its kernel."""
    e = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n),
             OPENBLAS_VERBOSE="2")
    e.update(extra or {})
    return e


# ---------------------------------------------------------------- speed
def _write_idx(path, dims, data):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data)


def fmnist_subset(dst, n_train, n_test, src=FMNIST_DIR):
    """The first n_train / n_test Fashion-MNIST images as uncompressed IDX files in dst."""
    for pre, n in (("train", n_train), ("t10k", n_test)):
        img, dims = _idx(os.path.join(src, pre + "-images-idx3-ubyte"))
        lab, _ = _idx(os.path.join(src, pre + "-labels-idx1-ubyte"))
        n = min(n, dims[0])
        _write_idx(os.path.join(dst, pre + "-images-idx3-ubyte"), [n, dims[1], dims[2]],
                   img[:n * dims[1] * dims[2]])
        _write_idx(os.path.join(dst, pre + "-labels-idx1-ubyte"), [n], lab[:n])


def _peers():
    """(label, interpreter) of each PyTorch to time: Debian's, and PyPI's from
    TORCH_PYTHON when it names another interpreter."""
    p = [("debian-torch", "/usr/bin/python3")]
    tp = os.environ.get("TORCH_PYTHON")
    if tp and os.path.abspath(tp) != p[0][1]:  # a venv's python links to the same binary
        p.append(("pypi-torch", tp))
    else:
        print("SKIP: PyPI torch: TORCH_PYTHON is not set (e.g. TORCH_PYTHON=/work/torchvenv/bin/python)",
              flush=True)
    return p


def _blas_line(label, err):
    if label == "pypi-torch":  # its OpenBLAS line would be numpy's; torch itself uses MKL/oneDNN
        return "MKL and oneDNN (torch.__config__.show())"
    for l in err.splitlines():
        if "core" in l.lower():
            return l.strip()
    return "not reported"


def speed_main(name, doc):
    """One model's speed bench: clgrad's CPU backend against Debian's and
    PyPI's PyTorch on the reference recipe's model, data, batch and optimizer
    (bench/recipes/recipes.py), each on 1 and 2 threads. Every run trains 2
    epochs and reports the second (the first warms up: plans, allocations,
    caches); the settings alternate, `--repeat` rounds, and the medians are
    compared, each side in its fastest thread setting."""
    import argparse
    import tempfile
    sys.path.insert(0, os.path.join(HERE, "..", "recipes"))
    from recipes import RECIPES, clgrad_args
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clgrad", default=os.path.join(HERE, "..", "..", "build", "tools", "clgrad"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="thread counts to try (default 1,2)")
    ap.add_argument("--samples", type=int, default=0,
                    help="cnn: train images (default all 60000); LM: corpus bytes (default all)")
    a = ap.parse_args()
    r = RECIPES[name]
    threads = [int(t) for t in a.threads.split(",")]
    recipe_py = os.path.join(HERE, "..", "recipes", "torch_recipe.py")
    with tempfile.TemporaryDirectory() as tmp:
        if r["data"] == "fashion-mnist":
            fmnist_subset(tmp, a.samples or 60000, 1000)
            data, what = tmp, "Fashion-MNIST, first %d train images" % (a.samples or 60000)
        else:
            data = os.path.join(tmp, "fortunes.txt")
            size = fortunes_corpus(data, a.samples)
            what = "fortunes corpus, %d bytes (seq 64, 90 %% train)" % size
        init = os.path.join(tmp, "init.safetensors")
        run_json([torch_python(), recipe_py, name, data, "--init-out", init])
        cargs = clgrad_args(name, data, 2)
        print("bench %s: %s; %s, batch %d, adam; 2 epochs per run, the 2nd timed; %d alternating rounds"
              % (name, r["spec"], what, r["batch"], a.repeat), flush=True)
        runs, blas = {}, {}
        peers = [("clgrad", None)] + _peers()
        for rnd in range(a.repeat):
            for label, py in peers:
                for t in threads:
                    if py is None:
                        cmd = [a.clgrad, "train", "--backend", "cpu", "--json", "--init", init] + cargs
                    else:
                        cmd = [py, recipe_py, name, data, "--init", init, "--threads", str(t), "--epochs", "2"]
                    lines, err = run_json(cmd, env_threads(t))
                    runs.setdefault((label, t), []).append(lines[-1]["samples_per_s"])
                    blas.setdefault(label, _blas_line(label, err))
                    print("  round %d %-13s %d thread(s): %8.1f samples/s" %
                          (rnd + 1, label, t, lines[-1]["samples_per_s"]), flush=True)
    best = {}
    print("\n%-13s %8s %12s  runs" % ("side", "threads", "median/s"))
    for (label, t), v in runs.items():
        m = median(v)
        print("%-13s %8d %12.1f  %s" % (label, t, m, " ".join("%.1f" % x for x in v)))
        if label not in best or m > best[label][1]:
            best[label] = (t, m)
    for label, line in blas.items():
        print("BLAS %-13s %s" % (label, line))
    c = best["clgrad"][1]
    print("\nRESULT %s clgrad %.1f/s (%d thr)" % (name, c, best["clgrad"][0]) + "".join(
        "  %s %.1f/s (%d thr) ratio %.2f" % (l, m, t, c / m) for l, (t, m) in best.items() if l != "clgrad"))

#!/usr/bin/env python3
"""`clgrad train --tensorboard DIR` read back by TensorBoard's own reader (the
`tensorboard` package from PyPI: EventAccumulator, as `tensorboard --logdir`
loads a run, and its record reader, which checks every CRC), checked against
the same run's --json lines and --metrics file.

    test_tensorboard.py CLGRAD FIXTURES_DIR

The tensorboard package is not in Debian: scripts/deps.sh --dev installs it
into /opt/clgrad-venv. This script runs under any python3 and re-executes
itself under $CLGRAD_TB_PYTHON (default /opt/clgrad-venv/bin/python) when
its own interpreter lacks the package. Without one it prints SKIP and exits
77 (meson: skipped, not passed), unless CLGRAD_REQUIRE_TENSORBOARD=1
(scripts/test.sh), where that is a failure."""
import csv
import json
import os
import subprocess
import sys
import tempfile

DEFAULT_PYTHON = "/opt/clgrad-venv/bin/python"


def tensorboard_or_skip():
    try:
        import tensorboard  # noqa: F401
        return
    except ImportError as e:
        why = str(e)
    tb_python = os.environ.get("CLGRAD_TB_PYTHON") or DEFAULT_PYTHON
    if (not os.environ.get("CLGRAD_TB_REEXEC") and os.access(tb_python, os.X_OK)
            and os.path.realpath(tb_python) != os.path.realpath(sys.executable)):
        os.environ["CLGRAD_TB_REEXEC"] = "1"
        os.execv(tb_python, [tb_python] + sys.argv)
    msg = ("tensorboard: the package is not importable by %s (%s); scripts/deps.sh --dev "
           "installs it into %s, or set CLGRAD_TB_PYTHON to a python that has it"
           % (sys.executable, why, os.path.dirname(os.path.dirname(DEFAULT_PYTHON))))
    if os.environ.get("CLGRAD_REQUIRE_TENSORBOARD") == "1":
        print("FAIL: " + msg + " (CLGRAD_REQUIRE_TENSORBOARD=1)")
        sys.exit(1)
    print("SKIP: " + msg)
    sys.exit(77)


tensorboard_or_skip()

from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.backend.event_processing import event_file_loader  # noqa: E402
# TensorBoard's own TFRecord reader (used when TensorFlow is absent)
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow  # noqa: E402

CLGRAD, FIX = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def close(a, b):
    """a is a float32 (simple_value), b the run's printed double."""
    return abs(a - b) <= 1e-6 * abs(b) + 1e-30


def train(tmp, *args):
    p = subprocess.run([CLGRAD, "train", "--backend", "cpu", *args], cwd=tmp,
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit("FAIL: clgrad train %s exited %d" % (" ".join(args), p.returncode))
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def load(logdir):
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {t: acc.Scalars(t) for t in acc.Tags()["scalars"]}


def check_files(logdir, n_files):
    """Names, the version record first, and every record's CRCs."""
    files = sorted(f for f in os.listdir(logdir) if f.startswith("events.out.tfevents."))
    check(len(files) == n_files, "%s holds %d event files, not %d" % (logdir, len(files), n_files))
    for f in files:
        path = os.path.join(logdir, f)
        events = list(event_file_loader.EventFileLoader(path).Load())
        check(events and events[0].file_version == "brain.Event:2",
              "%s: the first event is not file_version brain.Event:2" % f)
        # The loader stops quietly at a damaged record; the record reader
        # raises DataLossError on a CRC mismatch, so all records must pass it.
        reader = pywrap_tensorflow.PyRecordReader_New(path)
        n = 0
        try:
            while True:
                reader.GetNext()
                n += 1
        except errors.OutOfRangeError:
            pass
        check(n == len(events),
              "%s: %d records pass the CRC checks, the loader read %d" % (f, n, len(events)))


def check_epochs(s, lines, tags_expected):
    """Per-epoch tags against the --json lines (step = epoch)."""
    keys = {"loss/train": "train_loss", "loss/test": "test_loss", "accuracy/test": "test_accuracy",
            "lr": "lr", "throughput/samples_per_s": "samples_per_s"}
    for tag in tags_expected:
        ev = s.get(tag, [])
        check([e.step for e in ev] == [ln["epoch"] for ln in lines],
              "%s: steps %s, the run's epochs %s" % (tag, [e.step for e in ev],
                                                    [ln["epoch"] for ln in lines]))
        for e, ln in zip(ev, lines):
            check(close(e.value, ln[keys[tag]]), "%s at epoch %d: %r, --json says %r"
                  % (tag, e.step, e.value, ln[keys[tag]]))


def check_steps(s, lines, first_epoch=1):
    """Per-batch tags: numbered on from 1 (across a resume), `per` of them an
    epoch; the running mean ends each epoch at its train loss, the rate is the
    epoch's (an epoch-interval schedule), and the running mean is the mean of
    the batch losses (full batches)."""
    steps = [e.step for e in s["step/loss"]]
    epochs = len(lines)
    per = len(steps) // epochs if epochs else 0
    start = (first_epoch - 1) * per + 1
    check(per > 0 and steps == list(range(start, start + per * epochs)),
          "step/loss: steps %s... are not %d per epoch from %d" % (steps[:5], per, start))
    for tag in ("step/loss_mean", "step/lr"):
        check([e.step for e in s[tag]] == steps, "%s: steps differ from step/loss" % tag)
    for k, ln in enumerate(lines):
        sl = slice(k * per, (k + 1) * per)
        last = s["step/loss_mean"][sl][-1]
        check(close(last.value, ln["train_loss"]), "step/loss_mean at the end of epoch %d: %r, "
              "--json train_loss %r" % (ln["epoch"], last.value, ln["train_loss"]))
        for e in s["step/lr"][sl]:
            check(close(e.value, ln["lr"]), "step/lr at step %d: %r, the epoch's lr %r"
                  % (e.step, e.value, ln["lr"]))
        losses = [e.value for e in s["step/loss"][sl]]
        mean = sum(losses) / len(losses)
        check(abs(mean - ln["train_loss"]) <= 1e-5 * abs(ln["train_loss"]),
              "epoch %d: the mean of step/loss %r is not --json train_loss %r"
              % (ln["epoch"], mean, ln["train_loss"]))


with tempfile.TemporaryDirectory(prefix="clgrad-test-tensorboard-") as tmp:
    # 1. A classifier with a test set: every tag, against --json and --metrics.
    cls = "csv:%s/cls.csv,classes=3" % FIX
    lines = train(tmp, "--data", cls, "--val-split", "0.2", "--model", "mlp:6", "--optimizer",
                  "adam", "--lr", "0.05", "--scheduler", "exponential:gamma=0.5", "--epochs", "3",
                  "--batch-size", "6", "--drop-last", "--json", "--metrics", "m.csv",
                  "--tensorboard", "tb")
    check_files(os.path.join(tmp, "tb"), 1)
    s = load(os.path.join(tmp, "tb"))
    epoch_tags = ["loss/train", "loss/test", "accuracy/test", "lr", "throughput/samples_per_s"]
    step_tags = ["step/loss", "step/loss_mean", "step/lr"]
    check(sorted(s) == sorted(epoch_tags + step_tags), "classifier tags: %s" % sorted(s))
    check_epochs(s, lines, epoch_tags)
    check_steps(s, lines)
    check(len({ln["lr"] for ln in lines}) == 3, "the schedule did not change the rate")
    with open(os.path.join(tmp, "m.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 3, "--metrics has %d rows" % len(rows))
    for r in rows:
        ep = int(r["epoch"])
        for tag, col in (("loss/test", "test_loss"), ("accuracy/test", "test_accuracy"),
                         ("throughput/samples_per_s", "samples_per_s")):
            v = [e.value for e in s[tag] if e.step == ep]
            check(len(v) == 1 and abs(v[0] - float(r[col])) <= 1e-5 * abs(float(r[col])),
                  "%s at epoch %d: %s, --metrics %s %s" % (tag, ep, v, col, r[col]))

    # 2. Regression without a test set: no test tags.
    lines = train(tmp, "--epochs", "2", "--batch-size", "64", "--json", "--tensorboard", "reg")
    s = load(os.path.join(tmp, "reg"))
    check(sorted(s) == sorted(["loss/train", "lr", "throughput/samples_per_s"] + step_tags),
          "regression tags: %s" % sorted(s))
    check_epochs(s, lines, ["loss/train", "lr", "throughput/samples_per_s"])
    check_steps(s, lines)

    # 3. A resumed run writes a second file; TensorBoard sees one run whose
    #    epochs and batch numbers go on from the checkpoint.
    common = ["--epochs", "2", "--batch-size", "128", "--json", "--tensorboard", "res"]
    first = train(tmp, *common, "--checkpoint-dir", "ck")
    rest = train(tmp, "--resume", "ck", "--epochs", "4", "--json", "--tensorboard", "res")
    check([ln["epoch"] for ln in rest] == [3, 4], "the resume trained epochs %s" % rest)
    check_files(os.path.join(tmp, "res"), 2)
    s = load(os.path.join(tmp, "res"))
    check_epochs(s, first + rest, ["loss/train", "lr"])
    check_steps(s, first + rest)

    # 4. A sweep gives each run its own directory under --tensorboard DIR,
    #    holding that run's own curves.
    p = subprocess.run([CLGRAD, "sweep", "--backend", "cpu", "--grid", "lr=0.1|0.01", "--epochs",
                        "2", "--batch-size", "64", "--out", "sw", "--tensorboard", "swtb"],
                       cwd=tmp, capture_output=True, text=True)
    check(p.returncode == 0, "sweep --tensorboard exited %d: %s" % (p.returncode, p.stderr))
    runs = sorted(os.listdir(os.path.join(tmp, "sw", "runs")))
    check(sorted(os.listdir(os.path.join(tmp, "swtb"))) == runs,
          "sweep --tensorboard: run directories %s, the sweep's runs %s"
          % (os.listdir(os.path.join(tmp, "swtb")), runs))
    for name in runs:
        with open(os.path.join(tmp, "sw", "runs", name, "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
        check_files(os.path.join(tmp, "swtb", name), 1)
        s = load(os.path.join(tmp, "swtb", name))
        got = [(e.step, e.value) for e in s.get("loss/train", [])]
        check(len(got) == len(rows) == 2 and all(
            st == int(r["epoch"]) and close(v, float(r["train_loss"])) for (st, v), r in zip(got, rows)),
            "sweep run %s: loss/train %s, its metrics.csv %s" % (name, got, rows))

    # 5. lr-find: each probe step's rate and loss, as its --json reports them.
    p = subprocess.run([CLGRAD, "lr-find", "--backend", "cpu", "--steps", "12", "--start", "1e-5",
                        "--end", "1", "--json", "--tensorboard", "lrtb"],
                       cwd=tmp, capture_output=True, text=True)
    check(p.returncode == 0, "lr-find --tensorboard exited %d: %s" % (p.returncode, p.stderr))
    probe = json.loads(p.stdout.splitlines()[0]) if p.returncode == 0 else {"lr": [], "loss": []}
    check_files(os.path.join(tmp, "lrtb"), 1)
    s = load(os.path.join(tmp, "lrtb"))
    n = len(probe["lr"])
    for tag, key in (("step/lr", "lr"), ("step/loss", "loss")):
        got = [(e.step, e.value) for e in s.get(tag, [])][:n]
        check(len(got) == n and n > 0 and all(
            st == k + 1 and close(v, probe[key][k]) for k, (st, v) in enumerate(got)),
            "lr-find %s: %s, its --json %s" % (tag, got, probe[key]))

if failures:
    print("%d failed" % len(failures))
    sys.exit(1)
print("tensorboard: every check passed")

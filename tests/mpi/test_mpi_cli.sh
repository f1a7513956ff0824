#!/usr/bin/env bash
# `mpirun -np 2 clgrad train ...` against one process: equivalence of the
# weights after training on the same global batches, Fashion-MNIST accuracy,
# a rank started with other arguments, and a rank killed mid-epoch (the job
# stops, no hang; the last checkpoint is intact and resumes on 2 ranks and on
# 1). Prints PASS/FAIL lines and "N passed, N failed"; exits 77 (skipped)
# without Open MPI, 1 if anything failed.
#   test_mpi_cli.sh CLGRAD RUN_MPI
set -uo pipefail
clgrad=$1 run_mpi=$2
command -v mpirun >/dev/null || { echo "SKIP: mpi: mpirun not found"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
ko() { echo "FAIL: $1"; failed=$((failed + 1)); }
mpi2() { timeout 300 "$run_mpi" 2 "$@"; }

# Relative difference of two safetensors files, norm-wise over every tensor.
reldiff() {
  python3 - "$1" "$2" <<'PY'
import array, json, math, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); base = 8 + n
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a = array.array("f"); a.frombytes(b[base + v["data_offsets"][0]: base + v["data_offsets"][1]])
        out[k] = a
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
d = sum((x - y) ** 2 for k in a for x, y in zip(a[k], b[k]))
r = sum(y * y for k in a for y in b[k])
print("%.3e" % math.sqrt(d / r))
PY
}
# 1. Equivalence: 2 ranks with shards of 64 and 1 process with batches of 128,
#    the same data order, 16 steps (2 epochs of the 1024-sample synthetic set).
common=(--data synthetic --model mlp:32 --batch-size 128 --epochs 2 --optimizer adam --lr 0.01
        --no-shuffle --seed 3)
"$clgrad" train "${common[@]}" --quiet --save "$tmp/one.safetensors" || ko "1 process run"
mpi2 "$clgrad" train "${common[@]}" --json --save "$tmp/two.safetensors" >"$tmp/two.json" || ko "2 rank run"
if [ -f "$tmp/one.safetensors" ] && [ -f "$tmp/two.safetensors" ]; then
  rel=$(reldiff "$tmp/two.safetensors" "$tmp/one.safetensors")
  if python3 -c "import sys; sys.exit(0 if float('$rel') <= 1e-5 else 1)"; then
    ok "2 ranks x 64 vs 1 process x 128: weights within 1e-5 relative ($rel)"
  else ko "2 ranks x 64 vs 1 process x 128: weights differ by $rel"; fi
  grep -q '"ranks": 2' "$tmp/two.json" && ok "--json lines carry ranks" || ko "--json lacks ranks"
fi

# 2. Fashion-MNIST, 3 epochs: test accuracy within 0.5 points; every epoch
#    end checks that all ranks hold bit-identical weights (the job fails if not).
fm=(--data fashion-mnist --model mlp:256,128 --batch-size 128 --epochs 3 --optimizer adam
    --lr 0.002 --json)
sanitized=0
ldd "$clgrad" | grep -q libasan && sanitized=1
if [ $sanitized = 1 ]; then
  echo "SKIP: fashion-mnist accuracy: too slow in the sanitizer build (runs in the normal build)"
elif [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$clgrad" train "${fm[@]}" >"$tmp/fm1.json" || ko "fashion-mnist, 1 process"
  mpi2 "$clgrad" train "${fm[@]}" >"$tmp/fm2.json" || ko "fashion-mnist, 2 ranks"
  a1=$(tail -n 1 "$tmp/fm1.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["test_accuracy"])')
  a2=$(tail -n 1 "$tmp/fm2.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["test_accuracy"])')
  if python3 -c "import sys; sys.exit(0 if abs($a1 - $a2) <= 0.005 else 1)"; then
    ok "fashion-mnist 3 epochs: accuracy $a2 on 2 ranks, $a1 on 1 process (ranks identical every epoch)"
  else ko "fashion-mnist accuracy $a2 on 2 ranks vs $a1 on 1 process"; fi
  # The same for a CNN (conv, pool): 10 steps of 128 (1280 training images,
  # the rest held out), weights within 1e-5; then 3 epochs, accuracy within
  # half a point.
  cnn=(--data fashion-mnist --model cnn:8 --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.05
       --no-shuffle)
  "$clgrad" train "${cnn[@]}" --epochs 1 --val-split 0.978666666667 --quiet --collective none \
    --save "$tmp/cnn1.safetensors" || ko "cnn, 1 process"
  mpi2 "$clgrad" train "${cnn[@]}" --epochs 1 --val-split 0.978666666667 --quiet \
    --save "$tmp/cnn2.safetensors" || ko "cnn, 2 ranks"
  if [ -f "$tmp/cnn1.safetensors" ] && [ -f "$tmp/cnn2.safetensors" ]; then
    rel=$(reldiff "$tmp/cnn2.safetensors" "$tmp/cnn1.safetensors")
    if python3 -c "import sys; sys.exit(0 if float('$rel') <= 1e-5 else 1)"; then
      ok "cnn, 10 steps: 2 ranks x 64 vs 1 process x 128 within 1e-5 relative ($rel)"
    else ko "cnn, 10 steps: weights differ by $rel"; fi
  fi
  "$clgrad" train "${cnn[@]}" --epochs 3 --json --collective none >"$tmp/c1.json" || ko "cnn 3 epochs, 1 process"
  mpi2 "$clgrad" train "${cnn[@]}" --epochs 3 --json >"$tmp/c2.json" || ko "cnn 3 epochs, 2 ranks"
  a1=$(tail -n 1 "$tmp/c1.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["test_accuracy"])')
  a2=$(tail -n 1 "$tmp/c2.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["test_accuracy"])')
  if python3 -c "import sys; sys.exit(0 if abs($a1 - $a2) <= 0.005 else 1)"; then
    ok "cnn 3 epochs: accuracy $a2 on 2 ranks, $a1 on 1 process"
  else ko "cnn accuracy $a2 on 2 ranks vs $a1 on 1 process"; fi
else
  echo "SKIP: fashion-mnist not installed"
fi

# 3. A rank started with other arguments stops the job, naming the difference.
mpi2 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then b=64; else b=128; fi;
            exec "$0" train --epochs 1 --batch-size $b' "$clgrad" >"$tmp/mis.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "'--batch-size 64' here, '--batch-size 128' on rank 0" "$tmp/mis.out"; then
  ok "different arguments refused, naming both ($rc)"
else cat "$tmp/mis.out"; ko "different arguments: rc $rc"; fi

# 4. A rank killed mid-run: the job stops (no hang), the checkpoint is intact
#    and resumes on 2 ranks and on 1. Many short epochs of the synthetic set,
#    one checkpoint each; rank 1 is killed once the first one exists.
kill_run=(--data synthetic --model mlp:16 --batch-size 64 --epochs 1000000 --optimizer sgd --quiet)
mpi2 "$clgrad" train "${kill_run[@]}" --checkpoint-dir "$tmp/ck" >"$tmp/kill.out" 2>&1 &
job=$!
for _ in $(seq 600); do [ -f "$tmp/ck/checkpoint.safetensors" ] && break; sleep 0.1; done
victim=""
for p in /proc/[0-9]*; do
  if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1' &&
     tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "--checkpoint-dir $tmp/ck"; then
    victim=${p#/proc/}  # this job's rank 1 only: other MPI jobs may share the machine
  fi
done
[ -n "$victim" ] && kill -9 "$victim"
start=$SECONDS
wait $job; rc=$?
if [ -n "$victim" ] && [ $rc -ne 0 ] && [ $((SECONDS - start)) -lt 60 ]; then
  ok "rank 1 killed: the job stopped in $((SECONDS - start)) s with status $rc"
else cat "$tmp/kill.out"; ko "killed rank: victim '$victim', status $rc"; fi
# the epoch the checkpoint holds, then two more
epoch=$(python3 - "$tmp/ck/checkpoint.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["epoch"])
PY
) || epoch=0
more=$((epoch + 2))
cp -r "$tmp/ck" "$tmp/ck1"
if mpi2 "$clgrad" train --resume "$tmp/ck" --epochs $more --json >"$tmp/res2.json" 2>"$tmp/res2.err" &&
   tail -n 1 "$tmp/res2.json" | grep -q "\"epoch\": $more,"; then
  ok "the checkpoint (epoch $epoch) resumes on 2 ranks"
else cat "$tmp/res2.err"; ko "resume on 2 ranks"; fi
if "$clgrad" train --resume "$tmp/ck1" --epochs $more --json >"$tmp/res1.json" 2>"$tmp/res1.err" &&
   tail -n 1 "$tmp/res1.json" | grep -q "\"epoch\": $more,"; then
  ok "the checkpoint resumes on 1 process"
else cat "$tmp/res1.err"; ko "resume on 1 process"; fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]

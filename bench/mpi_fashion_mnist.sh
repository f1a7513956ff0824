#!/usr/bin/env bash
# Data-parallel scaling on this machine: one Fashion-MNIST epoch of the
# README's MLP (mlp:256,128, batch 128, SGD momentum 0.9, CPU backend) as
#   1 process x 1 thread, 1 process x N threads, N ranks x 1 thread (mpirun),
# alternating, REPEAT times each (default 3), medians compared. Prints
# samples/s, the time per step at the gradient-sync point (copy out, one
# allreduce, copy in), and the scaling efficiency of the ranks against one
# process on one thread. Then the cost model's prediction for the same step.
#   bench/mpi_fashion_mnist.sh [path/to/clgrad] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
clgrad=${1:-build/tools/clgrad}
n=${2:-$(nproc)}
repeat=${REPEAT:-3}
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (apt-get install openmpi-bin)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
args=(train --backend cpu --data fashion-mnist --model mlp:256,128 --epochs 1 --batch-size 128
      --optimizer sgd:momentum=0.9 --lr 0.01 --json)
mpi=(mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS=1)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
export OMPI_MCA_btl_vader_single_copy_mechanism=none
field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1]).get(sys.argv[2], "nan"))' "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
a=(); b=(); c=(); sync=()
for ((i = 0; i < repeat; i++)); do
  OMP_NUM_THREADS=1 "$clgrad" "${args[@]}" --collective none >"$tmp/a.json"
  a+=("$(field "$tmp/a.json" samples_per_s)")
  OMP_NUM_THREADS=$n "$clgrad" "${args[@]}" --collective none >"$tmp/b.json"
  b+=("$(field "$tmp/b.json" samples_per_s)")
  "${mpi[@]}" -np "$n" "$clgrad" "${args[@]}" >"$tmp/c.json"
  c+=("$(field "$tmp/c.json" samples_per_s)")
  sync+=("$(field "$tmp/c.json" sync_ms_per_step)")
done
ma=$(median "${a[@]}"); mb=$(median "${b[@]}"); mc=$(median "${c[@]}"); ms=$(median "${sync[@]}")
printf '1 process x 1 thread   %9.0f samples/s  (runs: %s)\n' "$ma" "${a[*]}"
printf '1 process x %d threads  %9.0f samples/s  (runs: %s)\n' "$n" "$mb" "${b[*]}"
printf '%d ranks x 1 thread     %9.0f samples/s  (runs: %s)\n' "$n" "$mc" "${c[*]}"
python3 - "$ma" "$mb" "$mc" "$ms" "$n" <<'PY'
import sys
a, b, c, s, n = map(float, sys.argv[1:])
print("sync point: %.3f ms per step (gradients out, one allreduce, back in)" % s)
print("scaling efficiency, %d ranks vs 1 process x 1 thread: %.0f%%" % (n, 100 * c / (n * a)))
print("%d ranks vs 1 process x %d threads: %.2fx" % (n, n, c / b))
step_ms = 128 / a * 1e3
print("one process x 1 thread: %.3f ms per step of 128" % step_ms)
PY
# the model's gradient: 784*256+256 + 256*128+128 + 128*10+10 parameters
python3 bench/mpi_cost_model.py 235146 "$(python3 -c "print(128 / float('$ma') * 1e3)")" --bw 10 100

#!/usr/bin/env bash
# Two clgrad builds on the same work, alternating, so that load on a shared
# machine hits both: one Fashion-MNIST epoch of the README's MLP on the CPU
# backend (batch 128, SGD momentum 0.9). Prints each side's median
# samples/s and the ratio B/A. For "no speed lost" checks of a change:
#   bench/ab_clgrad.sh OLD/build/tools/clgrad build/tools/clgrad
set -euo pipefail
a=$1 b=$2
dir=${DIR:-/usr/share/datasets/fashion-mnist}
repeat=${REPEAT:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sps() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
run() {
  OPENBLAS_VERBOSE=2 "$1" train --backend cpu --data "fashion-mnist:$dir" --model mlp:256,128 --epochs 1 \
    --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.01 --json >"$tmp/out.json" 2>"$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
  sps "$tmp/out.json"
}
ra=(); rb=()
for ((i = 0; i < repeat; i++)); do
  ra+=("$(run "$a")"); rb+=("$(run "$b")")
done
core=$(grep -m1 -i "core" "$tmp/err" || echo "not reported")
ma=$(median "${ra[@]}"); mb=$(median "${rb[@]}")
printf 'A %-40s %8.0f samples/s (runs: %s)\n' "$a" "$ma" "${ra[*]}"
printf 'B %-40s %8.0f samples/s (runs: %s)\n' "$b" "$mb" "${rb[*]}"
python3 -c 'import sys; print("B/A = %.3f   BLAS: %s" % (float(sys.argv[2]) / float(sys.argv[1]), sys.argv[3]))' "$ma" "$mb" "$core"

#!/usr/bin/env bash
# Two clgrad builds (or one build under two environments) on the same work,
# alternating, so that load on a shared machine hits both: one Fashion-MNIST
# epoch of the README's MLP on the CPU backend (batch 128, SGD momentum 0.9).
# Prints each side's median samples/s and the ratio B/A. For "no speed lost"
# checks of a change:
#   bench/ab_clgrad.sh OLD/build/tools/clgrad build/tools/clgrad
# and for the GEMM engines of one build (docs/performance.md):
#   A_ENV=CLG_CPU_GEMM=openblas bench/ab_clgrad.sh build/tools/clgrad build/tools/clgrad
# THREADS sets OMP_NUM_THREADS for both (default: OpenMP's, every core).
# No PyTorch here: bench/fashion_mnist.sh puts clgrad beside it.
set -euo pipefail
a=$1 b=$2
dir=${DIR:-/usr/share/datasets/fashion-mnist}
repeat=${REPEAT:-5}
read -r -a a_env <<<"${A_ENV:-}"
read -r -a b_env <<<"${B_ENV:-}"
threads=()
[ -n "${THREADS:-}" ] && threads=("OMP_NUM_THREADS=$THREADS")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sps() { /usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
run() {
  local exe=$1; shift
  env "${threads[@]}" "$@" OPENBLAS_VERBOSE=2 "$exe" train --backend cpu --data "fashion-mnist:$dir" \
    --model mlp:256,128 --epochs 1 --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.01 --json \
    >"$tmp/out.json" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  sps "$tmp/out.json"
}
ra=(); rb=()
for ((i = 0; i < repeat; i++)); do
  ra+=("$(run "$a" "${a_env[@]}")"); rb+=("$(run "$b" "${b_env[@]}")")
done
core=$(grep -m1 -i "core" "$tmp/err" || echo "not reported")
ma=$(median "${ra[@]}"); mb=$(median "${rb[@]}")
printf 'A %-40s %8.0f samples/s (runs: %s)\n' "${a_env[*]} $a" "$ma" "${ra[*]}"
printf 'B %-40s %8.0f samples/s (runs: %s)\n' "${b_env[*]} $b" "$mb" "${rb[*]}"
/usr/bin/python3 -c 'import sys; print("B/A = %.3f   BLAS: %s" % (float(sys.argv[2]) / float(sys.argv[1]), sys.argv[3]))' "$ma" "$mb" "$core"

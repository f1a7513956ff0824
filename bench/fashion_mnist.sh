#!/usr/bin/env bash
# One epoch of mlp:256,128 on Fashion-MNIST (batch 128, SGD momentum 0.9) with
# clgrad's CPU backend and with PyTorch on the CPU, in the same run, both on
# every core; prints samples/s of each, the ratio, and the BLAS kernel each
# used (OPENBLAS_VERBOSE=2 makes OpenBLAS name the core it picked).
# Usage: bench/fashion_mnist.sh [path/to/clgrad] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
clgrad=${1:-build/tools/clgrad}
dir=${2:-/usr/share/datasets/fashion-mnist}
py=/usr/bin/python3 # Debian's python3-torch lives here, not in a pyenv python
threads=${BENCH_THREADS:-$(nproc)} # both programs use this many threads
[ -x "$clgrad" ] || { echo "bench: $clgrad not found (build first, or pass its path)"; exit 1; }
[ -e "$dir/train-images-idx3-ubyte.gz" ] || [ -e "$dir/train-images-idx3-ubyte" ] ||
  { echo "bench: no Fashion-MNIST in $dir (apt-get install dataset-fashion-mnist)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "bench: mlp:256,128, Fashion-MNIST train set (60000), 1 epoch, batch 128, SGD momentum 0.9, $threads threads"
OPENBLAS_VERBOSE=2 OMP_NUM_THREADS=$threads "$clgrad" train --backend cpu --data "fashion-mnist:$dir" \
  --model mlp:256,128 --epochs 1 --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.01 --json \
  >"$tmp/clgrad.json" 2>"$tmp/clgrad.err" || { cat "$tmp/clgrad.err"; exit 1; }
c_sps=$($py -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$tmp/clgrad.json")
c_core=$(grep -m1 -i "core" "$tmp/clgrad.err" || echo "not reported (no OpenBLAS in the CPU backend?)")

if $py -c 'import torch' 2>/dev/null; then
  OPENBLAS_VERBOSE=2 $py bench/torch_mlp.py --dir "$dir" --threads "$threads" >"$tmp/torch.json" 2>"$tmp/torch.err" ||
    { cat "$tmp/torch.err"; exit 1; }
  t_sps=$($py -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$tmp/torch.json")
  t_core=$(grep -m1 -i "core" "$tmp/torch.err" || echo "not reported (torch not using OpenBLAS)")
else
  echo "SKIP: pytorch: $py has no torch (apt-get install python3-torch)"; t_sps=""
fi
printf '%-8s %12.0f samples/s   BLAS: %s\n' clgrad "$c_sps" "$c_core"
if [ -n "$t_sps" ]; then
  printf '%-8s %12.0f samples/s   BLAS: %s\n' pytorch "$t_sps" "$t_core"
  $py -c 'import sys; print("ratio clgrad/pytorch: %.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))' "$c_sps" "$t_sps"
fi

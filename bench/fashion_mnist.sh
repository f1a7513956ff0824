#!/usr/bin/env bash
# One epoch of mlp:256,128 on Fashion-MNIST (batch 128, SGD momentum 0.9) with
# clgrad's CPU backend and with PyTorch on the CPU, in the same run, both on
# every core; prints samples/s of each, the ratio, and the BLAS kernel each
# used (OPENBLAS_VERBOSE=2 makes OpenBLAS name the core it picked).
# The two programs alternate, REPEAT times each (default 3), and the medians
# are compared, so a burst of load on a shared machine hits both sides.
# PyTorch runs in three settings: its default on every core, every core with
# OpenBLAS single-threaded (torch's OpenMP pool and OpenBLAS's own threads
# otherwise oversubscribe a small machine: 4x slower on 2 cores here), and one
# thread. The headline ratio is against its fastest setting.
# Usage: bench/fashion_mnist.sh [path/to/clgrad] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
clgrad=${1:-build/tools/clgrad}
dir=${2:-/usr/share/datasets/fashion-mnist}
py=/usr/bin/python3 # Debian's python3-torch lives here, not in a pyenv python
threads=${BENCH_THREADS:-$(nproc)} # both programs use this many threads
repeat=${REPEAT:-3}
[ -x "$clgrad" ] || { echo "bench: $clgrad not found (build first, or pass its path)"; exit 1; }
[ -e "$dir/train-images-idx3-ubyte.gz" ] || [ -e "$dir/train-images-idx3-ubyte" ] ||
  { echo "bench: no Fashion-MNIST in $dir (apt-get install dataset-fashion-mnist)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
have_torch=0
if $py -c 'import torch' 2>/dev/null; then have_torch=1
else echo "SKIP: pytorch: $py has no torch (apt-get install python3-torch)"; fi

sps() { $py -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench: mlp:256,128, Fashion-MNIST train set (60000), 1 epoch, batch 128, SGD momentum 0.9," \
     "$threads threads, median of $repeat alternating runs"
c_all=(); t_all=(); tb_all=(); t1_all=()
for ((r = 0; r < repeat; r++)); do
  OPENBLAS_VERBOSE=2 OMP_NUM_THREADS=$threads "$clgrad" train --backend cpu --data "fashion-mnist:$dir" \
    --model mlp:256,128 --epochs 1 --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.01 --json \
    >"$tmp/clgrad.json" 2>"$tmp/clgrad.err" || { cat "$tmp/clgrad.err"; exit 1; }
  c_all+=("$(sps "$tmp/clgrad.json")")
  if [ $have_torch = 1 ]; then
    OPENBLAS_VERBOSE=2 $py bench/torch_mlp.py --dir "$dir" --threads "$threads" >"$tmp/torch.json" 2>"$tmp/torch.err" ||
      { cat "$tmp/torch.err"; exit 1; }
    t_all+=("$(sps "$tmp/torch.json")")
    if [ "$threads" != 1 ]; then
      OPENBLAS_NUM_THREADS=1 $py bench/torch_mlp.py --dir "$dir" --threads "$threads" >"$tmp/torchb.json" 2>/dev/null || exit 1
      tb_all+=("$(sps "$tmp/torchb.json")")
      $py bench/torch_mlp.py --dir "$dir" --threads 1 >"$tmp/torch1.json" 2>/dev/null || exit 1
      t1_all+=("$(sps "$tmp/torch1.json")")
    fi
  fi
done
c_core=$(grep -m1 -i "core" "$tmp/clgrad.err" || echo "not reported (no OpenBLAS in the CPU backend?)")
c_sps=$(median "${c_all[@]}")
printf '%-20s %9.0f samples/s  (runs: %s)  BLAS: %s\n' clgrad "$c_sps" "${c_all[*]}" "$c_core"
[ $have_torch = 1 ] || exit 0
t_core=$(grep -m1 -i "core" "$tmp/torch.err" || echo "not reported (torch not using OpenBLAS)")
t_sps=$(median "${t_all[@]}")
printf '%-20s %9.0f samples/s  (runs: %s)  BLAS: %s\n' "pytorch $threads threads" "$t_sps" "${t_all[*]}" "$t_core"
$py -c 'import sys; print("ratio clgrad/pytorch (default setting): %.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))' "$c_sps" "$t_sps"
if [ ${#t1_all[@]} -gt 0 ]; then
  tb_sps=$(median "${tb_all[@]}"); t1_sps=$(median "${t1_all[@]}")
  printf '%-20s %9.0f samples/s  (runs: %s)\n' "pytorch $threads/blas 1" "$tb_sps" "${tb_all[*]}"
  printf '%-20s %9.0f samples/s  (runs: %s)\n' "pytorch 1 thread" "$t1_sps" "${t1_all[*]}"
  $py -c 'import sys; b = max(map(float, sys.argv[2:]))
print("ratio clgrad/pytorch (its fastest setting): %.2fx" % (float(sys.argv[1]) / b))' "$c_sps" "$t_sps" "$tb_sps" "$t1_sps"
fi

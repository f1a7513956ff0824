#!/usr/bin/env bash
# One epoch of mlp:256,128 on Fashion-MNIST (batch 128, SGD momentum 0.9) with
# clgrad's CPU backend and with PyTorch on the CPU, in the same run; prints
# samples/s of each setting, the ratios clgrad/PyTorch per peer, and the
# roofline fractions (bench/roofline.c): how much of this machine's SGEMM
# peak the step's GEMMs reach and how much of its bandwidth the rest does.
#
# Peers: TORCH_PYTHON is a space-separated list of interpreters, each a peer
# (default: Debian's /usr/bin/python3 and, if present, the PyPI venv
# /work/torchvenv/bin/python); one without torch is skipped loudly.
# Settings: every program runs with 1 and with 2 threads (THREADS="1 2"):
# clgrad with OMP_NUM_THREADS (OpenBLAS single-threaded inside), PyTorch with
# torch.set_num_threads and OPENBLAS_NUM_THREADS=1 (Debian's torch uses
# OpenBLAS, whose own pool oversubscribes 2 cores 4x otherwise; MKL ignores
# it). Each ratio is clgrad's fastest setting over the peer's fastest.
# All settings alternate, REPEAT times each (default 5), and medians are
# compared, so a burst of load on a shared machine hits every side.
# Usage: bench/fashion_mnist.sh [path/to/clgrad] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
clgrad=${1:-build/tools/clgrad}
dir=${2:-/usr/share/datasets/fashion-mnist}
roofline=${ROOFLINE:-$(dirname "$clgrad")/../bench/roofline}
py=/usr/bin/python3 # for the JSON and arithmetic here; Debian's, not a pyenv one
repeat=${REPEAT:-5}
read -r -a threads <<<"${THREADS:-1 2}"
default_peers=/usr/bin/python3
[ -x /work/torchvenv/bin/python ] && default_peers+=" /work/torchvenv/bin/python"
read -r -a peers <<<"${TORCH_PYTHON:-$default_peers}"
[ -f "$clgrad" ] && [ -x "$clgrad" ] || { echo "bench: $clgrad not found (build first, or pass its path)"; exit 1; }
[ -e "$dir/train-images-idx3-ubyte.gz" ] || [ -e "$dir/train-images-idx3-ubyte" ] ||
  { echo "bench: no Fashion-MNIST in $dir (apt-get install dataset-fashion-mnist)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ok_peers=()
for p in "${peers[@]}"; do
  if v=$("$p" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    ok_peers+=("$p"); echo "peer: $p (torch $v)"
  else echo "SKIP: pytorch: $p has no torch"; fi
done

sps() { $py -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["samples_per_s"])' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench: mlp:256,128, Fashion-MNIST train set (60000), 1 epoch, batch 128, SGD momentum 0.9," \
     "threads ${threads[*]}, median of $repeat alternating runs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A runs
for ((r = 0; r < repeat; r++)); do
  for t in "${threads[@]}"; do
    OPENBLAS_VERBOSE=2 OMP_NUM_THREADS=$t "$clgrad" train --backend cpu --data "fashion-mnist:$dir" \
      --model mlp:256,128 --epochs 1 --batch-size 128 --optimizer sgd:momentum=0.9 --lr 0.01 --json \
      >"$tmp/c.json" 2>"$tmp/clgrad.err" || { cat "$tmp/clgrad.err"; exit 1; }
    runs[clgrad:$t]+=" $(sps "$tmp/c.json")"
    for p in "${ok_peers[@]}"; do
      OPENBLAS_VERBOSE=2 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$t "$p" bench/torch_mlp.py --dir "$dir" \
        --threads "$t" >"$tmp/t.json" 2>"$tmp/torch.err" || { cat "$tmp/torch.err"; exit 1; }
      runs[$p:$t]+=" $(sps "$tmp/t.json")"
      $py -c 'import json,sys; r = json.loads(open(sys.argv[1]).readline()); print("torch %s, %s" % (r["torch"], r["blas"]))' \
        "$tmp/t.json" >"$tmp/blas.$(echo "$p" | tr / _)"
    done
  done
done

# best setting of a side: its highest median; prints "median threads"
best() {
  local side=$1 b=0 bt=0 m
  for t in "${threads[@]}"; do
    read -r -a v <<<"${runs[$side:$t]}"
    m=$(median "${v[@]}")
    if $py -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$m" "$b"; then
      b=$m; bt=$t
    fi
  done
  echo "$b $bt"
}
for side in clgrad "${ok_peers[@]}"; do
  for t in "${threads[@]}"; do
    read -r -a v <<<"${runs[$side:$t]}"
    printf '%-28s %d thr %9.0f samples/s  (runs:%s)\n' "$side" "$t" "$(median "${v[@]}")" "${runs[$side:$t]}"
  done
done
echo "BLAS: clgrad: $(grep -m1 -i "core" "$tmp/clgrad.err" || echo "not reported (no OpenBLAS in the CPU backend?)")"
for p in "${ok_peers[@]}"; do
  echo "BLAS: $p: $(cat "$tmp/blas.$(echo "$p" | tr / _)")"
done
read -r c_best c_t <<<"$(best clgrad)"
for p in "${ok_peers[@]}"; do
  read -r p_best p_t <<<"$(best "$p")"
  $py -c 'import sys; print("ratio clgrad/pytorch, fastest settings: %.2fx  (clgrad %s thr, %s %s thr)" %
    (float(sys.argv[1]) / float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))' \
    "$c_best" "$p_best" "$c_t" "$p" "$p_t"
done

# Roofline fractions for each clgrad setting. A step is 128 samples.
[ -x "$roofline" ] || { echo "SKIP: roofline: $roofline not built (needs CBLAS and OpenMP)"; exit 0; }
for t in "${threads[@]}"; do
  "$roofline" --json --threads "$t" >"$tmp/roof.$t.json"
  read -r -a v <<<"${runs[clgrad:$t]}"
  $py - "$tmp/roof.$t.json" "$(median "${v[@]}")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); sps = float(sys.argv[2])
step = 128 / sps                                   # seconds per training step
gemm_alone = r["mlp_gemm_ms"] / 1e3                # the step's GEMMs alone, same shapes and threads
# Bytes the elementwise passes must move at least (f32): the SGD momentum
# update reads grad, buffer, param and writes buffer, param (5 per parameter);
# each layer's bias add + ReLU forward and its backward read and write the
# activations (about 6 passes of [128, width]); the batch gather reads and
# writes [128, 784].
params = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
elem_bytes = 4 * (5 * params + 128 * (2 * 784 + 6 * (256 + 128 + 10)))
rest = max(step - gemm_alone, 1e-9)
print("%d thr: step %.3f ms; SGEMM peak %.1f GFLOP/s (OpenBLAS %s); step GEMMs %.1f MFLOP: "
      "in-model %.1f GFLOP/s = %.0f%% of peak; alone at the model's shapes %.3f ms = %.1f GFLOP/s "
      "= %.0f%% of peak, %.0f%% of the step; rest %.3f ms moves >= %.1f MB = %.1f GB/s = "
      "%.0f%% of L2 triad (%.1f GB/s), %.0f%% of DRAM triad (%.1f GB/s)" % (
          r["threads"], step * 1e3, r["sgemm_peak_gflops"], r["core"], r["mlp_gemm_flops"] / 1e6,
          r["mlp_gemm_flops"] / step / 1e9, 100 * r["mlp_gemm_flops"] / step / 1e9 / r["sgemm_peak_gflops"],
          gemm_alone * 1e3, r["mlp_gemm_gflops"], 100 * r["mlp_gemm_gflops"] / r["sgemm_peak_gflops"],
          100 * gemm_alone / step, rest * 1e3, elem_bytes / 1e6, elem_bytes / rest / 1e9,
          100 * elem_bytes / rest / 1e9 / r["triad_l2_gbs"], r["triad_l2_gbs"],
          100 * elem_bytes / rest / 1e9 / r["triad_dram_gbs"], r["triad_dram_gbs"]))
EOF
done

#!/bin/sh
# CI for the parity harness: parity.py (PyTorch) -> parity (clgrad) with the
# Lion example plugin, on every backend that runs here.
#   run_parity.sh PYTHON PARITY_PY PARITY_EXE LION_SO CLGRAD
set -eu
PY=$1 SCRIPT=$2 EXE=$3 LION=$4 CLGRAD=$5
"$PY" -c 'import torch' 2>/dev/null || { echo "SKIP: no PyTorch"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" "$SCRIPT" "$tmp/run.safetensors"
"$EXE" "$tmp/run.safetensors" "$LION" cpu
if "$CLGRAD" devices 2>/dev/null | grep -q '^opencl ('; then
    "$EXE" "$tmp/run.safetensors" "$LION" opencl
fi

#!/usr/bin/env bash
# Installs every Debian package clgrad needs to build, test and run its main job.
# --dev adds what regenerates the PyTorch fixtures and runs the benchmarks, and
# a venv /opt/clgrad-venv with the tensorboard package (PyPI only) whose reader
# tests train --tensorboard.
set -euo pipefail
pkgs=(
  meson ninja-build pkg-config gcc clang libclang-rt-dev   # build; clang + libFuzzer for the fuzz harnesses
  check                                                    # unit-test framework
  libopenblas-dev                                          # CPU GEMM (CBLAS)
  libdnnl-dev                                              # CPU GEMM: oneDNN matmul, faster at the models' shapes
  libsleef-dev                                             # CPU exp/log/tanh/erf: SLEEF vector functions
  ocl-icd-opencl-dev opencl-c-headers clinfo               # OpenCL ICD loader + headers
  libclblast-dev                                           # OpenCL GEMM
  pocl-opencl-icd                                          # OpenCL on the CPU, so OpenCL tests run without a GPU
  oclgrind                                                 # simulated OpenCL device: bounds, race and API checks (scripts/oclgrind.sh)
  zlib1g-dev libjson-c-dev libcairo2-dev                   # gzip'd IDX, safetensors headers, --plot
  dataset-fashion-mnist                                    # the main job's data
  valgrind
  libopenmpi-dev openmpi-bin                              # the MPI collective: data-parallel training
  protobuf-c-compiler libprotobuf-c-dev libisal-dev        # --tensorboard: Event records (protoc-c), CRC-32C (ISA-L)
)
if [ "${1:-}" = "--dev" ]; then
  pkgs+=(python3-torch python3-numpy python3-venv)
  pkgs+=(libxsmm-dev)           # bench/libs only
  pkgs+=(fortunes linux-perf)   # bench/recipes and bench/layers: the text corpus; where a step's time goes
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
echo "deps.sh: installed ${#pkgs[@]} packages"
if [ "${1:-}" = "--dev" ]; then
  # Debian's python, so the venv module is python3-venv's.
  venv=/opt/clgrad-venv
  [ -x "$venv/bin/python" ] || $SUDO /usr/bin/python3 -m venv "$venv"
  $SUDO "$venv/bin/pip" install -q --disable-pip-version-check --root-user-action=ignore 'tensorboard==2.21.0'
  echo "deps.sh: tensorboard $("$venv/bin/python" -c 'import tensorboard; print(tensorboard.__version__)') in $venv"
fi

#!/bin/sh
# Runs the OpenCL backend's device checks on an NVIDIA GPU machine: build,
# make the NVIDIA OpenCL driver visible to the ICD loader, then the
# conformance/gradcheck/opencl suites on the GPU, the bench and one
# Fashion-MNIST epoch. Writes everything under $OUT (default ./nvidia-out).
#
# usage: bench/opencl/nvidia_check.sh   (from the repository root)
# Needs: meson, ninja, a C compiler, check, the OpenCL ICD loader and CLBlast
# (Debian: ocl-icd-libopencl1, libclblast1; where they are not installed,
# unpack the .deb files into a folder and point LD_LIBRARY_PATH/PKG_CONFIG_PATH
# there), and the NVIDIA driver's libnvidia-opencl.so.1.
set -u
OUT=${OUT:-$PWD/nvidia-out}
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

# 1. The ICD file: the driver ships libnvidia-opencl.so.1 but containers often
#    lack /etc/OpenCL/vendors/nvidia.icd.
lib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')
[ -z "$lib" ] && lib=$(ls /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 \
                          /usr/lib64/libnvidia-opencl.so.1 2>/dev/null | head -n1)
if [ -z "$lib" ]; then
    log "no libnvidia-opencl.so.1 on this machine: NVIDIA OpenCL driver not visible"
    exit 1
fi
mkdir -p "$OUT/vendors"
echo "$lib" > "$OUT/vendors/nvidia.icd"
export OCL_ICD_VENDORS="$OUT/vendors"
log "ICD: $lib"
command -v clinfo >/dev/null && clinfo -l | tee -a "$OUT/summary.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$OUT/summary.txt"

# 2. Build.
meson setup build-nvidia -Dopencl=enabled --buildtype=release >"$OUT/setup.log" 2>&1 &&
    ninja -C build-nvidia >"$OUT/build.log" 2>&1 || { log "build failed (see build.log)"; exit 1; }
./build-nvidia/tools/clgrad devices | tee -a "$OUT/summary.txt"

# 3. Suites on the GPU only (CLGRAD_OPENCL_DEVICE=gpu refuses to fall back).
export CLGRAD_OPENCL_DEVICE=gpu CLGRAD_TEST_BACKENDS=opencl CLGRAD_REQUIRE_BACKENDS=opencl
export CLGRAD_CACHE_DIR="$OUT/cache" CLGRAD_OPENCL_LOG=1
clinfo -l 2>/dev/null | grep -q "Portable Computing Language" || export CLG_TEST_NO_POCL=1
for gemm in clblast own; do
    CLGRAD_OPENCL_GEMM=$gemm meson test -C build-nvidia --suite core --suite opencl \
        --print-errorlogs >"$OUT/tests-$gemm.log" 2>&1
    log "tests (GEMM $gemm): exit $? ($(grep -c ' OK ' "$OUT/tests-$gemm.log") OK)"
done

# 4. Bench (the cpu column runs on the host CPU) and a profiled epoch.
unset CLGRAD_TEST_BACKENDS CLGRAD_REQUIRE_BACKENDS
./build-nvidia/bench/opencl/bench_opencl cpu opencl 2>&1 | tee "$OUT/bench.txt" >>"$OUT/summary.txt"
CLGRAD_PROFILE=1 ./build-nvidia/tools/clgrad train --backend opencl --data fashion-mnist \
    --model mlp:256,128 --loss cross-entropy --batch-size 128 --epochs 1 --lr 0.1 --seed 1 \
    >"$OUT/fmnist-opencl.txt" 2>&1
log "fashion-mnist epoch (opencl): exit $?"
tail -n 40 "$OUT/fmnist-opencl.txt" >>"$OUT/summary.txt"
./build-nvidia/tools/clgrad train --backend cpu --data fashion-mnist --model mlp:256,128 \
    --loss cross-entropy --batch-size 128 --epochs 1 --lr 0.1 --seed 1 \
    >"$OUT/fmnist-cpu.txt" 2>&1
tail -n 3 "$OUT/fmnist-cpu.txt" >>"$OUT/summary.txt"

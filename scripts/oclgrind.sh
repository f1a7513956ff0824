#!/usr/bin/env bash
# The OpenCL suites a second time, on Oclgrind (a simulated OpenCL device,
# Debian package `oclgrind`) with its checks on: out-of-bounds accesses
# (always checked), data races (OCLGRIND_DATA_RACES) and API errors
# (OCLGRIND_CHECK_API). Any Oclgrind report fails the run, even when every
# test passes. The suites are meson's suite 'oclgrind' (conformance,
# gradcheck, e2e, opencl-backend, opencl-parity, opencl-cache-damage; a new
# suite that runs kernels joins it in its meson.build).
#
# Oclgrind is reached through its ICD (liboclgrind-rt-icd.so): this script
# writes a vendors folder holding it and the system's ICDs (PoCL stays
# visible, as test_opencl_backend expects) and picks the simulator with
# CLGRAD_OPENCL_DEVICE=oclgrind. CLG_TEST_SMALL=1 leaves out the large GEMM
# shapes, which take minutes on a simulator.
#
# --uninitialized (OCLGRIND_UNINITIALIZED) is left out: on optimised kernels
# Oclgrind 21.10 stops with "OCLGRIND FATAL ERROR ... Unsupported instruction:
# freeze" (k_binary_f32); with -cl-opt-disable it runs but counts data written
# by clEnqueueCopyBuffer as uninitialised (docs/devices.md).
#
# Usage: scripts/oclgrind.sh [BUILD_DIR]       (default: build)
# Without Oclgrind installed this prints SKIP and exits 0, unless
# CLGRAD_REQUIRE_BACKENDS names opencl (scripts/test.sh), where it fails.
set -euo pipefail

# meson test runs each test through this script with --wrap: the test's
# output is kept, printed, and searched for Oclgrind's reports.
if [ "${1:-}" = --wrap ]; then
  shift
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  rc=0
  "$@" >"$out" 2>&1 || rc=$?
  cat "$out"
  # Kernel reports (Context::logError and friends) carry an indented
  # "Kernel:" line; API reports, fatal errors and the logger's own notes
  # name Oclgrind.
  pat='^[[:space:]]+Kernel: |^Invalid (read|write) of size|[Dd]ata race|Work-group divergence'
  pat+='|[Uu]ninitiali[sz]ed value|Oclgrind - OpenCL runtime error|OCLGRIND FATAL|^Oclgrind: '
  if grep -Eq "$pat" "$out"; then
    echo "FAIL: Oclgrind reported $(grep -Ec "$pat" "$out") problem line(s) in $(basename "$1"):"
    grep -E "$pat" "$out" | sort | uniq -c | sort -rn | head -20
    if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then rc=1; fi
  fi
  if [ "$rc" = 77 ]; then
    echo "FAIL: $(basename "$1") skipped on Oclgrind; nothing was checked"
    rc=1
  fi
  exit "$rc"
fi

cd "$(dirname "$0")/.."
b=$(realpath "${1:-build}")
required=0
case ",${CLGRAD_REQUIRE_BACKENDS:-}," in *,opencl,*) required=1 ;; esac

rt=${OCLGRIND_ICD_LIBRARY:-/usr/lib/oclgrind/liboclgrind-rt-icd.so}
if [ ! -f "$rt" ]; then
  msg="oclgrind: $rt not found (apt-get install oclgrind, or set OCLGRIND_ICD_LIBRARY)"
  if [ "$required" = 1 ]; then echo "FAIL: $msg; CLGRAD_REQUIRE_BACKENDS names opencl"; exit 1; fi
  echo "SKIP: $msg; the OpenCL suites did not run on Oclgrind"
  exit 0
fi
if [ ! -f "$b/backends/opencl/clgrad-backend-opencl.so" ]; then
  msg="oclgrind: $b has no OpenCL backend (built with -Dopencl=disabled or without CLBlast)"
  if [ "$required" = 1 ]; then echo "FAIL: $msg"; exit 1; fi
  echo "SKIP: $msg"
  exit 0
fi

icd="$b/oclgrind-icd"
rm -rf "$icd"
mkdir -p "$icd"
for f in /etc/OpenCL/vendors/*.icd; do
  [ -e "$f" ] && [ "$(basename "$f")" != oclgrind.icd ] && cp "$f" "$icd/"
done
echo "$rt" >"$icd/oclgrind.icd"

export OCL_ICD_VENDORS="$icd"
export CLGRAD_OPENCL_DEVICE=oclgrind CLGRAD_TEST_BACKENDS=opencl CLGRAD_REQUIRE_BACKENDS=opencl
export CLG_TEST_SMALL=1
# Check's per-test timeouts are set for PoCL; the simulator is 10-100 times
# slower (e2e's one test takes 50-120 s on a loaded 2-core machine). meson's
# per-suite timeouts (600-900 s) still bound each suite.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}
export OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1
unset OCLGRIND_LOG OCLGRIND_UNINITIALIZED OCLGRIND_QUICK # reports go to stderr, read by --wrap

rm -f "$b"/meson-logs/oclgrind-testlog*
start=$(date +%s)
rc=0
meson test -C "$b" --suite oclgrind --num-processes "$(nproc)" --print-errorlogs \
  --logbase oclgrind-testlog --wrapper "$PWD/scripts/oclgrind.sh --wrap" || rc=$?
echo "oclgrind: OpenCL suites on Oclgrind took $(( $(date +%s) - start )) s"
exit $rc

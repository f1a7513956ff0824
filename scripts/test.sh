#!/usr/bin/env bash
# Builds clgrad and runs every test: the normal build (OpenCL suites on PoCL),
# the OpenCL suites again on the Oclgrind simulator with its checks on
# (scripts/oclgrind.sh), valgrind over the CPU path, then the same suites in an
# AddressSanitizer + UndefinedBehaviorSanitizer build, then a bounded run of
# every fuzz harness (a clang build, suite "fuzz").
# The OpenCL backend must load (PoCL is enough); set CLGRAD_REQUIRE_BACKENDS=cpu
# to allow a machine without any OpenCL platform (the OpenCL tests then SKIP).
set -euo pipefail
cd "$(dirname "$0")/.."
export CLGRAD_REQUIRE_BACKENDS="${CLGRAD_REQUIRE_BACKENDS:-cpu,opencl}"
# The tensorboard reader test (tests/cli/test_tensorboard.py) must run, never
# SKIP: scripts/deps.sh --dev installs the package into /opt/clgrad-venv.
export CLGRAD_REQUIRE_TENSORBOARD="${CLGRAD_REQUIRE_TENSORBOARD:-1}"
jobs=$(nproc)
# The normal and sanitizer passes run the OpenCL suites on PoCL, even where
# another implementation (a GPU, or an Oclgrind ICD) would sort first.
if [ -z "${CLGRAD_OPENCL_DEVICE:-}" ] && ls /etc/OpenCL/vendors/*pocl*.icd >/dev/null 2>&1; then
  export CLGRAD_OPENCL_DEVICE=pocl
fi

summary() { # meson's JSON test log -> one "N passed, N failed" line
  python3 - "$1" <<'PY'
import json, sys
c = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    c["OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"] += 1
name = sys.argv[1].split('/')[0] + (" on oclgrind" if "oclgrind" in sys.argv[1] else "")
print(f"{name}: {c['OK']} passed, {c['FAIL']} failed, {c['SKIP']} skipped")
PY
}

run_suite() { # $1 build dir, rest: meson setup options
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null; else meson setup "$dir" "$@" >/dev/null; fi
  ninja -C "$dir"
  local rc=0 start
  start=$(date +%s)
  # shellcheck disable=SC2086 # TEST_ARGS: extra meson test words (--suite fuzz)
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs -v ${TEST_ARGS:-} || rc=$?
  summary "$dir/meson-logs/testlog.json"
  echo "$dir: tests took $(( $(date +%s) - start )) s"
  return $rc
}

rc=0
run_suite build || rc=1
# The normal build's OpenCL device is PoCL (the only platform CI installs);
# Oclgrind, a strict simulated device, checks every kernel for out-of-bounds
# accesses and data races and every API call, and fails on any report.
scripts/oclgrind.sh build || rc=1
scripts/valgrind.sh build || rc=1
# LeakSanitizer would report allocations the OpenCL ICD loader and PoCL keep
# for the process lifetime; the suppressions name those libraries only.
# gcc 12's LeakSanitizer crashes ("Tracer caught signal 11") scanning the
# dynamic TLS of PoCL's threads: use_tls=0 skips that scan (heap leaks are
# still found) and intercept_tls_get_addr=0 keeps ASan out of PoCL's TLS.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:intercept_tls_get_addr=0"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0:use_tls=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug || rc=1
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
# The fuzz harnesses are meson targets of a clang build with libFuzzer.
if command -v clang >/dev/null; then
  CC=clang TEST_ARGS="--suite fuzz" run_suite build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dopencl=disabled -Dcairo=disabled || rc=1
else
  echo "SKIP: fuzz: clang not found (scripts/deps.sh installs it)"
fi

summary build/meson-logs/testlog.json
for f in build/meson-logs/oclgrind-testlog*.json; do [ -f "$f" ] && summary "$f"; done
summary build-asan/meson-logs/testlog.json
exit $rc

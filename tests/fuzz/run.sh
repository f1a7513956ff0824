#!/usr/bin/env bash
# Builds the CSV, IDX, safetensors, checkpoint and OpenCL program cache fuzz
# harnesses with clang's libFuzzer
# (plus ASan and UBSan) and runs each for a bounded time from the committed
# seed corpus. Usage: tests/fuzz/run.sh [seconds per harness, default 20]
# New corpus entries go to a temporary directory, never into the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
runs=${FUZZ_RUNS:-200000}
out=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
  echo "SKIP: fuzz: $CC not found (install clang and libclang-rt-dev)"; exit 0
fi
mkdir -p "$out"
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined)
libs=($(pkg-config --cflags --libs zlib json-c) -lm -ldl)
core=(core/context.c core/rng.c core/csv.c core/idx.c core/safetensors.c core/datasets.c
      core/checkpoint.c tests/fuzz/stubs.c)
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){(void)d;(void)n;return 0;}' |
     "$CC" -x c -fsanitize=fuzzer - -o "$out/probe" 2>/dev/null; then
  echo "SKIP: fuzz: $CC cannot link -fsanitize=fuzzer (install libclang-rt-dev)"; exit 0
fi
rc=0
for h in csv idx safetensors checkpoint ocl_cache; do
  if [ "$h" = ocl_cache ]; then  # the cache file format alone: no OpenCL, no libclgrad
    "$CC" "${flags[@]}" -Ibackends/opencl "tests/fuzz/fuzz_$h.c" backends/opencl/ocl_cache.c \
      -o "$out/fuzz_$h"
  else
    "$CC" "${flags[@]}" "tests/fuzz/fuzz_$h.c" "${core[@]}" "${libs[@]}" -o "$out/fuzz_$h"
  fi
  work=$(mktemp -d)
  echo "fuzz_$h: up to ${secs}s / $runs runs"
  if ! ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$h" -max_total_time="$secs" -runs="$runs" \
       -max_len=4096 -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/crash-$h-" \
       "$work" "tests/fuzz/corpus/$h" 2>"$out/fuzz_$h.log"; then
    echo "FAIL: fuzz_$h (see $out/fuzz_$h.log and $out/crash-$h-*)"; tail -30 "$out/fuzz_$h.log"; rc=1
  else
    grep -E "^(#[0-9]+.*DONE|Done)" "$out/fuzz_$h.log" | tail -1 || true
  fi
  rm -rf "$work"
done
exit $rc

#!/usr/bin/env bash
# One fuzz harness for a bounded time from its seed corpus. New inputs go to
# a temporary directory, never into the repo; a crash fails the test and
# leaves its input beside the harness (crash-*).
#   run_one.sh HARNESS CORPUS_DIR SECONDS
set -euo pipefail
exe=$1 corpus=$2 secs=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$exe" -max_total_time="$secs" \
  -runs="${FUZZ_RUNS:-200000}" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$(dirname "$exe")/crash-$(basename "$exe")-" "$work" "$corpus"

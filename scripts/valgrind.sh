#!/usr/bin/env bash
# Memcheck over the CPU path: the core suites on the cpu backend, and the
# clgrad command training the seed network and a small classifier.
# Usage: scripts/valgrind.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
b=$(realpath "${1:-build}")
# Under valgrind /proc/self/exe is valgrind itself, so libclgrad cannot tell it
# runs from the build tree: name the tree's module folders explicitly.
export CLGRAD_PLUGIN_PATH="$b/backends/cpu:$b/plugins/optim:$b/plugins/loss:$b/plugins/sched"
export CLGRAD_TEST_BACKENDS=cpu CLGRAD_REQUIRE_BACKENDS=cpu
export CK_FORK=no              # one process per suite, so valgrind sees every test
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
rc=0
for t in loader memplan e2e conformance gradcheck fusion; do
  printf 'valgrind: %-12s ' "$t"
  path=$CLGRAD_PLUGIN_PATH   # the loader suite also loads its fake backends
  [ "$t" = loader ] && path="$b/tests/core:$b/backends/cpu"
  if CLGRAD_PLUGIN_PATH=$path "${vg[@]}" "$b/tests/core/test_$t" >"$b/valgrind-$t.log" 2>&1; then echo ok
  else echo "FAIL (see $b/valgrind-$t.log)"; tail -30 "$b/valgrind-$t.log"; rc=1; fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'valgrind: %-12s ' "clgrad train"
if "${vg[@]}" "$b/tools/clgrad" train --backend cpu --epochs 2 --quiet --save "$tmp/w.safetensors" >"$b/valgrind-cli.log" 2>&1 &&
   "${vg[@]}" "$b/tools/clgrad" eval --backend cpu --load "$tmp/w.safetensors" >>"$b/valgrind-cli.log" 2>&1; then echo ok
else echo "FAIL (see $b/valgrind-cli.log)"; tail -30 "$b/valgrind-cli.log"; rc=1; fi
printf 'valgrind: %-12s ' "library"
if "${vg[@]}" "$b/tests/library/test_library_blocks" >"$b/valgrind-library.log" 2>&1; then echo ok
else echo "FAIL (see $b/valgrind-library.log)"; tail -30 "$b/valgrind-library.log"; rc=1; fi
# The library guide's example: Fashion-MNIST train -> save -> load -> classify.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  printf 'valgrind: %-12s ' "fashion_mnist"
  if "${vg[@]}" "$b/examples/fashion_mnist" /usr/share/datasets/fashion-mnist 1000 1 cpu \
       "$tmp/fm.safetensors" 1000 >"$b/valgrind-fashion-mnist.log" 2>&1; then echo ok
  else echo "FAIL (see $b/valgrind-fashion-mnist.log)"; tail -30 "$b/valgrind-fashion-mnist.log"; rc=1; fi
fi
exit $rc

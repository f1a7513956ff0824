#!/usr/bin/env bash
# Runs a program under `mpirun -np N` (oversubscribed: CI has 2 cores, and
# allowed as root where CI runs as root). Without Open MPI it says SKIP and
# exits 77, which meson counts as skipped, never as passed.
#   run_mpi.sh N PROGRAM [ARGS...]
set -euo pipefail
n=$1; shift
if ! command -v mpirun >/dev/null; then
  echo "SKIP: mpi: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77
fi
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-run-as-root)
# One process per core slot, no binding (a 2-core machine runs 2 ranks plus
# their OpenMP threads), and shared memory without the single-copy
# mechanism that containers often forbid.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# In the ASan build, leaks are not checked here: Open MPI's runtime keeps
# allocations to the end from modules it has unmapped by then, which
# LeakSanitizer reports from "<unknown module>" and no suppression can name.
# The trainer's sync path itself is leak-checked by plugins-stages, which
# runs it with in-process test collectives. Memory errors still stop the run.
if [ -n "${ASAN_OPTIONS:-}" ]; then export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec mpirun --oversubscribe --bind-to none "${extra[@]}" -np "$n" "$@"

#!/bin/sh
# A backend author's path, end to end: install clgrad into a temporary
# DESTDIR, build examples/backend/minimal.c out of tree against the installed
# headers only (pkg-config), and run the core suites (conformance, gradcheck,
# e2e) of this build tree on the resulting .so, loaded by path.
#   test_minimal_backend.sh MESON SOURCE_ROOT BUILD_ROOT
# The minimal backend refuses every composite op, so this is also the test
# that the compiler's lowering into the minimal op set is complete.
set -eu
MESON=$1
SRC=$2
BUILD=$3
CC=${CC:-cc}
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$MESON install -C "$BUILD" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }

pcfile=$(find "$tmp/root" -name clgrad.pc | head -n 1)
[ -n "$pcfile" ] || { echo "FAIL: no clgrad.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_SYSROOT_DIR=$tmp/root
# installed headers only: the source tree is on no include path, and the
# backend does not link libclgrad at all (the ABI is a header and a symbol)
cflags=$(pkg-config --cflags clgrad)
case "$cflags" in *"$tmp/root"*) ;; *) echo "FAIL: cflags $cflags do not point into the install"; exit 1 ;; esac
[ -f "$(find "$tmp/root" -path '*/clgrad/backend.h' | head -n 1)" ] || {
    echo "FAIL: clgrad/backend.h not installed"; exit 1; }
libdir=$(dirname "$(find "$tmp/root" -name 'libclgrad.so' | head -n 1)")

# A sanitized build (the CI's ASan+UBSan) runs sanitized test programs, and
# a module they dlopen must use the same runtime; an unsanitized program
# could not load a sanitized module at all.
san=""
if ldd "$libdir/libclgrad.so" | grep -q libasan; then
    san="-fsanitize=address,undefined"
elif ldd "$libdir/libclgrad.so" | grep -q libubsan; then
    san="-fsanitize=undefined"
fi

echo "building the backend with: -std=c11 -Wall -Wextra -Werror -O2 $san $cflags"
mkdir "$tmp/ext"
cp "$SRC/examples/backend/minimal.c" "$tmp/ext/"
so=$tmp/ext/clgrad-backend-minimal.so
(cd "$tmp/ext" && $CC -std=c11 -Wall -Wextra -Werror -O2 $san -shared -fPIC \
    -o "$so" minimal.c $cflags -lm) || { echo "FAIL: minimal.c does not build out of tree"; exit 1; }
# One exported symbol: everything else in an example backend is static.
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | tr '\n' ' ')
    [ "$syms" = "clg_backend_entry " ] || { echo "FAIL: exported functions: $syms"; exit 1; }
fi

# By path, and required: a backend that fails to load is a failure, not a SKIP.
export CLGRAD_TEST_BACKENDS=$so
export CLGRAD_REQUIRE_BACKENDS=$so

# This backend refuses composites: the conformance suite then expects
# softmax to arrive as several primitive ops.
export CLGRAD_TEST_EXPECT_LOWERING=1

status=0
for suite in conformance gradcheck e2e; do
    exe=$BUILD/tests/core/test_$suite
    [ -x "$exe" ] || { echo "FAIL: $exe not built"; status=1; continue; }
    rc=0
    "$exe" >"$tmp/$suite.log" 2>&1 || rc=$?
    # tutil names the suite "<suite>[<backend>]" in a 128-byte buffer
    header=$(printf 'Running suite(s): %.127s' "$suite[$so]")
    summary=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$tmp/$suite.log" | head -n 1 || true)
    checks=$(echo "$summary" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    failures=$(grep -E ':[FE]:' "$tmp/$suite.log" || true)
    if ! grep -qF "$header" "$tmp/$suite.log" || [ -z "$checks" ] || [ "$checks" -eq 0 ]; then
        cat "$tmp/$suite.log"
        echo "FAIL: $suite did not run its checks on the minimal backend (exit $rc)"
        status=1
    elif grep -q '^SKIP' "$tmp/$suite.log"; then
        cat "$tmp/$suite.log"; echo "FAIL: $suite skipped a backend"; status=1
    elif [ "$rc" -ne 0 ] || [ -n "$failures" ]; then
        cat "$tmp/$suite.log"; echo "FAIL: $suite on the minimal backend (exit $rc)"; status=1
    else
        echo "$suite on minimal: $summary"
    fi
done
[ "$status" -eq 0 ] && echo "PASS: out-of-tree minimal backend built with pkg-config passes the core suites"
exit "$status"

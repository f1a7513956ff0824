#!/bin/sh
# Installs clgrad into a temporary DESTDIR, builds examples/plugins out of
# tree with pkg-config against that install, loads the custom optimizer and
# loss through CLGRAD_PLUGIN_PATH and trains with them. Then runs the
# installed `clgrad` itself from the temporary prefix with no
# LD_LIBRARY_PATH and no CLGRAD_PLUGIN_PATH (its rpath and the plugin dir
# beside its libclgrad must do), with an out-of-tree plugin.
#   test_install.sh MESON SOURCE_ROOT BUILD_ROOT
set -eu
MESON=$1
SRC=$2
BUILD=$3
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$MESON install -C "$BUILD" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }

pcfile=$(find "$tmp/root" -name clgrad.pc | head -n 1)
[ -n "$pcfile" ] || { echo "FAIL: no clgrad.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_SYSROOT_DIR=$tmp/root
# installed headers and library only; the source tree is not on any path
cflags=$(pkg-config --cflags clgrad)
libs=$(pkg-config --libs clgrad)
echo "pkg-config: $cflags $libs"
case "$cflags" in *"$tmp/root"*) ;; *) echo "FAIL: cflags do not point into the install"; exit 1 ;; esac

plugdir=$(dirname "$(find "$tmp/root" -name 'clgrad-plugin-optim.so' | head -n 1)")
[ -f "$plugdir/clgrad-plugin-optim.so" ] || { echo "FAIL: built-in plugins not installed"; exit 1; }
libdir=$(dirname "$(find "$tmp/root" -name 'libclgrad.so' | head -n 1)")

# A sanitized libclgrad (the CI's ASan+UBSan build) can only be used by
# programs built with the same runtime, as any user of that build would.
san=""
if ldd "$libdir/libclgrad.so" | grep -q libasan; then
    san="-fsanitize=address,undefined"
elif ldd "$libdir/libclgrad.so" | grep -q libubsan; then
    san="-fsanitize=undefined"
fi

mkdir "$tmp/ext"
cp "$SRC/examples/plugins/lion.c" "$SRC/examples/plugins/logcosh.c" "$SRC/examples/plugins/focal.c" \
   "$SRC/examples/plugins/train_custom.c" "$tmp/ext/"
cd "$tmp/ext"
$CC -std=c11 -Wall -Wextra -Werror $san -shared -fPIC -o clgrad-plugin-lion.so lion.c $cflags $libs
$CC -std=c11 -Wall -Wextra -Werror $san -shared -fPIC -o clgrad-plugin-logcosh.so logcosh.c $cflags $libs
$CC -std=c11 -Wall -Wextra -Werror $san -shared -fPIC -o clgrad-plugin-focal.so focal.c $cflags $libs
$CC -std=c11 -Wall -Wextra -Werror $san -o train_custom train_custom.c $cflags $libs

export LD_LIBRARY_PATH=$libdir
# the install's plugin dir (backends and built-ins) and ours; the DESTDIR
# install is not where libclgrad's compiled-in plugin dir points
export CLGRAD_PLUGIN_PATH=$tmp/ext:$plugdir
./train_custom "lion:beta1=0.9,beta2=0.99" log-cosh cpu
./train_custom "lion:weight_decay=0.01" mse cpu
./train_custom adam log-cosh cpu
# a bad hyperparameter of the custom optimizer is refused by name
if ./train_custom "lion:beta1=1" mse cpu 2>"$tmp/err"; then
    echo "FAIL: lion:beta1=1 was accepted"; exit 1
fi
grep -q "lion" "$tmp/err" && grep -q "beta1" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: message"; exit 1; }

# The installed command, run from the temporary prefix as a user would.
bin=$(find "$tmp/root" -type f -name clgrad -perm -u+x | head -n 1)
[ -n "$bin" ] || { echo "FAIL: no clgrad installed"; exit 1; }
unset LD_LIBRARY_PATH CLGRAD_PLUGIN_PATH
"$bin" --version || { echo "FAIL: the installed clgrad does not run (libclgrad.so not found?)"; exit 1; }
"$bin" plugins >"$tmp/list" 2>&1 || { cat "$tmp/list"; echo "FAIL: installed clgrad plugins"; exit 1; }
grep -q "^  cpu .*$tmp/root" "$tmp/list" || { cat "$tmp/list"; echo "FAIL: backends not found in the install"; exit 1; }
grep -q "^  adam " "$tmp/list" || { cat "$tmp/list"; echo "FAIL: built-ins not found in the install"; exit 1; }
"$bin" train --epochs 2 --quiet || { echo "FAIL: installed clgrad train"; exit 1; }
"$bin" train --plugin "$tmp/ext/clgrad-plugin-lion.so" --optimizer lion:beta1=0.9 --lr 0.001 \
    --epochs 2 --quiet || { echo "FAIL: installed clgrad with an out-of-tree optimizer"; exit 1; }
"$bin" plugins --check "$tmp/ext/clgrad-plugin-focal.so" >"$tmp/check" 2>&1 ||
    { cat "$tmp/check"; echo "FAIL: --check of the out-of-tree focal loss"; exit 1; }
echo "PASS: out-of-tree plugins built with pkg-config and trained; the installed clgrad runs from its prefix"

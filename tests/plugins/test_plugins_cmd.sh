#!/bin/sh
# The plugin author's path through the command:
#   - `clgrad plugins NAME` shows the facts the trainer uses (item 6);
#   - `clgrad plugins --check FILE` reports each author mistake with its
#     limit or name (item 5);
#   - a crash inside a plugin callback names the plugin, the callback and
#     the file, on every backend (item 4);
#   - a user plugin named like a built-in leaves the other built-ins working
#     (item 3);
#   - an out-of-tree loss declaring CLG_TARGET_CLASS_INDEX gets i32 class
#     indices through `clgrad train` (item 2).
#   test_plugins_cmd.sh CLGRAD TEST_MODULE_DIR EXAMPLE_PLUGIN_DIR
set -u
CLGRAD=$1
MODS=$2
EX=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# has FILE TEXT: FILE contains TEXT (fixed string)
has() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "'$2' not in output"; }; }

# ---- item 6: the listing's facts
"$CLGRAD" plugins adam >"$tmp/adam" 2>&1 || fail "plugins adam"
grep -E '^  lr +float +default 0\.01 ' "$tmp/adam" >/dev/null || { cat "$tmp/adam"; fail "lr default is not the trainer's 0.01"; }
"$CLGRAD" plugins cosine >"$tmp/cos" 2>&1 || fail "plugins cosine"
n=$(grep -c '^  interval ' "$tmp/cos")
[ "$n" = 1 ] || { cat "$tmp/cos"; fail "interval listed $n times"; }
"$CLGRAD" --help >"$tmp/help" 2>&1
has "$tmp/help" "plugins [NAME] [--plugin PATH]"
has "$tmp/help" "plugins --check FILE"

# ---- item 5: the lint
"$CLGRAD" plugins --check "$MODS/lint_bad.so" >"$tmp/lint" 2>&1 && fail "--check passed a bad plugin"
has "$tmp/lint" "optimizer 'too-many-states': state() returned 6 state tensors"
has "$tmp/lint" "CLG_OPTIM_MAX_STATE (4)"
has "$tmp/lint" "optimizer 'dup-states': state 0 and state 1 are both named 'momentum'"
has "$tmp/lint" "optimizer 'past-scalars'"
has "$tmp/lint" "n_scalars (1)"
has "$tmp/lint" "optimizer 'bad-state-shape' on 'w': state_out[0] (state 'exp_avg') has shape []"
has "$tmp/lint" "loss 'unused-pred': does not use the prediction"
has "$tmp/lint" "5 component(s), 5 problem(s)"
"$CLGRAD" plugins --check "$MODS/lint_empty.so" >"$tmp/empty" 2>&1 && fail "--check passed an empty plugin"
has "$tmp/empty" "registered no components"
"$CLGRAD" train --plugin "$MODS/lint_empty.so" --optimizer mine --epochs 1 --quiet >"$tmp/e2" 2>&1 &&
    fail "an unknown optimizer trained"
has "$tmp/e2" "lint_empty.so"
has "$tmp/e2" "registered no components"
"$CLGRAD" plugins --check "$EX/clgrad-plugin-lion.so" >"$tmp/ok" 2>&1 || { cat "$tmp/ok"; fail "--check refused lion"; }
has "$tmp/ok" "0 problem(s)"

# ---- item 4: a crash names the plugin, on every backend that runs here
"$CLGRAD" plugins --check "$MODS/crashy.so" >"$tmp/c0" 2>&1 && fail "crashy did not crash"
has "$tmp/c0" "optimizer 'crashy', callback update(), from"
has "$tmp/c0" "crashy.so"
for b in cpu opencl; do
    if [ $b = opencl ] && ! "$CLGRAD" devices 2>/dev/null | grep -q '^opencl ('; then
        echo "SKIP: opencl: no device"; continue
    fi
    for where in update scalars; do
        "$CLGRAD" train --backend $b --plugin "$MODS/crashy.so" --optimizer crashy:where=$where \
            --epochs 1 --quiet >"$tmp/c1" 2>&1
        rc=$?
        [ $rc -ne 0 ] || fail "$b: crashy:where=$where exited 0"
        has "$tmp/c1" "inside optimizer 'crashy', callback $where(), from"
        has "$tmp/c1" "crashy.so"
    done
    "$CLGRAD" train --backend $b --plugin "$MODS/crashy.so" --loss crashy-loss --epochs 1 \
        --quiet >"$tmp/c2" 2>&1 && fail "$b: crashy-loss exited 0"
    has "$tmp/c2" "inside loss 'crashy-loss', callback build(), from"
done

# ---- item 3: a user 'adam' overrides the built-in; sgd etc. still train
"$CLGRAD" train --plugin "$MODS/bad-dup.so" --optimizer adamw --epochs 1 --quiet >"$tmp/d1" 2>&1 ||
    { cat "$tmp/d1"; fail "adamw next to a clashing adam"; }
has "$tmp/d1" "notice"
has "$tmp/d1" "'adam'"
"$CLGRAD" plugins --plugin "$MODS/bad-dup.so" >"$tmp/d2" 2>&1 || fail "plugins with a clash"
for o in sgd adam adamw rmsprop adagrad; do
    grep -qE "^  $o " "$tmp/d2" || { cat "$tmp/d2"; fail "$o missing from the listing"; }
done
has "$tmp/d2" "notices:"
"$CLGRAD" plugins --plugin "$MODS/bad-dup.so" adam >"$tmp/d3" 2>&1
has "$tmp/d3" "an impostor"

# ---- item 2: class indices reach an out-of-tree loss through the command
awk 'BEGIN { srand(7); print "a,b,c,d,label";
             for (i = 0; i < 96; i++) { a = rand(); b = rand(); c = rand(); d = rand();
                 l = (a + b > c + d) ? (a > b ? 0 : 1) : 2; printf "%.4f,%.4f,%.4f,%.4f,%d\n", a, b, c, d, l } }' \
    >"$tmp/cls.csv"
"$CLGRAD" train --plugin "$EX/clgrad-plugin-focal.so" --loss focal:gamma=2 \
    --data "csv:$tmp/cls.csv,target=label,classes=3" --epochs 3 --batch-size 16 \
    >"$tmp/f1" 2>&1 || { cat "$tmp/f1"; fail "focal loss did not train on class indices"; }
"$CLGRAD" plugins --check "$EX/clgrad-plugin-focal.so" >"$tmp/f2" 2>&1 || fail "--check focal"
has "$tmp/f2" "target CLG_TARGET_CLASS_INDEX"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "PASS: plugins command: listing, --check, crash report, clashes, class-index targets"

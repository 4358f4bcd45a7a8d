#!/usr/bin/env bash
# sdk-out-of-tree.sh: the plugin SDK as a plugin author uses it: install
# libsluice, plugin.h and sluice.pc into a DESTDIR, build the example plugin
# from its source with only `pkg-config sluice` (and with its standalone
# Makefile), then `sluice check` and `sluice run --once` a pipeline using it.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

inst="$T_TMP/inst"
make -s -C "$top_builddir/core" install DESTDIR="$inst" > "$T_TMP/install.log" 2>&1 \
    || t_fail "make install DESTDIR failed: $(tail -5 "$T_TMP/install.log")"
prefix=$(sed -n 's/^prefix=//p' "$top_builddir/core/sluice.pc")
pcdir=$(dirname "$(find "$inst" -name sluice.pc | head -1)")
[ -f "$pcdir/sluice.pc" ] || t_fail "sluice.pc not installed under $inst"
[ -f "$inst$prefix/include/sluice/plugin.h" ] || t_fail "sluice/plugin.h not installed under $inst$prefix/include"
ls "$inst$prefix"/lib*/libsluice.so > /dev/null 2>&1 || t_fail "libsluice.so not installed under $inst$prefix"

# pkg-config against the relocated prefix, as `cc $(pkg-config ...)` would.
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$inst$prefix" "$@" sluice; }
flags=$(pc --cflags --libs) || t_fail "pkg-config --cflags --libs sluice failed"
case "$flags" in *"-I$inst$prefix/include"*) ;; *) t_fail "pkg-config cflags miss the installed include dir: $flags" ;; esac

mkdir -p "$T_TMP/plugins"
# shellcheck disable=SC2086 # flags are words on purpose
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -fPIC -shared -o "$T_TMP/plugins/example-upcase.so" \
    "$top_srcdir/plugins/example/upcase.c" $flags 2> "$T_TMP/cc.log" \
    || t_fail "building the example out of tree failed: $(head -5 "$T_TMP/cc.log")"
[ ! -s "$T_TMP/cc.log" ] || t_fail "the example does not build warning-free: $(head -5 "$T_TMP/cc.log")"

# The standalone Makefile does the same for a copy of the example.
mkdir -p "$T_TMP/author"
cp "$top_srcdir/plugins/example/upcase.c" "$top_srcdir/plugins/example/Makefile" "$T_TMP/author/"
PKG_CONFIG_PATH="$pcdir" make -s -C "$T_TMP/author" \
    PKG_CONFIG="pkg-config --define-variable=prefix=$inst$prefix" > "$T_TMP/make.log" 2>&1 \
    || t_fail "the example's Makefile failed: $(tail -5 "$T_TMP/make.log")"
[ -f "$T_TMP/author/example-upcase.so" ] || t_fail "the example's Makefile built no example-upcase.so"

# The out-of-tree build comes first on the search path and is the one used.
export SLUICE_PLUGIN_PATH="$T_TMP/plugins:$SLUICE_PLUGIN_PATH"
"$SLUICE" plugins example-upcase > "$T_TMP/plugins.out" 2>&1 \
    || t_fail "sluice plugins example-upcase: $(cat "$T_TMP/plugins.out")"
grep -q "file: $T_TMP/plugins/example-upcase.so" "$T_TMP/plugins.out" \
    || t_fail "the out-of-tree plugin was not the one loaded: $(cat "$T_TMP/plugins.out")"
grep -Eq '^  field +string +required' "$T_TMP/plugins.out" \
    || t_fail "option table not shown: $(cat "$T_TMP/plugins.out")"

printf '{"id":1,"name":"ada lovelace"}\n{"id":2,"name":"Grace Émilie"}\n{"id":3,"name":7}\n{"id":4}\n' \
    > "$T_TMP/in.jsonl"
cat > "$T_TMP/sdk.cfg" <<CFG
pipeline = {
  name = "sdk";
  state_dir = "state";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "up"; plugin = "example-upcase"; field = "name"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
"$SLUICE" check "$T_TMP/sdk.cfg" > "$T_TMP/check.out" 2>&1 \
    || t_fail "sluice check refused the pipeline: $(cat "$T_TMP/check.out")"
grep -qx "$T_TMP/sdk.cfg: ok (pipeline sdk, 3 stages)" "$T_TMP/check.out" \
    || t_fail "unexpected check output: $(cat "$T_TMP/check.out")"
[ ! -e "$T_TMP/state" ] || t_fail "sluice check created the state directory"

# The option table is enforced for the out-of-tree plugin too.
sed 's/field = "name"/feld = "name"/' "$T_TMP/sdk.cfg" > "$T_TMP/bad.cfg"
set +e; "$SLUICE" check "$T_TMP/bad.cfg" > "$T_TMP/bad.out" 2>&1; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "bad option: exit $rc, expected 78"
grep -qF "$T_TMP/bad.cfg:6: stage 'up' (plugin example-upcase): unknown option 'feld' (did you mean 'field'?)" \
    "$T_TMP/bad.out" || t_fail "bad option message: $(cat "$T_TMP/bad.out")"

# Several files: each is reported, the worst status wins.
set +e; "$SLUICE" check "$T_TMP/sdk.cfg" "$T_TMP/bad.cfg" > "$T_TMP/both.out" 2> "$T_TMP/both.err"; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "good + bad file: exit $rc, expected 78"
grep -qx "$T_TMP/sdk.cfg: ok (pipeline sdk, 3 stages)" "$T_TMP/both.out" \
    || t_fail "the good file was not reported ok: $(cat "$T_TMP/both.out")"
grep -qF "$T_TMP/bad.cfg:6:" "$T_TMP/both.err" || t_fail "the bad file was not reported: $(cat "$T_TMP/both.err")"

# --print shows the resolved pipeline; a value read with @file: is masked.
printf 'name\n' > "$T_TMP/field.txt"
sed 's/field = "name"/field = "@file:field.txt"/' "$T_TMP/sdk.cfg" > "$T_TMP/print.cfg"
"$SLUICE" check --print "$T_TMP/print.cfg" > "$T_TMP/print.out" 2>&1 \
    || t_fail "check --print refused: $(cat "$T_TMP/print.out")"
grep -q '^      field = "\*\*\*\*\*\*\*\*";$' "$T_TMP/print.out" \
    || t_fail "@file: value not masked in --print: $(cat "$T_TMP/print.out")"
grep -q '^      reject_non_string = false;$' "$T_TMP/print.out" \
    || t_fail "default not filled in --print: $(cat "$T_TMP/print.out")"

# A plugin built for another ABI is refused by name and file: exit 69.
mkdir -p "$T_TMP/badabi"
sed -e 's/SLUICE_PLUGIN_HEADER,/.abi_version = 3, .struct_size = sizeof(struct sluice_plugin),/' \
    -e 's/"example-upcase"/"future-upcase"/' "$top_srcdir/plugins/example/upcase.c" > "$T_TMP/badabi/future.c"
# shellcheck disable=SC2086
cc -std=c11 -fPIC -shared -o "$T_TMP/badabi/future-upcase.so" "$T_TMP/badabi/future.c" $flags \
    || t_fail "cannot build the ABI 3 plugin"
sed 's/plugin = "example-upcase"/plugin = "future-upcase"/' "$T_TMP/sdk.cfg" > "$T_TMP/future.cfg"
set +e
SLUICE_PLUGIN_PATH="$T_TMP/badabi:$SLUICE_PLUGIN_PATH" "$SLUICE" check "$T_TMP/future.cfg" > "$T_TMP/future.out" 2>&1; rc=$?
SLUICE_PLUGIN_PATH="$T_TMP/badabi:$SLUICE_PLUGIN_PATH" "$SLUICE" plugins > "$T_TMP/list.out" 2> "$T_TMP/list.err"; rc_list=$?
"$SLUICE" check > /dev/null 2>&1; rc_usage=$?
set -e
[ "$rc" -eq 69 ] || t_fail "ABI 3 plugin: exit $rc, expected 69: $(cat "$T_TMP/future.out")"
grep -qF "$T_TMP/future.cfg:6: stage 'up': $T_TMP/badabi/future-upcase.so: built for ABI 3, this sluice speaks ABI 1 and 2" \
    "$T_TMP/future.out" || t_fail "ABI message: $(cat "$T_TMP/future.out")"
[ "$rc_list" -eq 0 ] || t_fail "sluice plugins exit $rc_list"
grep -Eq '^example-upcase +transform +1\.0\.0 ' "$T_TMP/list.out" \
    || t_fail "example-upcase not listed: $(cat "$T_TMP/list.out")"
grep -qF "future-upcase.so: built for ABI 3" "$T_TMP/list.err" \
    || t_fail "refused module not reported by sluice plugins: $(cat "$T_TMP/list.err")"
[ "$rc_usage" -eq 64 ] || t_fail "sluice check without FILE: exit $rc_usage, expected 64"

# Run it when the engine can (file-source/file-sink and run --once).
if [ -e "$top_builddir/plugins/.libs/file-source.so" ] && [ -e "$top_builddir/plugins/.libs/file-sink.so" ]; then
    timeout 60 "$SLUICE" run --once "$T_TMP/sdk.cfg" > "$T_TMP/run.out" 2> "$T_TMP/run.err" \
        || t_fail "sluice run --once exited $?: $(tail -5 "$T_TMP/run.err")"
    printf '{"id":1,"name":"ADA LOVELACE"}\n{"id":2,"name":"GRACE ÉMILIE"}\n{"id":3,"name":7}\n{"id":4}\n' \
        > "$T_TMP/expected.jsonl"
    jq -c . "$T_TMP/out.jsonl" > "$T_TMP/actual.jsonl"
    jq -c . "$T_TMP/expected.jsonl" > "$T_TMP/expected.c.jsonl"
    cmp -s "$T_TMP/expected.c.jsonl" "$T_TMP/actual.jsonl" \
        || t_fail "output differs: $(diff "$T_TMP/expected.c.jsonl" "$T_TMP/actual.jsonl" | head -5)"
    echo "ok: out-of-tree example plugin built with pkg-config, checked and run"
else
    echo "ok: out-of-tree example plugin built with pkg-config and checked (run skipped: no file-source/file-sink)"
fi

#!/usr/bin/env bash
# reconfigure.sh: issue 16's `./configure --prefix=Q` in a built tree. A
# tree built for one prefix and configured again for another must rebuild
# and install there (libtool refused to install plugins linked for the old
# plugin dir until `make clean`), and the sluice installed there must load
# its plugins from there. Then the installed sluice with no arguments is
# the service of that prefix: `sluice check` and `sluice run` read
# PREFIX/etc/sluice/sluice.conf as installed (its defaults: pipelines.d
# beside it, state in PREFIX/var/lib/sluice), run a pipeline dropped into
# pipelines.d with its state there, and stop on SIGTERM. Builds core/ and
# plugins/ twice in a temp dir.
#   top_srcdir, JOBS (default 2); the source tree must not be configured
#   in place (a VPATH build refuses that)
set -euo pipefail
: "${top_srcdir:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-reconfigure.XXXXXX")
service_pid=
trap '[ -z "$service_pid" ] || kill -KILL "$service_pid" 2> /dev/null; rm -rf "$work"' EXIT
# wait_for SECONDS CMD...: until CMD succeeds; fails after SECONDS.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" 2> /dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
cd "$work"
mkdir build
build_for() {
    (cd build && "$top_srcdir/configure" -q --prefix="$work/$1" --with-systemdsystemunitdir=no) \
        > "$work/configure-$1.log" 2>&1 || { cat "$work/configure-$1.log"; exit 1; }
    make -C build/core -j"${JOBS:-2}" -s > "$work/make-$1.log" 2>&1 \
        && make -C build/plugins -j"${JOBS:-2}" -s >> "$work/make-$1.log" 2>&1 \
        || { tail -30 "$work/make-$1.log"; exit 1; }
}
build_for one
build_for two
for dir in core plugins contrib; do
    make -C "build/$dir" -s install > "$work/install.log" 2>&1 || {
        tail -20 "$work/install.log"
        echo "FAIL: make install after ./configure --prefix=$work/two"
        exit 1
    }
done
env -u SLUICE_PLUGIN_PATH "$work/two/bin/sluice" plugins > "$work/plugins.out" 2>&1 || {
    cat "$work/plugins.out"
    echo "FAIL: the sluice installed in $work/two finds no plugins"
    exit 1
}
cat "$work/plugins.out" | cut -c1-120
if awk 'NR > 1 { print $4 }' "$work/plugins.out" | grep -v "^$work/two/lib/sluice/"; then
    echo "FAIL: plugins loaded from outside $work/two/lib/sluice"
    exit 1
fi

# The service of the prefix: no arguments, the installed settings file.
two="$work/two"
conf="$two/etc/sluice/sluice.conf"
[ -f "$conf" ] && [ -d "$two/etc/sluice/pipelines.d" ] || { echo "FAIL: no $conf and pipelines.d"; exit 1; }
echo 'admin_listen = "off";   # added by the test: the default port may be taken' >> "$conf"
awk 'BEGIN { for (i = 1; i <= 30; i++) printf "{\"id\":%d}\n", i }' > "$work/in.jsonl"
cat > "$two/etc/sluice/pipelines.d/demo.cfg" <<CFG
pipeline = {
  name = "demo";
  state_dir = "\${SLUICE_STATE_DIR}/demo";
  stages = (
    { name = "in"; plugin = "file-source"; path = "$work/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$work/out.jsonl"; }
  );
};
CFG
service() { env -u SLUICE_PLUGIN_PATH -u SLUICE_STATE_DIR -u SLUICE_ADMIN_LISTEN "$two/bin/sluice" "$@"; }
service check > "$work/check.out" 2>&1 || { cat "$work/check.out"; echo "FAIL: sluice check of the installed service"; exit 1; }
grep -qF "$conf: ok (service settings; pipelines_dir $two/etc/sluice/pipelines.d, state_dir $two/var/lib/sluice)" \
    "$work/check.out" && grep -qF "$two/etc/sluice/pipelines.d/demo.cfg: ok" "$work/check.out" \
    || { cat "$work/check.out"; echo "FAIL: sluice check did not check the installed service"; exit 1; }
# not through the function: a function in the background is a subshell,
# whose pid is not sluice's (env execs sluice, so $! is sluice here)
env -u SLUICE_PLUGIN_PATH -u SLUICE_STATE_DIR -u SLUICE_ADMIN_LISTEN "$two/bin/sluice" run 2> "$work/service.err" &
service_pid=$!
delivered() { [ "$(wc -l < "$work/out.jsonl")" -ge 30 ]; }
wait_for 120 delivered || { cat "$work/service.err"; echo "FAIL: the installed service did not deliver"; exit 1; }
[ -f "$two/var/lib/sluice/demo/state.db" ] && [ "$(cat "$two/var/lib/sluice/sluice.pid")" = "$service_pid" ] \
    || { ls -lR "$two/var/lib/sluice"; echo "FAIL: the state and pid file are not in PREFIX/var/lib/sluice"; exit 1; }
service reload > "$work/reload.out" 2>&1 || { cat "$work/reload.out"; echo "FAIL: sluice reload did not find the service"; exit 1; }
kill -TERM "$service_pid"
rc=0
wait "$service_pid" || rc=$?
service_pid=
[ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || { cat "$work/service.err"; echo "FAIL: the service ended with $rc"; exit 1; }
echo "ok: configured again for another prefix, rebuilt, installed and used there; no arguments run the prefix's service"

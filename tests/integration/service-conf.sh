#!/usr/bin/env bash
# service-conf.sh: sluice as the service, from its settings file (issue 16):
# `sluice run --service-config F` runs both pipelines of F's pipelines_dir
# (file-source to file-sink), their state under F's state_dir (through
# SLUICE_STATE_DIR, which the pipelines name), the admin endpoint on F's
# admin_listen answers /health, F's log_level (warn) is in force and
# `sluice reload --service-config F` finds the pid file in state_dir; a
# --log-level on the command line wins over the file. A broken settings
# file exits 78 naming FILE:LINE before anything runs (no pid file, no
# state, no output), `sluice check --service-config F` reports the file's
# errors and every pipeline's, and `sluice run` with no settings file at
# the default path is a usage error naming it.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
# the file's settings are under test: nothing from the environment
unset SLUICE_ADMIN_LISTEN SLUICE_STATE_DIR SLUICE_ADMIN_AUTH

etc="$T_TMP/etc"
mkdir -p "$etc/pipelines.d"
# as sluice names it: a relative pipelines_dir is taken from the settings
# file's real directory (TMPDIR may be a symbolic link)
D=$(cd "$etc/pipelines.d" && pwd -P)
# pipeline NAME: pipeline NAME following $T_TMP/NAME.in into $T_TMP/NAME.out,
# its state under ${SLUICE_STATE_DIR} (the service's state_dir).
pipeline() {
    cat <<CFG
pipeline = {
  name = "svc-$1";
  state_dir = "\${SLUICE_STATE_DIR}/$1";
  batch_size = 10;
  batch_linger_ms = 50;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/$1.in"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/$1.out"; }
  );
};
CFG
}
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }
for p in a b; do
    t_seq_jsonl 40 "$T_TMP/$p.in"
    pipeline "$p" > "$D/$p.cfg"
done
port=$(t_free_port)
cat > "$etc/sluice.conf" <<CFG
# the service of this test
pipelines_dir = "pipelines.d";   # relative: from this file's directory
state_dir = "$T_TMP/state";
admin_listen = "127.0.0.1:$port";
log_level = "warn";
CFG

# 1. The service from the file.
t_bg "$SLUICE" run --log-format json --service-config "$etc/sluice.conf" 2> "$T_TMP/service.err"
service_pid=$T_LAST_PID
for p in a b; do
    t_wait_for 120 has_lines "$T_TMP/$p.out" 40 || t_fail "pipeline $p did not deliver its 40 records"
    [ -f "$T_TMP/state/$p/state.db" ] || t_fail "pipeline $p's state is not under the file's state_dir"
done
health() { curl -s -o "$T_TMP/health.json" -w '%{http_code}' --max-time 30 "http://127.0.0.1:$port/health"; }
t_wait_for 120 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 http://127.0.0.1:$port/health)\" = 200 ]" \
    || t_fail "/health on the file's admin_listen 127.0.0.1:$port: $(health) $(cat "$T_TMP/health.json" 2> /dev/null)"
[ -f "$T_TMP/state/sluice.pid" ] || t_fail "no pid file in the file's state_dir"
[ "$(cat "$T_TMP/state/sluice.pid")" = "$service_pid" ] || t_fail "the pid file does not hold $service_pid"
# log_level = "warn": the fleet's info lines (its start) are not written
if grep -q '"level":"info"' "$T_TMP/service.err"; then
    t_fail "info lines at log_level warn: $(grep '"level":"info"' "$T_TMP/service.err" | head -3)"
fi
# reload finds the service's pid file through the same file
"$SLUICE" reload --service-config "$etc/sluice.conf" > "$T_TMP/reload.out" 2>&1 \
    || t_fail "sluice reload --service-config: $(cat "$T_TMP/reload.out")"
grep -q "reload asked of sluice (pid $service_pid)" "$T_TMP/reload.out" \
    || t_fail "reload asked someone else: $(cat "$T_TMP/reload.out")"
awk 'BEGIN { for (i = 41; i <= 50; i++) printf "{\"id\":%d}\n", i }' >> "$T_TMP/a.in"
t_wait_for 120 has_lines "$T_TMP/a.out" 50 || t_fail "a stopped delivering after the reload"
kill -TERM "$service_pid"
t_wait_for 120 bash -c "! kill -0 $service_pid 2> /dev/null" || t_fail "the service did not stop"
[ ! -e "$T_TMP/state/sluice.pid" ] || t_fail "the pid file outlived the service"

# 2. The command line wins: --log-level info shows the fleet's start.
t_bg "$SLUICE" run --log-format json --log-level info --admin-listen off \
    --service-config "$etc/sluice.conf" 2> "$T_TMP/service-info.err"
second_pid=$T_LAST_PID
t_wait_for 120 grep -q "\"level\":\"info\".*running the pipelines of $D" "$T_TMP/service-info.err" \
    || t_fail "--log-level info on the command line is not in force"
kill -TERM "$second_pid"
t_wait_for 120 bash -c "! kill -0 $second_pid 2> /dev/null" || t_fail "the second run did not stop"
grep -q "admin endpoint" "$T_TMP/service-info.err" \
    && t_fail "--admin-listen off did not win over the file: $(grep admin "$T_TMP/service-info.err")"

# 3. A broken settings file: 78 with FILE:LINE, nothing started.
mkdir -p "$T_TMP/broken"
cat > "$T_TMP/broken/sluice.conf" <<CFG
pipelines_dir = "$D";
state_dir = "$T_TMP/broken/state";

log_levle = "info";
admin_listen = 9180;
CFG
rm -f "$T_TMP/a.out" "$T_TMP/b.out"
set +e
timeout 120 "$SLUICE" run --service-config "$T_TMP/broken/sluice.conf" > "$T_TMP/broken.out" 2> "$T_TMP/broken.err"
rc=$?
set -e
[ "$rc" -eq 78 ] || t_fail "broken settings: exit $rc, expected 78: $(cat "$T_TMP/broken.err")"
grep -qxF "$T_TMP/broken/sluice.conf:4: unknown setting 'log_levle' (did you mean 'log_level'?)" "$T_TMP/broken.err" \
    || t_fail "no FILE:LINE for the unknown setting: $(cat "$T_TMP/broken.err")"
grep -qxF "$T_TMP/broken/sluice.conf:5: 'admin_listen' must be a string, not int" "$T_TMP/broken.err" \
    || t_fail "no FILE:LINE for the wrong type: $(cat "$T_TMP/broken.err")"
[ ! -e "$T_TMP/broken/state" ] && [ ! -e "$T_TMP/a.out" ] && [ ! -e "$T_TMP/b.out" ] \
    || t_fail "something ran or was created before the settings were refused"

# 4. `sluice check` of the service: the file and every pipeline, all errors.
"$SLUICE" check --service-config "$etc/sluice.conf" > "$T_TMP/check.out" 2>&1 \
    || t_fail "sluice check --service-config refused a good service: $(cat "$T_TMP/check.out")"
grep -qF "$etc/sluice.conf: ok (service settings; pipelines_dir $D, state_dir $T_TMP/state)" "$T_TMP/check.out" \
    && grep -qF "$D/a.cfg: ok (pipeline svc-a, 2 stages)" "$T_TMP/check.out" \
    && grep -qF "$D/b.cfg: ok (pipeline svc-b, 2 stages)" "$T_TMP/check.out" \
    || t_fail "unexpected check output: $(cat "$T_TMP/check.out")"
printf 'pipeline = {\n  name = "svc-c";\n  state_dir = "/x";\n  batchsize = 5;\n};\n' > "$D/c.cfg"
set +e
"$SLUICE" check --service-config "$T_TMP/broken/sluice.conf" > "$T_TMP/check-broken.out" 2> "$T_TMP/check-broken.err"
rc=$?
set -e
[ "$rc" -eq 78 ] || t_fail "check of the broken service: exit $rc, expected 78"
for expected in "$T_TMP/broken/sluice.conf:4: unknown setting 'log_levle'" \
    "$T_TMP/broken/sluice.conf:5: 'admin_listen' must be a string" "$D/c.cfg:4: unknown pipeline key 'batchsize'"; do
    grep -qF "$expected" "$T_TMP/check-broken.err" || t_fail "check did not report '$expected': $(cat "$T_TMP/check-broken.err")"
done
grep -qF "$D/a.cfg: ok" "$T_TMP/check-broken.out" || t_fail "check stopped at the first error: $(cat "$T_TMP/check-broken.out")"
# two of the settings, two of c.cfg (batchsize, and so no stages)
tail -n 1 "$T_TMP/check-broken.err" | grep -qx "4 errors" || t_fail "error count: $(tail -n 1 "$T_TMP/check-broken.err")"
rm "$D/c.cfg"

# 5. No FILE, no --dir, no settings at the default path: usage, naming it.
default=$(sed -n 's/^#define SLUICE_SYSCONFDIR "\(.*\)"$/\1/p' "$top_builddir/config.h")/sluice.conf
if [ ! -e "$default" ]; then
    set +e
    "$SLUICE" run > "$T_TMP/nofile.out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 64 ] || t_fail "sluice run without settings: exit $rc, expected 64"
    grep -qF "no service settings: $default: No such file or directory" "$T_TMP/nofile.out" \
        || t_fail "the missing default file is not named: $(cat "$T_TMP/nofile.out")"
else
    t_note "$default exists on this machine: the missing-default case is not checked"
fi
echo "ok: the service runs from its settings file; bad settings refused with FILE:LINE before anything runs"

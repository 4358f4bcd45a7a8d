#!/usr/bin/env bash
# service-notify.sh: what `sluice run` tells systemd (sd_notify, the unit's
# Type=notify), without systemd: a unix datagram socket of our own as
# NOTIFY_SOCKET, the service running a directory of one good pipeline and
# one it refuses. READY=1 comes once both are dealt with, with STATUS=1
# pipeline running, 1 refused; SIGHUP gives RELOADING=1 (with
# MONOTONIC_USEC) then READY=1; SIGTERM gives STOPPING=1. Skipped (77) when
# sluice was built without libsystemd.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
unset SLUICE_STATE_DIR
grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" || {
    echo "# built without libsystemd (configure --with-systemd): no sd_notify to test"
    exit 77
}

etc="$T_TMP/etc"
mkdir -p "$etc/pipelines.d"
t_seq_jsonl 20 "$T_TMP/good.in"
cat > "$etc/pipelines.d/good.cfg" <<CFG
pipeline = {
  name = "notify-good";
  state_dir = "\${SLUICE_STATE_DIR}/good";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/good.in"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/good.out"; }
  );
};
CFG
printf 'pipeline = {\n  name = "notify-bad";\n  batchsize = 5;\n};\n' > "$etc/pipelines.d/bad.cfg"
cat > "$etc/sluice.conf" <<CFG
pipelines_dir = "pipelines.d";
state_dir = "$T_TMP/state";
admin_listen = "off";
CFG

# systemd's side: every datagram on a line of $T_TMP/notify.log.
sock="$T_TMP/notify.sock"
t_bg python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    print("listening", file=out, flush=True)
    while True:
        out.write(s.recv(65536).decode().replace("\n", " ") + "\n")
        out.flush()
' "$sock" "$T_TMP/notify.log"
t_wait_for 60 grep -qx listening "$T_TMP/notify.log" || t_fail "the notify socket did not open"

# line_of PATTERN: the number of the first line of notify.log matching
# PATTERN after line ${after:-0}; fails when there is none.
line_of() {
    awk -v p="$1" -v a="${after:-0}" 'NR > a && $0 ~ p { print NR; found = 1; exit } END { exit !found }' \
        "$T_TMP/notify.log"
}

NOTIFY_SOCKET="$sock" t_bg "$SLUICE" run --service-config "$etc/sluice.conf" 2> "$T_TMP/service.err"
service_pid=$T_LAST_PID
t_wait_for 120 line_of '^READY=1' > /dev/null || t_fail "no READY=1: $(cat "$T_TMP/notify.log")"
ready=$(line_of '^READY=1')
sed -n "${ready}p" "$T_TMP/notify.log" | grep -qx 'READY=1 STATUS=1 pipeline running, 1 refused' \
    || t_fail "READY=1 without the fleet's status: $(sed -n "${ready}p" "$T_TMP/notify.log")"
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/good.out' 2> /dev/null || echo 0)\" -ge 20 ]" \
    || t_fail "the good pipeline did not deliver"

kill -HUP "$service_pid"
after=$ready t_wait_for 120 line_of '^RELOADING=1' > /dev/null || t_fail "no RELOADING=1 after SIGHUP: $(cat "$T_TMP/notify.log")"
reloading=$(after=$ready line_of '^RELOADING=1')
sed -n "${reloading}p" "$T_TMP/notify.log" | grep -q 'MONOTONIC_USEC=[0-9][0-9]*' \
    || t_fail "RELOADING=1 without MONOTONIC_USEC: $(sed -n "${reloading}p" "$T_TMP/notify.log")"
after=$reloading t_wait_for 120 line_of '^READY=1 STATUS=1 pipeline running, 1 refused$' > /dev/null \
    || t_fail "no READY=1 after the reload: $(cat "$T_TMP/notify.log")"
reready=$(after=$reloading line_of '^READY=1')

kill -TERM "$service_pid"
after=$reready t_wait_for 120 line_of '^STOPPING=1' > /dev/null || t_fail "no STOPPING=1 after SIGTERM: $(cat "$T_TMP/notify.log")"
t_wait_for 120 bash -c "! kill -0 $service_pid 2> /dev/null" || t_fail "the service did not stop"
t_note "notifications: $(grep -v '^listening$' "$T_TMP/notify.log" | tr '\n' '|')"
echo "ok: READY=1 with the fleet's status, RELOADING=1/READY=1 around a reload, STOPPING=1"

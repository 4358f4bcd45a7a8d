#!/usr/bin/env bash
# test_annexcloud_webhook_disk_full.sh: annexcloud-source's webhook spool
# on a full disk (review section 16, the spool's part). The pipeline runs
# in a mount namespace of its own with its state_dir on a 4 MiB tmpfs
# (needs the right to mount: root, as in CI; skipped otherwise). Once the
# tmpfs is filled up, each webhook is answered 503 (the sender retries),
# the 503s are logged as a full disk and counted, the source stage stays
# up with its listener; once there is room again webhooks are answered 200
# and arrive. (The core's own commits on a full disk are not exercised
# here: nothing is in flight while the disk is full.)
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

if ! unshare -m --propagation private sh -c "mount -t tmpfs -o size=1m tmpfs '$T_TMP'" 2>/dev/null; then
    echo "cannot mount a tmpfs in a mount namespace here (not root?): skipped"
    exit 77
fi
for tool in nsenter sqlite3; do
    command -v "$tool" > /dev/null || { echo "$tool is missing: skipped"; exit 77; }
done

TOOL="python3 $top_srcdir/tests/integration/webhook_tool.py"
SECRET="wh-secret-$$"
port=$(t_free_port)
hook="http://127.0.0.1:$port/hook"
state="$T_TMP/state"
mkdir -p "$state"

cat > "$T_TMP/wh.cfg" <<CFG
pipeline = {
  name = "diskfull";
  state_dir = "$state";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook";
      listen = "127.0.0.1:$port"; webhook_secret = "$SECRET"; enrich = false; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
t_bg unshare -m --propagation private sh -c 'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" run "$3"' \
    sh "$state" "$SLUICE" "$T_TMP/wh.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
ns_pid=$T_LAST_PID
# in_ns CMD...: run CMD in the pipeline's mount namespace (it sees the tmpfs).
in_ns() { nsenter -t "$ns_pid" -m "$@"; }
listening() { [ "$($TOOL post "$hook" '{}' --timeout 5 | cut -d' ' -f1)" != 000 ]; }
t_wait_for 60 listening || t_fail "the webhook listener did not start: $(tail -3 "$T_TMP/run.stderr")"

# body ID [PAD]: a webhook for member ID, its name PAD bytes long.
body() {
    printf '{"eventId":"%s","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:05+0000","data":{"id":"%s","firstName":"%s","points":{"availablePoints":5},"tiers":{"currentTier":"Bronze"}}}' \
        "$1" "$1" "$(head -c "${2:-1}" /dev/zero | tr '\0' x)"
}
# post BODY: signed POST of BODY (through a file: it may be large); the status.
post() {
    printf '%s' "$1" > "$T_TMP/body.json"
    $TOOL post "$hook" "@$T_TMP/body.json" --secret "$SECRET" | cut -d' ' -f1
}
arrived() { [ -f "$T_TMP/out.jsonl" ] && grep -q "\"loyalty_id\":\"$1\"" "$T_TMP/out.jsonl"; }

code=$(post "$(body ROOM-1)")
[ "$code" = 200 ] || t_fail "a webhook got $code before the disk was full: $(tail -3 "$T_TMP/run.stderr")"
t_wait_for 60 arrived ROOM-1 || t_fail "the first webhook did not arrive"
# Committed end to end (the spool row is pruned on commit): nothing is in
# flight for the core to commit while the disk is full.
committed() { [ "$(in_ns sqlite3 "$state/state.db" 'SELECT count(*) FROM annexcloud_spool')" = 0 ]; }
t_wait_for 60 committed || t_fail "the first webhook was not committed"
src_pid=$(in_ns cat "$state/run/src.pid") || t_fail "no pid file for the source"

# Fill the tmpfs to the last block.
in_ns dd if=/dev/zero of="$state/filler" bs=16k 2> "$T_TMP/dd.err" || true
grep -q 'No space left' "$T_TMP/dd.err" || t_fail "could not fill the tmpfs: $(cat "$T_TMP/dd.err")"
t_note "tmpfs: $(in_ns df -k "$state" | tail -1)"
for i in 1 2 3 4 5 6; do
    code=$(post "$(body FULL-$i 300000)")
    [ "$code" = 503 ] || t_fail "webhook $i on a full disk got $code, want 503"
done
t_wait_for 60 grep -q 'webhook answered 503.*disk full.*so far' "$T_TMP/run.stderr" ||
    t_fail "no warning naming the full disk: $(grep -i 'webhook' "$T_TMP/run.stderr" | tail -3)"
[ "$(in_ns cat "$state/run/src.pid")" = "$src_pid" ] || t_fail "the source stage was restarted on a full disk"
grep -q '"level":"error".*src' "$T_TMP/run.stderr" && t_note "error lines: $(grep '"level":"error"' "$T_TMP/run.stderr" | head -2)"

# Room again: accepted and delivered, by the same process.
in_ns rm -f "$state/filler"
code=$(post "$(body ROOM-2 300000)")
[ "$code" = 200 ] || t_fail "a webhook got $code once there was room again"
t_wait_for 60 arrived ROOM-2 || t_fail "the webhook after the full disk did not arrive"
[ "$(in_ns cat "$state/run/src.pid")" = "$src_pid" ] || t_fail "the source stage was restarted"
grep -q '"FULL-' "$T_TMP/out.jsonl" && t_fail "a webhook answered 503 was emitted"

echo "ok: full disk: 6 webhooks answered 503 and logged as a full disk, the source stayed up (pid $src_pid)," \
    "then 200 and delivered once there was room"

#!/usr/bin/env bash
# test_annexcloud_webhook_idle.sh: an idle webhook pipeline sleeps: over a
# 10 s window in which nothing arrives, the threads of its stage processes
# are switched in fewer than 30 times in all (each wake-up of a thread is
# at least one context switch; the runners polled their sockets every
# 10-100 ms before, thousands in 10 s). A sleeping process is not woken
# by other load, so a busy machine does not change the count. Then what
# must wake it does: a webhook reaches the sink; a `sluice dlq replay`
# queued while it sleeps is taken (the source watches the state
# directory); SIGTERM stops it.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

TOOL="python3 $top_srcdir/tests/integration/webhook_tool.py"
SECRET="wh-secret-$$"
port=$(t_free_port)
hook="http://127.0.0.1:$port/hook"
cat > "$T_TMP/idle.cfg" <<CFG
pipeline = {
  name = "idle";
  state_dir = "$T_TMP/state";
  batch_linger_ms = 200;
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook";
      listen = "127.0.0.1:$port"; webhook_secret = "$SECRET"; enrich = false; },
    { name = "map"; plugin = "field-mapper";
      member = { require = [ "email" ]; fields = ( { to = "id"; from = "loyalty_id"; },
                                                   { to = "email"; from = "email"; } ); };
      drop_kinds = [ "event" ]; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
t_bg "$SLUICE" run "$T_TMP/idle.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
run_pid=$T_LAST_PID
listening() { [ "$($TOOL post "$hook" '{}' --timeout 5 | cut -d' ' -f1)" != 000 ]; }
t_wait_for 120 listening || t_fail "the webhook listener did not start: $(tail -3 "$T_TMP/run.stderr")"
pids=()
for stage in src map out; do
    pid=$(t_wait_stage_pid "$T_TMP/state/run" "$stage") || t_fail "no live process of stage $stage"
    pids+=("$pid")
done
started() { [ "$(grep -c '"\(source\|transform\|sink\) started' "$T_TMP/run.stderr")" -ge 3 ]; }
t_wait_for 120 started || t_fail "the stages did not all start: $(tail -3 "$T_TMP/run.stderr")"
# The first request above ended; the listener's connection is closed.

# switches: context switches of every thread of the stage processes.
switches() {
    local pid total=0 t
    for pid in "${pids[@]}"; do
        for t in /proc/"$pid"/task/*/status; do
            total=$((total + $(awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }' "$t" 2> /dev/null || echo 0)))
        done
    done
    echo "$total"
}
before=$(switches)
sleep 10 # the measuring window: nothing is sent meanwhile
after=$(switches)
woken=$((after - before))
t_note "idle: $woken context switches in 10 s over ${#pids[@]} stage processes"
[ "$woken" -lt 30 ] || t_fail "an idle pipeline's stages were switched in $woken times in 10 s (want < 30): they tick"

# A webhook wakes it.
body='{"eventId":"idle-1","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:05+0000","data":{"id":"IDLE-1","email":"idle@example.com","points":{"availablePoints":5},"tiers":{"currentTier":"Bronze"}}}'
code=$($TOOL post "$hook" "$body" --secret "$SECRET" | cut -d' ' -f1)
[ "$code" = 200 ] || t_fail "the webhook was answered $code"
arrived() { [ -f "$T_TMP/out.jsonl" ] && grep -q '"IDLE-1"' "$T_TMP/out.jsonl"; }
t_wait_for 120 arrived || t_fail "the webhook did not reach the sink: $(tail -3 "$T_TMP/run.stderr")"

# A record the mapper parks (no email), then replayed while the pipeline
# sleeps: the source takes the replay without a webhook to wake it.
body='{"eventId":"idle-2","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:06+0000","data":{"id":"IDLE-2","points":{"availablePoints":6},"tiers":{"currentTier":"Bronze"}}}'
code=$($TOOL post "$hook" "$body" --secret "$SECRET" | cut -d' ' -f1)
[ "$code" = 200 ] || t_fail "the second webhook was answered $code"
parked() { "$SLUICE" dlq list "$T_TMP/idle.cfg" 2> /dev/null | grep -q 'map'; }
t_wait_for 120 parked || t_fail "the record without email was not parked by map"
spool_empty() { [ "$(sqlite3 "$T_TMP/state/state.db" 'select count(*) from annexcloud_spool')" = 0 ]; }
t_wait_for 120 spool_empty || t_fail "the webhooks were not acknowledged"
"$SLUICE" dlq replay "$T_TMP/idle.cfg" --all > "$T_TMP/replay.out" || t_fail "dlq replay failed: $(cat "$T_TMP/replay.out")"
reparked() { grep -q 'replayed DLQ entry [0-9]* parked again by .map.' "$T_TMP/run.stderr"; }
t_wait_for 120 reparked || t_fail "the idle source did not take the replay: $(tail -3 "$T_TMP/run.stderr")"

# SIGTERM stops it (the runners wait without a timeout: the signal wakes them).
kill -TERM "$run_pid"
gone() { ! kill -0 "$run_pid" 2> /dev/null; }
t_wait_for 120 gone || t_fail "the pipeline did not stop on SIGTERM"
echo "ok: $woken wake-ups in 10 s idle; a webhook, a replay and SIGTERM still wake it"

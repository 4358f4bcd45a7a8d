#!/usr/bin/env bash
# test_annexcloud_webhook_backlog.sh: a webhook source with a backlog in
# its spool (the sink stopped while webhooks kept coming) sends it in
# batches of batch_size, never the whole spool at once: webhook and api
# mode read the room left in a batch as capacity - count, which ran below
# zero (unsigned) once a batch was half full, so the next poll took the
# whole spool into memory and into one batch (2 GB of RSS in a soak; a
# frame over max_frame_bytes). Every webhook still arrives once.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

TOOL="python3 $top_srcdir/tests/integration/webhook_tool.py"
SECRET="wh-secret-$$"
port=$(t_free_port)
hook="http://127.0.0.1:$port/hook"
N=400
BATCH=40

cat > "$T_TMP/wh.cfg" <<CFG
pipeline = {
  name = "backlog";
  state_dir = "$T_TMP/state";
  batch_size = $BATCH;
  batch_linger_ms = 50;
  window = 2;
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook";
      listen = "127.0.0.1:$port"; webhook_secret = "$SECRET"; enrich = false; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
t_bg "$SLUICE" --log-level debug run "$T_TMP/wh.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
listening() { [ "$($TOOL post "$hook" '{}' --timeout 5 | cut -d' ' -f1)" != 000 ]; }
t_wait_for 60 listening || t_fail "the webhook listener did not start: $(tail -3 "$T_TMP/run.stderr")"
sink_pid() { t_pid_of_stage "$T_TMP/state/run" out; }
t_wait_for 60 sink_pid || t_fail "no pid file for the sink"
pid=$(sink_pid)

# The sink stops taking batches: the source fills its window and the rest
# waits in the spool.
kill -STOP "$pid"
for i in $(seq 1 $N); do
    printf '{"eventId":"B-%d","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:05+0000","data":{"id":"M-%d","points":{"availablePoints":%d},"tiers":{"currentTier":"Bronze"}}}\n' "$i" "$i" "$i"
done > "$T_TMP/bodies"
$TOOL post-each "$hook" "$T_TMP/bodies" --secret "$SECRET" > "$T_TMP/answers" ||
    t_fail "a webhook was answered $(tail -1 "$T_TMP/answers")"
[ "$(grep -c '^200 ' "$T_TMP/answers")" = "$N" ] || t_fail "not every webhook was answered 200: $(sort "$T_TMP/answers" | cut -d' ' -f1 | uniq -c)"
kill -CONT "$pid"

arrived() { [ -f "$T_TMP/out.jsonl" ] && [ "$(jq -r 'select(.kind != "event") | .loyalty_id' "$T_TMP/out.jsonl" | sort -u | wc -l)" -ge "$N" ]; }
t_wait_for 180 arrived || t_fail "not every webhook arrived: $(jq -r .loyalty_id "$T_TMP/out.jsonl" 2>/dev/null | sort -u | wc -l) of $N"
# every batch the source sent held at most batch_size records
sizes=$(sed -n 's/.*sending batch [0-9]*\/[0-9]* of \([0-9]*\) records.*/\1/p' "$T_TMP/run.stderr" | sort -n | tail -1)
[ -n "$sizes" ] || t_fail "no 'sending batch' lines at debug level"
[ "$sizes" -le "$BATCH" ] || t_fail "a batch of $sizes records left the source (batch_size $BATCH): it read the whole spool"
t_note "largest batch $sizes records (batch_size $BATCH), $N webhooks arrived"

#!/usr/bin/env bash
# admin-health.sh: the admin endpoint of `sluice run` (issue 15, must-show
# 3) with two pipelines, a file pipeline and the Ometria webhook pipeline
# against the emulators: /health is 200 while both run; a stage killed
# three times turns it 503 within 10 s naming the pipeline, the stage and
# the crash loop, and it is 200 again once the crashes leave the window;
# Ometria answering 401 turns it 503 within 10 s naming the pipeline and
# the sink (the pipeline stops for good, the other keeps running), and a
# restart after the key is accepted again is 200. /status names every
# stage with its pid, counts and the last error; `sluice status` prints
# the table, --json and one PIPELINE; a second run on the same port exits
# 69 with a clear message.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=50
e2e_setup ometria
ADMIN_PORT=$(t_free_port)
ADMIN="127.0.0.1:$ADMIN_PORT"

t_seq_jsonl 500 "$T_TMP/in.jsonl"
cat > "$T_TMP/files.cfg" <<CFG
pipeline = {
  name = "files";
  state_dir = "$T_TMP/files-state";
  batch_size = 50;
  restart = { max = 20; window_s = 60; backoff_ms = 100; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "tag"; plugin = "set-field"; field = "meta.tag"; value = "x"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG

health_code() { curl -s -o "$T_TMP/health.json" -w '%{http_code}' --max-time 30 "http://$ADMIN/health"; }
health_is() { [ "$(health_code)" = "$1" ]; }
start_run() {
    ANNEXCLOUD_MODE=webhook t_bg "$SLUICE" run --log-format json --admin-listen "$ADMIN" \
        --health-crash-loop 3 --health-crash-window 20 "$T_TMP/files.cfg" "$E2E_PIPELINE"
    RUN_PID=$T_LAST_PID
}

start_run
t_wait_for 120 health_is 200 || t_fail "/health not 200 at the start: $(cat "$T_TMP/health.json" 2>/dev/null)"
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/out.jsonl' 2>/dev/null)\" = 500 ]" || t_fail "the file pipeline did not deliver"
# /status: both pipelines, every stage with a live pid, counts, commit.
t_wait_for 60 bash -c "curl -s --max-time 30 'http://$ADMIN/status' | jq -e '
    (.pipelines | length) == 2 and
    ([.pipelines[] | select(.name == \"files\")][0] | .state == \"running\" and .records_in == 500
      and .records_out == 500 and .last_commit > 0
      and ([.stages[].name] == [\"src\", \"tag\", \"out\"])
      and ([.stages[].processes[] | select(.alive and .pid > 0)] | length) == 3)' > /dev/null" \
    || t_fail "/status does not show the file pipeline: $(curl -s "http://$ADMIN/status" | head -c 2000)"
curl -s "http://$ADMIN/status" | jq -e '.pipelines[] | select(.name == "acme-ometria-webhook") | .state == "running" and (.stages | length) == 4' > /dev/null \
    || t_fail "/status does not show the webhook pipeline's 4 stages"
# sluice status: the table, --json, one pipeline.
"$SLUICE" status --admin "$ADMIN" > "$T_TMP/status.txt" || t_fail "sluice status exited $?: $(cat "$T_TMP/status.txt")"
grep -Eq '^files +running +ok ' "$T_TMP/status.txt" || t_fail "sluice status table: $(cat "$T_TMP/status.txt")"
grep -Eq '^acme-ometria-webhook +running +ok ' "$T_TMP/status.txt" || t_fail "sluice status table: $(cat "$T_TMP/status.txt")"
"$SLUICE" status --admin "$ADMIN" --json files | jq -e '(.pipelines | length) == 1 and .pipelines[0].name == "files"' > /dev/null \
    || t_fail "sluice status --json files"
set +e
"$SLUICE" status --admin "$ADMIN" nosuch > /dev/null 2> "$T_TMP/nosuch.err"; rc=$?
set -e
[ "$rc" = 66 ] && grep -q "no pipeline named 'nosuch'" "$T_TMP/nosuch.err" || t_fail "sluice status nosuch: exit $rc, $(cat "$T_TMP/nosuch.err")"
# A second run on the same port: exit 69 at once, saying why.
set +e
timeout 120 "$SLUICE" run --admin-listen "$ADMIN" "$T_TMP/files.cfg" > /dev/null 2> "$T_TMP/busy.err"; rc=$?
set -e
[ "$rc" = 69 ] && grep -q "admin-listen $ADMIN: cannot listen: Address already in use" "$T_TMP/busy.err" \
    || t_fail "second run on a busy admin port: exit $rc, $(cat "$T_TMP/busy.err")"
t_note "status: $(grep '^files' "$T_TMP/status.txt" | tr -s ' ')"

# Crash loop: the file pipeline's transform killed three times.
runtime="$T_TMP/files-state/run"
pid=$(t_wait_stage_pid "$runtime" tag)
for i in 1 2 3; do
    kill -9 "$pid"
    pid=$(t_wait_stage_pid "$runtime" tag "$pid") || t_fail "tag not restarted after kill $i"
done
killed=$(date +%s.%N)
t_wait_for 60 health_is 503 || t_fail "/health not 503 after a crash loop: $(cat "$T_TMP/health.json")"
took=$(echo "$(date +%s.%N) - $killed" | bc)
jq -e '.unhealthy | length == 1 and .[0].pipeline == "files" and (.[0].reasons[0].rule == "crash_loop")
       and (.[0].reasons[0].message | test("stage .tag. crash loop: 3 crashes"))' "$T_TMP/health.json" > /dev/null \
    || t_fail "/health does not name the crash loop: $(cat "$T_TMP/health.json")"
[ "$(echo "$took <= 10" | bc)" = 1 ] || t_fail "/health took ${took}s to turn 503 after the crash loop"
t_note "crash loop: 503 after ${took}s: $(jq -c '.unhealthy[0].reasons[0].message' "$T_TMP/health.json")"
# Recovery: the crashes leave the 20 s window.
t_wait_for 120 health_is 200 || t_fail "/health not 200 again after the crash loop: $(cat "$T_TMP/health.json")"
t_note "crash loop: 200 again once the crashes left the window"
# (into a file first: grep -q leaving early would fail curl, and the pipe)
curl -s --max-time 60 "http://$ADMIN/metrics" > "$T_TMP/metrics.txt"
grep -q '^sluice_stage_restarts_total{pipeline="files",stage="tag"} 3$' "$T_TMP/metrics.txt" \
    || t_fail "restarts not counted: $(grep restarts "$T_TMP/metrics.txt")"

# Ometria answers 401: the sink stops for good, /health names it.
curl -s -X POST -d '{"reject_auth":true}' "$OMETRIA_BASE_URL/_emu/faults" > /dev/null
curl -s -X POST -d '{"days":2,"wait":false}' "$ANNEXCLOUD_BASE_URL/_emu/advance" > /dev/null
T_POLL_S=0.05 t_wait_for 300 bash -c "[ \"\$(curl -s --max-time 60 '$OMETRIA_BASE_URL/_emu/stats' | jq '.by_status[\"401\"] // 0')\" -ge 1 ]" \
    || t_fail "no request reached Ometria"
refused=$(date +%s.%N)
t_wait_for 60 health_is 503 || t_fail "/health not 503 after Ometria's 401: $(cat "$T_TMP/health.json")"
took=$(echo "$(date +%s.%N) - $refused" | bc)
jq -e '.unhealthy | length == 1 and .[0].pipeline == "acme-ometria-webhook" and .[0].state == "failed"
       and .[0].reasons[0].rule == "destination_auth" and .[0].reasons[0].stage == "ometria"
       and (.[0].reasons[0].message | test("HTTP 401"))' "$T_TMP/health.json" > /dev/null \
    || t_fail "/health does not name the pipeline and sink: $(cat "$T_TMP/health.json")"
[ "$(echo "$took <= 10" | bc)" = 1 ] || t_fail "/health took ${took}s to turn 503 after the 401"
t_note "401: 503 after ${took}s: $(jq -c '.unhealthy[0].reasons[0].message' "$T_TMP/health.json")"
kill -0 "$RUN_PID" || t_fail "sluice run stopped with the failed pipeline (the other runs)"
curl -s "http://$ADMIN/status" | jq -e '.pipelines[] | select(.name == "files") | .state == "running"' > /dev/null \
    || t_fail "the file pipeline does not run on"
set +e
"$SLUICE" status --admin "$ADMIN" > "$T_TMP/status2.txt"; rc=$?
set -e
[ "$rc" = 1 ] && grep -Eq '^acme-ometria-webhook +failed +UNHEALTHY .*HTTP 401' "$T_TMP/status2.txt" \
    || t_fail "sluice status with a failed pipeline: exit $rc: $(cat "$T_TMP/status2.txt")"

# Recovery: the key is accepted again, the service restarted.
curl -s -X POST -d '{"reject_auth":false}' "$OMETRIA_BASE_URL/_emu/faults" > /dev/null
kill -TERM "$RUN_PID"
t_wait_for 300 bash -c "! kill -0 $RUN_PID 2>/dev/null" || t_fail "sluice run did not stop"
start_run
t_wait_for 120 health_is 200 || t_fail "/health not 200 after the restart: $(cat "$T_TMP/health.json")"
# The webhooks the sender retried arrive: records flow to Ometria again.
t_wait_for 600 bash -c "curl -s --max-time 30 'http://$ADMIN/status' | jq -e '.pipelines[] | select(.name == \"acme-ometria-webhook\") | .records_out > 0' > /dev/null" \
    || t_fail "no record delivered after the recovery"
health_is 200 || t_fail "/health not 200 while records flow again: $(cat "$T_TMP/health.json")"
echo "ok: /health 503 on a crash loop and on a destination's 401, naming pipeline and stage, 200 after recovery; /status and sluice status"

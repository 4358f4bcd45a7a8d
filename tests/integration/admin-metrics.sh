#!/usr/bin/env bash
# admin-metrics.sh: the metrics of issue 15's item 2 list that came last,
# each with a value that means something (not only present):
#  - source position and lag: the Ometria pipeline in api,webhook mode
#    syncs the program's members; once the sync is done,
#    sluice_source_position = sluice_source_position_end = the members the
#    emulator holds and sluice_source_lag = 0 (and /status says the same);
#  - webhook spool: Ometria answering 5xx to everything while a few days
#    of webhooks arrive, sluice_source_spool_depth > 0 and
#    sluice_source_spool_oldest_age_seconds > 0; once Ometria answers
#    again, both are 0 and every webhook is delivered;
#  - reloads: under `sluice run --dir`, sluice_reloads_total and
#    sluice_last_reload_timestamp_seconds count and date a `sluice reload`
#    (and a pipeline it restarted has sluice_pipeline_reloads_total 1);
#    /status has the same under "reloads";
#  - the token-bucket wait (sluice_throttle_wait_seconds_total) exists for
#    the rate-limited sink.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=60
e2e_setup ometria
ADMIN="127.0.0.1:$(t_free_port)"
members=$(curl -s --max-time 60 "$ANNEXCLOUD_BASE_URL/_emu/state" | jq '.members | length')
[ "${members:-0}" -gt 0 ] || t_fail "the Annex Cloud emulator holds no members"

# metric NAME LABELS: the value of one sample of /metrics ("" if none);
# LABELS '' for a sample without labels.
metric() {
    local want="$1{$2}"
    [ -n "$2" ] || want=$1
    # awk reads to the end: leaving at the first match would let curl fail
    # writing the rest (exit 23), which pipefail turns into this function's
    # status, and set -e then ends the test in `x=$(metric ...)`.
    curl -s --max-time 30 "http://$ADMIN/metrics" |
        awk -v want="$want" '!found && index($0, want " ") == 1 { print $2; found = 1 }'
}
P='pipeline="acme-ometria-webhook",stage="annexcloud"'

ANNEXCLOUD_MODE=api,webhook t_bg "$SLUICE" run --log-format json --admin-listen "$ADMIN" \
    "$E2E_PIPELINE" > "$T_TMP/run.out" 2> "$T_TMP/run.err"
# (the searches list the members who opted in since `since`: at most all)
t_wait_for 300 bash -c "$(declare -f metric); ADMIN=$ADMIN; e=\$(metric sluice_source_position_end '$P'); [ \"\${e:-0}\" -gt 0 ] && [ \"\$e\" -le $members ] && [ \"\$(metric sluice_source_position '$P')\" = \"\$e\" ]" \
    || t_fail "position after the sync: $(metric sluice_source_position "$P") of $(metric sluice_source_position_end "$P"), $members members"
listed=$(metric sluice_source_position_end "$P")
[ "$(metric sluice_source_lag "$P")" = 0 ] || t_fail "lag after the sync: $(metric sluice_source_lag "$P")"
curl -s --max-time 30 "http://$ADMIN/status" | jq -e ".pipelines[0].position.read == $listed and .pipelines[0].position.end == $listed" > /dev/null \
    || t_fail "/status position: $(curl -s "http://$ADMIN/status" | jq -c '.pipelines[0].position')"
[ -n "$(metric sluice_throttle_wait_seconds_total 'pipeline="acme-ometria-webhook",stage="ometria"')" ] \
    || t_fail "no sluice_throttle_wait_seconds_total for the rate-limited sink"
t_wait_for 120 bash -c "$(declare -f metric); ADMIN=$ADMIN; [ \"\$(metric sluice_source_spool_depth '$P')\" = 0 ]" \
    || t_fail "spool depth before any webhook: $(metric sluice_source_spool_depth "$P")"
t_note "after the sync: position $(metric sluice_source_position "$P")/$(metric sluice_source_position_end "$P"), lag $(metric sluice_source_lag "$P"), spool $(metric sluice_source_spool_depth "$P")"

# Ometria down (5xx to everything) while webhooks arrive: they wait in the spool.
curl -s -X POST -d '{"fail_rate":1.0}' "$OMETRIA_BASE_URL/_emu/faults" > /dev/null
curl -s -X POST -d '{"days":3,"wait":false}' "$ANNEXCLOUD_BASE_URL/_emu/advance" > /dev/null
t_wait_for 300 bash -c "$(declare -f metric); ADMIN=$ADMIN; d=\$(metric sluice_source_spool_depth '$P'); a=\$(metric sluice_source_spool_oldest_age_seconds '$P'); [ \"\${d%%.*}\" -gt 0 ] && [ \"\${a%%.*}\" -gt 0 ]" \
    || t_fail "spool while Ometria fails: depth $(metric sluice_source_spool_depth "$P"), oldest age $(metric sluice_source_spool_oldest_age_seconds "$P")"
depth=$(metric sluice_source_spool_depth "$P")
age=$(metric sluice_source_spool_oldest_age_seconds "$P")
curl -s --max-time 30 "http://$ADMIN/status" | jq -e '.pipelines[0].spool.depth > 0 and .pipelines[0].spool.oldest_at > 0' > /dev/null \
    || t_fail "/status spool: $(curl -s "http://$ADMIN/status" | jq -c '.pipelines[0].spool')"
t_note "while Ometria fails: spool depth $depth, oldest $age s old"

# Ometria back: everything delivered, the spool empty again.
curl -s -X POST -d '{"fail_rate":0}' "$OMETRIA_BASE_URL/_emu/faults" > /dev/null
T_POLL_S=0.5 t_wait_for 600 bash -c "curl -s --max-time 60 '$ANNEXCLOUD_BASE_URL/_emu/state' | jq -e '.webhooks.sent > 0 and .webhooks.sent == .webhooks.delivered + .webhooks.failed' > /dev/null" \
    || t_fail "webhooks not delivered: $(curl -s "$ANNEXCLOUD_BASE_URL/_emu/state" | jq -c .webhooks)"
T_POLL_S=0.5 t_wait_for 600 bash -c "$(declare -f metric); ADMIN=$ADMIN; [ \"\$(metric sluice_source_spool_depth '$P')\" = 0 ] && [ \"\$(metric sluice_source_spool_oldest_age_seconds '$P')\" = 0 ]" \
    || t_fail "spool after Ometria came back: depth $(metric sluice_source_spool_depth "$P"), age $(metric sluice_source_spool_oldest_age_seconds "$P")"
kill -TERM "$T_LAST_PID"
t_wait_for 120 bash -c "! kill -0 $T_LAST_PID 2>/dev/null" || t_fail "the run did not stop"

# Reloads under --dir.
D="$T_TMP/fleet"
mkdir -p "$D"
t_seq_jsonl 10 "$T_TMP/in.jsonl"
cat > "$D/files.cfg" <<CFG
pipeline = {
  name = "files";
  state_dir = "$T_TMP/files-state";
  batch_linger_ms = 50;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
ADMIN="127.0.0.1:$(t_free_port)"
t_bg "$SLUICE" run --log-format json --dir "$D" --pid-file "$T_TMP/sluice.pid" \
    --admin-listen "$ADMIN" > "$T_TMP/fleet.out" 2> "$T_TMP/fleet.err"
t_wait_for 120 bash -c "$(declare -f metric); ADMIN=$ADMIN; [ \"\$(metric sluice_reloads_total '')\" = 0 ]" \
    || t_fail "sluice_reloads_total at the start: '$(metric sluice_reloads_total '')'"
[ "$(metric sluice_last_reload_timestamp_seconds '')" = 0 ] || t_fail "a last reload before any"
before=$(date +%s)
sed -i 's/batch_linger_ms = 50/batch_linger_ms = 60/' "$D/files.cfg"
"$SLUICE" reload --pid-file "$T_TMP/sluice.pid" > /dev/null || t_fail "sluice reload exited $?"
t_wait_for 120 bash -c "$(declare -f metric); ADMIN=$ADMIN; [ \"\$(metric sluice_reloads_total '')\" = 1 ] && [ \"\$(metric sluice_pipeline_reloads_total 'pipeline=\"files\"')\" = 1 ]" \
    || t_fail "after a reload: sluice_reloads_total '$(metric sluice_reloads_total '')', files restarted by reloads '$(metric sluice_pipeline_reloads_total 'pipeline="files"')'"
at=$(metric sluice_last_reload_timestamp_seconds '')
[ "${at%%.*}" -ge "$before" ] && [ "${at%%.*}" -le "$(date +%s)" ] || t_fail "last reload at $at, the reload was at $before or after"
curl -s --max-time 30 "http://$ADMIN/status" | jq -e ".reloads.total == 1 and .reloads.last_at >= $before and .reloads.last_refused == 0 and .pipelines[0].reloads == 1" > /dev/null \
    || t_fail "/status reloads: $(curl -s "http://$ADMIN/status" | jq -c '{reloads, r: .pipelines[0].reloads}')"
echo "ok: source position/lag after the sync ($listed of $members members listed), spool depth $depth and oldest age $age s while Ometria failed, 0 after; reloads counted and dated in /metrics and /status"

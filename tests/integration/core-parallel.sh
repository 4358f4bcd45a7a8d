#!/usr/bin/env bash
# core-parallel.sh: two pipelines from one `sluice run a.cfg b.cfg` run as
# independent process groups: killing a stage of one (kill -9) is repaired
# by its supervisor, and the other is not disturbed (no restart, complete
# output).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

for p in a b; do
    t_seq_jsonl 20000 "$T_TMP/in-$p.jsonl"
    cat > "$T_TMP/$p.cfg" <<CFG
pipeline = {
  name = "par-$p";
  state_dir = "$T_TMP/state-$p";
  batch_size = 50;
  ack_timeout_ms = 120000; # b must never rewind, however busy the machine
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in-$p.jsonl"; follow = true; },
    { name = "tag"; plugin = "set-field"; field = "p"; value = "$p"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$p.jsonl"; }
  );
};
CFG
done
t_bg "$SLUICE" run --log-format json "$T_TMP/a.cfg" "$T_TMP/b.cfg"
sup=$T_LAST_PID
exec 3>"$T_TMP/run.log"
t_wait_for 120 test -s "$T_TMP/out-a.jsonl" || t_fail "pipeline a produced nothing"
t_wait_for 120 test -s "$T_TMP/out-b.jsonl" || t_fail "pipeline b produced nothing"
b_tag_before=$(t_wait_stage_pid "$T_TMP/state-b/run" tag) || t_fail "no live tag stage in pipeline b"
a_tag=$(t_wait_stage_pid "$T_TMP/state-a/run" tag) || t_fail "no live tag stage in pipeline a"
kill -9 "$a_tag"
# Both pipelines finish their input (a after its restart and replay).
T_POLL_S=0.5 t_wait_for 300 bash -c "[ \$(jq -r .id '$T_TMP/out-a.jsonl' | sort -u | wc -l) -eq 20000 ]" \
    || t_fail "pipeline a did not recover: $(jq -r .id "$T_TMP/out-a.jsonl" | sort -u | wc -l) of 20000"
t_wait_for 300 bash -c "[ \$(wc -l < '$T_TMP/out-b.jsonl') -eq 20000 ]" \
    || t_fail "pipeline b incomplete"
b_tag_after=$(t_pid_of_stage "$T_TMP/state-b/run" tag) || t_fail "pipeline b's stage has no pid file"
[ "$b_tag_before" = "$b_tag_after" ] || t_fail "pipeline b's stage was restarted ($b_tag_before -> $b_tag_after)"
a_tag_after=$(t_wait_stage_pid "$T_TMP/state-a/run" tag "$a_tag") || t_fail "pipeline a's stage was not restarted"
[ "$a_tag" != "$a_tag_after" ] || t_fail "pipeline a's stage was not restarted"
# b saw no duplicates: it was never disturbed.
[ "$(jq -r .id "$T_TMP/out-b.jsonl" | sort | uniq -d | wc -l)" -eq 0 ] || t_fail "pipeline b has duplicates"
kill -TERM "$sup"
t_wait_for 120 bash -c "! kill -0 $sup" || t_fail "sluice run did not stop on SIGTERM"
wait "$sup" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || t_fail "graceful stop exited $rc"
echo "ok: killing a stage of pipeline a left pipeline b untouched"

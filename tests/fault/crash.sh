#!/usr/bin/env bash
# crash.sh: at-least-once under kill -9. While 100,000 member records flow
# through file-source -> set-field -> set-field -> file-sink (a process per
# stage), each stage in turn is killed with SIGKILL at random moments,
# several rounds. When `sluice run --once` completes, every input record is
# in the output at least once and the source checkpoint is at the end of
# the input. Then the graceful case: SIGTERM mid-run exits 0, and a second
# run completes with no record duplicated.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

records=${CRASH_RECORDS:-100000}
rounds=${CRASH_ROUNDS:-2}
"$top_builddir/tests/bench_records" "$top_srcdir/tests/bench/member-sample.json" "$records" > "$T_TMP/in.jsonl"

# write_cfg NAME ACK_TIMEOUT_MS: the pipeline. The graceful run must not
# rewind (its output is checked for duplicates), so its ack timeout is far
# beyond any stall of a busy machine.
write_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = 200;
  window = 4;
  ack_timeout_ms = $2;
  restart = { max = 100; window_s = 120; backoff_ms = 50; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "t1"; plugin = "set-field"; field = "t1"; value = "a"; },
    { name = "t2"; plugin = "set-field"; field = "t2"; value = "b"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$1.jsonl"; }
  );
};
CFG
}

ids_in=$(awk 'END { print NR }' "$T_TMP/in.jsonl")

# --- kill -9 each stage in turn, several rounds
write_cfg crash 5000
t_bg "$SLUICE" run --once --log-format json "$T_TMP/crash.cfg" 2> "$T_TMP/crash.log"
run=$T_LAST_PID
# stage_up_or_run_over STAGE: the stage runs (its pid in $pid), or the run
# ended. A stage killed in the previous round waits out its restart backoff.
stage_up_or_run_over() {
    pid=$(t_pid_of_stage "$T_TMP/state-crash/run" "$1") && kill -0 "$pid" && return 0
    pid=""
    ! kill -0 "$run"
}
kills=0
for round in $(seq "$rounds"); do
    for stage in src t1 t2 out; do
        # pacing, not waiting: kill at random moments of the run
        sleep "0.$(( (RANDOM % 5) + 2 ))"
        t_wait_for 120 stage_up_or_run_over "$stage" || t_fail "no live process for $stage"
        [ -n "$pid" ] || break 2
        if kill -9 "$pid" 2>/dev/null; then
            kills=$((kills + 1))
            t_note "round $round: killed $stage (pid $pid)"
        fi
    done
done
t_wait_for 900 bash -c "! kill -0 $run" || t_fail "pipeline did not finish after the kills"
wait "$run" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || t_fail "sluice run --once exited $rc after crashes"
[ "$kills" -ge 4 ] || t_fail "only $kills kills landed: the run was too short to test anything"
missing=$(comm -23 <(jq -r .loyalty_id "$T_TMP/in.jsonl" | sort -u) <(jq -r .loyalty_id "$T_TMP/out-crash.jsonl" | sort -u) | wc -l)
[ "$missing" -eq 0 ] || t_fail "$missing records lost after $kills kills"
total=$(wc -l < "$T_TMP/out-crash.jsonl")
size=$(stat -c %s "$T_TMP/in.jsonl")
offset=$(sqlite3 "$T_TMP/state-crash/state.db" "select json_extract(value, '\$.offset') from checkpoints where stage = 'src'")
[ "$offset" = "$size" ] || t_fail "checkpoint $offset, input size $size"
t_note "$kills kills: $ids_in records in, $total lines out ($((total - ids_in)) replayed duplicates), none lost"

# --- graceful stop: SIGTERM drains and commits, a rerun duplicates nothing
write_cfg graceful 600000
t_bg "$SLUICE" run --once "$T_TMP/graceful.cfg" 2> "$T_TMP/graceful.log"
run=$T_LAST_PID
t_wait_for 120 test -s "$T_TMP/out-graceful.jsonl" || t_fail "graceful run produced nothing"
sleep 0.5 # pacing, not waiting: SIGTERM in the middle of the run
kill -TERM "$run"
t_wait_for 300 bash -c "! kill -0 $run" || t_fail "SIGTERM did not stop the pipeline"
wait "$run" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || t_fail "graceful stop exited $rc"
partial=$(wc -l < "$T_TMP/out-graceful.jsonl")
[ "$partial" -lt "$ids_in" ] || t_note "the run finished before SIGTERM arrived"
timeout 900 "$SLUICE" run --once "$T_TMP/graceful.cfg" > /dev/null 2> "$T_TMP/graceful2.log" \
    || t_fail "second run failed: $(tail -3 "$T_TMP/graceful2.log")"
dups=$(jq -r .loyalty_id "$T_TMP/out-graceful.jsonl" | sort | uniq -d | wc -l)
lines=$(wc -l < "$T_TMP/out-graceful.jsonl")
[ "$dups" -eq 0 ] || t_fail "$dups records duplicated after a graceful stop"
[ "$lines" -eq "$ids_in" ] || t_fail "$lines records after resume, expected $ids_in"
echo "ok: $kills kill -9s lost nothing; SIGTERM after $partial records resumed with no duplicate"

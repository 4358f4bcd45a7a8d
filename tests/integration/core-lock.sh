#!/usr/bin/env bash
# core-lock.sh: one pipeline runs once. A second `sluice run` of a running
# pipeline exits 75 at once, naming the pipeline and the pid holding it,
# and leaves the first undisturbed: its stage processes keep their pids and
# its sockets, and it still delivers records appended after the attempt.
# The lock goes with the first run: once it stopped, the pipeline starts.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
# no admin endpoint: not under test here, and its port may be taken
export SLUICE_ADMIN_LISTEN=off

t_seq_jsonl 100 "$T_TMP/in.jsonl"
cat > "$T_TMP/lock.cfg" <<CFG
pipeline = {
  name = "lock-test";
  state_dir = "$T_TMP/state";
  batch_size = 10;
  batch_linger_ms = 50;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
run_dir="$T_TMP/state/run"
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

t_bg "$SLUICE" run --log-format json "$T_TMP/lock.cfg" 2> "$T_TMP/first.err"
first=$T_LAST_PID
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/out.jsonl' 2>/dev/null)\" = 100 ]" \
    || t_fail "first run did not deliver the 100 records: $(lines "$T_TMP/out.jsonl")"
src_pid=$(t_wait_stage_pid "$run_dir" src)
out_pid=$(t_wait_stage_pid "$run_dir" out)

# The second run leaves at once with 75 and the message.
rc=0
timeout 60 "$SLUICE" run "$T_TMP/lock.cfg" > "$T_TMP/second.out" 2> "$T_TMP/second.err" || rc=$?
[ "$rc" -eq 75 ] || t_fail "second run exited $rc, expected 75: $(cat "$T_TMP/second.err")"
grep -q "pipeline lock-test is already running (pid $first)" "$T_TMP/second.err" \
    || t_fail "second run's message: $(cat "$T_TMP/second.err")"
# --once is refused the same way.
rc=0
timeout 60 "$SLUICE" run --once "$T_TMP/lock.cfg" > /dev/null 2> "$T_TMP/third.err" || rc=$?
[ "$rc" -eq 75 ] || t_fail "second --once run exited $rc, expected 75: $(cat "$T_TMP/third.err")"

# The first is undisturbed: same stage processes, and it still delivers.
[ "$(t_pid_of_stage "$run_dir" src)" = "$src_pid" ] || t_fail "source process changed"
[ "$(t_pid_of_stage "$run_dir" out)" = "$out_pid" ] || t_fail "sink process changed"
kill -0 "$first" || t_fail "first run died"
awk 'BEGIN { for (i = 101; i <= 150; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' >> "$T_TMP/in.jsonl"
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/out.jsonl')\" = 150 ]" \
    || t_fail "first run stopped delivering after the second attempt: $(lines "$T_TMP/out.jsonl") of 150"
[ "$(jq -r .id "$T_TMP/out.jsonl" | sort -n | uniq | wc -l)" = 150 ] || t_fail "records duplicated or lost"
! grep -q '"level":"warn"\|"level":"error"' "$T_TMP/first.err" \
    || t_fail "the first run logged trouble: $(grep '"level":"warn"\|"level":"error"' "$T_TMP/first.err" | head -3)"

# Once the first has stopped, the pipeline starts again.
kill -TERM "$first"
t_wait_for 120 bash -c "! kill -0 $first 2>/dev/null" || t_fail "first run did not stop"
# (the same pipeline, reading to the end of the file instead of following)
sed 's/follow = true/follow = false/' "$T_TMP/lock.cfg" > "$T_TMP/lock-once.cfg"
timeout 600 "$SLUICE" run --once "$T_TMP/lock-once.cfg" > "$T_TMP/again.out" 2> "$T_TMP/again.err" \
    || t_fail "run after the first stopped exited $?: $(tail -3 "$T_TMP/again.err")"
echo "ok: a second run exits 75 naming pid $first; the first keeps its processes and delivers"

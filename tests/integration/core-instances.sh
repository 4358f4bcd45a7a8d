#!/usr/bin/env bash
# core-instances.sh: a stateless transform run as several processes
# (`instances = 3`). First a --once run: the sink gets every record exactly
# once and in the source's order, the batches having been dealt out to
# three processes (each shows in the CPU line and did some of the work).
# Then, with faults: while input keeps arriving, kill -9 one instance,
# then another, the source that deals the batches out, the re-sequencing
# sink, and a third instance; the supervisor restarts each,
# the source rewinds, and in the end every record arrived, and the first
# arrival of each is in the source's order (a replay may repeat a tail,
# never reorder or skip). A malformed input line is parked
# in the dead-letter queue with its FILE:LINE and the run exits 2.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

# The --once runs must not rewind, so their ack timeout is far beyond any
# stall of a busy machine (a batch dropped at the sink would show as
# "without its predecessors" all the same); the run with kills keeps 5 s.
write_cfg() { # NAME INPUT OUTPUT FOLLOW [ACK_TIMEOUT_MS]
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "inst-$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = 50;
  batch_linger_ms = 20;
  ack_timeout_ms = ${5:-120000};
  restart = { max = 20; window_s = 60; backoff_ms = 100; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$2"; follow = $4; },
    { name = "tag"; plugin = "set-field"; field = "t"; value = "x"; instances = 3; },
    { name = "out"; plugin = "file-sink"; path = "$3"; }
  );
};
CFG
}

# first_arrivals FILE: the ids in order of first appearance.
first_arrivals() { jq -r .id "$1" | awk '!seen[$1]++'; }

# --- 1. --once: complete, exactly once, in order, no rewind ---------------
t_seq_jsonl 20000 "$T_TMP/in-once.jsonl"
write_cfg once "$T_TMP/in-once.jsonl" "$T_TMP/out-once.jsonl" false
timeout 600 "$SLUICE" run --once "$T_TMP/once.cfg" > "$T_TMP/once.stdout" 2> "$T_TMP/once.stderr" \
    || t_fail "--once run failed: $(tail -5 "$T_TMP/once.stderr")"
[ "$(wc -l < "$T_TMP/out-once.jsonl")" -eq 20000 ] \
    || t_fail "--once delivered $(wc -l < "$T_TMP/out-once.jsonl") lines, expected 20000"
jq -r .id "$T_TMP/out-once.jsonl" | cmp -s - <(seq 20000) \
    || t_fail "--once output is not ids 1..20000 in order"
[ "$(jq -r .t "$T_TMP/out-once.jsonl" | sort -u)" = x ] || t_fail "some records were not transformed"
# batches that overtook one another waited at the sink: none was dropped
# there (which would cost a rewind and an ack timeout each)
if grep -E "without its predecessors|rewinding" "$T_TMP/once.stderr"; then
    t_fail "the sink dropped batches that came out of order instead of holding them"
fi
grep -q "20000 records in, 20000 delivered" "$T_TMP/once.stdout" \
    || t_fail "summary: $(cat "$T_TMP/once.stdout")"
for k in 1 2 3; do
    cpu=$(sed -n "s/.* tag#$k \([0-9.]*\)s,.*/\1/p" "$T_TMP/once.stdout")
    [ -n "$cpu" ] || t_fail "CPU line does not list tag#$k: $(tail -1 "$T_TMP/once.stdout")"
done
# the CPU line witnesses that the work was shared
busy=$(grep -o 'tag#[123] [0-9.]*s' "$T_TMP/once.stdout" | awk '$2 + 0 > 0' | wc -l)
[ "$busy" -ge 2 ] || t_fail "fewer than 2 instances used CPU: $(tail -1 "$T_TMP/once.stdout")"

# --- 2. a malformed line: parked with FILE:LINE, the rest delivered in order --
awk 'NR == 777 { print "{\"id\":777,}"; next } { print }' "$T_TMP/in-once.jsonl" > "$T_TMP/in-bad.jsonl"
write_cfg bad "$T_TMP/in-bad.jsonl" "$T_TMP/out-bad.jsonl" false
timeout 600 "$SLUICE" run --once "$T_TMP/bad.cfg" > "$T_TMP/bad.stdout" 2> "$T_TMP/bad.stderr" && rc=0 || rc=$?
[ "$rc" -eq 2 ] || t_fail "a run with a dead-lettered record exited $rc, expected 2"
jq -r .id "$T_TMP/out-bad.jsonl" | cmp -s - <(seq 20000 | grep -vx 777) \
    || t_fail "with a bad line the others did not all arrive in order"
"$SLUICE" dlq list "$T_TMP/bad.cfg" > "$T_TMP/bad.dlq" 2>&1
grep -q "in-bad.jsonl:777: invalid JSON" "$T_TMP/bad.dlq" \
    || t_fail "the bad line is not in the DLQ with its FILE:LINE: $(cat "$T_TMP/bad.dlq")"

# --- 3. kill -9 instances and the re-sequencer while input arrives ----------
: > "$T_TMP/in-kill.jsonl"
write_cfg kill "$T_TMP/in-kill.jsonl" "$T_TMP/out-kill.jsonl" true 5000
t_bg "$SLUICE" run "$T_TMP/kill.cfg" 2> "$T_TMP/kill.err"
sup=$T_LAST_PID
run="$T_TMP/state-kill/run"
chunk=8000
chunks=10
total=$((chunk * chunks))
kills=0
for c in $(seq 0 $((chunks - 1))); do
    awk -v a=$((c * chunk + 1)) -v b=$(((c + 1) * chunk)) \
        'BEGIN { for (i = a; i <= b; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' \
        >> "$T_TMP/in-kill.jsonl"
    # pacing, not waiting: the kills land while batches are in flight
    sleep 0.05
    stage=""
    case $c in
        2) stage='tag#2' ;;
        4) stage='tag#1' ;;
        5) stage=src ;; # the stage dealing batches out
        6) stage=out ;;
        8) stage='tag#3' ;;
    esac
    if [ -n "$stage" ]; then
        # a slow machine may not have started it yet (or restarted it)
        victim=$(t_wait_stage_pid "$run" "$stage") || t_fail "no live process for $stage"
        kill -9 "$victim" && kills=$((kills + 1))
    fi
    sleep 0.4 # pacing too
done
[ "$kills" -eq 5 ] || t_fail "only $kills of 5 processes found to kill"
T_POLL_S=0.5 t_wait_for 600 bash -c "[ \$(jq -r .id '$T_TMP/out-kill.jsonl' 2> /dev/null | sort -u | wc -l) -eq $total ]" \
    || t_fail "after the kills $(jq -r .id "$T_TMP/out-kill.jsonl" | sort -u | wc -l) of $total ids arrived"
first_arrivals "$T_TMP/out-kill.jsonl" | cmp -s - <(seq "$total") \
    || t_fail "first arrivals are not in the source's order (a batch was reordered or skipped)"
kill -TERM "$sup"
t_wait_for 120 bash -c "! kill -0 $sup" || t_fail "sluice run did not stop on SIGTERM"
wait "$sup" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || t_fail "graceful stop exited $rc"
restarts=$(grep -c "restarting in" "$T_TMP/kill.err" 2> /dev/null || true)
dups=$(($(wc -l < "$T_TMP/out-kill.jsonl") - total))
echo "ok: 3 instances: $total records complete and in order after 5 kill -9 ($restarts restarts logged, $dups replayed duplicates)"

#!/usr/bin/env bash
# core-idle.sh: an idle `sluice run` wakes for nothing (issue 15, item 6).
# Once a pipeline has delivered what it had, its supervisor and the run
# process (admin endpoint threads included) see no wake-up at all: their
# context switches (/proc/PID/task/*/status) do not move over a window of
# QUIET_S seconds. Before, the supervisor and the run process woke every
# second and the admin endpoint's sampler every 2 s. The same for
# `sluice run --dir` (its fleet process and the supervisor). Then a crash
# is still restarted (with its backoff) and the run still stops on SIGTERM:
# sleeping without a timer did not cost the supervisor its deadlines.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
QUIET_S=4

t_seq_jsonl 30 "$T_TMP/in.jsonl"
pipeline_cfg() { # NAME: a file pipeline (follow: it stays up once done)
    cat <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/$1-state";
  batch_size = 10;
  batch_linger_ms = 50;
  restart = { max = 5; window_s = 60; backoff_ms = 300; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/$1-out.jsonl"; }
  );
};
CFG
}

# switches PID...: the context switches of every thread of the PIDs, summed.
switches() {
    local total=0 pid f n
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/status; do
            n=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$f" 2> /dev/null || echo 0)
            total=$((total + n))
        done
    done
    echo "$total"
}
# quiet_window PID...: succeeds when the PIDs were not switched in once
# during QUIET_S seconds (an observation window, not a wait for an event).
quiet_window() {
    local before after
    before=$(switches "$@")
    sleep "$QUIET_S"
    after=$(switches "$@")
    echo "$((after - before))" > "$T_TMP/last-window"
    [ "$after" = "$before" ]
}
# supervisor_of RUN_PID: the pid of its (only) child.
supervisor_of() { cat /proc/"$1"/task/*/children | awk '{ print $1; exit }'; }
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

# sluice run FILE with its admin endpoint (asked once, as a scraper would).
pipeline_cfg single > "$T_TMP/single.cfg"
ADMIN="127.0.0.1:$(t_free_port)"
t_bg "$SLUICE" run --log-format json --admin-listen "$ADMIN" "$T_TMP/single.cfg" 2> "$T_TMP/single.err"
run=$T_LAST_PID
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/single-out.jsonl' 2>/dev/null)\" = 30 ]" \
    || t_fail "the pipeline did not deliver: $(lines "$T_TMP/single-out.jsonl")"
curl -sf -o /dev/null --max-time 30 "http://$ADMIN/metrics" || t_fail "no /metrics"
t_wait_for 120 bash -c "[ -n \"\$(cat /proc/$run/task/*/children)\" ]" || t_fail "no supervisor"
sup=$(supervisor_of "$run")
# a window with no wake-up comes once the start is over (generous deadline)
T_POLL_S=0 t_wait_for 120 quiet_window "$run" "$sup" \
    || t_fail "the run process and its supervisor never stayed asleep for $QUIET_S s (last window: $(cat "$T_TMP/last-window") switches)"
t_note "sluice run: run process and supervisor: 0 context switches in $QUIET_S s"

# The supervisor still keeps its deadlines: a killed stage restarts after
# its backoff, and a record appended then is delivered.
out_pid=$(t_wait_stage_pid "$T_TMP/single-state/run" out)
kill -9 "$out_pid"
t_wait_for 120 bash -c "p=\$(cat '$T_TMP/single-state/run/out.pid' 2>/dev/null); [ -n \"\$p\" ] && [ \"\$p\" != $out_pid ] && kill -0 \$p" \
    || t_fail "the killed sink was not restarted: $(tail -3 "$T_TMP/single.err")"
grep -q "stage 'out' killed by signal 9, restarting in 300 ms" "$T_TMP/single.err" \
    || t_fail "no restart with its backoff in the log: $(grep -m2 restart "$T_TMP/single.err")"
echo '{"id":31}' >> "$T_TMP/in.jsonl"
t_wait_for 120 bash -c "grep -q '\"id\":31' '$T_TMP/single-out.jsonl'" || t_fail "a record after the restart was not delivered"
kill -TERM "$run"
t_wait_for 120 bash -c "! kill -0 $run 2>/dev/null" || t_fail "sluice run did not stop on SIGTERM"

# sluice run --dir: the fleet process and the supervisor.
mkdir -p "$T_TMP/dir"
pipeline_cfg fleet > "$T_TMP/dir/fleet.cfg"
t_bg "$SLUICE" run --log-format json --dir "$T_TMP/dir" --pid-file "$T_TMP/sluice.pid" \
    --admin-listen off 2> "$T_TMP/fleet.err"
run=$T_LAST_PID
t_wait_for 120 bash -c "[ \"\$(wc -l < '$T_TMP/fleet-out.jsonl' 2>/dev/null)\" -ge 30 ]" \
    || t_fail "the fleet's pipeline did not deliver: $(lines "$T_TMP/fleet-out.jsonl")"
t_wait_for 120 bash -c "[ -n \"\$(cat /proc/$run/task/*/children)\" ]" || t_fail "no supervisor"
sup=$(supervisor_of "$run")
T_POLL_S=0 t_wait_for 120 quiet_window "$run" "$sup" \
    || t_fail "the fleet process and its supervisor never stayed asleep for $QUIET_S s (last window: $(cat "$T_TMP/last-window") switches)"
kill -TERM "$run"
t_wait_for 120 bash -c "! kill -0 $run 2>/dev/null" || t_fail "sluice run --dir did not stop on SIGTERM"
echo "ok: idle run process, fleet process and supervisors: no wake-up in $QUIET_S s; restarts and SIGTERM still work"

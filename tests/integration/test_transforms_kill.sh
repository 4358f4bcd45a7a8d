#!/usr/bin/env bash
# test_transforms_kill.sh: the Ometria pipeline of test_transforms_pipeline.sh
# while the tier-event-deriver is killed with SIGKILL mid-run (the
# supervisor restarts it and the source replays what was not acknowledged).
# Derived events must equal the truth exactly: a missing, different or
# extra event fails (an extra one would mean a replay derived from state
# that lost an acknowledged batch).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/test_transforms_lib.sh"

# --- the deriver killed with SIGKILL mid-run: the same events, none lost.
# Smaller batches make the short run long enough for the kills to land
# mid-run; the long run is long anyway and keeps the usual 500.
rm -rf "$T_TMP/state-ometria" "$T_TMP/out-ometria.jsonl"
write_cfg ometria ometria "$lists" "$([ -n "${SLUICE_LONG_TESTS:-}" ] && echo 500 || echo 100)"
t_bg "$SLUICE" run --once "$T_TMP/ometria.cfg"
run=$T_LAST_PID
kills=0
started=$SECONDS
runtime="$T_TMP/state-ometria/run"
out_lines() { [ -f "$T_TMP/out-ometria.jsonl" ] && wc -l < "$T_TMP/out-ometria.jsonl" || echo 0; }
# deriver_up_or_run_over [OLD_PID]: the deriver runs as a process other
# than OLD_PID (its pid in $deriver), or the run ended.
deriver_up_or_run_over() {
    deriver=$(t_pid_of_stage "$runtime" derive) && [ "$deriver" != "${1:-}" ] && kill -0 "$deriver" && return 0
    deriver=""
    ! kill -0 "$run"
}
# grown_or_run_over N: more than N records came out, or the run ended.
grown_or_run_over() { [ "$(out_lines)" -gt "$1" ] || ! kill -0 "$run"; }
# kill_deriver: SIGKILL the deriver if the run is still going, note when and
# how far the run was, and wait for the supervisor to restart it (the
# restart backoff doubles per crash; the pid file is absent meanwhile).
killed=""
kill_deriver() {
    local pid
    t_wait_for 120 deriver_up_or_run_over "$killed" || t_fail "the deriver was not restarted"
    pid=$deriver
    if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
        kills=$((kills + 1))
        killed=$pid
        t_note "kill $kills at $((SECONDS - started)) s: the deriver (pid $pid), $(out_lines) records out so far"
        t_wait_for 120 deriver_up_or_run_over "$pid" || t_fail "the deriver was not restarted after kill $kills"
    fi
}
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then
    # The long run lasts many minutes: kill at random moments spread over
    # all of it, every 20-60 s until it ends.
    while kill -0 "$run" 2>/dev/null && [ $((SECONDS - started)) -lt "$limit" ]; do
        pause=$((20 + RANDOM % 41))
        for _ in $(seq "$pause"); do
            kill -0 "$run" 2>/dev/null || break
            sleep 1 # pacing, not waiting: the kills are spread over the run
        done
        kill_deriver
    done
else
    # Three kills, each once the run has made progress since the last one
    # (the first once records come out): mid-run however fast the machine.
    for _ in 1 2 3; do
        mark=$(out_lines)
        t_wait_for "$limit" grown_or_run_over "$mark" || t_fail "no progress for $limit s after $kills kills"
        kill -0 "$run" 2>/dev/null || break
        kill_deriver
    done
fi
t_wait_for "$limit" bash -c "! kill -0 $run" || t_fail "pipeline did not finish after the kills"
wait "$run" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "sluice run --once exited $rc after kill -9"
[ "$kills" -ge 1 ] || t_fail "the run ended before any kill landed: nothing was tested"
fold ometria "$T_TMP/out-ometria.jsonl" "$T_TMP/state-killed.json"
if ! python3 "$top_srcdir/tests/gen/compare" "$truth/ometria.json" "$T_TMP/state-killed.json" \
    > "$T_TMP/compare-killed.txt"; then
    t_fail "after $kills kill -9 of the deriver: $(head -12 "$T_TMP/compare-killed.txt")"
fi
echo "ok: $members members x $days days: after $kills kill -9 of the deriver over $((SECONDS - started)) s, events and shapes equal the truth"

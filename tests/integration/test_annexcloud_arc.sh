#!/usr/bin/env bash
# test_annexcloud_arc.sh: the adaptive request concurrency of the core's
# HTTP service, as annexcloud-source's api mode uses it, against
# annexcloud-emu whose latency and faults change while the sync runs
# (POST /_emu/faults). Checks, from the debug lines the gate logs
# ("HTTP concurrency limit A -> B: why"): the limit climbs; latency rising
# from 100 ms to 800 ms makes it fall ("response times rose"); latency back
# at 100 ms makes it grow again above the lowest value it fell to; a burst
# of bare 429s halves it (B = A/2); the stage's gauge
# sluice_http_concurrency_limit is in its statistics. Then, when the run
# ends: nothing lost, every member equals the generator's truth.
#   default: 8,000 members (about a minute at 100 ms, 128 in flight);
#   SLUICE_LONG_TESTS=1: 20,000.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/api-sync-lib.sh"

SECRET="ac-secret-$$-a9R"
members=8000
[ -n "${SLUICE_LONG_TESTS:-}" ] && members=20000
norm='del(.as_of) | if (.segments | type) == "array" then .segments |= sort else . end'

api_sync_setup 23 "$members" arc --latency-ms 100

# faults JSON: change the emulator's latency or fault fractions now.
faults() {
    curl -sf -X POST -d "$1" "$base/_emu/faults" > /dev/null || t_fail "POST /_emu/faults $1 failed"
}

# changes [FROM_LINE]: the limit changes logged so far (from line FROM_LINE
# of the log on) as "OLD NEW WHY" lines.
changes() {
    tail -n +"${1:-1}" "$T_TMP/run.stderr" |
        sed -n 's/.*HTTP concurrency limit \([0-9]*\) -> \([0-9]*\): \(.*\) (baseline.*/\1 \2 \3/p'
}

# limit_now: the limit after the last change.
limit_now() {
    changes | tail -1 | awk '{print $2}'
}

# reached N: the limit was N or more at some point.
reached() {
    changes | awk -v n="$1" '$2 >= n {found = 1} END {exit !found}'
}

lines() {
    wc -l < "$T_TMP/run.stderr"
}

t_bg "$SLUICE" run --once --log-level debug --log-format text "$T_TMP/arc.cfg" \
    > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
run_pid=$T_LAST_PID

# 1. It climbs from 1 (slow start, then +1 per window).
t_wait_for 300 reached 16 || t_fail "the limit never reached 16: $(changes | tail -5)"
t_note "limit climbed to $(limit_now)"

# 2. Latency rises: response times past the baseline cut it.
mark=$(lines)
faults '{"latency_ms": 800}'
slower() { changes "$mark" | grep -q 'response times rose past the baseline'; }
t_wait_for 300 slower || t_fail "800 ms latency did not lower the limit: $(changes "$mark" | tail -5)"
before=$(changes "$mark" | grep 'response times rose' | head -1 | awk '{print $1}')
low=$(changes "$mark" | awk 'NR == 1 || $2 < min {min = $2} END {print min}')
[ "$low" -lt "$before" ] || t_fail "at 800 ms the limit went no lower ($low) than before ($before)"
t_note "latency 100 -> 800 ms: limit $before fell to $low"

# 3. Latency recovers: it grows again above the low.
mark=$(lines)
faults '{"latency_ms": 100}'
recovered() { changes "$mark" | awk -v low="$low" '$3 == "in" && $2 > low + 2 {found = 1} END {exit !found}'; }
t_wait_for 300 recovered || t_fail "back at 100 ms the limit did not grow above $low: $(changes "$mark" | tail -5)"
t_note "latency back at 100 ms: limit grew to $(limit_now)"

# 4. A burst of 429s (no Retry-After) halves it.
mark=$(lines)
faults '{"rate429_noretry": 0.5}'
halved() { changes "$mark" | awk '$3 == "back" && $2 == int($1 / 2) && $1 >= 2 {found = 1} END {exit !found}'; }
t_wait_for 300 halved || t_fail "429s did not halve the limit: $(changes "$mark" | tail -5)"
faults '{"rate429_noretry": 0}'
t_note "429 burst: $(changes "$mark" | grep back | head -1)"

# 5. The gauge is in the stage's statistics (what the admin endpoint exports).
gauge() { cat "$T_TMP"/run/*.stats 2>/dev/null | jq -e -s 'map(.counters.sluice_http_concurrency_limit // empty) | map(select(. >= 1)) | length > 0' > /dev/null; }
t_wait_for 120 gauge || t_fail "no sluice_http_concurrency_limit in the stage statistics: $(ls "$T_TMP/run")"

# 6. The run ends; nothing lost, every member equals the truth.
t_wait_for 900 sh -c "! kill -0 $run_pid 2>/dev/null" || t_fail "the sync did not end"
rc=0
wait "$run_pid" || rc=$?
[ "$rc" = 0 ] || t_fail "the run exited $rc: $(grep -v DEBUG "$T_TMP/run.stderr" | tail -3)"
jq -cS "$norm" "$T_TMP/prog/annex/members.jsonl" | sort > "$T_TMP/want.txt"
jq -cS "$norm" "$T_TMP/out.jsonl" | sort > "$T_TMP/have.txt"
[ "$(wc -l < "$T_TMP/have.txt")" = "$members" ] ||
    t_fail "expected $members records, got $(wc -l < "$T_TMP/have.txt")"
diff "$T_TMP/want.txt" "$T_TMP/have.txt" > "$T_TMP/diff.txt" ||
    t_fail "emitted members differ from the truth: $(head -4 "$T_TMP/diff.txt" | cut -c1-400)"
grep 'sync 1 complete' "$T_TMP/run.stderr" | sed 's/^/# /'
echo "ok: adaptive concurrency climbed, fell with latency, recovered, halved on 429s; $members members exact"

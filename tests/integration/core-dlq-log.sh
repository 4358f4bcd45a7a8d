#!/usr/bin/env bash
# core-dlq-log.sh: every parking in the dead-letter queue is told at warn
# with its pipeline, stage and reason; past the first five of a 10 s window
# a stage sums the rest up in one line per window, by reason ("parked 120
# record(s) ... : REASON (115), ..."), also when nothing else happens
# after them (a running pipeline wakes for the summary), and --once says
# what its last window counted before it ends.
# 130 records: 10 that are not JSON (parked by the source, each with its
# own FILE:LINE) and 120 without the email the mapper requires.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

for n in $(seq 1 130); do
    if [ $((n % 13)) = 0 ]; then echo "not json $n"; else echo "{\"loyalty_id\":\"M$n\"}"; fi
done > "$T_TMP/in.jsonl"
write_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = 20;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "map"; plugin = "field-mapper";
      member = { require = [ "email" ]; fields = ( { to = "id"; from = "loyalty_id"; } ); }; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$1.jsonl"; }
  );
};
CFG
}

# parked_lines LOG STAGE: the warn lines of STAGE that tell one parking each.
parked_lines() {
    jq -c --arg s "$2" 'select(.level == "warn" and .stage == $s and (.msg | test("parked in the dead-letter queue \\(entry")))' "$1"
}
# summary LOG STAGE: the summary lines of STAGE.
summary() {
    jq -r --arg s "$2" 'select(.level == "warn" and .stage == $s and (.msg | test("^stage .* parked [0-9]+ record")))
                        | .pipeline + " | " + .msg' "$1"
}

# --once: the summary comes at the runner's end.
write_cfg dlqlog
set +e
timeout 600 "$SLUICE" run --once "$T_TMP/dlqlog.cfg" > "$T_TMP/stdout" 2> "$T_TMP/stderr"; rc=$?
set -e
[ "$rc" -eq 2 ] || t_fail "exit $rc with records in the DLQ, expected 2: $(tail -3 "$T_TMP/stderr")"
grep -q '0 delivered, 130 rejected' "$T_TMP/stdout" || t_fail "summary wrong: $(cat "$T_TMP/stdout")"
[ "$(parked_lines "$T_TMP/stderr" map | wc -l)" -eq 5 ] ||
    t_fail "map: want 5 lines of one parking each: $(parked_lines "$T_TMP/stderr" map)"
parked_lines "$T_TMP/stderr" map | head -1 | jq -e '.pipeline == "dlqlog" and (.msg | test("missing|email"))' > /dev/null ||
    t_fail "a parking line lacks its pipeline or reason: $(parked_lines "$T_TMP/stderr" map | head -1)"
[ "$(parked_lines "$T_TMP/stderr" src | wc -l)" -eq 5 ] ||
    t_fail "src: want 5 lines of one parking each: $(parked_lines "$T_TMP/stderr" src)"
summary "$T_TMP/stderr" map > "$T_TMP/summary-map"
[ "$(wc -l < "$T_TMP/summary-map")" -eq 1 ] || t_fail "map: want one summary line: $(cat "$T_TMP/summary-map")"
grep -Eq "^dlqlog \| stage 'map' parked 120 record\(s\) .*\(5 logged one by one\): .*email.* \(120\)$" \
    "$T_TMP/summary-map" || t_fail "map's summary line is wrong: $(cat "$T_TMP/summary-map")"
summary "$T_TMP/stderr" src > "$T_TMP/summary-src"
# Each line's reason names its own line of the file: the counts are by
# reason with the numbers taken out (in.jsonl:#).
grep -Eq "^dlqlog \| stage 'src' parked 10 record\(s\) .*: [^(]*in\.jsonl:#[^(]* \(10\)$" "$T_TMP/summary-src" ||
    t_fail "src's summary line is wrong: $(cat "$T_TMP/summary-src")"

# Running (no --once): nothing happens after the parkings, and the summary
# still comes, at the end of the window.
write_cfg dlqlive
t_bg "$SLUICE" run "$T_TMP/dlqlive.cfg" > /dev/null 2> "$T_TMP/live.stderr"
map_summary() { [ -n "$(summary "$T_TMP/live.stderr" map)" ]; }
t_wait_for 120 map_summary || t_fail "no summary line of map while running: $(tail -5 "$T_TMP/live.stderr")"
summary "$T_TMP/live.stderr" map | grep -Eq "parked 120 record\(s\) in the dead-letter queue in the last [0-9]+ s" ||
    t_fail "map's summary while running is wrong: $(summary "$T_TMP/live.stderr" map)"
echo "ok"

#!/usr/bin/env bash
# core-dlq.sh: lines that are not JSON objects are parked in the
# dead-letter queue with file:line and reason, the good ones are delivered,
# --once exits 2 and says so; `sluice dlq list/show/replay/purge` work.
# A line shaped like one object ({...}) crosses to the next process
# unparsed and is checked there (in.jsonl:6); it is still parked as the
# source's with file:line. The same holds when the stages are grouped in
# one process, where the source passes its lines on unparsed and the
# transform parses them.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

{ echo '{"id":1}'; echo 'not json at all'; echo '{"id":2}'; echo '[1,2]'; echo '{"id":3}'; echo '{"id":4,}'; } > "$T_TMP/in.jsonl"
cat > "$T_TMP/dlq.cfg" <<CFG
pipeline = {
  name = "dlqtest";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
set +e
timeout 600 "$SLUICE" run --once "$T_TMP/dlq.cfg" > "$T_TMP/stdout" 2> "$T_TMP/stderr"; rc=$?
set -e
[ "$rc" -eq 2 ] || t_fail "exit $rc with records in the DLQ, expected 2: $(tail -3 "$T_TMP/stderr")"
grep -q '3 delivered, 3 rejected' "$T_TMP/stdout" || t_fail "summary wrong: $(cat "$T_TMP/stdout")"
[ "$(jq -c .id "$T_TMP/out.jsonl" | tr '\n' ' ')" = "1 2 3 " ] || t_fail "good records not delivered in order"

"$SLUICE" dlq list "$T_TMP/dlq.cfg" > "$T_TMP/list" || t_fail "dlq list failed"
[ "$(grep -c 'in.jsonl:[246]' "$T_TMP/list")" -eq 3 ] || t_fail "dlq list lacks file:line reasons: $(cat "$T_TMP/list")"
grep -q 'src .*in.jsonl:6: invalid JSON' "$T_TMP/list" \
    || t_fail "line 6, checked by the sink's process, not parked as the source's: $(cat "$T_TMP/list")"
first=$(awk 'NR > 0 && $1 ~ /^[0-9]+$/ { print $1; exit }' "$T_TMP/list")
[ -n "$first" ] || t_fail "dlq list shows no ids: $(cat "$T_TMP/list")"
"$SLUICE" dlq show "$T_TMP/dlq.cfg" "$first" > "$T_TMP/show" || t_fail "dlq show failed"
grep -q 'not json at all' "$T_TMP/show" || t_fail "dlq show lacks the raw record: $(cat "$T_TMP/show")"
"$SLUICE" dlq purge "$T_TMP/dlq.cfg" --all > /dev/null || t_fail "dlq purge failed"
"$SLUICE" dlq list "$T_TMP/dlq.cfg" > "$T_TMP/list2" || true
! grep -q 'in.jsonl:' "$T_TMP/list2" || t_fail "purge left entries: $(cat "$T_TMP/list2")"

# Grouped: source, a transform and the sink as threads of one process.
cat > "$T_TMP/grouped.cfg" <<CFG
pipeline = {
  name = "dlqgrouped";
  state_dir = "$T_TMP/state-grouped";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; group = "g"; },
    { name = "mark"; plugin = "set-field"; field = "seen"; value = "yes"; group = "g"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-grouped.jsonl"; group = "g"; }
  );
};
CFG
set +e
timeout 600 "$SLUICE" run --once "$T_TMP/grouped.cfg" > "$T_TMP/stdout-g" 2> "$T_TMP/stderr-g"; rc=$?
set -e
[ "$rc" -eq 2 ] || t_fail "grouped: exit $rc, expected 2: $(tail -3 "$T_TMP/stderr-g")"
grep -q '3 delivered, 3 rejected' "$T_TMP/stdout-g" || t_fail "grouped: summary wrong: $(cat "$T_TMP/stdout-g")"
[ "$(jq -c '[.id,.seen]' "$T_TMP/out-grouped.jsonl" | tr '\n' ' ')" = '[1,"yes"] [2,"yes"] [3,"yes"] ' ] \
    || t_fail "grouped: good records not delivered in order: $(cat "$T_TMP/out-grouped.jsonl")"
"$SLUICE" dlq list "$T_TMP/grouped.cfg" > "$T_TMP/list-g" || t_fail "grouped: dlq list failed"
grep -q 'src .*in.jsonl:2: invalid JSON' "$T_TMP/list-g" \
    || t_fail "grouped: line 2 not parked by the source with file:line: $(cat "$T_TMP/list-g")"
grep -q 'src .*in.jsonl:4: not a JSON object' "$T_TMP/list-g" \
    || t_fail "grouped: line 4 not parked by the source with file:line: $(cat "$T_TMP/list-g")"
grep -q 'src .*in.jsonl:6: invalid JSON' "$T_TMP/list-g" \
    || t_fail "grouped: line 6 not parked by the source with file:line: $(cat "$T_TMP/list-g")"
echo "ok: bad lines parked with file:line (process per stage and grouped), good ones delivered, dlq commands work"

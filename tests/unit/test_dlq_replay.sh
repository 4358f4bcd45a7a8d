#!/usr/bin/env bash
# test_dlq_replay.sh: `sluice dlq` end to end on a real pipeline: a
# transform rejects records; replayed before the fix they are parked again
# by it, each entry keeping the reason it was first parked for (list, show,
# log); after the fix the next run delivers them once, the DLQ and replay
# queue end empty, a further run delivers nothing twice; an entry of a
# stage the pipeline no longer has is not replayed (65); bad arguments
# give the documented exit codes.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

for i in 1 2 3 4; do
    if [ $((i % 2)) -eq 0 ]; then echo "{\"id\":$i,\"meta\":5}"; else echo "{\"id\":$i}"; fi
done > "$T_TMP/in.jsonl"
echo 'not json' >> "$T_TMP/in.jsonl" # line 5: parked by the source itself

write_cfg() { # FIELD [STAGE]: the set-field path, its stage's name (tag)
    cat > "$T_TMP/p.cfg" <<CFG
pipeline = {
  name = "replay";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "${2:-tag}"; plugin = "set-field"; field = "$1"; value = "x"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
}

# 1. "meta.tag" cannot be set where meta is a number: ids 2 and 4 are parked
#    by the transform, line 5 by the source.
write_cfg meta.tag
set +e
timeout 600 "$SLUICE" run --once "$T_TMP/p.cfg" > "$T_TMP/run1.out" 2> "$T_TMP/run1.err"; rc=$?
set -e
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "first run exited $rc: $(tail -3 "$T_TMP/run1.err")"
[ "$(jq -c .id "$T_TMP/out.jsonl" | tr '\n' ' ')" = "1 3 " ] || t_fail "first run output: $(cat "$T_TMP/out.jsonl")"

"$SLUICE" dlq list "$T_TMP/p.cfg" > "$T_TMP/list1" || t_fail "dlq list exited $?"
[ "$(grep -c 'set-field: cannot set "meta.tag"' "$T_TMP/list1")" -eq 2 ] \
    || t_fail "dlq list should show 2 set-field rejections: $(cat "$T_TMP/list1")"
grep -q '^3 record(s)' "$T_TMP/list1" || t_fail "dlq list count line: $(cat "$T_TMP/list1")"
id=$(awk '$1 ~ /^[0-9]+$/ && $2 == "tag" { print $1; exit }' "$T_TMP/list1")
source_id=$(awk '$1 ~ /^[0-9]+$/ && $2 == "src" { print $1; exit }' "$T_TMP/list1")
[ -n "$source_id" ] || t_fail "the source's rejection is not listed: $(cat "$T_TMP/list1")"
"$SLUICE" dlq show "$T_TMP/p.cfg" "$id" > "$T_TMP/show" || t_fail "dlq show exited $?"
[ "$(jq -r '.stage' "$T_TMP/show")" = tag ] || t_fail "dlq show stage: $(cat "$T_TMP/show")"
[ "$(jq -c '.record' "$T_TMP/show")" = '{"id":2,"meta":5}' ] || t_fail "dlq show record: $(cat "$T_TMP/show")"

# 2. Exit codes: usage 64, no such entry 66, config error 78.
set +e
"$SLUICE" dlq show "$T_TMP/p.cfg" > /dev/null 2>&1; [ $? -eq 64 ] || t_fail "missing ID: expected 64"
"$SLUICE" dlq show "$T_TMP/p.cfg" abc > /dev/null 2>&1; [ $? -eq 64 ] || t_fail "bad ID: expected 64"
"$SLUICE" dlq frobnicate "$T_TMP/p.cfg" > /dev/null 2>&1; [ $? -eq 64 ] || t_fail "bad action: expected 64"
"$SLUICE" dlq list "$T_TMP/p.cfg" --stage nosuch > /dev/null 2> "$T_TMP/err"; rc=$?
[ $rc -eq 64 ] && grep -q "no stage 'nosuch'" "$T_TMP/err" || t_fail "unknown stage: got $rc: $(cat "$T_TMP/err")"
[ "$("$SLUICE" dlq list "$T_TMP/p.cfg" --stage src | tail -1)" = "1 record(s)" ] || t_fail "list --stage src"
"$SLUICE" dlq show "$T_TMP/p.cfg" 99999 > /dev/null 2> "$T_TMP/err"; rc=$?
[ $rc -eq 66 ] || t_fail "unknown id: expected 66, got $rc"
grep -q 'no entry 99999' "$T_TMP/err" || t_fail "unknown id message: $(cat "$T_TMP/err")"
"$SLUICE" dlq purge "$T_TMP/p.cfg" 99999 > /dev/null 2>&1; [ $? -eq 66 ] || t_fail "purge unknown id: expected 66"
"$SLUICE" dlq list "$T_TMP/missing.cfg" > /dev/null 2> "$T_TMP/err"; rc=$?
[ $rc -eq 78 ] || t_fail "missing pipeline file: expected 78, got $rc"
# raw input rejected by the source is not a record: it is not replayed
"$SLUICE" dlq replay "$T_TMP/p.cfg" "$source_id" > /dev/null 2> "$T_TMP/err"; rc=$?
[ $rc -eq 65 ] || t_fail "replaying the source's rejection: expected 65, got $rc"
grep -q "rejected by the source stage 'src'" "$T_TMP/err" || t_fail "message: $(cat "$T_TMP/err")"
# an entry of a stage the pipeline no longer has cannot go back into it
write_cfg meta.tag retag
"$SLUICE" dlq replay "$T_TMP/p.cfg" "$id" > /dev/null 2> "$T_TMP/err"; rc=$?
[ $rc -eq 65 ] || t_fail "replaying an entry of a removed stage: expected 65, got $rc"
grep -q "parked by stage 'tag', which pipeline 'replay' no longer has" "$T_TMP/err" \
    || t_fail "message for a removed stage: $(cat "$T_TMP/err")"
"$SLUICE" dlq replay "$T_TMP/p.cfg" --all > "$T_TMP/replay0.out" 2>&1; rc=$?
[ $rc -eq 0 ] || t_fail "replay --all with a removed stage exited $rc: $(cat "$T_TMP/replay0.out")"
grep -q '^0 record(s) queued' "$T_TMP/replay0.out" && \
    grep -q "^2 record(s) parked by stage 'tag', which pipeline 'replay' no longer has, left in the DLQ" \
    "$T_TMP/replay0.out" || t_fail "replay --all with a removed stage said: $(cat "$T_TMP/replay0.out")"
set -e

# 3. Replayed before the fix, they go back into 'tag' and are parked there
#    again; each new entry keeps the first parking in its history.
write_cfg meta.tag
"$SLUICE" dlq replay "$T_TMP/p.cfg" --all > "$T_TMP/replay1.out" || t_fail "dlq replay exited $?"
grep -q "^2 record(s) queued for replay into the stage that parked each (tag: 2)" \
    "$T_TMP/replay1.out" || t_fail "replay said: $(cat "$T_TMP/replay1.out")"
set +e
timeout 60 "$SLUICE" --log-format text run --once "$T_TMP/p.cfg" > /dev/null 2> "$T_TMP/run-again.err"; rc=$?
set -e
[ "$rc" -eq 2 ] || t_fail "a run re-parking replayed records exited $rc, expected 2: $(tail -3 "$T_TMP/run-again.err")"
[ "$(grep -c "replayed DLQ entry [0-9]* parked again by 'tag' as entry [0-9]*: set-field: cannot set \"meta.tag\".*(before: parked by 'tag' at [0-9T:.Z-]*: set-field: cannot set \"meta.tag\"" "$T_TMP/run-again.err")" -eq 2 ] \
    || t_fail "the run did not log both re-parkings with the old reason: $(grep replayed "$T_TMP/run-again.err")"
"$SLUICE" dlq list "$T_TMP/p.cfg" --stage tag > "$T_TMP/list-again"
[ "$(grep -c '^ *earlier: tag at [0-9T:.Z-]*: set-field: cannot set "meta.tag"' "$T_TMP/list-again")" -eq 2 ] \
    || t_fail "dlq list does not show the earlier parking: $(cat "$T_TMP/list-again")"
id=$(awk '$1 ~ /^[0-9]+$/ && $2 == "tag" { print $1; exit }' "$T_TMP/list-again")
"$SLUICE" dlq show "$T_TMP/p.cfg" "$id" > "$T_TMP/show-again"
[ "$(jq -r '.history | length' "$T_TMP/show-again")" = 1 ] && \
    [ "$(jq -r '.history[0].stage' "$T_TMP/show-again")" = tag ] && \
    jq -r '.history[0].reason' "$T_TMP/show-again" | grep -q 'cannot set "meta.tag"' \
    || t_fail "dlq show lacks the history: $(cat "$T_TMP/show-again")"
[ "$(wc -l < "$T_TMP/out.jsonl")" -eq 2 ] || t_fail "a re-parked record was delivered: $(cat "$T_TMP/out.jsonl")"

# 4. Fix the cause (tag a field that can always be set) and replay everything.
write_cfg tag
"$SLUICE" dlq replay "$T_TMP/p.cfg" --all > "$T_TMP/replay.out" || t_fail "dlq replay exited $?"
grep -q '^2 record(s) queued for replay' "$T_TMP/replay.out" || t_fail "replay said: $(cat "$T_TMP/replay.out")"
grep -q "^1 record(s) rejected by the source stage 'src' left in the DLQ" "$T_TMP/replay.out" \
    || t_fail "replay did not say it left the source's rejection: $(cat "$T_TMP/replay.out")"
"$SLUICE" dlq list "$T_TMP/p.cfg" > "$T_TMP/list2"
grep -q '^1 record(s)' "$T_TMP/list2" || t_fail "expected only the source's entry left: $(cat "$T_TMP/list2")"

timeout 600 "$SLUICE" --log-format text run --once "$T_TMP/p.cfg" > "$T_TMP/run2.out" 2> "$T_TMP/run2.err" \
    || t_fail "second run exited $?: $(tail -3 "$T_TMP/run2.err")"
[ "$(grep -c "replayed DLQ entry [0-9]* delivered by 'out' (before: parked by 'tag'" "$T_TMP/run2.err")" -eq 2 ] \
    || t_fail "the deliveries of the replayed records were not logged: $(grep replay "$T_TMP/run2.err")"
[ "$(jq -c 'select(.id == 2 or .id == 4) | [.id, .tag]' "$T_TMP/out.jsonl" | sort | tr '\n' ' ')" = '[2,"x"] [4,"x"] ' ] \
    || t_fail "replayed records not delivered once with the fix: $(cat "$T_TMP/out.jsonl")"
[ "$(wc -l < "$T_TMP/out.jsonl")" -eq 4 ] || t_fail "expected 4 lines in total: $(cat "$T_TMP/out.jsonl")"
if command -v sqlite3 > /dev/null; then # the third run below checks it by behaviour too
    [ "$(sqlite3 "$T_TMP/state/state.db" 'SELECT count(*) FROM replay')" = 0 ] \
        || t_fail "replay queue not emptied after acknowledgement"
fi

# 5. A further run neither re-delivers nor re-parks anything.
timeout 600 "$SLUICE" run --once "$T_TMP/p.cfg" > /dev/null 2> "$T_TMP/run3.err" \
    || t_fail "third run exited $?: $(tail -3 "$T_TMP/run3.err")"
[ "$(wc -l < "$T_TMP/out.jsonl")" -eq 4 ] || t_fail "third run delivered again: $(cat "$T_TMP/out.jsonl")"
"$SLUICE" dlq list "$T_TMP/p.cfg" | grep -q '^1 record(s)' || t_fail "a run re-parked records"
"$SLUICE" dlq purge "$T_TMP/p.cfg" --all | grep -q '^1 record(s) purged' || t_fail "purge --all"
"$SLUICE" dlq list "$T_TMP/p.cfg" | grep -q '^0 record(s)' || t_fail "DLQ not empty after purge"
echo "ok: rejected records listed, shown, replayed after the fix and delivered once"

#!/usr/bin/env bash
# core-basic.sh: file-source -> set-field -> file-sink, each stage its own
# process joined by ipc:// ZeroMQ sockets; the output is checked exactly,
# the checkpoint is at the end of the input, and a second --once run
# emits nothing new. The --once summary counts the records and the CPU of
# each stage process.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

t_seq_jsonl 5000 "$T_TMP/in.jsonl"
cat > "$T_TMP/basic.cfg" <<CFG
pipeline = {
  name = "basic";
  state_dir = "$T_TMP/state";
  batch_size = 128;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "tag"; plugin = "set-field"; field = "meta.tag"; value = "x"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG

timeout 600 "$SLUICE" run --once --log-format json "$T_TMP/basic.cfg" > "$T_TMP/stdout" 2> "$T_TMP/stderr" \
    || t_fail "sluice run --once exited $?: $(tail -5 "$T_TMP/stderr")"

# Exact output: every input record, in order, with the field added.
jq -c '. + {meta: {tag: "x"}}' "$T_TMP/in.jsonl" > "$T_TMP/expected.jsonl"
jq -c . "$T_TMP/out.jsonl" > "$T_TMP/actual.jsonl"
cmp -s "$T_TMP/expected.jsonl" "$T_TMP/actual.jsonl" \
    || t_fail "output differs from expected: $(diff "$T_TMP/expected.jsonl" "$T_TMP/actual.jsonl" | head -5)"

# Three stages ran as three processes.
pids=$(jq -r 'select(.stage != null) | "\(.stage) \(.pid)"' "$T_TMP/stderr" | sort -u)
for s in src tag out; do
    echo "$pids" | grep -q "^$s " || t_fail "no log line from stage $s"
done
distinct=$(echo "$pids" | awk '{ print $2 }' | sort -u | wc -l)
[ "$distinct" -ge 3 ] || t_fail "expected 3 stage processes, saw pids: $pids"

# The summary line counts what happened.
grep -q 'pipeline basic: 5000 records in, 5000 delivered, 0 rejected' "$T_TMP/stdout" \
    || t_fail "summary line wrong: $(cat "$T_TMP/stdout")"
# ...and the next one the CPU of each stage process and the supervisor's.
grep -Eq '^pipeline basic: CPU src [0-9]+\.[0-9]{2}s, tag [0-9]+\.[0-9]{2}s, out [0-9]+\.[0-9]{2}s, supervisor [0-9]+\.[0-9]{2}s$' \
    "$T_TMP/stdout" || t_fail "CPU line wrong: $(cat "$T_TMP/stdout")"
# The busiest stage used some CPU, and none more than the whole run took
# on this machine's cores.
awk -v cores="$(nproc)" '/CPU/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+s,?$/) { v = $i + 0; if (v > max) max = v; sum += v } }
    END { exit !(max > 0 && sum < 60 * cores) }' "$T_TMP/stdout" \
    || t_fail "CPU figures implausible: $(grep CPU "$T_TMP/stdout")"

# The checkpoint is at the end of the input.
size=$(stat -c %s "$T_TMP/in.jsonl")
offset=$(sqlite3 "$T_TMP/state/state.db" "select json_extract(value, '\$.offset') from checkpoints where stage = 'src'")
[ "$offset" = "$size" ] || t_fail "checkpoint offset $offset, input size $size"

# Nothing new on a second run.
timeout 600 "$SLUICE" run --once "$T_TMP/basic.cfg" > "$T_TMP/stdout2" 2> "$T_TMP/stderr2" \
    || t_fail "second run exited $?: $(tail -5 "$T_TMP/stderr2")"
[ "$(wc -l < "$T_TMP/out.jsonl")" -eq 5000 ] || t_fail "second run appended records"
echo "ok: 5000 records through 3 processes, exact output, checkpoint at end"

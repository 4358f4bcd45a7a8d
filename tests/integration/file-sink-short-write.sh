#!/usr/bin/env bash
# file-sink-short-write.sh: a batch that file-sink could only write in part
# is cut back off the file and written again whole, never left as half a
# line or a second copy. A real short write: the sink process's file size
# limit (prlimit RLIMIT_FSIZE, SIGXFSZ ignored) is set a few hundred bytes
# past the end of its output, so the batch's write(2) stops there and the
# next fails with EFBIG, for as long as the limit stays; then the limit
# is lifted. The output must hold every record exactly once, every line
# valid JSON.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/sink-lib.sh"

command -v prlimit > /dev/null || t_fail "prlimit (util-linux) is needed"
OUT="$T_TMP/out.jsonl"
IN="$T_TMP/in.jsonl"
: > "$IN"
# Earlier output: one long valid line, 8 MiB less 600 bytes, so the limit
# can sit above every file the sink process writes (its state.db too).
{ printf '{"pad":"'; head -c $((8388608 - 600 - 11)) /dev/zero | tr '\0' x; printf '"}\n'; } > "$OUT"
before=$(stat -c %s "$OUT")
cat > "$T_TMP/short.cfg" <<CFG
pipeline = {
  name = "short";
  state_dir = "$T_TMP/state-short";
  batch_size = 30;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$IN"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$OUT"; }
  );
};
CFG
# An ignored SIGXFSZ is inherited by the stages, so a write past the limit
# returns short / EFBIG instead of killing the sink.
t_bg bash -c "trap '' XFSZ; exec \"$SLUICE\" --log-format text run \"$T_TMP/short.cfg\"" \
    > "$T_TMP/run.out" 2> "$T_TMP/run.err"
t_wait_for 20 grep -q 'sink started' "$T_TMP/run.err" ||
    t_fail "the sink did not start: $(tail -3 "$T_TMP/run.err")"
t_wait_for 20 test -s "$T_TMP/state-short/run/out.pid" || t_fail "no pid file for the sink"
sink_pid=$(t_pid_of_stage "$T_TMP/state-short/run" out)
[ -n "$sink_pid" ] || t_fail "no pid file for the sink"
prlimit --pid "$sink_pid" --fsize=$((before + 300)): || t_fail "prlimit failed"

gen_contacts 30 "$T_TMP/batch.jsonl"
cat "$T_TMP/batch.jsonl" >> "$IN"
t_wait_for 30 grep -q 'cannot write .*File too large' "$T_TMP/run.err" ||
    t_fail "the write never hit the limit: $(tail -3 "$T_TMP/run.err")"
t_wait_for 30 sh -c "[ \$(grep -c 'cannot write' '$T_TMP/run.err') -ge 2 ]" ||
    t_fail "the batch was not retried against the limit"
t_note "the batch hit the file size limit $(grep -c 'cannot write' "$T_TMP/run.err") times"
prlimit --pid "$sink_pid" --fsize=unlimited: || t_fail "prlimit could not lift the limit"

# All 30 records arrive once the limit is gone.
t_wait_for 60 sh -c "[ \$(grep -c LID- '$OUT') -ge 30 ]" ||
    t_fail "the batch was not written after the limit was lifted: $(tail -3 "$T_TMP/run.err")"
jq -c . "$OUT" > /dev/null 2> "$T_TMP/jq.err" ||
    t_fail "the output has a broken line: $(head -2 "$T_TMP/jq.err")"
[ "$(jq -r 'select(.id) | .id' "$OUT" | sort | uniq -d | wc -l)" -eq 0 ] ||
    t_fail "records written twice: $(jq -r 'select(.id) | .id' "$OUT" | sort | uniq -d | head -3 | tr '\n' ' ')"
[ "$(jq -r 'select(.id) | .id' "$OUT" | sort -u | wc -l)" -eq 30 ] || t_fail "records missing"
[ "$(wc -l < "$OUT")" -eq 31 ] || t_fail "expected the old line and 30 records, got $(wc -l < "$OUT") lines"
echo "ok: a short write is cut off and the batch written again whole"

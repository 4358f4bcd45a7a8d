#!/usr/bin/env bash
# test_annexcloud_feed.sh: annexcloud-source in feed mode over a directory
# of Data Feed exports, `sluice run --once` into file-sink. Checks: the
# emulator's export (POST /_emu/feed) comes out equal to the generated
# program field by field; a hand-made file's good rows are emitted and its
# malformed rows (wrong column count, a stray quote, an unterminated quote)
# are in the DLQ with FILE:LINE; a file already read is not read again; a
# source killed -9 in the middle of a big file resumes from its checkpoint
# without losing a row (duplicates bounded by the unacknowledged window).
#   default: 2,000 members, a 20,000-row file; SLUICE_LONG_TESTS=1: 10,000
#   members, a 100,000-row file.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

members=2000 copies=10
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then members=10000 copies=10; fi
norm='del(.as_of) | if (.segments | type) == "array" then .segments |= sort else . end'
feed="$T_TMP/feed"
mkdir -p "$feed"

"$GEN_DIR/loyaltygen" --seed 5 --members "$members" --days 10 --truth none --out "$T_TMP/prog" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret "feed-test-$$" --program "$T_TMP/prog" --feed-dir "$feed"
curl -sf -X POST -d '{}' "http://127.0.0.1:$T_EMU_PORT/_emu/feed" > "$T_TMP/feed.json" ||
    t_fail "the emulator wrote no export"
export_file=$(jq -r .feed "$T_TMP/feed.json")
[ -f "$export_file" ] || t_fail "no export file: $(cat "$T_TMP/feed.json")"

# write_cfg FILE NAME DIR [EXTRA_PIPELINE_OPTIONS]
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  ${4:-}
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "feed"; feed_dir = "$3"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$2.jsonl"; }
  );
};
CFG
}

# run_once CFG NAME: sluice run --once, bounded; sets RC.
run_once() {
    RC=0
    timeout 600 "$SLUICE" run --once "$1" > "$T_TMP/$2.stdout" 2> "$T_TMP/$2.stderr" || RC=$?
}

# 1. The emulator's export equals the program's start state.
write_cfg "$T_TMP/feed.cfg" feed "$feed"
run_once "$T_TMP/feed.cfg" run1
[ "$RC" = 0 ] || t_fail "feed run exited $RC: $(tail -3 "$T_TMP/run1.stderr")"
jq -cS "$norm" "$T_TMP/prog/annex/members.jsonl" | sort > "$T_TMP/want.txt"
jq -cS "$norm" "$T_TMP/out-feed.jsonl" | sort > "$T_TMP/have.txt"
diff "$T_TMP/want.txt" "$T_TMP/have.txt" > "$T_TMP/diff1.txt" ||
    t_fail "feed records differ from the program: $(head -4 "$T_TMP/diff1.txt" | cut -c1-400)"
[ "$(jq -s --arg start "$(jq -r .start "$T_TMP/prog/program.json")" \
      '[.[] | select(.as_of != $start)] | length' "$T_TMP/out-feed.jsonl")" = 0 ] ||
    t_fail "as_of is not the export's Updated At"
t_note "export of $members members: exact"

# 2. Hand-made file after it: good rows out, bad rows in the DLQ with FILE:LINE.
header=$(head -1 "$export_file" | tr -d '\r')
good_row() { # good_row ID NAME [PHONE]
    printf '%s,%s,Doe,%s@example.com,ACTIVE,1980-01-02,2024-05-06,%s,"02134",YES,2024-05-06T10:00:00+0000,10,20,10,0,0,,0,Bronze,Silver,980,2024-05-06,,490,,2024-05-06,2024-06-01,,,vip | newsletter,,2026-01-02T03:04:05+0000\r\n' "$1" "$2" "$1" "${3-+15550001}"
}
bad_name="zz_handmade.csv"
{
    printf '%s\r\n' "$header"
    good_row HM-1 '"Smith, ""Jo"""'                 # line 2
    printf 'HM-2,only,three\r\n'                      # line 3: wrong column count
    good_row HM-3 'Ann'                               # line 4
    good_row HM-4 'Bo"b'                              # line 5: stray quote
    good_row HM-5 $'"multi\r\nline"'                  # lines 6-7
    good_row HM-7 '' ''                               # line 8: empty name and phone
    printf 'HM-6,"never closed,Doe\r\n'              # line 9: unterminated at end of file
} > "$feed/$bad_name"
run_once "$T_TMP/feed.cfg" run2
# --once exits 2 when records were parked in the DLQ.
[ "$RC" = 2 ] || t_fail "second feed run exited $RC (want 2): $(tail -3 "$T_TMP/run2.stderr")"
tail -n +"$((members + 1))" "$T_TMP/out-feed.jsonl" > "$T_TMP/hand.jsonl"
got_ids=$(jq -r .loyalty_id "$T_TMP/hand.jsonl" | sort | tr '\n' ' ')
[ "$got_ids" = "HM-1 HM-3 HM-5 HM-7 " ] || t_fail "hand-made file: emitted '$got_ids', want 'HM-1 HM-3 HM-5 HM-7 '"
# An empty cell is a value known to be empty: null, not "".
[ "$(jq -c 'select(.loyalty_id == "HM-7") | [.first_name, .phone]' "$T_TMP/hand.jsonl")" = '[null,null]' ] ||
    t_fail "empty cells not null: $(grep HM-7 "$T_TMP/hand.jsonl")"
[ "$(jq -r 'select(.loyalty_id == "HM-1") | .first_name' "$T_TMP/hand.jsonl")" = 'Smith, "Jo"' ] ||
    t_fail "quoted name not decoded: $(head -1 "$T_TMP/hand.jsonl")"
[ "$(jq -r 'select(.loyalty_id == "HM-5") | .first_name' "$T_TMP/hand.jsonl")" = $'multi\r\nline' ] ||
    t_fail "multi-line name not decoded"
jq -e -s '.[] | select(.loyalty_id == "HM-3") | .zip_code == "02134" and .available_points == 10 and
       .segments == ["vip","newsletter"] and .points_expiration_date == null and .next_tier == "Silver"
       and .as_of == "2026-01-02T03:04:05Z" and .opt_in_date == "2024-05-06T10:00:00Z"' \
    "$T_TMP/hand.jsonl" > /dev/null || t_fail "HM-3 converted wrongly: $(grep HM-3 "$T_TMP/hand.jsonl")"
"$SLUICE" dlq list "$T_TMP/feed.cfg" > "$T_TMP/dlq.txt" 2>&1 || t_fail "dlq list failed: $(cat "$T_TMP/dlq.txt")"
for where in "$bad_name:3:" "$bad_name:5:" "$bad_name:9:"; do
    grep -q -- "$where" "$T_TMP/dlq.txt" || t_fail "no DLQ entry for $where: $(cat "$T_TMP/dlq.txt")"
done
[ "$(grep -c -- "$bad_name:" "$T_TMP/dlq.txt")" = 3 ] || t_fail "DLQ holds other rows: $(cat "$T_TMP/dlq.txt")"
grep -q "$bad_name:3: 3 columns" "$T_TMP/dlq.txt" || t_fail "column count not explained: $(grep ":3:" "$T_TMP/dlq.txt")"
grep -q "$bad_name:5: bad quoting" "$T_TMP/dlq.txt" || t_fail "stray quote not explained: $(grep ":5:" "$T_TMP/dlq.txt")"
grep -q "$bad_name:9: unterminated" "$T_TMP/dlq.txt" || t_fail "unterminated quote not explained: $(grep ":9:" "$T_TMP/dlq.txt")"
t_note "hand-made file: 4 good rows out, 3 bad rows parked with FILE:LINE"

# 3. Files already read are not read again.
run_once "$T_TMP/feed.cfg" run3
[ "$RC" = 0 ] || t_fail "third feed run exited $RC: $(tail -3 "$T_TMP/run3.stderr")"
[ "$(wc -l < "$T_TMP/out-feed.jsonl")" = "$((members + 4))" ] ||
    t_fail "a third run emitted $(( $(wc -l < "$T_TMP/out-feed.jsonl") - members - 4 )) records again"

# 4. Kill -9 the source in the middle of a big file, then --once again.
big="$T_TMP/big"
mkdir -p "$big"
awk -v copies="$copies" 'NR == 1 { header = $0; next } { rows[++n] = $0 }
    END { print header; for (c = 1; c <= copies; c++) for (i = 1; i <= n; i++) { r = rows[i]; sub(/^LID-/, "C" c "-LID-", r); print r } }' \
    "$export_file" > "$big/big_export.csv"
total=$(( $(wc -l < "$big/big_export.csv") - 1 ))
write_cfg "$T_TMP/big.cfg" big "$big" "batch_size = 200;"
runtime="$T_TMP/state-big/run"
t_bg timeout 600 "$SLUICE" run --once "$T_TMP/big.cfg" > "$T_TMP/big1.stdout" 2> "$T_TMP/big1.stderr"
run_pid=$T_LAST_PID
lines_out() { [ -f "$T_TMP/out-big.jsonl" ] && wc -l < "$T_TMP/out-big.jsonl" || echo 0; }
big_flowing() { [ "$(lines_out)" -ge $((total / 5)) ]; }
t_wait_for 300 big_flowing || t_fail "the big file did not start flowing"
src_pid=$(t_pid_of_stage "$runtime" src) || t_fail "no pid file for the source: the run ended before a fifth of the file was out?"
kill -9 "$src_pid"
killed_at=$(lines_out)
t_wait_for 600 sh -c "! kill -0 $run_pid 2>/dev/null" || t_fail "the killed run did not end"
run_once "$T_TMP/big.cfg" big2
[ "$RC" = 0 ] || t_fail "resumed run exited $RC: $(tail -3 "$T_TMP/big2.stderr")"
jq -r .loyalty_id "$T_TMP/out-big.jsonl" | sort > "$T_TMP/big-ids.txt"
unique=$(sort -u "$T_TMP/big-ids.txt" | wc -l)
emitted=$(wc -l < "$T_TMP/big-ids.txt")
[ "$unique" = "$total" ] || t_fail "after the kill: $unique of $total rows emitted (rows lost)"
dups=$((emitted - unique))
# Only unacknowledged rows may come twice: at most window (8) x batch_size.
[ "$dups" -le 1600 ] || t_fail "$dups duplicates: more than the unacknowledged window"
t_note "killed -9 at $killed_at of $total rows: all $total emitted, $dups duplicates"

echo "ok: feed mode: export exact, bad rows parked with FILE:LINE, resume after kill -9 loses nothing"

#!/usr/bin/env bash
# test_annexcloud_feed_csv.sh: annexcloud-source feed mode on the CSV files
# that lost rows or fields (issue 13; reliability review sections 6 and 7),
# through a feed_dir pipeline into file-sink with `sluice run --once`, the
# dead-letter queue read back with `sluice dlq list` and `dlq show`:
# - a CR-only export gives its rows (it was one 15-column header, no row);
# - a bare CR in a CRLF file ends a row, and a quote never closed parks
#   only its line, with the raw text and line range, the next rows read;
# - a Latin-1 cell in a UTF-8 feed parks its row naming the column and
#   line, the bytes kept (escaped); a NUL in a cell parks its row; with
#   encoding = iso-8859-1 or windows-1252 the cells are transcoded;
# - an unknown encoding stops the run with a message naming it;
# - kill -9 of the source in the middle of a CR-only file with lost quotes
#   and quoted CRs: the rows and DLQ entries are those of a straight read.
#   default: 20,000 rows; SLUICE_LONG_TESTS=1: 100,000.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

rows=20000
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then rows=100000; fi

# write_cfg NAME DIR [STAGE_OPTIONS] [PIPELINE_OPTIONS]: $T_TMP/NAME.cfg.
write_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  ${4:-}
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "feed"; feed_dir = "$2"; ${3:-} },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$1.jsonl"; }
  );
};
CFG
}

# run_once NAME: sluice run --once NAME.cfg, bounded; sets RC.
run_once() {
    RC=0
    timeout 600 "$SLUICE" run --once "$T_TMP/$1.cfg" > "$T_TMP/$1.stdout" 2> "$T_TMP/$1.stderr" || RC=$?
}

# dlq_entry NAME WHERE: the DLQ entry (dlq show JSON) whose reason starts
# with WHERE ("FILE:LINE:").
dlq_entry() {
    local id
    id=$("$SLUICE" dlq list "$T_TMP/$1.cfg" | awk -v where="$2" '$4 == where { print $1; exit }')
    [ -n "$id" ] || t_fail "no DLQ entry for $2: $("$SLUICE" dlq list "$T_TMP/$1.cfg")"
    "$SLUICE" dlq show "$T_TMP/$1.cfg" "$id"
}

# expect_record NAME ID JQ_TEST: the record of loyalty id ID satisfies JQ_TEST.
expect_record() {
    jq -e -s --arg id "$2" "[.[] | select(.loyalty_id == \$id)] | length > 0 and all($3)" "$T_TMP/out-$1.jsonl" \
        > /dev/null ||
        t_fail "$1: record $2 fails '$3': $(jq -c --arg id "$2" 'select(.loyalty_id == $id)' "$T_TMP/out-$1.jsonl")"
}

# expect_entry NAME WHERE REASON JQ_TEST: the DLQ entry at WHERE has REASON
# (after "WHERE ") and its record satisfies JQ_TEST.
expect_entry() {
    local entry
    entry=$(dlq_entry "$1" "$2")
    [ "$(jq -r .reason <<< "$entry")" = "$2 $3" ] || t_fail "$1: entry $2: reason $(jq .reason <<< "$entry"), want '$2 $3'"
    jq -e ".record | $4" <<< "$entry" > /dev/null || t_fail "$1: entry $2 fails '$4': $(jq -c .record <<< "$entry")"
}

ids_of() { jq -r .loyalty_id "$T_TMP/out-$1.jsonl" | sort | tr '\n' ' '; }

header='Loyalty Id,First Name,Last Name,Email Address,Available Points'
unterminated='unterminated quoted field: no closing quote before the end of the file'

# 1. UTF-8 feed: the review's repro files.
feed="$T_TMP/feed"
mkdir -p "$feed"
printf '%s\rD1,Cr,Only,d1@x.com,1\rD2,Cr,Only,d2@x.com,2\r' "$header" > "$feed/a_mac.csv"
printf 'Loyalty Id,First Name\r\nA1,x\rA2,"y\r\nA3,z\r\n' > "$feed/b_crlf_cr.csv"
printf 'Loyalty Id,First Name\r\nC1,"never closed\r\nC2,b\r\nC3,c\r\n' > "$feed/c_lost_quote.csv"
printf '%s\nE1,Jos\xe9,Garc\xed\x61,e1@x.com,1\nE2,Ann,Lee,e2@x.com,2\nN1,Nu\0ll,X,n1@x.com,3\n' "$header" \
    > "$feed/d_latin1.csv"
write_cfg utf8 "$feed"
run_once utf8
# --once exits 2 when records were parked in the DLQ.
[ "$RC" = 2 ] || t_fail "utf-8 run exited $RC (want 2): $(tail -3 "$T_TMP/utf8.stderr")"
[ "$(ids_of utf8)" = "A1 A3 C2 C3 D1 D2 E2 " ] || t_fail "utf-8 run emitted '$(ids_of utf8)', want 'A1 A3 C2 C3 D1 D2 E2 '"
expect_record utf8 D1 '.first_name == "Cr" and .last_name == "Only" and .email == "d1@x.com" and .available_points == 1'
expect_record utf8 D2 '.available_points == 2'
expect_record utf8 A1 '.first_name == "x"'
expect_record utf8 A3 '.first_name == "z"'
expect_record utf8 C2 '.first_name == "b"'
t_note "CR-only export: 2 rows; bare CR in CRLF: A1, A3; lost quote: C2, C3"
[ "$("$SLUICE" dlq list "$T_TMP/utf8.cfg" | tail -1)" = "4 record(s)" ] ||
    t_fail "the DLQ holds other entries: $("$SLUICE" dlq list "$T_TMP/utf8.cfg")"
expect_entry utf8 b_crlf_cr.csv:3: "$unterminated" '.raw == "A2,\"y" and .line == 3 and .end_line == 3 and (has("fields") | not)'
expect_entry utf8 c_lost_quote.csv:2: "$unterminated" '.raw == "C1,\"never closed" and .line == 2 and .end_line == 2'
expect_entry utf8 d_latin1.csv:2: "column 'First Name' is not UTF-8 (byte 0xE9 at byte 4)" \
    '.raw.escaped == "E1,Jos\\xe9,Garc\\xeda,e1@x.com,1" and .fields[0] == "E1" and
     .fields[1].escaped == "Jos\\xe9" and .fields[2].escaped == "Garc\\xeda"'
expect_entry utf8 d_latin1.csv:4: "column 'First Name' contains a NUL byte (byte 3)" \
    '.raw.escaped == "N1,Nu\\x00ll,X,n1@x.com,3" and .fields[1].escaped == "Nu\\x00ll"'
t_note "UTF-8 feed: lost quotes and bad cells parked with FILE:LINE, their text kept"

# 2. The same Latin-1 file read as ISO-8859-1, and a Windows-1252 file.
latin1="$T_TMP/latin1"
mkdir -p "$latin1"
cp "$feed/d_latin1.csv" "$latin1/"
write_cfg latin1 "$latin1" 'encoding = "ISO-8859-1";'
run_once latin1
[ "$RC" = 2 ] || t_fail "iso-8859-1 run exited $RC (want 2): $(tail -3 "$T_TMP/latin1.stderr")"
[ "$(ids_of latin1)" = "E1 E2 " ] || t_fail "iso-8859-1 run emitted '$(ids_of latin1)', want 'E1 E2 '"
expect_record latin1 E1 '.first_name == "Jos\u00e9" and .last_name == "Garc\u00eda"'
expect_entry latin1 d_latin1.csv:4: "column 'First Name' contains a NUL byte (byte 3)" '.line == 4'
windows="$T_TMP/windows"
mkdir -p "$windows"
printf '%s\r\nW1,\x93Bo\x94,Gr\xfcn,w1@x.com,1\r\nW2,Zo\x80,M\x81ller,w2@x.com,2\r\nW3,Ann,Lee,w3@x.com,3\r\n' \
    "$header" > "$windows/w.csv"
write_cfg windows "$windows" 'encoding = "windows-1252";'
run_once windows
[ "$RC" = 2 ] || t_fail "windows-1252 run exited $RC (want 2): $(tail -3 "$T_TMP/windows.stderr")"
[ "$(ids_of windows)" = "W1 W3 " ] || t_fail "windows-1252 run emitted '$(ids_of windows)', want 'W1 W3 '"
expect_record windows W1 '.first_name == "\u201cBo\u201d" and .last_name == "Gr\u00fcn"'
expect_entry windows w.csv:3: "column 'Last Name' is not Windows-1252 (byte 0x81 at byte 2)" \
    '.fields[1] == "Zo\u20ac" and .fields[2].escaped == "M\\x81ller"'
t_note "encoding: ISO-8859-1 and Windows-1252 cells transcoded, a byte Windows-1252 lacks parked"

# 3. An unknown encoding is refused before anything runs (check() of the
#    plugin: a configuration error, FILE:LINE), naming it.
write_cfg badenc "$feed" 'encoding = "utf-16";'
run_once badenc
[ "$RC" = 78 ] || t_fail "a run with encoding utf-16 exited $RC (want 78)"
grep -q "encoding 'utf-16' is not one of utf-8, iso-8859-1, windows-1252" "$T_TMP/badenc.stderr" ||
    t_fail "unclear refusal: $(tail -3 "$T_TMP/badenc.stderr")"
[ ! -s "$T_TMP/out-badenc.jsonl" ] || t_fail "a refused run emitted records"

# 4. kill -9 in the middle of a CR-only file with lost quotes and quoted
#    CRs, against a straight read of the same file.
make_big() { # make_big FILE: $rows rows, CR line breaks
    awk -v rows="$rows" -v header="$header" 'BEGIN {
        ORS = "\r"; print header
        for (i = 1; i <= rows; i++) {
            if (i % 997 == 0) print "K" i ",\"lost " i ",L" i ",k" i "@x.com," i        # a quote never closed
            else if (i % 101 == 0) print "K" i ",\"two\rlines\",L" i ",k" i "@x.com," i  # a CR inside quotes
            else print "K" i ",F" i ",L" i ",k" i "@x.com," i
        }
    }' > "$1"
}
mkdir -p "$T_TMP/straight" "$T_TMP/killed"
make_big "$T_TMP/straight/big.csv"
cp "$T_TMP/straight/big.csv" "$T_TMP/killed/big.csv"
write_cfg straight "$T_TMP/straight" '' 'batch_size = 200;'
write_cfg killed "$T_TMP/killed" '' 'batch_size = 200;'
run_once straight
[ "$RC" = 2 ] || t_fail "straight run exited $RC (want 2): $(tail -3 "$T_TMP/straight.stderr")"
lost=$((rows / 997))
[ "$(jq -r .loyalty_id "$T_TMP/out-straight.jsonl" | sort -u | wc -l)" = $((rows - lost)) ] ||
    t_fail "straight run: $(wc -l < "$T_TMP/out-straight.jsonl") rows emitted, want $((rows - lost))"
expect_record straight K101 '.first_name == "two\rlines"'
# The killed run: stop the sink so the source cannot finish, kill -9 the
# source, let the sink go on; the supervisor restarts the source, which
# resumes at its checkpoint.
runtime="$T_TMP/state-killed/run"
t_bg timeout 600 "$SLUICE" run --once "$T_TMP/killed.cfg" > "$T_TMP/killed1.stdout" 2> "$T_TMP/killed1.stderr"
run_pid=$T_LAST_PID
lines_out() { [ -f "$T_TMP/out-killed.jsonl" ] && wc -l < "$T_TMP/out-killed.jsonl" || echo 0; }
flowing() { [ "$(lines_out)" -ge 600 ]; }
t_wait_for 300 flowing || t_fail "the big file did not start flowing"
sink_pid=$(t_pid_of_stage "$runtime" out) || t_fail "no pid file for the sink"
kill -STOP "$sink_pid"
src_pid=$(t_pid_of_stage "$runtime" src) || t_fail "no pid file for the source"
kill -9 "$src_pid" || t_fail "the source ended before the kill ($(lines_out) of $rows rows out)"
killed_at=$(lines_out)
kill -CONT "$sink_pid"
t_wait_for 600 sh -c "! kill -0 $run_pid 2>/dev/null" || t_fail "the killed run did not end"
run_once killed
[ "$RC" = 0 ] || [ "$RC" = 2 ] || t_fail "resumed run exited $RC: $(tail -3 "$T_TMP/killed.stderr")"
for name in straight killed; do
    jq -r .loyalty_id "$T_TMP/out-$name.jsonl" | sort -u > "$T_TMP/ids-$name.txt"
    "$SLUICE" dlq list "$T_TMP/$name.cfg" | awk '$4 ~ /^big\.csv:/ { $1 = $2 = $3 = ""; print }' | sort -u \
        > "$T_TMP/dlq-$name.txt"
done
diff "$T_TMP/ids-straight.txt" "$T_TMP/ids-killed.txt" > "$T_TMP/ids.diff" ||
    t_fail "after kill -9 the rows differ from a straight read: $(head -5 "$T_TMP/ids.diff")"
[ "$(wc -l < "$T_TMP/dlq-straight.txt")" = "$lost" ] ||
    t_fail "straight run: $(wc -l < "$T_TMP/dlq-straight.txt") DLQ entries, want $lost: $(head -3 "$T_TMP/dlq-straight.txt")"
diff "$T_TMP/dlq-straight.txt" "$T_TMP/dlq-killed.txt" > "$T_TMP/dlq.diff" ||
    t_fail "after kill -9 the DLQ differs from a straight read: $(head -5 "$T_TMP/dlq.diff")"
dups=$(( $(wc -l < "$T_TMP/out-killed.jsonl") - $(wc -l < "$T_TMP/ids-killed.txt") ))
t_note "killed -9 at $killed_at of $rows rows: same $((rows - lost)) rows and $lost DLQ entries as a straight read, $dups duplicates"

echo "ok: feed CSV: bare CR rows, lost quotes cost their line, non-UTF-8 and NUL cells parked or" \
    "transcoded, resume after kill -9 equals a straight read"

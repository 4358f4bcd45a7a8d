#!/usr/bin/env bash
# sink-waits.sh: a sink that waits on its destination is still alive, and
# waits as long as the destination asks. file-source -> ometria-sink /
# infobip-sink -> fake-dest.py with `sluice run --once`:
#  1. the first push hangs 9 s, three times ack_timeout_ms (3 s): the sink
#     keeps sending heartbeats during the attempt, so the source never
#     rewinds and every record reaches the destination exactly once;
#  2. the first push is answered 429 with Retry-After 6 s ahead (an
#     HTTP-date): the paused bucket is a wait with heartbeats too;
#  3. with http_max_attempts = 1 the client gives up on such a 429 at once,
#     and the core's retry of the batch still waits what the server asked
#     (the Retry-After date, 4 s ahead, reaches it as the stage's hint), for
#     both sinks; that wait, past ack_timeout_ms too, sends heartbeats.
# The retry lines (the client's and the core's) name the stage and its
# plugin, so an operator reads which destination is down.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/sink-lib.sh"

gen_contacts 30 "$T_TMP/contacts.jsonl"
gen_persons 30 "$T_TMP/persons.jsonl"
PATIENCE="ack_timeout_ms = 3000; batch_size = 10;"

# expect_no_rewind NAME FAKE: exit 0, all 30 delivered, no rewind logged,
# every record answered 2xx exactly once by the fake destination.
expect_no_rewind() {
    local name=$1 fake=$2 dups
    [ "$RC" -eq 0 ] || t_fail "$name: exit $RC: $(tail -3 "$T_TMP/run.err")"
    grep -q '30 records in, 30 delivered' "$T_TMP/run.out" || t_fail "$name: $(cat "$T_TMP/run.out")"
    ! grep -q 'rewinding' "$T_TMP/run.err" ||
        t_fail "$name: the source rewound a sink that was still trying: $(grep rewinding "$T_TMP/run.err" | head -2)"
    [ "$(jq -s '[.[] | select(.status < 300) | .ids[]] | length' "$T_TMP/$fake.posts")" -eq 30 ] ||
        t_fail "$name: the destination got $(jq -s '[.[] | select(.status < 300) | .ids[]] | length' "$T_TMP/$fake.posts") records, expected 30 once each"
    dups=$(jq -s '[.[] | select(.status < 300) | .ids[]] | group_by(.) | map(select(length > 1)) | length' \
        "$T_TMP/$fake.posts")
    [ "$dups" -eq 0 ] || t_fail "$name: $dups records were sent twice"
}

# gap_of FAKE: seconds between the first and the second request it logged.
gap_of() {
    jq -s 'if length < 2 then -1 else (.[1].at - .[0].at) end' "$T_TMP/$1.posts"
}

# --- 1. a push that hangs three times the source's patience ------------
fake_start hang hang --hang 9
sink_cfg "$T_TMP/hang.cfg" hang "$T_TMP/contacts.jsonl" ometria-sink \
    "http://127.0.0.1:$FAKE_PORT" "$PATIENCE" "http_timeout_ms = 30000;"
started=$(date +%s)
run_once "$T_TMP/hang.cfg" 600
expect_no_rewind hang hang
t_note "hang: a 9 s push with ack_timeout_ms 3000, no rewind, 30 records once ($(( $(date +%s) - started )) s)"

# --- 2. a 429 whose Retry-After pauses the bucket past the patience ----
fake_start pause busy --retry-after-date 6
sink_cfg "$T_TMP/pause.cfg" pause "$T_TMP/contacts.jsonl" ometria-sink \
    "http://127.0.0.1:$FAKE_PORT" "$PATIENCE"
run_once "$T_TMP/pause.cfg" 600
expect_no_rewind pause pause
gap=$(gap_of pause)
awk -v g="$gap" 'BEGIN { exit !(g >= 4.0) }' || t_fail "pause: the retry came $gap s after the 429, not after Retry-After"
# the client's retry line names the stage and its plugin (the platform)
grep -q "stage 'dest' (ometria-sink): POST http://127.0.0.1:$FAKE_PORT/.*: HTTP 429, retry 1 in" "$T_TMP/run.err" ||
    t_fail "pause: no retry line naming stage 'dest' (ometria-sink): $(grep -i retry "$T_TMP/run.err" | head -3)"
t_note "pause: a 429 with Retry-After 6 s ahead, retried after $gap s, no rewind"

# --- 3. the batch's retry honours Retry-After once the client gave up ---
for sink in ometria-sink infobip-sink; do
    name=hint-$sink
    fake_start "$name" busy --retry-after-date 4
    if [ "$sink" = ometria-sink ]; then input=contacts; else input=persons; fi
    sink_cfg "$T_TMP/$name.cfg" "$name" "$T_TMP/$input.jsonl" "$sink" \
        "http://127.0.0.1:$FAKE_PORT" "$PATIENCE" "http_max_attempts = 1; setup = false;"
    if [ "$sink" = ometria-sink ]; then
        sed -i 's/ setup = false;//' "$T_TMP/$name.cfg"
    fi
    run_once "$T_TMP/$name.cfg" 600
    expect_no_rewind "$name" "$name"
    gap=$(gap_of "$name")
    # The date is 4 s ahead at whole-second resolution: at least 3 s away.
    awk -v g="$gap" 'BEGIN { exit !(g >= 2.5) }' ||
        t_fail "$name: the batch was sent again $gap s after a 429 asking for about 4 s"
    # the core's retry of the batch names the sink and its plugin
    grep -q "sink 'dest' ($sink): batch [0-9]*/[0-9]*: [0-9]* record(s) not delivered yet, retry 1 in" \
        "$T_TMP/run.err" || t_fail "$name: no retry line naming sink 'dest' ($sink): $(grep -i retry "$T_TMP/run.err" | head -3)"
    t_note "$name: 429 with an HTTP-date 4 s ahead, batch retried after $gap s"
done
echo "ok: heartbeats while a destination hangs or pauses; Retry-After reaches the batch's retry"

#!/usr/bin/env bash
# ometria-sink.sh: file-source -> ometria-sink -> ometria-emu with
# `sluice run --once`: 250 contacts + 100 events land exactly; invalid
# records (bad date_of_birth, a record over 60 KB) end in the DLQ and only
# they; a wrong API key stops the run within seconds without showing the
# key; with injected 5xx, 429 (with and without Retry-After) and dropped
# connections the final state is still exact.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="om-test-key-7f3a9c"

# gen_input FILE BAD_EVERY: 250 contacts and 100 custom events in Ometria
# shape; with BAD_EVERY > 0 every BAD_EVERY-th contact has an impossible
# date_of_birth.
gen_input() {
    awk -v bad="$2" 'BEGIN {
        for (i = 1; i <= 250; i++) {
            dob = (bad > 0 && i % bad == 0) ? "1990-13-45" : sprintf("19%02d-%02d-%02d", 50 + i % 50, 1 + i % 12, 1 + i % 28);
            printf "{\"@type\":\"contact\",\"id\":\"LID-%d\",\"customer_id\":\"LID-%d\",\"email\":\"m%d@example.com\",\"firstname\":\"First%d\",\"lastname\":\"Last%d\",\"date_of_birth\":\"%s\",\"properties\":{\"annex_loyalty_id\":\"LID-%d\",\"annex_current_tier\":\"%s\",\"annex_used_points\":%d,\"annex_available_points\":\"%d\"}}\n", i, i, i, i, i, dob, i, (i % 3 ? "Silver" : "Gold"), i * 7, i * 11
        }
        for (i = 1; i <= 100; i++)
            printf "{\"@type\":\"custom_event\",\"id\":\"ev-%04d\",\"event_type\":\"annex_loy_point_accrual\",\"timestamp\":\"2026-11-20T10:%02d:00+00:00\",\"identity_email\":\"m%d@example.com\",\"identity_account_id\":\"LID-%d\",\"properties\":{\"points\":%d}}\n", i, i % 60, i, i, i * 10
    }' > "$1"
}

# write_cfg FILE NAME INPUT PORT API_KEY [EXTRA_STAGE_OPTIONS]
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$3"; },
    { name = "ometria"; plugin = "ometria-sink"; base_url = "http://127.0.0.1:$4";
      api_key = "$5"; ${6:-} }
  );
};
CFG
}

# expect_exact STATE_JSON INPUT: the emulator holds exactly the input's
# valid contacts (with @collection) and events, nothing else.
expect_exact() {
    local state=$1 input=$2
    jq -S -s '[.[] | select(."@type" == "contact" and ((.date_of_birth // "") | test("-13-") | not))
              | . + {"@collection": "annex_loyalty"} | {key: ("annex_loyalty/" + .id), value: .}]
              | from_entries' "$input" > "$T_TMP/want-contacts.json"
    jq -S '.contacts' "$state" > "$T_TMP/have-contacts.json"
    diff -q "$T_TMP/want-contacts.json" "$T_TMP/have-contacts.json" > /dev/null ||
        t_fail "contacts differ from the input: $(diff "$T_TMP/want-contacts.json" "$T_TMP/have-contacts.json" | head -5)"
    jq -S -s '[.[] | select(."@type" == "custom_event") | {key: .id, value: .}] | from_entries' \
        "$input" > "$T_TMP/want-events.json"
    jq -S '.events | map_values(.record)' "$state" > "$T_TMP/have-events.json"
    diff -q "$T_TMP/want-events.json" "$T_TMP/have-events.json" > /dev/null ||
        t_fail "events differ from the input: $(diff "$T_TMP/want-events.json" "$T_TMP/have-events.json" | head -5)"
}

# run_once CFG: sluice run --once, bounded; sets RC, output in $T_TMP/run.*
run_once() {
    set +e
    timeout 600 "$SLUICE" --log-format text run --once "$1" > "$T_TMP/run.out" 2> "$T_TMP/run.err"
    RC=$?
    set -e
    [ "$RC" -ne 124 ] || t_fail "sluice run --once did not finish in 600 s: $(tail -3 "$T_TMP/run.err")"
}

# The emulator enforces 8 requests/s (Ometria's current documented limit);
# the sink keeps to its default of 4/s unless a stage sets rate_limit.
t_start_emu ometria-emu "$T_TMP/emu.log" --api-key "$KEY" --rate-limit 8
PORT=$T_EMU_PORT
EMU="http://127.0.0.1:$PORT"

# --- 1. everything delivered exactly ---------------------------------
gen_input "$T_TMP/clean.jsonl" 0
write_cfg "$T_TMP/clean.cfg" clean "$T_TMP/clean.jsonl" "$PORT" "$KEY"
run_once "$T_TMP/clean.cfg"
[ "$RC" -eq 0 ] || t_fail "clean run exited $RC: $(tail -3 "$T_TMP/run.err")"
curl -sf "$EMU/_emu/state" > "$T_TMP/state.json"
expect_exact "$T_TMP/state.json" "$T_TMP/clean.jsonl"
requests=$(jq '.stats.requests' "$T_TMP/state.json")
# 250 contacts in 3 requests of <= 100, 100 events in 1 (plus any 429 retry).
[ "$requests" -ge 4 ] && [ "$requests" -le 8 ] || t_fail "expected about 4 push requests, saw $requests"
# The sink's own 4/s keeps under the API's limit: not a single 429.
[ "$(jq '.stats.by_status["429"] // 0' "$T_TMP/state.json")" -eq 0 ] ||
    t_fail "the sink went over Ometria's rate limit: $(jq -c .stats.by_status "$T_TMP/state.json")"
t_note "clean: 250 contacts + 100 events exact in $requests requests, no 429"

# --- 2. invalid records end in the DLQ, and only they ------------------
curl -sf -X POST "$EMU/_emu/reset" > /dev/null
gen_input "$T_TMP/bad.jsonl" 50
# One record over Ometria's 60 KB limit: refused before sending.
big=$(head -c 62000 /dev/zero | tr '\0' 'x')
printf '{"@type":"contact","id":"LID-BIG","email":"big@example.com","properties":{"annex_note":"%s"}}\n' \
    "$big" >> "$T_TMP/bad.jsonl"
# Bisection costs requests: let this stage go faster than the default.
# The same contact twice around a bad one: bisection re-sends records, and
# the newer version must still be the one Ometria ends with.
{
    echo '{"@type":"contact","id":"LID-300","email":"dup@example.com","firstname":"Old","properties":{"annex_current_tier":"Silver"}}'
    echo '{"@type":"contact","id":"LID-301","email":"m301@example.com","date_of_birth":"1990-13-45"}'
    echo '{"@type":"contact","id":"LID-300","email":"dup@example.com","firstname":"New","properties":{"annex_current_tier":"Gold"}}'
} >> "$T_TMP/bad.jsonl"
write_cfg "$T_TMP/bad.cfg" bad "$T_TMP/bad.jsonl" "$PORT" "$KEY" "rate_limit = 7.0;"
run_once "$T_TMP/bad.cfg"
[ "$RC" -eq 2 ] || t_fail "run with rejected records exited $RC, expected 2: $(tail -3 "$T_TMP/run.err")"
curl -sf "$EMU/_emu/state" > "$T_TMP/state.json"
grep -v LID-BIG "$T_TMP/bad.jsonl" > "$T_TMP/bad-valid.jsonl"
expect_exact "$T_TMP/state.json" "$T_TMP/bad-valid.jsonl"
"$SLUICE" dlq list "$T_TMP/bad.cfg" > "$T_TMP/dlq.txt" || t_fail "dlq list failed"
ids=()
for id in $(awk '$1 ~ /^[0-9]+$/ && $2 == "ometria" { print $1 }' "$T_TMP/dlq.txt"); do
    "$SLUICE" dlq show "$T_TMP/bad.cfg" "$id" > "$T_TMP/entry.json" || t_fail "dlq show $id failed"
    ids+=("$(grep -o '"id": *"LID-[A-Z0-9]*"' "$T_TMP/entry.json" | head -1 | sed 's/.*"\(LID-[A-Z0-9]*\)"/\1/')")
    case "${ids[-1]}" in
        LID-BIG) grep -q 'record too large: [0-9]* bytes > 61440' "$T_TMP/entry.json" ||
                     t_fail "oversized record lacks the size reason: $(head -c 300 "$T_TMP/entry.json")" ;;
        *) grep -q 'rejected by Ometria.*date_of_birth' "$T_TMP/entry.json" ||
               t_fail "${ids[-1]} lacks Ometria's reason: $(head -c 300 "$T_TMP/entry.json")" ;;
    esac
done
got=$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')
want="LID-100 LID-150 LID-200 LID-250 LID-301 LID-50 LID-BIG "
[ "$got" = "$want" ] || t_fail "DLQ holds [$got], expected [$want]"
[ "$(jq '.stats.counters.records_rejected' "$T_TMP/state.json")" -ge 5 ] ||
    t_fail "emulator did not see the bad records"
[ "$(jq -r '.contacts["annex_loyalty/LID-300"].firstname' "$T_TMP/state.json")" = New ] ||
    t_fail "an older version of LID-300 overwrote the newer one"
requests=$(jq '.stats.requests' "$T_TMP/state.json")
# 6 refused records among 253 contacts: bisection costs about log2(100) + 1
# pushes and one GET /_errors each, far from one request per record.
[ "$requests" -le 80 ] || t_fail "isolating 6 refused records took $requests requests"
t_note "bad: exactly the 6 invalid contacts and the 61 KB record parked, the rest delivered ($requests requests)"

# --- 3. a wrong API key stops the run at once (no retry: the emulator
# refuses it once) and is never shown ---------------------------------
WRONG="om-WRONG-key-0b1e2d"
write_cfg "$T_TMP/wrong.cfg" wrong "$T_TMP/clean.jsonl" "$PORT" "$WRONG"
refused_401() { curl -sf --max-time 60 "$EMU/_emu/stats" | jq '.by_status["401"] // 0'; }
refused_before=$(refused_401)
started=$(date +%s)
run_once "$T_TMP/wrong.cfg"
elapsed=$(( $(date +%s) - started ))
refused=$(( $(refused_401) - refused_before ))
[ "$RC" -ne 0 ] || t_fail "a wrong key exited 0"
[ "$refused" -eq 1 ] || t_fail "a wrong key was sent $refused times (refused with 401): it must stop at the first refusal"
cat "$T_TMP/run.out" "$T_TMP/run.err" > "$T_TMP/wrong.all"
grep -q 'API key rejected by Ometria (HTTP 401)' "$T_TMP/wrong.all" ||
    t_fail "no clear message for a wrong key: $(tail -3 "$T_TMP/wrong.all")"
grep -q 'ometria-sink' "$T_TMP/wrong.all" || t_fail "the message does not name ometria-sink"
! grep -q "$WRONG" "$T_TMP/wrong.all" || t_fail "the API key appears in the output"
! grep -rq "$WRONG" "$T_TMP/state-wrong" 2>/dev/null || t_fail "the API key was written to the state dir"
t_note "wrong key: exit $RC after ${elapsed}s, key never shown"

# --- 4. faults: 5xx, 429 with and without Retry-After, resets ---------
curl -sf -X POST "$EMU/_emu/reset" > /dev/null
curl -sf -X POST -d '{"fail_rate":0.2,"rate429":0.15,"rate429_noretry":0.15,"reset_rate":0.05,"retry_after":1}' \
    "$EMU/_emu/faults" > /dev/null || t_fail "cannot set emulator faults"
write_cfg "$T_TMP/faults.cfg" faults "$T_TMP/clean.jsonl" "$PORT" "$KEY" "max_records_per_request = 25;"
run_once "$T_TMP/faults.cfg"
[ "$RC" -eq 0 ] || t_fail "run with faults exited $RC: $(tail -3 "$T_TMP/run.err")"
curl -sf "$EMU/_emu/state" > "$T_TMP/state.json"
expect_exact "$T_TMP/state.json" "$T_TMP/clean.jsonl"
fivexx=$(jq '.stats.faults.injected_5xx' "$T_TMP/state.json")
four29=$(jq '.stats.faults.injected_429' "$T_TMP/state.json")
[ "$fivexx" -gt 0 ] && [ "$four29" -gt 0 ] || t_fail "faults were not exercised (5xx=$fivexx 429=$four29)"
grep -q 'retry' "$T_TMP/run.err" || t_fail "retries were not logged"
resets=$(jq '.stats.faults.resets' "$T_TMP/state.json")
t_note "faults: exact after $fivexx injected 5xx, $four29 injected 429 and $resets dropped connections"
echo "ok: ometria-sink delivers exactly, parks only bad records, stops on a bad key, survives faults"

#!/usr/bin/env bash
# infobip-sink.sh: file-source -> infobip-sink -> infobip-emu with
# `sluice run --once`, the emulator holding each upsert 1 s (a slow
# platform). With max_in_flight = 4 the upserts of a batch overlap (the
# emulator saw several at once); with max_in_flight = 1 they do not (never
# two at once, and the run lasts at least the upserts one after another).
# How much shorter the overlapped run is depends on the machine, so it is
# noted, not asserted. Both runs end in
# the same state: every valid person delivered, a person listed twice
# carries its later record, exactly the invalid persons dead-lettered with
# Infobip's reason; a second pass that drops the Loyalty tag of some
# persons takes the tag away from exactly them. A key Infobip refuses in
# the middle of overlapped upserts (no setup calls first) still stops the
# run with the clear message, without printing the key.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="ib-overlap-key-5c1e"
PERSONS=2000          # one batch
PER_REQUEST=250       # 8 upserts of distinct persons, then 1 for the repeat
DELAY_MS=1000

# gen_input FILE PASS: PERSONS persons in Infobip shape; every 400th has an
# impossible birthDate (Infobip refuses it: 207 error); L-7 is listed again
# at the end with another first name. Pass 2 drops the Loyalty tag of every
# 5th person.
gen_input() {
    awk -v n="$PERSONS" -v pass="$2" 'BEGIN {
        for (i = 1; i <= n; i++) {
            birth = (i % 400 == 0) ? "1990-13-45" : sprintf("19%02d-%02d-%02d", 50 + i % 50, 1 + i % 12, 1 + i % 28);
            tags = (pass == 2 && i % 5 == 0) ? "[]" : "[\"Loyalty\"]";
            printf "{\"externalId\":\"L-%d\",\"firstName\":\"First%d\",\"birthDate\":\"%s\",\"tags\":%s,\"contactInformation\":[{\"type\":\"EMAIL\",\"identifier\":\"m%d@example.com\",\"primary\":true}]}\n", i, i, birth, tags, i
        }
        printf "{\"externalId\":\"L-7\",\"firstName\":\"Later%d\",\"birthDate\":\"1957-08-08\",\"tags\":[\"Loyalty\"],\"contactInformation\":[{\"type\":\"EMAIL\",\"identifier\":\"m7@example.com\",\"primary\":true}]}\n", pass
    }' > "$1"
}

# write_cfg FILE NAME INPUT PORT IN_FLIGHT
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  batch_size = $((PERSONS + 1));
  stages = (
    { name = "src"; plugin = "file-source"; path = "$3"; },
    { name = "infobip"; plugin = "infobip-sink"; base_url = "http://127.0.0.1:$4";
      api_key = "$KEY"; requests_per_second = 1000.0; max_persons_per_request = $PER_REQUEST;
      max_in_flight = $5; max_event_age_days = 0; }
  );
};
CFG
}

# run_once CFG: sluice run --once, bounded; sets RC and SECONDS_TAKEN.
run_once() {
    local start end
    start=$(date +%s.%N)
    RC=0
    timeout 600 "$SLUICE" run --once --log-level warn "$1" > "$T_TMP/run.out" 2> "$T_TMP/run.err" || RC=$?
    end=$(date +%s.%N)
    SECONDS_TAKEN=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
    # 2: the run completed and some records were dead-lettered.
    [ "$RC" -eq 0 ] || [ "$RC" -eq 2 ] || t_fail "run of $1 exited $RC: $(tail -3 "$T_TMP/run.err")"
}

# check_state NAME PORT PASS: persons, the repeat, tags and the DLQ of
# this pass (its own state dir) as expected.
check_state() {
    local name=$1 port=$2 pass=$3 state="$T_TMP/state-$1.json" want have
    curl -s --max-time 60 "http://127.0.0.1:$port/_emu/state" > "$state"
    want=$((PERSONS - PERSONS / 400))
    have=$(jq '.persons | length' "$state")
    [ "$have" -eq "$want" ] || t_fail "$name: $have persons in Infobip, expected $want"
    [ "$(jq -r '.persons["L-7"].firstName' "$state")" = "Later$pass" ] \
        || t_fail "$name: L-7 is '$(jq -r '.persons["L-7"].firstName' "$state")', not its later record Later$pass"
    [ "$(jq -r '.persons["L-8"].firstName' "$state")" = First8 ] || t_fail "$name: L-8 not delivered as sent"
    jq -r '.persons | to_entries[] | select(.value.tags | index("Loyalty") | not) | .key' "$state" \
        | sort > "$T_TMP/untagged-$name"
    if [ "$pass" = 1 ]; then
        : > "$T_TMP/want-untagged"
    else
        awk -v n="$PERSONS" 'BEGIN { for (i = 5; i <= n; i += 5) if (i % 400 != 0 && i != 7) print "L-" i }' \
            | sort > "$T_TMP/want-untagged"
    fi
    diff -q "$T_TMP/want-untagged" "$T_TMP/untagged-$name" > /dev/null \
        || t_fail "$name: persons without the Loyalty tag differ: $(diff "$T_TMP/want-untagged" "$T_TMP/untagged-$name" | head -4)"
    sqlite3 "$T_TMP/state-$name/state.db" "select reason from dlq" | sort > "$T_TMP/dlq-$name"
    [ "$(wc -l < "$T_TMP/dlq-$name")" -eq $((PERSONS / 400)) ] \
        || t_fail "$name: $(wc -l < "$T_TMP/dlq-$name") dead-lettered, expected $((PERSONS / 400)): $(head -2 "$T_TMP/dlq-$name")"
    grep -qv 'birthDate' "$T_TMP/dlq-$name" && t_fail "$name: a DLQ reason that is not the birthDate: $(grep -v birthDate "$T_TMP/dlq-$name" | head -1)"
    return 0
}

command -v sqlite3 > /dev/null || t_fail "needs sqlite3"
gen_input "$T_TMP/pass1.jsonl" 1
gen_input "$T_TMP/pass2.jsonl" 2
upserts=$(( (PERSONS + PER_REQUEST - 1) / PER_REQUEST + 1 ))
sequential=$(awk -v n="$upserts" -v d="$DELAY_MS" 'BEGIN { printf "%.2f", n * d / 1000 }')

for flight in 4 1; do
    t_start_emu infobip-emu "$T_TMP/emu-$flight.err" --api-key "$KEY" --rate-limit 0 \
        --upsert-delay-ms "$DELAY_MS" --log "$T_TMP/requests-$flight.log"
    port=$T_EMU_PORT
    write_cfg "$T_TMP/p$flight.cfg" "flight${flight}p1" "$T_TMP/pass1.jsonl" "$port" "$flight"
    run_once "$T_TMP/p$flight.cfg"
    peak=$(curl -s --max-time 60 "http://127.0.0.1:$port/_emu/stats" | jq '.counters.upserts_in_flight_peak // 0')
    [ "$(grep -c '^PATCH /people/3/persons/upsert 207' "$T_TMP/requests-$flight.log")" -eq "$upserts" ] \
        || t_fail "max_in_flight=$flight: expected $upserts upserts: $(grep -c upsert "$T_TMP/requests-$flight.log")"
    if [ "$flight" = 4 ]; then
        [ "$peak" -ge 2 ] || t_fail "max_in_flight=4: the emulator never saw two upserts at once (peak $peak)"
    else
        [ "$peak" -eq 1 ] || t_fail "max_in_flight=1: $peak upserts at once"
        awk -v t="$SECONDS_TAKEN" -v s="$sequential" 'BEGIN { exit !(t >= s) }' \
            || t_fail "max_in_flight=1: took $SECONDS_TAKEN s, less than $sequential s of upserts one after another"
    fi
    t_note "max_in_flight=$flight: $upserts upserts held ${DELAY_MS} ms each, $SECONDS_TAKEN s (one after another: $sequential s), peak $peak at once; $(grep -h elapsed "$T_TMP/run.out" "$T_TMP/run.err" | tail -1)"
    check_state "flight${flight}p1" "$port" 1
    # Pass 2: every person known; every 5th loses the Loyalty tag.
    write_cfg "$T_TMP/p$flight.cfg" "flight${flight}p2" "$T_TMP/pass2.jsonl" "$port" "$flight"
    run_once "$T_TMP/p$flight.cfg"
    removals=$(grep -c '^DELETE /people/2/tags/Loyalty/persons 200 ' "$T_TMP/requests-$flight.log" || true)
    [ "$removals" -ge 1 ] || t_fail "max_in_flight=$flight: no Loyalty tag removal in pass 2"
    check_state "flight${flight}p2" "$port" 2
    jq -S '.persons' "$T_TMP/state-flight${flight}p2.json" > "$T_TMP/persons-$flight.json"
done
diff -q <(jq -S "map_values(del(.id))" "$T_TMP/persons-4.json") <(jq -S "map_values(del(.id))" "$T_TMP/persons-1.json") > /dev/null \
    || t_fail "max_in_flight 4 and 1 end in different states: $(diff "$T_TMP/persons-4.json" "$T_TMP/persons-1.json" | head -5)"
for pass in 1 2; do
    diff -q "$T_TMP/dlq-flight4p$pass" "$T_TMP/dlq-flight1p$pass" > /dev/null \
        || t_fail "max_in_flight 4 and 1 dead-letter differently in pass $pass"
done
# A wrong key met by 4 upserts in flight at once.
t_start_emu infobip-emu "$T_TMP/emu-badkey.err" --api-key "$KEY" --rate-limit 0
write_cfg "$T_TMP/badkey.cfg" badkey "$T_TMP/pass1.jsonl" "$T_EMU_PORT" 4
sed -i "s/api_key = \"$KEY\";/api_key = \"wrong-$KEY\"; setup = false;/" "$T_TMP/badkey.cfg"
grep -q 'setup = false' "$T_TMP/badkey.cfg" || t_fail "could not write the wrong-key pipeline"
RC=0
timeout 600 "$SLUICE" run --once --log-level warn "$T_TMP/badkey.cfg" > "$T_TMP/badkey.out" 2>&1 || RC=$?
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || t_fail "a refused key did not stop the run (exit $RC)"
grep -q 'API key rejected by Infobip (HTTP 401)' "$T_TMP/badkey.out" \
    || t_fail "no clear message for the refused key: $(tail -3 "$T_TMP/badkey.out")"
grep -q "wrong-$KEY" "$T_TMP/badkey.out" && t_fail "the API key was printed"
echo "ok: upserts overlap with max_in_flight=4 and not with 1; same persons, tags and DLQ either way"

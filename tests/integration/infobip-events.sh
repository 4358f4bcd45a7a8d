#!/usr/bin/env bash
# infobip-events.sh: file-source -> infobip-sink -> infobip-emu, one batch
# of 100 persons and 1,000 events, under both readings of the
# specification for an event whose person Infobip does not hold
# (--unknown-person reject: 400505; create: a bare CUSTOMER profile).
# - Infobip refuses the events batch naming its 10 bad items (a DateTime
#   property that is not a time; the sink does not check the format):
#   exactly those are dead-lettered with Infobip's message and the rest is
#   sent once more: 2 event requests where bisection takes many (the
#   emulator's request log counts them; the bisection figure is computed
#   from the same positions and noted).
# - One person is refused (an impossible birthDate) and Infobip does not
#   hold it: its 10 events are not sent (dead-lettered with the member), so
#   no bare profile is ever created (the emulator's persons_auto_created
#   stays 0) in either mode. Another is refused the same way but Infobip
#   holds it from before: a refused update, its events are delivered.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="ib-events-key-93d2"
NOW=2026-11-19T15:32:52.000+0000
PERSONS=100
EVENTS=1000
REFUSED_PERSON=50     # L-50 has an impossible birthDate
KNOWN_PERSON=60       # so has L-60, whom Infobip holds from before
BAD_EVERY=100         # event i with i % 100 == 0 has a bad DateTime

# gen_input FILE: persons first, then the events (event i is L-((i % 100) + 1)'s).
gen_input() {
    awk -v n="$PERSONS" -v e="$EVENTS" -v now="$NOW" -v refused="$REFUSED_PERSON" \
        -v known="$KNOWN_PERSON" -v bad="$BAD_EVERY" 'BEGIN {
        for (i = 1; i <= n; i++) {
            birth = (i == refused || i == known) ? "1990-13-45" : "1980-01-01"
            printf "{\"externalId\":\"L-%d\",\"firstName\":\"First%d\",\"birthDate\":\"%s\",\"contactInformation\":[{\"type\":\"EMAIL\",\"identifier\":\"m%d@example.com\",\"primary\":true}]}\n", i, i, birth, i
        }
        for (i = 1; i <= e; i++) {
            at = (i % bad == 0) ? "not-a-time" : now
            printf "{\"eventId\":\"e-%d\",\"definitionId\":\"LoyPointAccrual\",\"occurredTime\":\"%s\",\"identifier\":{\"id\":\"L-%d\",\"type\":\"EXTERNAL_ID\"},\"properties\":{\"points\":%d,\"at\":\"%s\"}}\n", i, now, i % n + 1, i, at
        }
    }' > "$1"
}

# write_cfg FILE NAME PORT
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  batch_size = $((PERSONS + EVENTS));
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/input.jsonl"; },
    { name = "infobip"; plugin = "infobip-sink"; base_url = "http://127.0.0.1:$3";
      api_key = "$KEY"; requests_per_second = 1000.0; max_event_age_days = 0; max_in_flight = 1;
      event_definitions = { LoyPointAccrual = { points = "Numeric"; at = "DateTime"; }; }; }
  );
};
CFG
}

# bisection_requests N BAD_POSITIONS...: the requests halving takes to
# isolate the bad items among N (0-based positions), as the sink did
# before refusals named their items.
bisection_requests() {
    local n=$1
    shift
    awk -v n="$n" -v bad="$*" 'function req(lo, cnt,   k, has) {
            count++
            has = 0
            for (k in b) if (k + 0 >= lo && k + 0 < lo + cnt) has = 1
            if (!has || cnt == 1) return
            req(lo, int(cnt / 2)); req(lo + int(cnt / 2), cnt - int(cnt / 2))
        }
        BEGIN { split(bad, a, " "); for (i in a) b[a[i]] = 1; count = 0; req(0, n); print count }'
}

command -v sqlite3 > /dev/null || t_fail "needs sqlite3"
gen_input "$T_TMP/input.jsonl"
held=$((EVENTS / PERSONS))                 # the refused person's events
bad=$((EVENTS / BAD_EVERY))                # refused by Infobip by index
sent=$((EVENTS - held))
# positions of the bad events among those sent (held ones are left out)
positions=$(awk -v e="$EVENTS" -v n="$PERSONS" -v r="$REFUSED_PERSON" -v bad="$BAD_EVERY" 'BEGIN {
    p = 0
    for (i = 1; i <= e; i++) { if (i % n + 1 == r) continue; if (i % bad == 0) printf "%d ", p; p++ } }')
bisect=$(bisection_requests "$sent" $positions)

for mode in reject create; do
    t_start_emu infobip-emu "$T_TMP/emu-$mode.err" --api-key "$KEY" --rate-limit 0 --now "$NOW" \
        --unknown-person "$mode" --log "$T_TMP/requests-$mode.log"
    port=$T_EMU_PORT
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PATCH -H "Authorization: App $KEY" \
        -H 'Content-Type: application/json' "http://127.0.0.1:$port/people/3/persons/upsert" \
        --data-binary "{\"persons\":[{\"externalId\":\"L-$KNOWN_PERSON\",\"firstName\":\"First$KNOWN_PERSON\"}]}")
    [ "$code" = 207 ] || t_fail "$mode: could not create L-$KNOWN_PERSON beforehand ($code)"
    write_cfg "$T_TMP/$mode.cfg" "events-$mode" "$port"
    RC=0
    timeout 600 "$SLUICE" run --once --log-level warn "$T_TMP/$mode.cfg" > "$T_TMP/run-$mode.out" 2>&1 || RC=$?
    [ "$RC" -eq 0 ] || [ "$RC" -eq 2 ] || t_fail "$mode: run exited $RC: $(tail -3 "$T_TMP/run-$mode.out")"
    curl -s --max-time 60 "http://127.0.0.1:$port/_emu/state" > "$T_TMP/state-$mode.json"
    curl -s --max-time 60 "http://127.0.0.1:$port/_emu/stats" > "$T_TMP/stats-$mode.json"
    refused=$(grep -c '^POST /people/3/events 400' "$T_TMP/requests-$mode.log" || true)
    accepted=$(grep -c '^POST /people/3/events 202' "$T_TMP/requests-$mode.log" || true)
    [ "$refused" -eq 1 ] && [ "$accepted" -eq 1 ] \
        || t_fail "$mode: $refused refused and $accepted accepted event requests, expected 1 and 1 (bisection takes $bisect)"
    stored=$(jq '.events | length' "$T_TMP/state-$mode.json")
    [ "$stored" -eq $((sent - bad)) ] || t_fail "$mode: Infobip holds $stored events, expected $((sent - bad))"
    for i in $(seq "$BAD_EVERY" "$BAD_EVERY" "$EVENTS"); do
        [ "$(jq --arg id "e-$i" '.events | has($id)' "$T_TMP/state-$mode.json")" = false ] \
            || t_fail "$mode: bad event e-$i stored"
    done
    auto=$(jq '.counters.persons_auto_created // 0' "$T_TMP/stats-$mode.json")
    [ "$auto" -eq 0 ] || t_fail "$mode: sluice made Infobip create $auto bare profile(s)"
    [ "$(jq '.persons | length' "$T_TMP/state-$mode.json")" -eq $((PERSONS - 1)) ] \
        || t_fail "$mode: $(jq '.persons | length' "$T_TMP/state-$mode.json") persons, expected $((PERSONS - 1))"
    [ "$(jq --arg id "L-$REFUSED_PERSON" '.persons | has($id)' "$T_TMP/state-$mode.json")" = false ] \
        || t_fail "$mode: the refused person L-$REFUSED_PERSON exists in Infobip"
    jq -e '[.persons[] | select(.firstName == null)] | length == 0' "$T_TMP/state-$mode.json" > /dev/null \
        || t_fail "$mode: a profile without the member's fields"
    db="$T_TMP/state-events-$mode/state.db"
    [ "$(sqlite3 "$db" "select count(*) from dlq where reason like '%400504%' and reason like '%must be DateTime%'")" -eq "$bad" ] \
        || t_fail "$mode: expected $bad events dead-lettered with Infobip's 400504: $(sqlite3 "$db" 'select reason from dlq' | sort | uniq -c | head -5)"
    [ "$(sqlite3 "$db" "select count(*) from dlq where reason like '%does not hold the member%'")" -eq "$held" ] \
        || t_fail "$mode: expected the refused member's $held events dead-lettered unsent"
    [ "$(sqlite3 "$db" "select count(*) from dlq")" -eq $((bad + held + 2)) ] \
        || t_fail "$mode: DLQ holds $(sqlite3 "$db" 'select count(*) from dlq'), expected $((bad + held + 2))"
    known_events=$(jq --arg id "L-$KNOWN_PERSON" '[.events[] | select(.event.identifier.id == $id)] | length' "$T_TMP/state-$mode.json")
    [ "$known_events" -eq $((EVENTS / PERSONS)) ] \
        || t_fail "$mode: $known_events events of L-$KNOWN_PERSON (update refused, known to Infobip) delivered, expected $((EVENTS / PERSONS))"
    t_note "$mode: $sent events with $bad bad: 2 event requests (bisection: $bisect, $((bisect - 2)) saved)"
done
echo "ok: refused events isolated by index in 2 requests (bisection: $bisect); no bare profile in either reading"

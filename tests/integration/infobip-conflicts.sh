#!/usr/bin/env bash
# infobip-conflicts.sh: households share phone numbers and e-mail
# addresses; Infobip (infobip-emu enforces identifier ownership) refuses
# the second member of each pair as a whole ("contactInformation: PHONE
# ... belongs to another person"). file-source -> infobip-sink ->
# infobip-emu: every member arrives (externalId and fields), the second of
# each pair without the identifier it shares, nothing is dead-lettered,
# and each conflict is reported: a warning naming the loyalty id and no
# phone or e-mail, and one "conflict/<loyalty id>" entry in the stage's
# state naming the identifier types taken out, listed by `sluice dlq
# conflicts`. A second run of the same
# members changes nothing and loses no one.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="ib-conflicts-key-4a7e"
MEMBERS=60            # 30 pairs: 1-10 share a phone, 11-20 an e-mail, 21-25 both, 26-30 nothing

# gen_input FILE: member 2k-1 and 2k form pair k.
gen_input() {
    awk -v n="$MEMBERS" 'BEGIN {
        for (i = 1; i <= n; i++) {
            k = int((i + 1) / 2); second = (i % 2 == 0)
            phone = sprintf("4477009%05d", (second && ((k >= 1 && k <= 10) || (k >= 21 && k <= 25))) ? i - 1 : i)
            email = sprintf("m%d@example.com", (second && k >= 11 && k <= 25) ? i - 1 : i)
            printf "{\"externalId\":\"L-%d\",\"firstName\":\"First%d\",\"contactInformation\":[{\"type\":\"EMAIL\",\"identifier\":\"%s\",\"primary\":true},{\"type\":\"PHONE\",\"identifier\":\"%s\"}]}\n", i, i, email, phone
        }
    }' > "$1"
}

# want_conflicts: "L-i TYPES" for the second member of each sharing pair.
want_conflicts() {
    awk -v n="$MEMBERS" 'BEGIN {
        for (i = 2; i <= n; i += 2) {
            k = i / 2
            if (k <= 10) print "L-" i " PHONE"
            else if (k <= 20) print "L-" i " EMAIL"
            else if (k <= 25) print "L-" i " EMAIL,PHONE"
        }
    }' | sort
}

command -v sqlite3 > /dev/null || t_fail "needs sqlite3"
gen_input "$T_TMP/input.jsonl"
t_start_emu infobip-emu "$T_TMP/emu.err" --api-key "$KEY" --rate-limit 0 --log "$T_TMP/requests.log"
port=$T_EMU_PORT
# write_cfg PASS: the pipeline of one pass (a state of its own: the file
# is read again from the start).
write_cfg() {
    cat > "$T_TMP/p.cfg" <<CFG
pipeline = {
  name = "conflicts$1";
  state_dir = "$T_TMP/state$1";
  batch_size = $MEMBERS;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/input.jsonl"; },
    { name = "infobip"; plugin = "infobip-sink"; base_url = "http://127.0.0.1:$port";
      api_key = "$KEY"; requests_per_second = 1000.0; max_event_age_days = 0; }
  );
};
CFG
}

for pass in 1 2; do
    write_cfg "$pass"
    RC=0
    timeout 600 "$SLUICE" run --once --log-level warn "$T_TMP/p.cfg" > "$T_TMP/run$pass.out" 2>&1 || RC=$?
    [ "$RC" -eq 0 ] || t_fail "pass $pass: run exited $RC: $(tail -3 "$T_TMP/run$pass.out")"
    curl -s --max-time 60 "http://127.0.0.1:$port/_emu/state" > "$T_TMP/state$pass.json"
    have=$(jq '[.persons | to_entries[] | select(.key | startswith("L-")) | select(.value.firstName == ("First" + (.key | ltrimstr("L-"))))] | length' "$T_TMP/state$pass.json")
    [ "$have" -eq "$MEMBERS" ] || t_fail "pass $pass: $have of $MEMBERS members in Infobip with their fields"
    [ "$(jq '.persons | length' "$T_TMP/state$pass.json")" -eq "$MEMBERS" ] || t_fail "pass $pass: extra persons"
    # every identifier held by exactly one person: the first member of a pair
    jq -r '.persons[] | .contactInformation[]? | .identifier' "$T_TMP/state$pass.json" | sort | uniq -d > "$T_TMP/dup"
    [ ! -s "$T_TMP/dup" ] || t_fail "pass $pass: identifiers held twice: $(head -2 "$T_TMP/dup")"
    [ "$(jq -r '.persons["L-1"].contactInformation | map(.identifier) | sort | join(",")' "$T_TMP/state$pass.json")" = "447700900001,m1@example.com" ] \
        || t_fail "pass $pass: L-1 lost its identifiers: $(jq -c '.persons["L-1"]' "$T_TMP/state$pass.json")"
    [ "$(jq -r '.persons["L-2"].contactInformation | map(.identifier) | join(",")' "$T_TMP/state$pass.json")" = "m2@example.com" ] \
        || t_fail "pass $pass: L-2 should keep only its own e-mail: $(jq -c '.persons["L-2"]' "$T_TMP/state$pass.json")"
    [ "$(sqlite3 "$T_TMP/state$pass/state.db" 'select count(*) from dlq')" -eq 0 ] \
        || t_fail "pass $pass: dead-lettered: $(sqlite3 "$T_TMP/state$pass/state.db" 'select reason from dlq' | head -2)"
    # the operator's list: sluice dlq conflicts
    "$SLUICE" dlq conflicts "$T_TMP/p.cfg" > "$T_TMP/list$pass" || t_fail "pass $pass: sluice dlq conflicts failed"
    awk '$1 == "infobip" { print $2, $3 }' "$T_TMP/list$pass" | sort > "$T_TMP/conflicts$pass"
    diff -q <(want_conflicts) "$T_TMP/conflicts$pass" > /dev/null \
        || t_fail "pass $pass: conflict list differs: $(diff <(want_conflicts) "$T_TMP/conflicts$pass" | head -4)"
    grep -q "^$(want_conflicts | wc -l) member(s) delivered without a shared identifier" "$T_TMP/list$pass" \
        || t_fail "pass $pass: no count line: $(tail -1 "$T_TMP/list$pass")"
    grep -aE '@example\.com|4477009' "$T_TMP/list$pass" "$T_TMP/state$pass/state.db" \
        > /dev/null && t_fail "pass $pass: a phone or e-mail in the conflict list"
    warned=$(grep -c 'belongs to another person in Infobip; upserted without it' "$T_TMP/run$pass.out" || true)
    [ "$warned" -eq "$(want_conflicts | wc -l)" ] || t_fail "pass $pass: $warned conflict warnings, expected $(want_conflicts | wc -l)"
    grep -E '@example\.com|4477009' "$T_TMP/run$pass.out" && t_fail "pass $pass: a phone or e-mail in the log"
done
t_note "$(want_conflicts | wc -l) members with a shared identifier; upserts: $(grep -c '^PATCH /people/3/persons/upsert 207' "$T_TMP/requests.log")"
echo "ok: members sharing phones or e-mails all arrive; each conflict warned (no PII) and listed"

#!/usr/bin/env bash
# infobip-tags.sh: infobip-sink sets tags only through Infobip's tag
# endpoints and starts with three requests (issue 17).
# file-source -> infobip-sink -> infobip-emu with `sluice run --once`, once
# for each --upsert-tags mode of the emulator (append: v2's documented
# behaviour; replace: what v3's upsert may do, which would wipe the tags a
# marketer set by hand; ignore). In every mode:
#  - no upsert carries "tags" (the emulator's upsert_persons_with_tags);
#  - a tag set by hand (HandSet, not owned by the pipeline) on two persons
#    before the first run survives both runs;
#  - after pass 1 every person carries exactly Loyalty and vip as its record
#    lists (plus HandSet); pass 2 takes Loyalty from every 5th and moves vip,
#    in one PATCH and one DELETE per tag (60 persons, one upsert);
#  - the second start lists attributes, definitions and tags (3 requests)
#    and creates nothing.
# Then a definition that exists with another property type stops the
# start with a message naming both types, and a person whose record lists
# a tag Infobip does not have is parked with the reason.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="ib-tags-key-7d21"
PERSONS=60

# gen_input FILE PASS: PERSONS persons. Pass 1: Loyalty for all, vip for
# every 3rd. Pass 2: Loyalty but for every 5th, vip for every 2nd.
gen_input() {
    awk -v n="$PERSONS" -v pass="$2" 'BEGIN {
        for (i = 1; i <= n; i++) {
            tags = ""
            if (pass == 1 || i % 5 != 0) tags = "\"Loyalty\""
            if ((pass == 1 && i % 3 == 0) || (pass == 2 && i % 2 == 0))
                tags = tags (tags == "" ? "" : ",") "\"vip\""
            printf "{\"externalId\":\"L-%d\",\"firstName\":\"First%d\",\"tags\":[%s],\"customAttributes\":{\"annexCurrentTier\":\"Gold\"}}\n", i, i, tags
        }
    }' > "$1"
}

# want_tags PASS: "L-i tag,tag" lines as Infobip must hold them (sorted).
want_tags() {
    awk -v n="$PERSONS" -v pass="$1" 'BEGIN {
        for (i = 1; i <= n; i++) {
            t = ""
            if (i == 1 || i == 5) t = "HandSet"
            if (pass == 1 || i % 5 != 0) t = t (t == "" ? "" : ",") "Loyalty"
            if ((pass == 1 && i % 3 == 0) || (pass == 2 && i % 2 == 0)) t = t (t == "" ? "" : ",") "vip"
            print "L-" i " " t
        }
    }' | sort
}

# write_cfg FILE NAME INPUT PORT [POINTS_TYPE]
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  batch_size = $PERSONS;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$3"; },
    { name = "infobip"; plugin = "infobip-sink"; base_url = "http://127.0.0.1:$4";
      api_key = "$KEY"; requests_per_second = 1000.0; max_event_age_days = 0;
      attributes = { annexCurrentTier = "STRING"; };
      event_definitions = { LoyTest = { points = "${5:-Numeric}"; note = "String"; }; };
      tags = [ "Loyalty", "vip" ]; }
  );
};
CFG
}

# run_once CFG: sluice run --once, bounded; sets RC.
run_once() {
    RC=0
    timeout 600 "$SLUICE" run --once --log-level warn "$1" > "$T_TMP/run.out" 2> "$T_TMP/run.err" || RC=$?
}

# api METHOD PATH [BODY]: a request to the emulator on $PORT.
api() {
    curl -s --max-time 60 -X "$1" -H "Authorization: App $KEY" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "http://127.0.0.1:$PORT$2"
}

# counter NAME: a counter of the emulator (0 when not yet counted).
counter() {
    curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/stats" | jq ".counters[\"$1\"] // 0"
}

# tags_of: "L-i tag,tag" lines as Infobip holds them (sorted).
tags_of() {
    curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" \
        | jq -r '.persons | to_entries[] | "\(.key) \((.value.tags // []) | sort | join(","))"' | sort
}

command -v sqlite3 > /dev/null || t_fail "needs sqlite3"
gen_input "$T_TMP/pass1.jsonl" 1
gen_input "$T_TMP/pass2.jsonl" 2
setup_counters="requests_attributes_GET requests_attributes_POST requests_definitions_GET
requests_definitions_POST requests_tags_GET requests_tags_POST"

for mode in append replace ignore; do
    t_start_emu infobip-emu "$T_TMP/emu-$mode.err" --api-key "$KEY" --rate-limit 0 \
        --upsert-tags "$mode" --log "$T_TMP/requests-$mode.log"
    PORT=$T_EMU_PORT
    # A marketer's own tag on L-1 and L-5, before the pipeline ever ran.
    api PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L-1"},{"externalId":"L-5"}]}' > /dev/null
    api POST /people/2/tags '{"name":"HandSet"}' > /dev/null
    api PATCH /people/2/tags/HandSet/persons \
        '{"people":[{"query":{"type":"EXTERNAL_ID","identifier":"L-1"}},{"query":{"type":"EXTERNAL_ID","identifier":"L-5"}}]}' \
        | jq -e '.processed == 2' > /dev/null || t_fail "$mode: could not set the hand-set tag"

    write_cfg "$T_TMP/$mode-1.cfg" "$mode-1" "$T_TMP/pass1.jsonl" "$PORT"
    run_once "$T_TMP/$mode-1.cfg"
    [ "$RC" -eq 0 ] || t_fail "$mode: pass 1 exited $RC: $(tail -3 "$T_TMP/run.err")"
    diff <(want_tags 1) <(tags_of) > "$T_TMP/diff" || t_fail "$mode: tags after pass 1 differ: $(head -6 "$T_TMP/diff")"

    declare -A before=()
    for c in $setup_counters requests_tags_PATCH requests_tags_DELETE; do before[$c]=$(counter "$c"); done
    write_cfg "$T_TMP/$mode-2.cfg" "$mode-2" "$T_TMP/pass2.jsonl" "$PORT"
    run_once "$T_TMP/$mode-2.cfg"
    [ "$RC" -eq 0 ] || t_fail "$mode: pass 2 exited $RC: $(tail -3 "$T_TMP/run.err")"
    diff <(want_tags 2) <(tags_of) > "$T_TMP/diff" || t_fail "$mode: tags after pass 2 differ: $(head -6 "$T_TMP/diff")"

    setup=0
    for c in $setup_counters; do
        d=$(( $(counter "$c") - before[$c] ))
        setup=$((setup + d))
        case $c in *_POST) [ "$d" -eq 0 ] || t_fail "$mode: the second start sent $d $c";; esac
    done
    [ "$setup" -eq 3 ] || t_fail "$mode: the second start sent $setup setup requests, expected 3"
    patches=$(( $(counter requests_tags_PATCH) - before[requests_tags_PATCH] ))
    deletes=$(( $(counter requests_tags_DELETE) - before[requests_tags_DELETE] ))
    [ "$patches" -eq 2 ] && [ "$deletes" -eq 2 ] \
        || t_fail "$mode: pass 2 sent $patches tag PATCH and $deletes tag DELETE requests, expected 2 and 2"
    [ "$(counter upsert_persons_with_tags)" -eq 0 ] \
        || t_fail "$mode: $(counter upsert_persons_with_tags) person(s) upserted with tags"
    t_note "$mode: second start $setup setup requests; pass 2 tag requests: $patches PATCH, $deletes DELETE; HandSet kept"
    unset before
done

# A definition that exists with another property type is refused at start.
t_start_emu infobip-emu "$T_TMP/emu-conflict.err" --api-key "$KEY" --rate-limit 0
PORT=$T_EMU_PORT
api POST /peopleevents/2/definitions \
    '{"definitionId":"LoyTest","properties":[{"name":"points","type":"String"},{"name":"note","type":"String"}]}' > /dev/null
write_cfg "$T_TMP/conflict.cfg" conflict "$T_TMP/pass1.jsonl" "$PORT"
run_once "$T_TMP/conflict.cfg"
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] || t_fail "a conflicting definition did not stop the start (exit $RC)"
grep -q "event definition 'LoyTest' exists in Infobip with property 'points' as String, the configuration needs Numeric" \
    "$T_TMP/run.err" || t_fail "no clear message for the conflicting definition: $(tail -3 "$T_TMP/run.err")"
[ "$(counter persons_created)" -eq 0 ] || t_fail "persons were sent though the start was refused"

# A tag the sink does not own and Infobip does not have: the person is
# parked with a reason that says what to do; the others are delivered.
t_start_emu infobip-emu "$T_TMP/emu-unowned.err" --api-key "$KEY" --rate-limit 0
PORT=$T_EMU_PORT
{ head -3 "$T_TMP/pass1.jsonl"; echo '{"externalId":"L-X","tags":["Loyalty","Unowned"]}'; } > "$T_TMP/unowned.jsonl"
write_cfg "$T_TMP/unowned.cfg" unowned "$T_TMP/unowned.jsonl" "$PORT"
run_once "$T_TMP/unowned.cfg"
[ "$RC" -eq 2 ] || t_fail "a person with a tag Infobip lacks: exit $RC, expected 2 (dead-lettered): $(tail -3 "$T_TMP/run.err")"
sqlite3 "$T_TMP/state-unowned/state.db" "select reason from dlq" > "$T_TMP/dlq-unowned"
[ "$(wc -l < "$T_TMP/dlq-unowned")" -eq 1 ] && grep -q "could not add tag 'Unowned' (HTTP 404).*add it to the sink's tags" "$T_TMP/dlq-unowned" \
    || t_fail "the DLQ does not hold the person with the unknown tag and why: $(cat "$T_TMP/dlq-unowned")"
[ "$(curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" | jq -r '.tags.Loyalty | join(",")')" = "L-1,L-2,L-3,L-X" ] \
    || t_fail "Loyalty members: $(curl -s "http://127.0.0.1:$PORT/_emu/state" | jq -c .tags)"
echo "ok: tags only through the tag endpoints in append, replace and ignore modes; hand-set tags kept; second start 3 requests"

#!/usr/bin/env bash
# core-dlq-replay.sh: `sluice dlq replay` sends each record back into the
# stage that parked it, on file-source -> tier-event-deriver ->
# field-mapper -> ometria-sink against ometria-emu (derive and map grouped
# in one process, so a replay batch crosses both a wire and an inproc
# link). Contacts the sink parked as too large go back into the sink only:
# replayed before the fix they are parked again by the sink and keep the
# first reason in their history; after it they are delivered exactly as
# parked (fed in at the source they came back through the deriver as
# 'missing required field loyalty_id', their reason lost). Members the
# deriver parked go back into the deriver: one is delivered, one is
# dropped as stale, and the log says so with the reason it was parked for.
# `dlq list/show/replay` work with the pipeline's secrets unset.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="om-replay-key-51c2"
# the shipped Ometria mapping, included relative to the pipeline file
mkdir -p "$T_TMP/mappings"
cp "$top_srcdir/pipelines/mappings/ometria.cfg" "$T_TMP/mappings/"

# member ID AS_OF TIER [FIRST_NAME]: one canonical member record.
member() {
    printf '{"kind":"member","loyalty_id":"%s","as_of":"%s","email":"%s@example.com","first_name":"%s","last_name":"Last","current_tier":"%s"}\n' \
        "$1" "$2" "$1" "${4:-First}" "$3"
}
long=$(printf 'N%.0s' $(seq 1 600)) # a first name that makes a contact ~800 bytes (others ~210)
{
    member L1 2026-12-06T10:00:00Z Gold
    member L2 2026-12-06T10:00:00Z Gold "$long"
    member L3 2026-12-06T10:00:00Z Silver
    member L4 2026-12-06T10:00:00Z Bronze "${long}x"
    member L7 2026-11-07T10:00:00Z Diamond    # off the ladder: parked by derive ...
    member L7 2026-12-06T10:00:00Z Gold       # ... and then newer: the old one is stale
    member L8 2026-12-01T10:00:00Z Diamond    # parked by derive, nothing newer
} > "$T_TMP/in.jsonl"

# write_cfg MAX_RECORD_BYTES LADDER_EXTRA: the pipeline, secrets from the
# environment as in pipelines/*.cfg.
write_cfg() {
    cat > "$T_TMP/p.cfg" <<CFG
pipeline = {
  name = "replay-at-stage";
  state_dir = "$T_TMP/state";
  ack_timeout_ms = 120000;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "derive"; plugin = "tier-event-deriver"; group = "t";
      tier_ladder = ( "Bronze", "Silver", "Gold" $2 ); derive_opt = false; derive_points = false; },
    { name = "map"; plugin = "field-mapper"; group = "t";
      @include "mappings/ometria.cfg"
    },
    { name = "ometria"; plugin = "ometria-sink";
      base_url = "\${OMETRIA_BASE_URL}"; api_key = "\${OMETRIA_API_KEY}";
      max_record_bytes = $1; rate_limit = 50.0; }
  );
};
CFG
}

# run_once: sluice run --once with the secrets set; sets RC.
run_once() {
    set +e
    OMETRIA_BASE_URL="http://127.0.0.1:$PORT" OMETRIA_API_KEY="$KEY" \
        timeout 120 "$SLUICE" --log-format text run --once "$T_TMP/p.cfg" > "$T_TMP/run.out" 2> "$T_TMP/run.err"
    RC=$?
    set -e
    [ "$RC" -ne 124 ] || t_fail "sluice run --once did not finish in 120 s: $(tail -3 "$T_TMP/run.err")"
}

# nosecrets CMD...: run CMD with neither OMETRIA_* variable set.
nosecrets() {
    env -u OMETRIA_BASE_URL -u OMETRIA_API_KEY "$@"
}

# entry_of STAGE ID_FIELD_VALUE: the DLQ id of the entry STAGE parked whose
# record mentions the value (from dlq list, run without secrets).
entry_of() {
    nosecrets "$SLUICE" dlq list "$T_TMP/p.cfg" --stage "$1" |
        awk -v want="\"$2\"" '$1 ~ /^[0-9]+$/ && index($0, want) { print $1; exit }'
}

t_start_emu ometria-emu "$T_TMP/emu.log" --api-key "$KEY" --rate-limit 0
PORT=$T_EMU_PORT
EMU="http://127.0.0.1:$PORT"

# --- 1. the first run parks two contacts at the sink, two members at derive
write_cfg 700 ""
run_once
[ "$RC" -eq 2 ] || t_fail "first run exited $RC, expected 2 (records parked): $(tail -3 "$T_TMP/run.err")"
curl -sf "$EMU/_emu/state" > "$T_TMP/state1.json"
[ "$(jq -c '.contacts | keys' "$T_TMP/state1.json")" = '["annex_loyalty/L1","annex_loyalty/L3","annex_loyalty/L7"]' ] \
    || t_fail "first run delivered: $(jq -c '.contacts | keys' "$T_TMP/state1.json")"

# dlq needs no secret: it runs with the variables unset, where check cannot
set +e
nosecrets "$SLUICE" check "$T_TMP/p.cfg" > /dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 78 ] || t_fail "check without the secrets exited $rc; the test below would prove nothing"
nosecrets "$SLUICE" dlq list "$T_TMP/p.cfg" > "$T_TMP/list1" 2> "$T_TMP/list1.err" \
    || t_fail "dlq list without the secrets exited $?: $(cat "$T_TMP/list1.err")"
grep -q '^4 record(s)' "$T_TMP/list1" || t_fail "dlq list: $(cat "$T_TMP/list1")"
[ "$(grep -c '^[0-9]* *ometria .*record too large: [0-9]* bytes > 700' "$T_TMP/list1")" -eq 2 ] \
    || t_fail "the sink did not park the two large contacts: $(cat "$T_TMP/list1")"
[ "$(grep -c '^[0-9]* *derive .*Diamond' "$T_TMP/list1")" -eq 2 ] \
    || t_fail "derive did not park the two Diamond members: $(cat "$T_TMP/list1")"
l2=$(entry_of ometria L2)
[ -n "$l2" ] || t_fail "no DLQ entry for L2's contact: $(cat "$T_TMP/list1")"
nosecrets "$SLUICE" dlq show "$T_TMP/p.cfg" "$l2" > "$T_TMP/l2.json" || t_fail "dlq show exited $?"
jq -e '.record."@type" == "contact" and .record.id == "L2"' "$T_TMP/l2.json" > /dev/null \
    || t_fail "L2's entry does not hold its contact: $(cat "$T_TMP/l2.json")"

# --- 2. replayed before the fix (the limit even lower), L2's contact goes
# back into the sink only and is parked there again, keeping the first reason
write_cfg 600 ""
nosecrets "$SLUICE" dlq replay "$T_TMP/p.cfg" "$l2" > "$T_TMP/replay1.out" \
    || t_fail "dlq replay without the secrets exited $?"
grep -q '^1 record(s) queued for replay into the stage that parked each (ometria: 1)' "$T_TMP/replay1.out" \
    || t_fail "dlq replay said: $(cat "$T_TMP/replay1.out")"
run_once
[ "$RC" -eq 2 ] || t_fail "the re-parking run exited $RC, expected 2: $(tail -3 "$T_TMP/run.err")"
grep -q "src: replaying 1 record(s) from the dead-letter queue into stage 'ometria'" "$T_TMP/run.err" \
    || t_fail "the source did not send the record to the sink: $(grep -i replay "$T_TMP/run.err")"
grep -q "ometria: replayed DLQ entry $l2 parked again by 'ometria' as entry [0-9]*: record too large: [0-9]* bytes > 600.*(before: parked by 'ometria' at [^:]*:[^:]*:[^:]*: record too large: [0-9]* bytes > 700" "$T_TMP/run.err" \
    || t_fail "the re-parking is not logged with both reasons: $(grep -i replay "$T_TMP/run.err")"
nosecrets "$SLUICE" dlq list "$T_TMP/p.cfg" > "$T_TMP/list2"
grep -q '^4 record(s)' "$T_TMP/list2" || t_fail "after the re-parking: $(cat "$T_TMP/list2")"
grep -q 'derive.*missing required field' "$T_TMP/list2" \
    && t_fail "a contact went through derive: $(cat "$T_TMP/list2")"
l2b=$(entry_of ometria L2)
nosecrets "$SLUICE" dlq show "$T_TMP/p.cfg" "$l2b" > "$T_TMP/l2b.json"
jq -e '(.reason | test("> 600")) and (.history | length) == 1 and .history[0].stage == "ometria"
       and (.history[0].reason | test("record too large: [0-9]+ bytes > 700"))' "$T_TMP/l2b.json" > /dev/null \
    || t_fail "the new entry lacks the first reason: $(cat "$T_TMP/l2b.json")"
grep -q "earlier: ometria at .*record too large: [0-9]* bytes > 700" "$T_TMP/list2" \
    || t_fail "dlq list does not show the earlier parking: $(cat "$T_TMP/list2")"

# --- 3. fixed (default record limit, Diamond on the ladder): everything goes
# back where it was parked; the contacts are delivered as they were parked
write_cfg 61440 ', "Diamond"'
# (the sink adds "@merge": true to every contact it sends, so the parked
# record has it; Ometria does not store the flag)
jq -c '.record | del(.["@merge"])' "$T_TMP/l2.json" > "$T_TMP/l2-contact.json"
nosecrets "$SLUICE" dlq replay "$T_TMP/p.cfg" --all > "$T_TMP/replay2.out" \
    || t_fail "dlq replay --all exited $?"
grep -q '^4 record(s) queued for replay' "$T_TMP/replay2.out" || t_fail "replay --all said: $(cat "$T_TMP/replay2.out")"
run_once
[ "$RC" -eq 0 ] || t_fail "the run after the fix exited $RC: $(tail -5 "$T_TMP/run.err")"
curl -sf "$EMU/_emu/state" > "$T_TMP/state3.json"
[ "$(jq -c '.contacts | keys' "$T_TMP/state3.json")" = \
  '["annex_loyalty/L1","annex_loyalty/L2","annex_loyalty/L3","annex_loyalty/L4","annex_loyalty/L7","annex_loyalty/L8"]' ] \
    || t_fail "after the replay Ometria has: $(jq -c '.contacts | keys' "$T_TMP/state3.json")"
jq -S '.contacts["annex_loyalty/L2"]' "$T_TMP/state3.json" > "$T_TMP/l2-have.json"
jq -S . "$T_TMP/l2-contact.json" > "$T_TMP/l2-want.json"
diff -q "$T_TMP/l2-want.json" "$T_TMP/l2-have.json" > /dev/null \
    || t_fail "L2 was not delivered as parked: $(diff "$T_TMP/l2-want.json" "$T_TMP/l2-have.json" | head -5)"
[ "$(jq -r '.contacts["annex_loyalty/L7"].properties.annex_current_tier' "$T_TMP/state3.json")" = Gold ] \
    || t_fail "the stale L7 record overwrote the newer one"
[ "$(grep -c "ometria: replayed DLQ entry [0-9]* delivered by 'ometria' (before: parked by 'ometria'" "$T_TMP/run.err")" -eq 2 ] \
    || t_fail "the two contacts' deliveries are not logged: $(grep -i replay "$T_TMP/run.err")"
grep -q "ometria: replayed DLQ entry [0-9]* delivered by 'ometria' (before: parked by 'derive'.*Diamond" "$T_TMP/run.err" \
    || t_fail "L8's delivery is not logged with derive's reason: $(grep -i replay "$T_TMP/run.err")"
grep -q "derive: replayed DLQ entry [0-9]* dropped by 'derive': stale: as_of 2026-11-07T10:00:00Z is older than the member's state (as_of 2026-12-06T10:00:00Z).*(before: parked by 'derive'.*Diamond" "$T_TMP/run.err" \
    || t_fail "the stale L7 record was not logged as dropped: $(grep -i replay "$T_TMP/run.err")"
nosecrets "$SLUICE" dlq list "$T_TMP/p.cfg" > "$T_TMP/list3"
grep -q '^0 record(s)' "$T_TMP/list3" || t_fail "the DLQ is not empty after the fixed replay: $(cat "$T_TMP/list3")"
echo "ok: parked records went back into the stage that parked them, kept their history, and each one's fate was logged; dlq ran without secrets"

#!/usr/bin/env bash
# test_annexcloud_webhook.sh: annexcloud-source in webhook mode, running as
# a daemon (`sluice run`) into file-sink, fed by annexcloud-emu's webhook
# sender. Checks: a bad signature gets 401 and is not emitted; a malformed
# body gets 400, an oversized one 413, a GET 405; a redelivered eventId is emitted once; after a 30-day
# advance during which the source stage is killed -9 three times, every
# change the emulator got a 2xx for arrives as a canonical member record
# equal to the change's member (as_of = the change time): none lost.
#   default: 400 members x 30 days; SLUICE_LONG_TESTS=1: 2,000 members.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

members=400
[ -n "${SLUICE_LONG_TESTS:-}" ] && members=2000
WEBHOOK_SECRET="wh-secret-$$"
# points_req_for_next_reward is derived by the source from the rewards and
# the points; the generator's negative-points bad copies keep the value of
# the good record, so it is not compared for them.
norm='(if (.segments | type) == "array" then .segments |= sort else . end)
      | if (.available_points | type) == "number" and .available_points < 0 then del(.points_req_for_next_reward) else . end'

"$GEN_DIR/loyaltygen" --seed 3 --members "$members" --days 30 --truth none --out "$T_TMP/prog" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"

# A free port for the listener: let the kernel pick one, then release it.
listen_port=$(t_free_port)
hook="http://127.0.0.1:$listen_port/hook"
t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret "api-$$" --program "$T_TMP/prog" \
    --webhook-url "$hook" --webhook-secret "$WEBHOOK_SECRET" --webhook-max-attempts 60
emu="http://127.0.0.1:$T_EMU_PORT"

cat > "$T_TMP/wh.cfg" <<CFG
pipeline = {
  name = "wh";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook";
      listen = "127.0.0.1:$listen_port"; webhook_secret = "$WEBHOOK_SECRET";
      base_url = "$emu"; site_id = "29235480"; secret = "api-$$"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
runtime="$T_TMP/state/run"
t_bg "$SLUICE" run "$T_TMP/wh.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
listening() { curl -s -o /dev/null --max-time 30 "$hook"; }
t_wait_for 120 listening || t_fail "the webhook listener did not start: $(tail -3 "$T_TMP/run.stderr")"

# post BODY [SIGNATURE|none]: POST to the listener (signed right unless a
# signature or `none` is given), prints the HTTP status.
post() {
    local sig=${2:-sha256=$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/.*= *//')}
    local header=(-H "X-AnnexCloud-Signature: $sig")
    [ "$sig" = none ] && header=()
    curl -s -o "$T_TMP/post.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "${header[@]}" --data-binary "$1" "$hook"
}
manual='{"eventId":"manual-1","eventType":"USER_UPDATE","siteId":"29235480","timestamp":"2026-01-01T00:00:05+0000","data":{"id":"MANUAL-1","email":"Manual@Example.com","firstName":"Man","points":{"availablePoints":"5","lifetimePoints":5},"tiers":{"currentTier":"Bronze","nextTier":"Silver","pointsToNextTier":995}}}'
forged='{"eventId":"forged-1","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:06+0000","data":{"id":"FORGED-1","points":{"availablePoints":1},"tiers":{"currentTier":"Gold"}}}'

code=$(post "$forged" "sha256=0000000000000000000000000000000000000000000000000000000000000000")
[ "$code" = 401 ] || t_fail "a bad signature got $code, want 401"
code=$(post "$forged" none)
[ "$code" = 401 ] || t_fail "a missing signature got $code, want 401"
code=$(post '{"eventId":"broken-1", "data": ')
[ "$code" = 400 ] || t_fail "a malformed body got $code, want 400"
code=$(post '{"eventType":"USER_UPDATE","data":{"id":"X"}}')
[ "$code" = 400 ] || t_fail "a body without eventId got $code, want 400"
# Over the default max_body (1 MiB); the program's own 70,000-character
# names must still pass.
{ printf '{"eventId":"big-1","eventType":"USER_UPDATE","data":{"id":"BIG-1","firstName":"'
  head -c 1100000 /dev/zero | tr '\0' x; printf '"}}'; } > "$T_TMP/big.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-AnnexCloud-Signature: sha256=$(openssl dgst -sha256 \
    -hmac "$WEBHOOK_SECRET" < "$T_TMP/big.json" | sed 's/.*= *//')" --data-binary @"$T_TMP/big.json" "$hook")
[ "$code" = 413 ] || t_fail "a body over max_body got $code, want 413"
code=$(curl -s -o /dev/null -w '%{http_code}' "$hook")
[ "$code" = 405 ] || t_fail "a GET got $code, want 405"
code=$(post "$manual")
[ "$code" = 200 ] || t_fail "a good webhook got $code: $(cat "$T_TMP/post.body")"
code=$(post "$manual")
[ "$code" = 200 ] || t_fail "a redelivered webhook got $code, want 200"
# The same signature in upper-case hex (some senders format it so).
upper='{"eventId":"manual-2","eventType":"USER_UPDATE","timestamp":"2026-01-01T00:00:07+0000","data":{"id":"MANUAL-2","points":{"availablePoints":7},"tiers":{"currentTier":"Bronze"}}}'
code=$(post "$upper" "sha256=$(printf '%s' "$upper" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/.*= *//' | tr a-f A-F)")
[ "$code" = 200 ] || t_fail "an upper-case hex signature got $code, want 200"
manual_seen() { [ -f "$T_TMP/out.jsonl" ] && grep -q '"MANUAL-1"' "$T_TMP/out.jsonl"; }
t_wait_for 120 manual_seen || t_fail "the accepted webhook was not emitted"
# ... and acknowledged: the spool keeps a webhook until then, and a source
# killed before would emit it again (at least once), which the check of
# the redelivered eventId below would take for a duplicate.
spool_empty() { [ "$(sqlite3 "$T_TMP/state/state.db" 'select count(*) from annexcloud_spool')" = 0 ]; }
t_wait_for 120 spool_empty || t_fail "the accepted webhooks were not acknowledged"

# 30 days of changes posted by the emulator; kill -9 the source meanwhile.
# "silent" changes (the service moving a value by itself) post no webhook;
# "deliver_only" ones (the generator's bad copies) are posted.
total=$(jq -c 'select(.silent != true)' "$T_TMP/prog/annex/changes.jsonl" | wc -l)
curl -sf -X POST -d '{"days":30,"wait":false}' "$emu/_emu/advance" > "$T_TMP/advance.json" ||
    t_fail "advance failed"
delivered() { curl -sf --max-time 60 "$emu/_emu/state" | jq -r '.webhooks.delivered'; }
# The supervisor restarts a killed stage after a backoff that doubles per
# crash, without a pid file meanwhile: each round waits for the source to
# run again (a new pid) and to listen before it kills it.
kills=0
pid=$(t_wait_stage_pid "$runtime" src) || t_fail "no live source process"
for round in 1 2 3; do
    some_posted() { [ "$(delivered)" -ge $((total * round / 8)) ]; }
    t_wait_for 300 some_posted || t_fail "the emulator delivered only $(delivered) of $total webhooks"
    kill -9 "$pid" || t_fail "the source (pid $pid) was gone before kill $round"
    kills=$((kills + 1))
    t_note "killed the source (pid $pid) after $(delivered) deliveries"
    pid=$(t_wait_stage_pid "$runtime" src "$pid") || t_fail "the source was not restarted after kill $round"
    t_wait_for 120 listening || t_fail "the restarted source does not listen: $(tail -3 "$T_TMP/run.stderr")"
done
all_posted() {
    curl -sf --max-time 60 "$emu/_emu/state" > "$T_TMP/state.json" &&
        [ "$(jq '.webhooks.delivered + .webhooks.failed' "$T_TMP/state.json")" -ge "$total" ]
}
t_wait_for 600 all_posted || t_fail "webhooks not all sent: $(jq -c .webhooks "$T_TMP/state.json")"
[ "$(jq .webhooks.failed "$T_TMP/state.json")" = 0 ] || t_fail "webhooks failed for good: $(jq -c .webhooks "$T_TMP/state.json")"

# Expected: each change's member with as_of = the change time.
jq -cS "select(.type and .silent != true) | .member + {as_of: .at} | $norm" "$T_TMP/prog/annex/changes.jsonl" | sort -u > "$T_TMP/want.txt"
want=$(wc -l < "$T_TMP/want.txt")
have_all() {
    jq -cS "select(.kind == \"member\" and .loyalty_id != \"MANUAL-1\" and .loyalty_id != \"MANUAL-2\") | $norm" "$T_TMP/out.jsonl" | sort -u > "$T_TMP/have.txt"
    [ "$(comm -23 "$T_TMP/want.txt" "$T_TMP/have.txt" | wc -l)" = 0 ]
}
# The last deliveries may still be on their way through the pipeline. A
# comparison of thousands of records takes a while: poll twice a second.
T_POLL_S=0.5 t_wait_for 300 have_all ||
    t_fail "$(comm -23 "$T_TMP/want.txt" "$T_TMP/have.txt" | wc -l) of $want changes not emitted (or differ): $(comm -23 "$T_TMP/want.txt" "$T_TMP/have.txt" | head -2 | cut -c1-300)"
extra=$(comm -13 "$T_TMP/want.txt" "$T_TMP/have.txt" | wc -l)
[ "$extra" = 0 ] || t_fail "$extra emitted member records match no change: $(comm -13 "$T_TMP/want.txt" "$T_TMP/have.txt" | head -2 | cut -c1-300)"
[ "$(grep -c '"MANUAL-1"' "$T_TMP/out.jsonl" | head -1)" -ge 1 ] || t_fail "manual record lost"
[ "$(jq -c 'select(.loyalty_id == "MANUAL-1" and .kind == "member")' "$T_TMP/out.jsonl" | wc -l)" = 1 ] ||
    t_fail "the redelivered eventId was emitted $(jq -c 'select(.loyalty_id == "MANUAL-1" and .kind == "member")' "$T_TMP/out.jsonl" | wc -l) times"
jq -e -s '[.[] | select(.loyalty_id == "MANUAL-1" and .kind == "member")][0] |
    .email == "manual@example.com" and .available_points == 5 and .as_of == "2026-01-01T00:00:05Z"' \
    "$T_TMP/out.jsonl" > /dev/null || t_fail "manual webhook converted wrongly: $(grep MANUAL-1 "$T_TMP/out.jsonl" | head -1)"
grep -q 'FORGED-1' "$T_TMP/out.jsonl" && t_fail "a forged webhook was emitted"
grep -q 'BIG-1' "$T_TMP/out.jsonl" && t_fail "a body over max_body was emitted"

records=$(jq -c 'select(.kind == "member")' "$T_TMP/out.jsonl" | wc -l)
echo "ok: webhook mode: $want changes of $total delivered and emitted after $kills kill -9 ($records member records, $((records - want - 1)) duplicates); 401/400/redelivery right"

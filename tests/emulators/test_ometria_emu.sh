#!/usr/bin/env bash
# tests/emulators/test_ometria_emu.sh: ometria-emu over real loopback HTTP: auth, limits, validation, merge, segments, rate limit, faults.
set -euo pipefail

EMU_DIR=${EMU_DIR:-$(cd "$(dirname "$0")" && pwd)}
EMU="$EMU_DIR/ometria-emu"
LOAD="$EMU_DIR/emu-load"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-ometria-emu.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# start NAME ARGS...: starts an emulator on a free port; sets PORT and PID.
# Waits for its "listening on" line (60 s bound a failure, not a start).
start() {
    local name=$1; shift
    "$EMU" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    PID=$!
    pids+=("$PID")
    local deadline=$((SECONDS + 60))
    until grep -q '^listening on' "$tmp/$name.out" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; do
        sleep 0.05
    done
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$tmp/$name.out")
    [ -n "$PORT" ] || fail "$name did not start: $(cat "$tmp/$name.err")"
}

# call METHOD PATH [DATA] [curl args...]: body in $tmp/body, headers in
# $tmp/headers; prints the HTTP status (000 when the connection dropped).
call() {
    local method=$1 path=$2; shift 2
    local data=()
    if [ $# -gt 0 ]; then data=(--data-binary "$1"); shift; fi
    curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 60 \
        -X "$method" -H 'Content-Type: application/json' "${data[@]}" "$@" \
        "http://127.0.0.1:$PORT$path" || true
}
push() { call POST /v2/push "$1" -H "X-Ometria-Auth: ${2-k1}"; }
expect() { # expect STATUS ACTUAL WHAT
    [ "$1" = "$2" ] || fail "$3: expected HTTP $1, got $2: $(head -c 300 "$tmp/body")"
}
jbody() { jq -r "$1" "$tmp/body"; }
state() { curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" | jq -r "$1"; }

contact() { # contact ID [extra JSON fields]
    printf '{"@type":"contact","@collection":"annex_loyalty","id":"%s","email":"%s@example.com"%s}\n' \
        "$1" "$1" "${2:+,$2}"
}

start main --api-key k1 --api-key k2 --rate-limit 0 --log "$tmp/requests.log"

# --- auth
s=$(push "[$(contact L1)]" ""); expect 401 "$s" "missing key"
[ "$(jbody .message)" = Unauthorised ] || fail "401 body: $(cat "$tmp/body")"
s=$(push "[$(contact L1)]" wrong); expect 401 "$s" "wrong key"
s=$(push "[$(contact L1)]" k2); expect 200 "$s" "second key"
[ "$(jbody '.status + " " + (.accepted|tostring) + " " + (.rejected|tostring)')" = "OK 1 0" ] ||
    fail "OK body: $(cat "$tmp/body")"
jbody .request_id | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$' ||
    fail "request_id not uuid-like: $(cat "$tmp/body")"
ok "auth accepted/rejected"

# --- request-level limits
s=$(push '{"@type":"contact","id":"L1"}'); expect 400 "$s" "object body"
jbody .message | grep -q 'JSON array' || fail "object body message: $(cat "$tmp/body")"
s=$(push '[{"@type":"contact",'); expect 400 "$s" "broken JSON"
recs=$(for i in $(seq 101); do contact "N$i"; done | paste -sd, -)
s=$(push "[$recs]"); expect 400 "$s" "101 records"
jbody .message | grep -q '100 records' || fail "101 message: $(cat "$tmp/body")"
recs=$(for i in $(seq 100); do contact "N$i"; done | paste -sd, -)
s=$(push "[$recs]"); expect 200 "$s" "100 records"
[ "$(jbody .accepted)" = 100 ] || fail "100 records accepted: $(cat "$tmp/body")"
s=$(push "[$(contact L1),{\"@type\":\"custom_event\",\"id\":\"e\"}]"); expect 400 "$s" "mixed @type"
jbody .message | grep -q 'one @type' || fail "mixed message: $(cat "$tmp/body")"
big=$(head -c 62464 /dev/zero | tr '\0' x)   # 61 KB of property text
printf '[%s]' "$(contact BIG "\"properties\":{\"blob\":\"$big\"}")" > "$tmp/big.json"
s=$(push "@$tmp/big.json"); expect 400 "$s" "61 KB record"
[ "$(jbody .message)" = "Payload invalid: Record is too large." ] || fail "61 KB message: $(cat "$tmp/body")"
[ "$(state '.contacts["annex_loyalty/BIG"] // "absent"')" = absent ] || fail "too-large record applied"
fine=$(head -c 59000 /dev/zero | tr '\0' x)
printf '[%s]' "$(contact FINE "\"properties\":{\"blob\":\"$fine\"}")" > "$tmp/fine.json"
s=$(push "@$tmp/fine.json"); expect 200 "$s" "59 KB record"
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$tmp/huge.json"
s=$(push "@$tmp/huge.json"); expect 413 "$s" "17 MB body"
ok "limits: JSON array, 100 records, one @type, 60 KB record, 16 MB body"

# --- per-record validation: one valid contact, seven invalid ones
body="[$(contact V1 '"firstname":"Val","date_of_birth":"2000-02-29","phone_number":"+447700900123","marketing_optin":"EXPLICITLY_OPTEDIN","timestamp_subscribed":"2026-01-02T03:04:05+01:00","properties":{"annex_current_tier":"Gold","n":1,"b":true,"z":null}')"
body+=",$(contact X1 '"email":"not-an-email"' | sed 's/"email":"X1@example.com",//')"
body+=",$(contact X2 '"date_of_birth":"2001-02-29"')"
body+=",$(contact X3 '"phone_number":"07700900123"')"
body+=",$(contact X4 '"marketing_optin":"YES"')"
body+=",$(contact X5 '"timestamp_acquired":"2026-01-02T03:04:05"')"
body+=",$(contact X6 '"properties":{"nested":{"a":1}}')"
body+=',{"@type":"contact","email":"noid@example.com"}]'
s=$(push "$body"); expect 200 "$s" "validation batch"
[ "$(jbody '"\(.accepted)/\(.rejected)"')" = 1/7 ] || fail "validation counts: $(cat "$tmp/body")"
s=$(call GET /v2/push/_errors "" -H 'X-Ometria-Auth: k1'); expect 200 "$s" "_errors"
for pair in "X1:root > email" "X2:root > date_of_birth" "X3:root > phone_number" \
            "X4:root > marketing_optin" "X5:root > timestamp_acquired" \
            "X6:root > properties > nested"; do
    id=${pair%%:*} path=${pair#*:}
    [ "$(jq -r --arg id "$id" '[.[] | select(.record_id == $id)][0].error_path' "$tmp/body")" = "$path" ] ||
        fail "_errors for $id should name '$path': $(cat "$tmp/body")"
done
jq -e 'any(.[]; .error_path == "root > id" and (.error_message | test("required")))' "$tmp/body" >/dev/null ||
    fail "missing id not reported: $(cat "$tmp/body")"
[ "$(state '.contacts["annex_loyalty/V1"].properties.annex_current_tier')" = Gold ] || fail "valid contact not stored"
[ "$(state '[.contacts | keys[] | select(startswith("annex_loyalty/X"))] | length')" = 0 ] ||
    fail "invalid contacts were stored"
ev() { # ev ID EXTRA
    printf '{"@type":"custom_event","id":"%s","event_type":"annex_loy_point_accrual","timestamp":"2026-05-25T15:32:52+00:00","identity_email":"a@example.com"%s}' "$1" "${2:+,$2}"
}
long512=$(head -c 512 /dev/zero | tr '\0' y)
body="[$(ev E1 '"properties":{"points":120,"s":"'"$long512"'"}')"
body+=",$(ev E2 | sed 's/"event_type":"annex_loy_point_accrual"/"event_type":"annex_loy_point_accrual_xxxxxxxxxx"/')"
body+=",$(ev E3 | sed 's/"identity_email":"a@example.com"/"identity_account_id":""/')"
body+=",$(ev E4 '"properties":{"s":"'"${long512}y"'"}')"
body+=",$(ev E5 | sed 's/+00:00//')"
body+=",$(ev E6 '"identity_account_id":"LID-6"' | sed 's/"identity_email":"a@example.com",//')]"
s=$(push "$body"); expect 200 "$s" "event validation batch"
[ "$(jbody '"\(.accepted)/\(.rejected)"')" = 2/4 ] || fail "event counts (E1,E6 valid): $(cat "$tmp/body")"
[ "$(state '.events | keys | join(",")')" = "E1,E6" ] || fail "stored events: $(state '.events | keys')"
ok "per-record validation with accepted/rejected counts and /v2/push/_errors"

# --- upsert merge, segments, event repeats
s=$(push "[$(contact M1 '"firstname":"Ann","properties":{"a":1,"b":"x"},"@add_to_lists":[42,7]'),$(contact M2 '"@add_to_lists":["42"]')]")
expect 200 "$s" "merge 1"
s=$(push "[$(contact M1 '"lastname":"Lee","properties":{"b":"y","c":3},"@remove_from_lists":[42]')]")
expect 200 "$s" "merge 2"
got=$(state '.contacts["annex_loyalty/M1"] | "\(.firstname) \(.lastname) \(.properties.a) \(.properties.b) \(.properties.c)"')
[ "$got" = "Ann Lee 1 y 3" ] || fail "merged contact: $got"
[ "$(state '.segments["42"] | join(",")')" = M2 ] || fail "segment 42: $(state '.segments')"
[ "$(state '.segments["7"] | join(",")')" = M1 ] || fail "segment 7: $(state '.segments')"
s=$(call GET /v2/lists/42 "" -H 'X-Ometria-Auth: k1'); expect 200 "$s" "list read"
[ "$(jbody '.contact_ids | join(",")')" = M2 ] || fail "GET /v2/lists/42: $(cat "$tmp/body")"
s=$(push "[$(contact M3 '"@add_to_lists":["Gold members"]')]"); expect 200 "$s" "segment name"
[ "$(jbody .rejected)" = 1 ] || fail "segment names must be rejected (ids only): $(cat "$tmp/body")"
s=$(push "[$(ev E1),$(ev E1)]"); expect 200 "$s" "event repeat"
[ "$(state '.events["E1"].repeats')" = 2 ] || fail "E1 repeats: $(state '.events["E1"]')"
[ "$(state '.events | length')" = 2 ] || fail "repeat duplicated an event"
ok "upsert merge, segments add/remove, event repeat count"

# --- concurrency: 400 pushes over 8 connections, nothing lost
curl -s -X POST "http://127.0.0.1:$PORT/_emu/reset" >/dev/null
"$LOAD" --url "http://127.0.0.1:$PORT/v2/push" --api-key k1 --requests 400 --concurrency 8 --seconds 600 \
    > "$tmp/load.out" &
load_pid=$!
for _ in 1 2 3 4 5; do   # state dumps while pushes are being applied
    curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" | jq -e '.contacts | type == "object"' >/dev/null ||
        fail "state dump under load is not valid JSON"
done
wait "$load_pid" || fail "emu-load: $(cat "$tmp/load.out")"
[ "$(state .stats.counters.records_accepted)" = 40000 ] || fail "records accepted under load: $(state .stats)"
[ "$(state '.contacts | length')" = 1600 ] || fail "distinct contacts under load: $(state '.contacts | length')"
ok "concurrent load: $(cat "$tmp/load.out")"
grep -q '^POST /v2/push 401 ' "$tmp/requests.log" || fail "request log lacks the 401 line"

# --- rate limit: 0.01/s per key (burst 1: one token every 100 s, far
# longer than these requests take on the busiest machine), 429 with queue
# headers; Retry-After only when configured
start rl --api-key k1 --api-key k2 --rate-limit 0.01
codes=""
for i in 1 2 3; do codes+=" $(push "[$(contact R$i)]")"; done
[ "$codes" = " 200 429 429" ] || fail "rate limit 0.01/s sequence:$codes"
grep -qi '^X-QueueSize-Limit: ' "$tmp/headers" || fail "429 lacks X-QueueSize-Limit"
grep -qi '^X-QueueSize-Remaining: ' "$tmp/headers" || fail "429 lacks X-QueueSize-Remaining"
grep -qi '^Retry-After' "$tmp/headers" && fail "Retry-After sent without --retry-after"
s=$(push "[$(contact R9)]" k2); expect 200 "$s" "other key has its own bucket"
curl -s -X POST -d '{"retry_after":3}' "http://127.0.0.1:$PORT/_emu/faults" >/dev/null
s=$(push "[$(contact R5)]"); expect 429 "$s" "still limited"
grep -qi '^Retry-After: 3' "$tmp/headers" || fail "Retry-After: 3 expected: $(cat "$tmp/headers")"
# Refill at 0.5/s (one token every 2 s): pushes are refused until the token
# is back, which is never sooner than 2 s after the first was taken.
start refill --api-key k1 --rate-limit 0.5
took_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(date +%s.%N)
s=$(push "[$(contact R6)]"); expect 200 "$s" "first push takes the only token"
refusals=0
until s=$(push "[$(contact R7)]") && [ "$s" = 200 ]; do
    expect 429 "$s" "push before the refill"
    refusals=$((refusals + 1))
    [ "$(took_since "$t0" | cut -d. -f1)" -lt 60 ] || fail "no token 60 s after the first push at 0.5/s"
    sleep 0.2
done
took=$(took_since "$t0")
awk -v t="$took" 'BEGIN { exit !(t >= 2.0) }' || fail "a token came back after ${took}s at 0.5/s (want >= 2 s)"
ok "rate limit per key with X-QueueSize-* headers; refilled after ${took}s ($refusals refused meanwhile)"

# --- deterministic faults: same seed, same status sequence
# sequence: the statuses of 30 pushes sent one after the other (one curl,
# one connection per request, so curl does not silently retry a dropped one).
sequence() {
    local args=() i
    for i in $(seq 30); do args+=(-o /dev/null "http://127.0.0.1:$PORT/v2/push"); done
    curl -s -w '%{http_code}.' --max-time 120 -X POST -H 'X-Ometria-Auth: k1' -H 'Connection: close' \
        --data-binary "[$(contact F1)]" "${args[@]}" || true
}
start faults --api-key k1 --rate-limit 0 --seed 42 --fail-rate 0.3 --rate429 0.2 --reset-rate 0.1 --retry-after 2
first=$(sequence)
curl -s -X POST "http://127.0.0.1:$PORT/_emu/reset" >/dev/null
second=$(sequence)
[ "$first" = "$second" ] || fail "same seed gave different sequences: $first vs $second"
for code in 200 429 000; do
    echo "$first" | grep -q "$code" || fail "sequence lacks $code: $first"
done
echo "$first" | grep -Eq '50[023]' || fail "sequence lacks 5xx: $first"
n5=$(echo "$first" | grep -oE '50[023]' | wc -l)
[ "$(state .stats.faults.injected_5xx)" = "$n5" ] || fail "stats 5xx count: $(state .stats)"
start faults2 --api-key k1 --rate-limit 0 --seed 43 --fail-rate 0.3 --rate429 0.2 --reset-rate 0.1
[ "$(sequence)" != "$first" ] || fail "another seed gave the same sequence"
s=$(call GET /_emu/faults); expect 200 "$s" "GET faults"
[ "$(jbody .fail_rate)" = 0.3 ] || fail "GET /_emu/faults: $(cat "$tmp/body")"
s=$(call POST /_emu/faults '{"fail_rate":0,"rate429":0,"reset_rate":0,"latency_ms":400}'); expect 200 "$s" "set latency"
took=$(curl -s -o /dev/null -w '%{time_total}' --max-time 60 -X POST -H 'X-Ometria-Auth: k1' \
    --data-binary "[$(contact LAT)]" "http://127.0.0.1:$PORT/v2/push")
awk -v t="$took" 'BEGIN { exit !(t >= 0.4) }' || fail "latency_ms 400 but the answer took ${took}s"
# /_emu/ is never delayed: with 10 minutes of latency it still answers (a
# delayed answer would outlast curl's 2 minutes).
s=$(call POST /_emu/faults '{"latency_ms":600000}'); expect 200 "$s" "set a 10-minute latency"
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "http://127.0.0.1:$PORT/_emu/stats")
[ "$s" = 200 ] || fail "/_emu/ endpoints must not be delayed (HTTP $s within 120 s with latency_ms 600000)"
s=$(call POST /_emu/faults '{"latency_ms":0,"reject_auth":true}'); expect 200 "$s" "set faults"
s=$(push "[$(contact A1)]"); expect 401 "$s" "reject_auth at run time"
s=$(call POST /_emu/faults '{"fail_rat":0.1}'); expect 400 "$s" "unknown fault key"
jbody .error | grep -q fail_rat || fail "unknown key not named: $(cat "$tmp/body")"
ok "fault knobs: same seed same sequence ($first), latency, reject_auth"

# --- clean stop
kill -TERM "$PID"
deadline=$((SECONDS + 60))
while kill -0 "$PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "emulator ignored SIGTERM"
wait "$PID" || fail "emulator exited non-zero on SIGTERM"
ok "SIGTERM stops cleanly"

# --- GDPR anonymisation API: 6 calls a minute, completion after the delay
start gdpr --api-key k1 --rate-limit 0 --gdpr-rate-limit 6 --gdpr-delay-s 1
s=$(push "[$(contact G1 '"firstname":"Gina","@add_to_lists":[1001]')]"); expect 200 "$s" "contact to erase"
gdpr() { call POST /data-deletion-requests "$1" -H "X-Ometria-Auth: k1"; }
s=$(gdpr '{"email":"G1@example.com"}'); expect 202 "$s" "deletion request"
request=$(jbody .id)
[ "$(jbody .status)" = pending ] || fail "a new request is not pending: $(cat "$tmp/body")"
s=$(gdpr '{"email":"not an email"}'); expect 400 "$s" "deletion request without a valid email"
for i in 3 4 5; do s=$(gdpr "{\"email\":\"x$i@example.com\"}"); expect 202 "$s" "request $i"; done
s=$(call GET "/data-deletion-requests/$request" "" -H "X-Ometria-Auth: k1"); expect 200 "$s" "status read"
s=$(gdpr '{"email":"x7@example.com"}'); expect 429 "$s" "a 7th GDPR call within a minute"
s=$(push "[$(contact G2)]"); expect 200 "$s" "the push API is not charged for GDPR calls"
# completion: the contact keeps its id and collection, loses its PII and lists
deadline=$((SECONDS + 60))
until [ "$(state '.contacts["annex_loyalty/G1"]["@anonymised"]')" = true ] || [ "$SECONDS" -ge "$deadline" ]; do
    sleep 0.1
done
[ "$(state '.contacts["annex_loyalty/G1"] | keys | join(",")')" = "@anonymised,@collection,id" ] ||
    fail "G1 not anonymised: $(state '.contacts["annex_loyalty/G1"]')"
[ "$(state '.segments["1001"] | index("G1")')" = null ] || fail "G1 still in segment 1001"
[ "$(state ".gdpr.requests[\"$request\"].status")" = completed ] || fail "request not completed: $(state .gdpr)"
[ "$(state '.contacts["annex_loyalty/G2"].email')" = G2@example.com ] || fail "G2 was touched"
ok "GDPR API: 6 calls a minute (429 beyond), anonymised after the delay"

# --- @merge: the flag keeps what a contact lacks in both modes; without it
# "blank" replaces the stored contact, "keep" (the default, tested above) merges
start blank --api-key k1 --rate-limit 0 --merge-without-flag blank
full='"firstname":"Bo","lastname":"Ek","properties":{"a":1,"b":2}'
s=$(push "[$(contact B1 "$full"),$(contact B2 "$full")]"); expect 200 "$s" "full contacts"
s=$(push "[$(contact B1 '"@merge":true,"lastname":"Ma","properties":{"b":3}'),$(contact B2 '"lastname":"Ma","properties":{"b":3}')]")
expect 200 "$s" "partial contacts"
got=$(state '.contacts["annex_loyalty/B1"] | "\(.firstname) \(.lastname) \(.properties.a) \(.properties.b) \(has("@merge"))"')
[ "$got" = "Bo Ma 1 3 false" ] || fail "@merge: true must keep what the contact lacks: $got"
got=$(state '.contacts["annex_loyalty/B2"] | "\(.firstname) \(.lastname) \(.properties.a) \(.properties.b)"')
[ "$got" = "null Ma null 3" ] || fail "blank mode without @merge must replace the contact: $got"
s=$(push "[$(contact B3 '"@merge":"yes"')]"); expect 200 "$s" "@merge not a boolean"
[ "$(jbody .rejected)" = 1 ] || fail "@merge must be a boolean: $(cat "$tmp/body")"
s=$("$EMU" --api-key k1 --merge-without-flag sometimes 2>&1 >/dev/null || true)
case "$s" in *"keep or blank"*) ;; *) fail "bad --merge-without-flag value accepted: $s" ;; esac
ok "@merge keeps fields in both modes; blank mode replaces a contact sent without it"
echo "PASS: test_ometria_emu"

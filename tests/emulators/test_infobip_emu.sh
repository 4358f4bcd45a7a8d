#!/usr/bin/env bash
# tests/emulators/test_infobip_emu.sh: infobip-emu over real loopback HTTP: auth, attributes, 207 upserts, tags, definitions, all-or-nothing events, rate limit, faults.
set -euo pipefail

EMU_DIR=${EMU_DIR:-$(cd "$(dirname "$0")" && pwd)}
EMU="$EMU_DIR/infobip-emu"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-infobip-emu.XXXXXX")
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

# call METHOD PATH [DATA] [curl args...]: body in $tmp/body; prints the status.
call() {
    local method=$1 path=$2; shift 2
    local data=()
    if [ $# -gt 0 ]; then data=(--data-binary "$1"); shift; fi
    curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 60 -X "$method" \
        -H 'Content-Type: application/json' -H "Authorization: App ${AUTH_KEY-k1}" "${data[@]}" "$@" \
        "http://127.0.0.1:$PORT$path" || true
}
expect() { [ "$1" = "$2" ] || fail "$3: expected HTTP $1, got $2: $(head -c 400 "$tmp/body")"; }
jbody() { jq -r "$1" "$tmp/body"; }
state() { curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" | jq -r "$1"; }
attr() { expect 201 "$(call POST /people/2/customAttributes "{\"name\":\"$1\",\"dataType\":\"$2\"}")" "create $1"; }

start main --api-key k1 --rate-limit 0 --now 2026-11-20T10:00:00Z

# --- auth
s=$(AUTH_KEY=wrong call GET /people/2/tags); expect 401 "$s" "wrong key"
[ "$(jbody .requestError.serviceException.messageId)" = UNAUTHORIZED ] || fail "401 body: $(cat "$tmp/body")"
s=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 60 -u k1:k1 "http://127.0.0.1:$PORT/people/2/tags")
expect 401 "$s" "Basic instead of App"
s=$(call GET /people/2/tags); expect 200 "$s" "right key"
s=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 60 -H 'Authorization: App k1' -H 'Content-Type: text/plain' \
    --data-binary '{"name":"T"}' "http://127.0.0.1:$PORT/people/2/tags")
expect 415 "$s" "body without Content-Type: application/json"
ok "auth: App key accepted, others 401 UNAUTHORIZED; 415 without a JSON Content-Type"

# --- custom attributes
attr annexCurrentTier STRING; attr annexAvailablePoints INTEGER; attr annexOptInDate DATE
attr annexRatio DECIMAL; attr annexActive BOOLEAN; attr annexSeen DATE_TIME
s=$(call POST /people/2/customAttributes '{"name":"annexCurrentTier","dataType":"STRING"}'); expect 409 "$s" "duplicate attribute"
s=$(call POST /people/2/customAttributes '{"name":"annexcurrenttier","dataType":"STRING"}'); expect 409 "$s" "names are case-insensitive"
s=$(call POST /people/2/customAttributes '{"name":"x","dataType":"TEXT"}'); expect 400 "$s" "bad dataType"
s=$(call POST /people/2/customAttributes '{"name":"a{b","dataType":"STRING"}'); expect 400 "$s" "bad name"
attr tmpAttr STRING
s=$(call GET /people/2/customAttributes/tmpAttr); expect 200 "$s" "get one"
[ "$(jbody .dataType)" = STRING ] || fail "get one: $(cat "$tmp/body")"
s=$(call DELETE /people/2/customAttributes/tmpAttr); expect 204 "$s" "delete"
s=$(call GET /people/2/customAttributes/tmpAttr); expect 404 "$s" "deleted is gone"
s=$(call GET /people/2/customAttributes); expect 200 "$s" "list"
[ "$(jbody '.customAttributes | length')" = 6 ] || fail "attribute list: $(cat "$tmp/body")"
ok "custom attributes: create, 409 duplicate, 400 bad type/name, get, delete, list"

# --- 207 per-index upsert results
long257=$(head -c 257 /dev/zero | tr '\0' a)
long256=$(head -c 256 /dev/zero | tr '\0' b)
long4097=$(head -c 4097 /dev/zero | tr '\0' c)
persons='{"persons":[
 {"externalId":"L1","firstName":"Ann","birthDate":"1990-02-28","gender":"FEMALE","tags":["Loyalty"],
  "contactInformation":[{"type":"EMAIL","identifier":"ann@example.com","primary":true},{"type":"PHONE","identifier":"447700900123","primary":true}],
  "customAttributes":{"annexCurrentTier":"Gold","annexAvailablePoints":120,"annexOptInDate":"2026-01-02","annexRatio":0.5,"annexActive":true,"annexSeen":"2026-01-02T03:04:05Z"}},
 {"externalId":"L2","customAttributes":{"annexUndefined":"x"}},
 {"externalId":"L3","customAttributes":{"annexAvailablePoints":"120"}},
 {"externalId":"L4","birthDate":"1990-02-30"},
 {"externalId":"L5","gender":"F"},
 {"externalId":"'"$long257"'"},
 {"externalId":"L7","firstName":"'"$long256"'"},
 {"externalId":"L8","contactInformation":{"email":[{"address":"x@example.com"}]}},
 {"externalId":"L9","customAttributes":{"annexCurrentTier":"'"$long4097"'"}},
 {"externalId":"L10","customAttributes":{"annexOptInDate":"02/01/2026"}},
 {"externalId":"L11","contactInformation":[{"type":"PHONE","identifier":"+447700900123"}]}
]}'
s=$(call PATCH /people/3/persons/upsert "$persons"); expect 207 "$s" "upsert batch"
[ "$(jbody '[.errors[].index] | map(tostring) | join(",")')" = "1,2,3,4,5,6,7,8,9,10" ] ||
    fail "error indexes: $(cat "$tmp/body")"
[ "$(jbody '.results | map("\(.index):\(.status)") | join(",")')" = "0:CREATED" ] || fail "results: $(cat "$tmp/body")"
[ "$(jbody '.errors[0] | "\(.code) \(.details[0].property)"')" = "400100 customAttributes.annexUndefined" ] ||
    fail "undefined attribute error: $(cat "$tmp/body")"
[ "$(state '.persons | keys | join(",")')" = L1 ] || fail "only L1 may be stored: $(state '.persons | keys')"
s=$(call PATCH /people/3/persons/upsert '{"persons":[]}'); expect 400 "$s" "0 persons"
[ "$(jbody .code)" = 400104 ] || fail "0 persons code: $(cat "$tmp/body")"
many=$(for i in $(seq 1001); do printf '{"externalId":"B%d"}\n' "$i"; done | paste -sd, -)
s=$(call PATCH /people/3/persons/upsert "{\"persons\":[$many]}"); expect 400 "$s" "1001 persons"
[ "$(jbody .code)" = 400104 ] || fail "1001 persons code: $(cat "$tmp/body")"
s=$(call PATCH /people/3/persons/upsert '{"persons":'); expect 400 "$s" "malformed"
[ "$(jbody .code)" = 400103 ] || fail "malformed code: $(cat "$tmp/body")"
ok "207 per-index errors (undefined attribute, types, lengths, formats), 400103/400104"

# --- names: the characters Infobip forbids in names, and the v3 lengths
long51=$(head -c 51 /dev/zero | tr '\0' m)
names='{"persons":[
 {"externalId":"N0","firstName":"Anne-Marie","lastName":"O'"'"'Brien Jørgensen","middleName":"'"${long51:1}"'"}'
for c in '&' '<' '>' '\"' '/' '\\' ':' '(' ')' '{' '}' '=' ';' '#' '\n' '\r'; do
    names+=',{"externalId":"N'"$c"'","firstName":"A'"$c"'B"}'
done
names+=',{"externalId":"NL","lastName":"Smith (Jr)"},{"externalId":"NM","middleName":"a=b"}'
names+=',{"externalId":"NX","middleName":"'"$long51"'"},{"externalId":"NC","city":"'"$long51"'"}'
names+=',{"externalId":"NA","address":"'"$long257"'"}]}'
s=$(call PATCH /people/3/persons/upsert "$names"); expect 207 "$s" "names batch"
[ "$(jbody '[.errors[].index] | length')" = 21 ] || fail "name errors: $(cat "$tmp/body")"
[ "$(jbody '.results | map("\(.index):\(.status)") | join(",")')" = "0:CREATED" ] || fail "name results: $(cat "$tmp/body")"
[ "$(jbody '[.errors[].details[0].property] | unique | join(",")')" = "address,city,firstName,lastName,middleName" ] ||
    fail "name error properties: $(cat "$tmp/body")"
ok "names: & < > \" / \\ : ( ) { } = ; # and line breaks refused in names, middleName/city 50, address 256"

# --- PATCH merges and appends tags; PUT replaces; matching by email
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L1","lastName":"Lee","tags":["Gold"],"customAttributes":{"annexAvailablePoints":150}}]}')
expect 207 "$s" "patch"
[ "$(jbody '.results[0].status')" = UPDATED ] || fail "patch status: $(cat "$tmp/body")"
got=$(state '.persons.L1 | "\(.firstName) \(.lastName) \(.tags | join("+")) \(.customAttributes.annexCurrentTier) \(.customAttributes.annexAvailablePoints)"')
[ "$got" = "Ann Lee Gold+Loyalty Gold 150" ] || fail "after PATCH: $got"
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L1","lastName":"Lee","tags":["Gold"]}]}')
[ "$(jbody '.results[0].status')" = NOT_MODIFIED ] || fail "same PATCH again: $(cat "$tmp/body")"
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"contactInformation":[{"type":"EMAIL","identifier":"ann@example.com"}],"middleName":"Q"}]}')
[ "$(jbody '.results[0] | "\(.id) \(.status)"')" = "1 UPDATED" ] || fail "match by email: $(cat "$tmp/body")"
s=$(call PUT /people/3/persons/upsert '{"persons":[{"externalId":"L1","firstName":"Ann","tags":["Silver"]}]}')
expect 207 "$s" "put"
got=$(state '.persons.L1 | "\(.firstName) \(.lastName) \(.tags | join("+")) \(.customAttributes // "none")"')
[ "$got" = "Ann null Silver none" ] || fail "after PUT: $got"
[ "$(state '.persons.L1.id')" = 1 ] || fail "PUT changed the person id"
ok "PATCH merge + tag append, NOT_MODIFIED, email match, PUT replace"

# --- tags: create, bulk assign/remove, filter
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L2"},{"externalId":"L3"}]}'); expect 207 "$s" "more persons"
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L2","contactInformation":[{"type":"EMAIL","identifier":"shared@example.com"}]}]}')
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"L3","contactInformation":[{"type":"EMAIL","identifier":"shared@example.com"}]}]}')
[ "$(jbody '.errors[0] | "\(.index) \(.details[0].property)"')" = "0 contactInformation" ] ||
    fail "an email owned by another person must be refused: $(cat "$tmp/body")"
[ "$(state '"\(.persons.L2.contactInformation | length) \(.persons.L3.contactInformation // [] | length)"')" = "1 0" ] ||
    fail "conflicting email moved: $(state '.persons')"
s=$(call POST /people/2/tags '{"name":"VIP"}'); expect 201 "$s" "create tag"
s=$(call POST /people/2/tags '{"name":"VIP"}'); expect 409 "$s" "duplicate tag"
q() { printf '{"query":{"type":"EXTERNAL_ID","identifier":"%s"}}' "$1"; }
s=$(call PATCH /people/2/tags/VIP/persons "{\"people\":[$(q L1),$(q L2),$(q L3),$(q NOPE)]}"); expect 200 "$s" "bulk assign"
[ "$(jbody '[.results[] | select(.status == "NOT_FOUND") | .index] | join(",")')" = 3 ] || fail "not found index: $(cat "$tmp/body")"
s=$(call DELETE /people/2/tags/VIP/persons "{\"people\":[$(q L1)]}"); expect 200 "$s" "bulk remove"
[ "$(state '.tags.VIP | join(",")')" = "L2,L3" ] || fail "VIP members: $(state .tags)"
filter=$(jq -rn '{"#contains":{"tags":"VIP"}} | tojson | @uri')
s=$(call GET "/people/2/persons?filter=$filter&limit=1&page=2"); expect 200 "$s" "filter"
[ "$(jbody '"\(.totalCount) \(.persons[0].externalId) \(.persons | length)"')" = "2 L3 1" ] || fail "filter page 2: $(cat "$tmp/body")"
s=$(call PATCH /people/2/tags/Unknown/persons "{\"people\":[$(q L1)]}"); expect 404 "$s" "unknown tag"
many=$(for i in $(seq 1001); do q L1; echo; done | paste -sd, -)
s=$(call PATCH /people/2/tags/VIP/persons "{\"people\":[$many]}"); expect 400 "$s" "1001 people"
ok "email owned by another externalId refused; tags: 409 duplicate, bulk assign/remove, #contains filter with paging"

# --- event definitions
s=$(call POST /peopleevents/2/definitions '{"definitionId":"LoyPointAccrual","properties":[{"name":"points","type":"Numeric"},{"name":"tier","type":"String"},{"name":"at","type":"DateTime"}]}')
expect 201 "$s" "definition"
s=$(call POST /peopleevents/2/definitions '{"definitionId":"LoyPointAccrual"}'); expect 409 "$s" "duplicate definition"
s=$(call POST /peopleevents/2/definitions '{"definitionId":"Loy_Point"}'); expect 400 "$s" "underscore id"
s=$(call POST /peopleevents/2/definitions '{"definitionId":"LoyX","properties":[{"name":"p","type":"Integer"}]}'); expect 400 "$s" "bad field type"
s=$(call GET /peopleevents/2/definitions/LoyPointAccrual); expect 200 "$s" "get definition"
ok "event definitions: create, 409, 400 id/type"

# --- events: all or nothing
ev() { # ev EVENT_ID PERSON TIME [PROPERTIES]
    local props=${4-}
    [ -n "$props" ] || props='{"points":5}'
    printf '{"eventId":"%s","definitionId":"LoyPointAccrual","occurredTime":"%s","identifier":{"id":"%s","type":"EXTERNAL_ID"},"properties":%s}' \
        "$1" "$3" "$2" "$props"
}
now=2026-11-19T15:32:52.000+0000
s=$(call POST /people/3/events "[$(ev e1 L1 $now),$(ev e2 L2 $now '{"points":1.5,"tier":"Gold","at":"2026-11-01T00:00:00Z"}')]"); expect 202 "$s" "valid batch"
s=$(call POST /people/3/events "[$(ev e1 L1 $now)]"); expect 202 "$s" "resend"
[ "$(state '.events | "\(length) \(.["e1"].repeats) \(.["e2"].repeats)"')" = "2 1 0" ] || fail "stored events: $(state .events)"
check_batch() { # check_batch CODE INDEX BODY WHAT
    local s
    s=$(call POST /people/3/events "$3"); expect 400 "$s" "$4"
    [ "$(jbody '"\(.errors[0].code) \(.errors[0].index) \(.status) \(.errors | length)"')" = "$1 $2 400 ${5:-1}" ] \
        || fail "$4: $(cat "$tmp/body")"
}
check_batch 400504 1 "[$(ev e3 L1 $now),$(ev e4 L1 2026-10-01T00:00:00.000+0000)]" "event older than 30 days"
check_batch 400505 1 "[$(ev e3 L1 $now),$(ev e4 GHOST $now)]" "unknown person"
check_batch 400506 0 "[$(ev e3 L1 $now | sed 's/LoyPointAccrual/LoyNope/')]" "unknown definition"
check_batch 400504 0 "[$(ev 'e 3' L1 $now)]" "bad eventId"
check_batch 400504 0 "[$(ev e3 L1 2026-11-19T15:32:52)]" "occurredTime without offset"
check_batch 400504 0 "[$(ev e3 L1 $now '{"points":"five"}')]" "property type"
check_batch 400504 0 "[$(ev e3 L1 $now '{"colour":"red"}')]" "undefined property"
check_batch 400500 -1 '[{"eventId":' "bad JSON"
check_batch 400501 -1 '{"eventId":"e3"}' "not an array"
check_batch 400502 -1 '[]' "empty batch"
{ printf '['; for i in $(seq 5001); do ev "b$i" L1 $now; echo; done | paste -sd, - | tr -d '\n'; printf ']'; } > "$tmp/big.json"
check_batch 400503 -1 "@$tmp/big.json" "5001 events"
# every failing item is named, each with its own code and index
check_batch 400505 1 "[$(ev e3 L1 $now),$(ev e4 GHOST $now),$(ev e5 L1 $now '{"points":"x"}')]" "two bad items" 2
[ "$(jbody '[.errors[] | "\(.index):\(.code)"] | join(",")')" = "1:400505,2:400504" ] || fail "both items named: $(cat "$tmp/body")"
[ "$(state '.events | keys | join(",")')" = "e1,e2" ] || fail "a rejected batch stored events: $(state '.events | keys')"
s=$(call POST /_emu/clock '{"now":"2027-01-30T00:00:00Z"}'); expect 200 "$s" "move clock"
check_batch 400504 0 "[$(ev e5 L1 $now)]" "old after the clock moved"
ok "events: 202, repeats, all-or-nothing 400500..400506 with index, 30-day clock"

# --- rate limit per endpoint group (0.01/s: one token every 100 s, far
# longer than these requests take on the busiest machine)
start rl --api-key k1 --rate-limit 0.01
s=$(call GET /people/2/tags); expect 200 "$s" "first tags call"
s=$(call GET /people/2/tags); expect 429 "$s" "second tags call"
[ "$(jbody '.requestError.serviceException | "\(.messageId) \(.text)"')" = "TOO_MANY_REQUESTS Too many requests" ] \
    || fail "429 body: $(cat "$tmp/body")"
s=$(call GET /people/2/customAttributes); expect 200 "$s" "another group is not limited"
start rl429 --api-key k1 --rate-limit 0.01 --too-many-body e429
s=$(call GET /people/2/tags); expect 200 "$s" "first tags call (e429)"
s=$(call GET /people/2/tags); expect 429 "$s" "second tags call (e429)"
[ "$(jbody '"\(.errorCode) \(.description)"')" = "E429 Too many requests sent." ] || fail "E429 body: $(cat "$tmp/body")"
ok "rate limit per endpoint group, the People API's requestError 429 body (E429 with --too-many-body e429)"

# --- an event for an unknown person under --unknown-person create: a bare
# CUSTOMER profile with only that identifier, counted
start bare --api-key k1 --rate-limit 0 --now 2026-11-20T10:00:00Z --unknown-person create
s=$(call POST /peopleevents/2/definitions '{"definitionId":"LoyPointAccrual","properties":[{"name":"points","type":"Numeric"}]}')
expect 201 "$s" "definition (bare)"
s=$(call POST /people/3/events "[$(ev b1 GHOST $now),$(ev b2 GHOST $now)]"); expect 202 "$s" "events for an unknown person"
[ "$(state '.persons.GHOST | "\(.type) \(keys | join(",")) \(.tags | length)"')" = "CUSTOMER externalId,id,tags,type 0" ] \
    || fail "bare profile: $(state .persons)"
[ "$(curl -s "http://127.0.0.1:$PORT/_emu/stats" | jq '.counters.persons_auto_created')" = 1 ] || fail "persons_auto_created"
ok "unknown person: 400505 by default, a bare CUSTOMER profile with --unknown-person create"

# --- deterministic faults
start faults --api-key k1 --rate-limit 0 --seed 7 --fail-rate 0.25 --rate429 0.25 --reset-rate 0.1
sequence() {
    local args=() i
    for i in $(seq 30); do args+=(-o /dev/null "http://127.0.0.1:$PORT/people/2/tags"); done
    curl -s -w '%{http_code}.' --max-time 120 -H 'Authorization: App k1' -H 'Connection: close' "${args[@]}" || true
}
first=$(sequence)
curl -s -X POST "http://127.0.0.1:$PORT/_emu/reset" >/dev/null
[ "$(sequence)" = "$first" ] || fail "same seed, different sequence"
for code in 200 429 000; do echo "$first" | grep -q "$code" || fail "sequence lacks $code: $first"; done
s=$(call POST /_emu/faults '{"fail_rate":0,"rate429":1,"reset_rate":0}'); expect 200 "$s" "all 429"
s=$(call GET /people/2/tags); expect 429 "$s" "injected 429"
[ "$(jbody .requestError.serviceException.messageId)" = TOO_MANY_REQUESTS ] || fail "injected 429 shape: $(cat "$tmp/body")"
grep -qi '^Retry-After: 1' "$tmp/headers" || fail "injected 429 lacks Retry-After"
ok "faults: same seed same sequence ($first)"

# --- concurrency: 500-person upserts over 4 connections (parsed and
# validated in parallel, applied under the lock) while the state is dumped;
# nothing lost, nothing doubled
start load --api-key k1 --rate-limit 0
"$EMU_DIR/emu-load" --infobip-upsert --url "http://127.0.0.1:$PORT" --api-key k1 --requests 24 \
    --records 500 --contacts 4000 --concurrency 4 --seconds 600 > "$tmp/load.out" 2>&1 &
load_pid=$!
pids+=("$load_pid")
for _ in 1 2 3; do
    curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/state" | jq -e '.persons | type == "object"' >/dev/null ||
        fail "state dump during upserts is not valid JSON"
done
wait "$load_pid" || fail "emu-load --infobip-upsert: $(cat "$tmp/load.out")"
counters=$(state '.stats.counters | "\(.persons_created) \(.persons_updated + .persons_not_modified) \(.person_errors)"')
[ "$counters" = "4000 8000 0" ] || fail "created / updated / errors under load: $counters"
[ "$(state '.persons | length')" = 4000 ] || fail "distinct persons under load: $(state '.persons | length')"
[ "$(state '.tags.Loyalty | length')" = 4000 ] || fail "Loyalty tag members under load: $(state '.tags.Loyalty | length')"
[ "$(state '.persons["LID-000123"].contactInformation | map(.identifier) | join(",")')" = "member123@example.com,447700000123" ] ||
    fail "contact information under load: $(state '.persons["LID-000123"]')"
ok "concurrent upserts: $(cat "$tmp/load.out")"

# --- parallel serving: three requests (two endpoints) sent at once by one
# curl, each held 2 s by the latency fault, are held side by side: each
# waits 2 s for its answer, none waits for another's (one after another,
# the second would wait 4 s and the third 6 s). Measured from the request
# sent to the answer's first byte (curl's own clock), so a slow start of
# curl or a busy machine cannot make them look serial; a 2 s stall of the
# emulator could, and nothing else.
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST -d '{"latency_ms":2000}' \
    "http://127.0.0.1:$PORT/_emu/faults"); expect 200 "$s" "set latency"
args=()
for path in /people/2/tags /people/2/customAttributes /people/2/tags; do
    args+=(-o /dev/null "http://127.0.0.1:$PORT$path")
done
curl -s --parallel --parallel-immediate --parallel-max 3 --max-time 120 -H 'Authorization: App k1' \
    -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' "${args[@]}" > "$tmp/parallel.out" || true
[ "$(cut -d' ' -f1 "$tmp/parallel.out" | sort | tr '\n' ' ')" = "200 200 200 " ] || fail "parallel requests: $(cat "$tmp/parallel.out")"
held=$(awk '{ printf "%.2f ", $3 - $2 }' "$tmp/parallel.out")
awk '{ held = $3 - $2; if (held < 2.0 || held >= 4.0) bad = 1 } END { exit bad }' "$tmp/parallel.out" ||
    fail "3 requests with 2 s latency were held ${held}s (side by side: about 2 s each; one after another: 2, 4, 6 s)"
ok "three 2 s requests served side by side (held ${held}s)"

# --- person deletion (erasure): the person, its tags and identifiers go
start erase --api-key k1 --rate-limit 0 --now 2026-11-20T10:00:00Z
s=$(call POST /people/2/tags '{"name":"Loyalty"}'); expect 201 "$s" "tag for the deletion test"
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"DEL-1","tags":["Loyalty"],"contactInformation":[{"type":"EMAIL","identifier":"del1@example.com","primary":true}]},{"externalId":"DEL-2","tags":["Loyalty"]}]}')
expect 207 "$s" "persons to delete"
s=$(call DELETE "/people/2/persons?identifier=DEL-1&type=EXTERNAL_ID"); expect 204 "$s" "delete by external id"
s=$(call DELETE "/people/2/persons?identifier=DEL-1&type=EXTERNAL_ID"); expect 404 "$s" "delete again"
s=$(call DELETE "/people/2/persons?identifier=DEL-2"); expect 400 "$s" "delete without a type"
s=$(call GET "/people/2/persons?identifier=DEL-1&type=EXTERNAL_ID"); expect 404 "$s" "deleted person read"
[ "$(state '.deleted | join(",")')" = DEL-1 ] || fail "deleted list: $(state .deleted)"
[ "$(state '.tags.Loyalty | join(",")')" = DEL-2 ] || fail "tag members after the deletion: $(state .tags)"
s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"DEL-3","contactInformation":[{"type":"EMAIL","identifier":"del1@example.com","primary":true}]}]}')
[ "$(jbody '.results[0].status')" = CREATED ] || fail "the deleted person's email is still owned: $(cat "$tmp/body")"
ok "person deletion: gone with its tags and identifiers, 404 after, listed as deleted"

# --- --upsert-tags: what a PATCH upsert does with a person's tags
for mode in append replace ignore; do
    start "tags-$mode" --api-key k1 --rate-limit 0 --upsert-tags "$mode"
    s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"T-1","tags":["Hand"]}]}')
    expect 207 "$s" "$mode: first upsert"
    s=$(call PATCH /people/3/persons/upsert '{"persons":[{"externalId":"T-1","tags":["Loyalty"]},{"externalId":"T-2"}]}')
    expect 207 "$s" "$mode: second upsert"
    got=$(state '.persons["T-1"].tags // [] | join(",")')
    case $mode in
    append) want="Hand,Loyalty" ;;
    replace) want="Loyalty" ;;
    ignore) want="" ;;
    esac
    [ "$got" = "$want" ] || fail "--upsert-tags $mode: T-1 has tags '$got', expected '$want'"
    stats=$(curl -s --max-time 60 "http://127.0.0.1:$PORT/_emu/stats")
    [ "$(jq .counters.upsert_persons_with_tags <<< "$stats")" = 2 ] || fail "$mode: upsert_persons_with_tags: $stats"
    [ "$(jq .counters.requests_upsert_PATCH <<< "$stats")" = 2 ] || fail "$mode: requests_upsert_PATCH: $stats"
done
s=$(timeout 60 "$EMU" --port 0 --api-key k1 --upsert-tags merge 2>&1 >/dev/null) && fail "--upsert-tags merge accepted"
grep -q "not append, replace or ignore" <<< "$s" || fail "--upsert-tags merge: $s"
ok "--upsert-tags append|replace|ignore; upsert_persons_with_tags and requests_<group>_<METHOD> counted"
echo "PASS: test_infobip_emu"

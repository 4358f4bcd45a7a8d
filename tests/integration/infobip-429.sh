#!/usr/bin/env bash
# infobip-429.sh: infobip-sink against infobip-emu limiting each endpoint
# family to 5 requests/s, as Infobip publishes, with both 429 bodies (the
# People API's requestError TOO_MANY_REQUESTS, and E429).
# - Without requests_per_second the sink keeps to Infobip's published
#   limit of each family: 40 upserts take at least (40 - 5) / 5 s (the
#   first 5 are the bucket's burst); a slow machine only makes it longer.
# - 429s in either body (injected, seeded, so that a slow machine sees them
#   too) are waited out: every person arrives.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

KEY="ib-429-key-0c5b"
PERSONS=40

awk -v n="$PERSONS" 'BEGIN { for (i = 1; i <= n; i++)
    printf "{\"externalId\":\"L-%d\",\"firstName\":\"First%d\"}\n", i, i }' > "$T_TMP/input.jsonl"

# run NAME PORT [RATE_LINE]: one --once run; sets TAKEN (seconds).
run() {
    local start end
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = $PERSONS;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/input.jsonl"; },
    { name = "infobip"; plugin = "infobip-sink"; base_url = "http://127.0.0.1:$2";
      api_key = "$KEY"; max_persons_per_request = 1; max_event_age_days = 0; setup = false; ${3:-} }
  );
};
CFG
    start=$(date +%s.%N)
    RC=0
    timeout 600 "$SLUICE" run --once --log-level warn "$T_TMP/$1.cfg" > "$T_TMP/$1.out" 2>&1 || RC=$?
    end=$(date +%s.%N)
    [ "$RC" -eq 0 ] || t_fail "$1: run exited $RC: $(tail -3 "$T_TMP/$1.out")"
    TAKEN=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
}

# delivered PORT: persons Infobip holds.
delivered() {
    curl -s --max-time 60 "http://127.0.0.1:$1/_emu/state" | jq '.persons | length'
}

t_start_emu infobip-emu "$T_TMP/emu-limit.err" --api-key "$KEY" --rate-limit 5 \
    --log "$T_TMP/requests-limit.log"
run published "$T_EMU_PORT"
[ "$(delivered "$T_EMU_PORT")" -eq "$PERSONS" ] || t_fail "published limits: $(delivered "$T_EMU_PORT") of $PERSONS persons"
awk -v t="$TAKEN" -v n="$PERSONS" 'BEGIN { exit !(t >= (n - 5) / 5) }' \
    || t_fail "published limits: $PERSONS upserts in $TAKEN s, faster than 5/s"
t_note "Infobip's published limit: $PERSONS upserts in $TAKEN s, $(grep -c ' 429 ' "$T_TMP/requests-limit.log" || true) answered 429"

# 429s whatever the machine's speed: the emulator answers a seeded 30 % of
# requests 429 (with Retry-After: 1) in the body given.
for body in people e429; do
    t_start_emu infobip-emu "$T_TMP/emu-$body.err" --api-key "$KEY" --rate-limit 0 --seed 7 \
        --rate429 0.3 --too-many-body "$body" --log "$T_TMP/requests-$body.log"
    port=$T_EMU_PORT
    run "fast-$body" "$port" "requests_per_second = 1000.0;"
    [ "$(delivered "$port")" -eq "$PERSONS" ] || t_fail "$body: $(delivered "$port") of $PERSONS persons after 429s"
    limited=$(grep -c '^PATCH /people/3/persons/upsert 429 ' "$T_TMP/requests-$body.log" || true)
    [ "$limited" -gt 0 ] || t_fail "$body: the emulator never answered 429"
    t_note "$body 429 body: $limited upserts answered 429, all $PERSONS persons delivered in $TAKEN s"
done
echo "ok: Infobip's published limit per family kept; 429 in either body waited out"

#!/bin/bash
# tests/gen/test_loyaltygen.sh: loyaltygen determinism, record shapes, bad-record share and ground-truth invariants.
set -u
here=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/gen
gen=${GEN_DIR:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
lg() { timeout 600 "$gen/loyaltygen" "$@"; }

# 1. determinism: the same arguments give byte-identical files; another seed gives other data
args=(--members 1000 --days 40 --bad-rate 0.04)
lg --seed 11 "${args[@]}" --out "$tmp/a" 2>"$tmp/a.err" || fail "loyaltygen run a failed: $(cat "$tmp/a.err")"
lg --seed 11 "${args[@]}" --out "$tmp/b" 2>/dev/null || fail "loyaltygen run b failed"
lg --seed 12 "${args[@]}" --out "$tmp/c" 2>/dev/null || fail "loyaltygen run c failed"
files=(program.json annex/members.jsonl annex/changes.jsonl stream.jsonl final.jsonl)
for t in stream snapshot; do for f in events.jsonl ometria.json infobip.json dlq.jsonl; do files+=("truth/$t/$f"); done; done
same=0
for f in "${files[@]}"; do
    if [ ! -s "$tmp/a/$f" ] && [ "$f" != truth/snapshot/dlq.jsonl ]; then fail "$f missing or empty"; continue; fi
    cmp -s "$tmp/a/$f" "$tmp/b/$f" && same=$((same + 1)) || fail "$f differs between two runs with the same seed"
done
[ $same -eq ${#files[@]} ] && ok "same seed: all ${#files[@]} files byte-identical"
cmp -s "$tmp/a/stream.jsonl" "$tmp/c/stream.jsonl" && fail "seed 12 produced the same stream as seed 11" || ok "another seed gives another stream"
grep -q '^loyaltygen: members=' "$tmp/a.err" && ok "summary: $(cut -c1-160 "$tmp/a.err")..." || fail "no summary line on stderr"

# 2. every record has the schema's shape (types, E.164, real dates, ladder and reward consistency)
p="$tmp/a/program.json"
# Bad copies travel in changes.jsonl as deliver_only webhooks (not applied
# to the emulator's state): validate the applied changes only, and count
# the bad ones against the stream's.
grep -v '"deliver_only":true' "$tmp/a/annex/changes.jsonl" > "$tmp/a/annex/applied.jsonl"
for f in annex/members.jsonl annex/applied.jsonl final.jsonl; do
    if "$here/validate" records "$p" "$tmp/a/$f" >"$tmp/v.out"; then ok "$f: $(tail -1 "$tmp/v.out")"
    else fail "$f has invalid records:"; head -20 "$tmp/v.out"; fi
done
bad_changes=$(grep -c '"deliver_only":true' "$tmp/a/annex/changes.jsonl" || true)
bad_stream=$(sed -n 's/.* bad=\([0-9]*\) .*/\1/p' "$tmp/a.err" 2>/dev/null | head -1)
if [ -n "$bad_stream" ] && [ "$bad_changes" = "$bad_stream" ]; then ok "$bad_changes bad records also delivered as deliver_only changes"
else fail "deliver_only changes: $bad_changes, bad records in the stream: ${bad_stream:-unknown}"; fi
grep -q '"birthday":"[0-9]*-02-29"' "$tmp/a/annex/members.jsonl" && ok "29 February birthdays present" || fail "no 29 February birthday"
grep -q '"segments":\[\]' "$tmp/a/final.jsonl" && grep -q '"opt_in_status":"no"' "$tmp/a/final.jsonl" &&
    ok "members without segments and opted-out members present" || fail "no segment-less or opted-out member"
for t in USER_CREATE USER_UPDATE POINTS_CREDIT POINTS_DEBIT POINTS_EXPIRE POINTS_HOLD TIER_UPGRADE TIER_DOWNGRADE OPT_OUT OPT_IN; do
    grep -q "\"type\":\"$t\"" "$tmp/a/annex/changes.jsonl" || fail "no $t change in 40 days of 1000 members"
done
grep -q '"activity":{"activityId":"[^"]*","actionId":109,"activity":"CREDIT"' "$tmp/a/annex/changes.jsonl" &&
    ok "purchases carry an activity item with actionId 109" || fail "no purchase activity item"

# 3. bad records: each a copy of the member's previous good record with one defect; the share is honoured
if "$here/validate" records "$p" "$tmp/a/stream.jsonl" --stream >"$tmp/s.out"; then
    kinds=$(grep -c '^bad ' "$tmp/s.out")
    nbad=$(awk '/^bad /{n+=$3} END{print n+0}' "$tmp/s.out")
    total=$(tail -1 "$tmp/s.out" | awk '{print $2}')
    want=$(grep -o 'bad=[0-9]*' "$tmp/a.err" | cut -d= -f2)
    # duplicates of records that changed nothing can also occur naturally; at least the generated ones
    if [ "$kinds" -eq 5 ] && [ "$nbad" -ge "$want" ] && awk -v b="$want" -v t="$total" 'BEGIN{r=b/(t-b); exit !(r>0.03 && r<0.05)}'; then
        ok "stream: $want bad records of $total (rate 0.04), all five defect kinds: $(grep '^bad ' "$tmp/s.out" | tr '\n' ' ')"
    else
        fail "bad records: kinds=$kinds found=$nbad generated=$want total=$total"; cat "$tmp/s.out"
    fi
else
    fail "stream.jsonl has records that are neither valid nor a one-defect copy:"; head -20 "$tmp/s.out"
fi

# 4. ground-truth invariants: ids are SHA-256 prefixes, no duplicates, tier events along the ladder
for t in stream snapshot; do
    if "$here/validate" events "$p" "$tmp/a/truth/$t/events.jsonl" >"$tmp/e.$t"; then
        ok "truth/$t: $(wc -l <"$tmp/e.$t") events, ids and ladder directions valid"
    else
        fail "truth/$t events:"; grep -v '^LID' "$tmp/e.$t" | head
    fi
done
for ty in tier_upgrade tier_downgrade tier_anniversary point_accrual point_redemption opt_out close_to_tier_upgrade; do
    grep -q " $ty " "$tmp/e.stream" || fail "no $ty in the stream truth"
done
# every Ometria/Infobip expected event is one of the canonical events
nev=$(wc -l <"$tmp/a/truth/stream/events.jsonl")
python3 - "$tmp/a/truth/stream" "$nev" <<'PY' && ok "ometria.json and infobip.json carry each of the $nev events once" || fail "destination event maps disagree with events.jsonl"
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
ids = {json.loads(l)["event_id"] for l in open(f"{d}/events.jsonl")}
o = json.load(open(f"{d}/ometria.json")); i = json.load(open(f"{d}/infobip.json"))
assert set(o["events"]) == ids == set(i["events"]) and len(ids) == n
assert len(o["contacts"]) > 0 and len(i["persons"]) >= len(o["contacts"])
PY
# dead-letter expectations: one line per missing email / malformed date / negative points, two per oversize record
sumline=$(cat "$tmp/a.err")
me=$(grep -o 'missing_email=[0-9]*' <<<"$sumline" | cut -d= -f2); md=$(grep -o 'malformed_date=[0-9]*' <<<"$sumline" | cut -d= -f2)
np=$(grep -o 'negative_points=[0-9]*' <<<"$sumline" | cut -d= -f2); os=$(grep -o 'oversize_first_name=[0-9]*' <<<"$sumline" | cut -d= -f2)
dl=$(wc -l <"$tmp/a/truth/stream/dlq.jsonl")
[ "$dl" -eq $((me + md + np + 2 * os)) ] && ok "dlq.jsonl: $dl lines = $me + $md + $np + 2 x $os" || fail "dlq.jsonl has $dl lines, expected $((me + md + np + 2 * os))"
# the shipped Infobip mapping parks an over-long first name (max_length = 255)
[ "$(grep -c '"destination":"infobip".*"stage":"field-mapper"' "$tmp/a/truth/stream/dlq.jsonl")" -eq "$os" ] || fail "Infobip field-mapper rejections != oversize records"

# 4b. the truth CLI re-reading the written files (JSON path) gives byte-identical truth to the
#     engine loyaltygen fed directly: the files say exactly what the truth was computed from
timeout 600 "$gen/truth" --program "$p" --out "$tmp/cli-stream" "$tmp/a/stream.jsonl" || fail "truth on stream.jsonl failed"
timeout 600 "$gen/truth" --program "$p" --out "$tmp/cli-snap" "$tmp/a/annex/members.jsonl" "$tmp/a/final.jsonl" || fail "truth on members+final failed"
same=0
for f in events.jsonl ometria.json infobip.json dlq.jsonl; do
    cmp -s "$tmp/cli-stream/$f" "$tmp/a/truth/stream/$f" && same=$((same + 1)) || fail "truth CLI on stream.jsonl: $f differs"
    cmp -s "$tmp/cli-snap/$f" "$tmp/a/truth/snapshot/$f" && same=$((same + 1)) || fail "truth CLI on members+final: $f differs"
done
[ $same -eq 8 ] && ok "truth CLI on the written files reproduces truth/stream and truth/snapshot byte for byte"

# 5. first sight derives no tier or point events: with --days 0 every member is seen only in its start state
lg --seed 5 --members 400 --days 0 --bad-rate 0.05 --out "$tmp/z" 2>/dev/null || fail "loyaltygen --days 0 failed"
for t in stream snapshot; do
    "$here/validate" events "$tmp/z/program.json" "$tmp/z/truth/$t/events.jsonl" >"$tmp/z.$t" || fail "truth/$t events invalid (days 0)"
    if grep -Eq ' (tier_|point_|opt_out)' "$tmp/z.$t"; then fail "first-sight members got tier/point/opt-out events:"; grep -E ' (tier_|point_|opt_out)' "$tmp/z.$t" | head -3
    else ok "days 0, truth/$t: only opt_in and close_to_tier_upgrade ($(wc -l <"$tmp/z.$t") events)"; fi
done

# 6. bad arguments: a clear error, exit 64, nothing half-written
for bad in "--bad-rate 2" "--ladder Bronze:0,Silver:0" "--members -3" "--start 2026-02-30" "--direct-io maybe"; do
    # shellcheck disable=SC2086
    if lg --seed 1 --members 10 --days 1 --out "$tmp/bad" $bad 2>"$tmp/bad.err"; then fail "accepted $bad"
    else [ $? -eq 64 ] && [ ! -e "$tmp/bad" ] && ok "rejects $bad: $(head -1 "$tmp/bad.err")" || fail "$bad: wrong exit or output written"; fi
done

# 7. SLUICE_LONG_TESTS=1: a bigger program (50,000 members x 120 days) keeps every invariant
if [ "${SLUICE_LONG_TESTS:-0}" = 1 ]; then
    if timeout 1800 "$gen/loyaltygen" --seed 99 --members 50000 --days 120 --out "$tmp/big" 2>"$tmp/big.err"; then
        ok "big: $(cat "$tmp/big.err")"
        grep -v '"deliver_only":true' "$tmp/big/annex/changes.jsonl" > "$tmp/big/annex/applied.jsonl"
        for f in annex/applied.jsonl final.jsonl; do
            "$here/validate" records "$tmp/big/program.json" "$tmp/big/$f" >"$tmp/big.v" || { fail "big $f:"; head "$tmp/big.v"; }
        done
        "$here/validate" records "$tmp/big/program.json" "$tmp/big/stream.jsonl" --stream >"$tmp/big.v" || { fail "big stream:"; head "$tmp/big.v"; }
        for t in stream snapshot; do
            "$here/validate" events "$tmp/big/program.json" "$tmp/big/truth/$t/events.jsonl" >"$tmp/big.e" ||
                { fail "big truth/$t:"; grep -v '^LID' "$tmp/big.e" | head; }
        done
        ok "big: records and truth events valid"
    else
        fail "big run: $(cat "$tmp/big.err")"
    fi
fi

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }

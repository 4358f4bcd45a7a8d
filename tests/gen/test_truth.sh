#!/bin/bash
# tests/gen/test_truth.sh: the truth oracle on hand-made observation sequences, and the compare scripts seeing differences.
set -u
here=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/gen
gen=${GEN_DIR:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

digest() { # events.jsonl -> sorted digest lines; validate also checks ids, duplicates, ladder direction
    "$here/validate" events "$here/data/program.json" "$1" | sort
}

# 1. tier / points / opt / close-to-upgrade / stale / rejections, exactly as derived by hand in data/tiers.expected
if timeout 300 "$gen/truth" --program "$here/data/program.json" --out "$tmp/tiers" "$here/data/tiers.jsonl"; then
    if diff <(sort "$here/data/tiers.expected") <(digest "$tmp/tiers/events.jsonl") >"$tmp/d1"; then
        ok "tiers: the derived events are exactly the hand-derived ones (skip-tier upgrade is one event, stale record dropped)"
    else
        fail "tiers: events differ from data/tiers.expected:"; cat "$tmp/d1"
    fi
    if cmp -s "$here/data/tiers.dlq.expected" "$tmp/tiers/dlq.jsonl"; then
        ok "tiers: dead-letter expectations name the field and the stage"
    else
        fail "tiers: dlq.jsonl differs:"; diff "$here/data/tiers.dlq.expected" "$tmp/tiers/dlq.jsonl"
    fi
    # the record without an email is dropped for Ometria only: Ometria keeps the older value, Infobip
    # takes the new one and keeps the email it had; LID-B left every segment
    if python3 - "$tmp/tiers" <<'PY'
import json, sys
d = sys.argv[1]
o = json.load(open(f"{d}/ometria.json")); i = json.load(open(f"{d}/infobip.json"))
a = o["contacts"]["annex_loyalty/LID-A"]; p = i["persons"]["LID-A"]
assert a["properties"]["annex_points_req_for_next_tier"] == 300, a["properties"]
assert a["properties"]["annex_available_points"] == "14420", "Ometria available points are strings"
assert p["customAttributes"]["annexPointsReqForNextTier"] == 90, p["customAttributes"]
assert p["contactInformation"][0] == {"type": "EMAIL", "identifier": "zoe.nguyen1@example.com", "primary": True}
assert p["contactInformation"][1]["identifier"] == "447700900123", "Infobip phone without +"
assert p["tags"] == ["Loyalty", "newsletter", "vip"], p["tags"]
assert o["segments"] == {"1001": ["LID-A"], "1002": ["LID-A"], "1003": ["LID-A"]}, o["segments"]
assert i["tags"] == {"Loyalty": ["LID-A"], "vip": ["LID-A"], "newsletter": ["LID-A"]}, i["tags"]
ev = {k: v["record"] for k, v in o["events"].items()}
up = [e for e in ev.values() if e["event_type"] == "annex_loy_tier_upgrade"][0]
assert up["timestamp"] == "2026-03-03T00:00:00+00:00" and up["identity_account_id"] == "LID-A", up
red = [e for e in ev.values() if e["event_type"] == "Annex_loy_point_redemption"]
assert len(red) == 1, red
ib = [v["event"] for v in i["events"].values() if v["event"]["definitionId"] == "LoyCloseToTierUpgrade"]
assert len(ib) == 3 and all(e["occurredTime"].endswith(".000+0000") for e in ib), ib
last = [e for e in ib if e["occurredTime"].startswith("2026-03-11")][0]
assert last["properties"] == {"current_tier": "Silver", "next_tier": "Gold", "points_req_for_next_tier": 90}
PY
    then ok "tiers: destination states (divergent Ometria/Infobip, lists, tags, event shapes)"
    else fail "tiers: destination state assertions"; fi
else
    fail "truth exited non-zero on data/tiers.jsonl"
fi

# 2. anniversaries: fired by the clock sweep, 29 February falls on 28 February in non-leap years
if timeout 300 "$gen/truth" --program "$here/data/program.json" --out "$tmp/leap" "$here/data/leap.jsonl" &&
    diff <(sort "$here/data/leap.expected") <(digest "$tmp/leap/events.jsonl") >"$tmp/d2"; then
    ok "leap: anniversaries 2025-02-28, 2026-02-28, 2027-02-28, 2028-02-29 and the clock member's"
else
    fail "leap: anniversaries differ from data/leap.expected:"; cat "$tmp/d2" 2>/dev/null
fi

# 3. a percentage close-to-upgrade threshold (10% of Gold's 5000 = 500) fires earlier
if timeout 300 "$gen/truth" --program "$here/data/program.json" --close-threshold 10% --out "$tmp/pct" "$here/data/tiers.jsonl" &&
    digest "$tmp/pct/events.jsonl" | grep -q '^LID-A close_to_tier_upgrade Silver:Gold:2026-03-10 '; then
    ok "close threshold 10%: fires at 300 points to Gold"
else
    fail "close threshold 10% did not fire on 2026-03-10"
fi

# 4. bad input: a clear error naming file and line, non-zero exit
printf '{"kind":"member","loyalty_id":"X","as_of":"2026-01-01T00:00:00Z"}\nnot json\n' >"$tmp/broken.jsonl"
if ! timeout 300 "$gen/truth" --program "$here/data/program.json" --out "$tmp/broken" "$tmp/broken.jsonl" 2>"$tmp/err" &&
    grep -q 'broken.jsonl:2: invalid JSON' "$tmp/err"; then
    ok "broken input: $(cat "$tmp/err")"
else
    fail "broken input not reported with file:line"; cat "$tmp/err"
fi

# 5. compare / compare-events: equal is 0, every kind of difference is 1 and is shown
c="$here/compare"; ce="$here/compare-events"
if "$c" "$tmp/tiers/ometria.json" "$tmp/tiers/ometria.json" >/dev/null; then ok "compare: equal states"; else fail "compare: equal states not equal"; fi
python3 - "$tmp/tiers" <<'PY'
import json, sys
d = sys.argv[1]
o = json.load(open(f"{d}/ometria.json"))
o["contacts"]["annex_loyalty/LID-A"]["properties"]["annex_current_tier"] = "Gold"   # different
del o["contacts"]["annex_loyalty/LID-B"]                                             # missing
for v in o["events"].values():
    v["repeats"] = 3                                                                 # bookkeeping, ignored
o["stats"] = {"requests": 9}
json.dump(o, open(f"{d}/om-modified.json", "w"))
i = json.load(open(f"{d}/infobip.json"))
i["persons"]["LID-Z"] = {"externalId": "LID-Z"}                                      # extra
json.dump(i, open(f"{d}/ib-modified.json", "w"))
PY
"$c" "$tmp/tiers/ometria.json" "$tmp/tiers/om-modified.json" >"$tmp/c1"; rc=$?
if [ $rc -eq 1 ] && grep -q 'different.*annex_current_tier.*expected "Silver", got "Gold"' "$tmp/c1" &&
    grep -q 'compare: 1 missing, 0 extra, 1 different' "$tmp/c1"; then
    ok "compare: sees a changed property and a missing contact, ignores repeats/stats"
else
    fail "compare on a modified Ometria state (rc=$rc)"; cat "$tmp/c1"
fi
"$c" "$tmp/tiers/infobip.json" "$tmp/tiers/ib-modified.json" >"$tmp/c2"; rc=$?
if [ $rc -eq 1 ] && grep -q 'compare: 0 missing, 1 extra, 0 different' "$tmp/c2"; then
    ok "compare: sees an extra person"
else
    fail "compare on an Infobip state with an extra person (rc=$rc)"; cat "$tmp/c2"
fi
sed 1d "$tmp/tiers/events.jsonl" >"$tmp/ev-missing.jsonl"
sed '2s/"origin":"derived"/"origin":"source"/' "$tmp/tiers/events.jsonl" >"$tmp/ev-diff.jsonl"
"$ce" "$tmp/tiers/events.jsonl" "$tmp/tiers/events.jsonl" >/dev/null && ok "compare-events: equal lists" || fail "compare-events: equal lists"
"$ce" "$tmp/tiers/events.jsonl" "$tmp/ev-missing.jsonl" >"$tmp/c3"; rc=$?
[ $rc -eq 1 ] && grep -q '1 missing, 0 extra, 0 different' "$tmp/c3" && ok "compare-events: a missing event" || { fail "compare-events missing (rc=$rc)"; cat "$tmp/c3"; }
"$ce" "$tmp/ev-missing.jsonl" "$tmp/tiers/events.jsonl" >"$tmp/c4"; rc=$?
[ $rc -eq 1 ] && grep -q '0 missing, 1 extra, 0 different' "$tmp/c4" && ok "compare-events: an extra event" || { fail "compare-events extra (rc=$rc)"; cat "$tmp/c4"; }
"$ce" "$tmp/tiers/events.jsonl" "$tmp/ev-diff.jsonl" >"$tmp/c5"; rc=$?
[ $rc -eq 1 ] && grep -q 'origin: expected "derived", got "source"' "$tmp/c5" && ok "compare-events: a changed event" || { fail "compare-events different (rc=$rc)"; cat "$tmp/c5"; }

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }

#!/usr/bin/env bash
# erase-intake.sh: erasure requests as annexcloud-source takes them in
# (docs/erasure.md), into file-sink: an erasure webhook (a configured
# event type, case-insensitive) carrying only the member id is accepted
# even where enrichment is off (a member update that thin is still
# refused with 400) and becomes an erase record with the email
# lower-cased; an event type not listed stays a member update; a Data
# Feed deletions file's rows become erase records, its other files
# members.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

port=$(t_free_port)
mkdir -p "$T_TMP/feed"
cat > "$T_TMP/intake.cfg" <<CFG
pipeline = {
  name = "intake";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook,feed";
      listen = "127.0.0.1:$port"; webhook_secret = "erase-secret"; enrich = false;
      erase_event_types = [ "USER_DELETE", "Member_Forget" ];
      feed_dir = "$T_TMP/feed"; feed_deletions_pattern = "deletions*.csv"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
"$SLUICE" check "$T_TMP/intake.cfg" > /dev/null || t_fail "the pipeline does not pass sluice check"
t_bg "$SLUICE" run "$T_TMP/intake.cfg"
pid=$T_LAST_PID
t_wait_for 120 curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$port/" || t_fail "the listener did not start"

# post BODY: a signed webhook; prints the HTTP status.
post() {
    local sig
    sig=sha256=$(printf '%s' "$1" | openssl dgst -sha256 -hmac erase-secret | sed 's/.*= *//')
    curl -s -o "$T_TMP/post.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-AnnexCloud-Signature: $sig" --data-binary "$1" "http://127.0.0.1:$port/"
}
code=$(post '{"eventId":"e1","eventType":"USER_DELETE","timestamp":"2026-12-07T10:00:00+0000","data":{"id":"L1","email":"One@Example.com"}}')
[ "$code" = 200 ] || t_fail "a thin erasure webhook got $code: $(cat "$T_TMP/post.body")"
code=$(post '{"eventId":"e2","eventType":"member_forget","data":{"id":"L2"}}')
[ "$code" = 200 ] || t_fail "a configured erasure type (other case) got $code: $(cat "$T_TMP/post.body")"
code=$(post '{"eventId":"e3","eventType":"GDPR_ERASE","data":{"id":"L3"}}')
[ "$code" = 400 ] || t_fail "an erasure type not configured here, thin, got $code (a thin member update wants 400)"
code=$(post '{"eventId":"e4","eventType":"USER_DELETE","data":{"email":"only@example.com"}}')
[ "$code" = 400 ] || t_fail "an erasure without a member id got $code"
printf 'Loyalty Id,Email Address,Updated At\nL4,Four@Example.com,2026-12-07T11:00:00Z\nL5,,2026-12-07T11:00:00Z\n' \
    > "$T_TMP/feed/.part"
mv "$T_TMP/feed/.part" "$T_TMP/feed/deletions-0001.csv"
printf 'Loyalty Id,Email Address,Updated At\nL6,six@example.com,2026-12-07T11:00:00Z\n' > "$T_TMP/feed/.part"
mv "$T_TMP/feed/.part" "$T_TMP/feed/members-0001.csv"
t_wait_for 120 bash -c "[ \$(wc -l < '$T_TMP/out.jsonl' 2>/dev/null || echo 0) -ge 5 ]" \
    || t_fail "not every request came out: $(cat "$T_TMP/out.jsonl" 2>/dev/null)"
kill -TERM "$pid"
t_wait_for 120 bash -c "! kill -0 $pid 2>/dev/null" || t_fail "the pipeline did not stop"
python3 - "$T_TMP/out.jsonl" <<'PY' || t_fail "unexpected records: $(cat "$T_TMP/out.jsonl")"
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    got[r["loyalty_id"]] = r
want = {
    "L1": {"kind": "erase", "via": "webhook", "email": "one@example.com", "requested_at": "2026-12-07T10:00:00Z"},
    "L2": {"kind": "erase", "via": "webhook"},
    "L4": {"kind": "erase", "via": "feed", "email": "four@example.com", "requested_at": "2026-12-07T11:00:00Z"},
    "L5": {"kind": "erase", "via": "feed"},
    "L6": {"kind": "member", "email": "six@example.com"},
}
bad = [f"{i}: {got.get(i)}" for i, fields in want.items()
       if i not in got or any(got[i].get(k) != v for k, v in fields.items())]
bad += [f"unexpected {i}" for i in got if i not in want]
bad += [f"{i} has an email" for i in ("L2", "L5") if i in got and "email" in got[i]]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
echo "ok: erasure webhooks (thin, configured names) and a deletions file become erase records"

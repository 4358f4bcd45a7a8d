#!/usr/bin/env bash
# test_webhook_load.sh: webhook-load posts what annexcloud-emu posts (the
# same bodies and signatures), and keeps the promises the webhook soak's
# truth rests on: a member's webhooks arrive in change order, no webhook of
# a later day is answered before every one of the day before (--barrier
# day), a 5xx is sent again until answered 2xx, and its log has one line
# per attempt. Against annexcloud-webhook-sink, which numbers the requests
# in arrival order and answers 500 to the first K.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

"$GEN_DIR/loyaltygen" --seed 4 --members 300 --days 20 --truth none --out "$T_TMP/program" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
posted=$(jq -c 'select(.silent != true)' "$T_TMP/program/annex/changes.jsonl" | wc -l)

# What annexcloud-emu itself posts for the program.
t_start_emu annexcloud-webhook-sink "$T_TMP/emu-sink.log" --out "$T_TMP/emu-posts.jsonl"
emu_sink=$T_EMU_PORT
t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret api-secret --program "$T_TMP/program" \
    --webhook-url "http://127.0.0.1:$emu_sink/hook" --webhook-secret load-secret
curl -sf -X POST -d '{"days":40}' "http://127.0.0.1:$T_EMU_PORT/_emu/advance" > "$T_TMP/advance.json" ||
    t_fail "advance failed"
[ "$(wc -l < "$T_TMP/emu-posts.jsonl")" -eq "$posted" ] ||
    t_fail "annexcloud-emu posted $(wc -l < "$T_TMP/emu-posts.jsonl") webhooks, want $posted"

# webhook-load from 16 senders to a sink that answers 500 to the first 40.
t_start_emu annexcloud-webhook-sink "$T_TMP/load-sink.log" --out "$T_TMP/load-posts.jsonl" --fail-first 40
"$EMU_DIR/webhook-load" --url "http://127.0.0.1:$T_EMU_PORT/hook" --secret load-secret \
    --program "$T_TMP/program" --connections 16 --log "$T_TMP/load.log" > "$T_TMP/load.out" 2> "$T_TMP/load.err" ||
    t_fail "webhook-load exited $?: $(cat "$T_TMP/load.out" "$T_TMP/load.err")"
t_note "$(cat "$T_TMP/load.out")"
grep -q "webhooks=$posted accepted=$posted .* refused=0 gave_up=0 attempts=$((posted + 40)) retried=40 " "$T_TMP/load.out" ||
    t_fail "want $posted webhooks accepted after 40 retries: $(cat "$T_TMP/load.out")"

python3 - "$T_TMP/emu-posts.jsonl" "$T_TMP/load-posts.jsonl" "$T_TMP/load.log" \
    "$T_TMP/program/annex/changes.jsonl" <<'PY' || t_fail "webhook-load broke a promise (above)"
import collections, json, sys
emu = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
load = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
failed = False
def fail(message):
    global failed
    failed = True
    print(message)
# The same bodies and signatures as annexcloud-emu's (as multisets).
if collections.Counter((p["body"], p["signature"]) for p in emu) != \
        collections.Counter((p["body"], p["signature"]) for p in load if p["status"] == 200):
    fail("the webhooks answered 200 are not the bodies and signatures annexcloud-emu posts")
# Change order per member; days in order; in arrival order (n).
order = {}
for line in open(sys.argv[4], encoding="utf-8"):
    change = json.loads(line)
    if not change.get("silent"):
        order[change["event_id"]] = len(order)
last_by_member, last_day = {}, ""
for post in sorted(load, key=lambda p: p["n"]):
    if post["status"] != 200:
        continue
    body = json.loads(post["body"])
    member, position, day = body["data"]["id"], order[body["eventId"]], body["timestamp"][:10]
    if last_by_member.get(member, -1) > position:
        fail(f"{member}: {body['eventId']} arrived after a later change of the member")
    last_by_member[member] = position
    if day < last_day:
        fail(f"{body['eventId']} of {day} answered after a webhook of {last_day}")
    last_day = max(last_day, day)
# One log line per attempt: the 40 refused ones as retry, then 2xx.
verdicts = collections.Counter(l.split("\t")[6] for l in open(sys.argv[3], encoding="utf-8"))
if verdicts != {"2xx": len(order), "retry": 40}:
    fail(f"log verdicts {dict(verdicts)}, want 2xx {len(order)} and retry 40")
sys.exit(1 if failed else 0)
PY
echo "ok: webhook-load posted annexcloud-emu's $posted webhooks from 16 senders, each member's in order, days in order, 40 refused ones again"

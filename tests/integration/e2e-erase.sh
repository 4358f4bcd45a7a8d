#!/usr/bin/env bash
# e2e-erase.sh: erasure end to end on both destinations (issue 17, must be
# shown 1; docs/erasure.md). A generated program is synced through the
# shipped pipelines acme-infobip-webhook and acme-ometria-webhook (copies
# that set the test's pace, see below); then members are erased by
# webhook (USER_DELETE posted to each pipeline's listener) and by
# `sluice erase --id` and by a Data Feed deletions file (feed mode next
# to webhook mode); Infobip no longer holds them (deleted) and Ometria
# anonymised them after the emulated delay; `sluice erase --status` says
# confirmed for each; a full re-sync (every member emitted again) and a
# `sluice dlq replay --all` of their records bring none back; then one of
# them enrols again (a webhook with an opt-in dated after the erasure) and
# syncs again.
#   E2E_ERASE_WEBHOOK (default 50) members erased by webhook, E2E_ERASE_FEED
#   (default 50) by a deletions file, E2E_ERASE_CLI (default 5) by the CLI. Ometria's GDPR API takes 6 requests a minute:
#   the default run lets the emulator and the sink take 600 a minute (105
#   erasures would take 17 minutes at 6); SLUICE_LONG_TESTS=1 runs at the
#   real 6/min with fewer erasures (4 by webhook, 4 by feed, 2 by CLI:
#   about 4 min).
set -euo pipefail
E2E_MEMBERS=${E2E_MEMBERS:-300}
. "$top_srcdir/tests/integration/e2e-lib.sh"
[ -n "${SLUICE_LONG_TESTS:-}" ] && E2E_MEMBERS=300
n_webhook=${E2E_ERASE_WEBHOOK:-50}
n_feed=${E2E_ERASE_FEED:-50}
n_cli=${E2E_ERASE_CLI:-5}
gdpr_rate=600
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then
    n_webhook=4 n_feed=4 n_cli=2 gdpr_rate=6
fi

e2e_setup infobip
infobip_url=$E2E_DEST_URL
t_start_emu ometria-emu "$T_TMP/ometria.log" --api-key "$OMETRIA_API_KEY" --seed 5 \
    --gdpr-rate-limit "$gdpr_rate" --gdpr-delay-s 3
ometria_url="http://127.0.0.1:$T_EMU_PORT"
export OMETRIA_BASE_URL=$ometria_url

# The shipped pipelines, with the test's pace: the GDPR API at the
# emulator's rate, a status read every 2 s, and every member emitted by a
# sync (emit_unchanged), so a sync is a full re-sync; each pipeline reads
# deletions files from a feed directory of its own.
cp -r "$top_srcdir/pipelines" "$T_TMP/pipelines"
chmod -R u+w "$T_TMP/pipelines"
sed -i "s|^plugin = \"annexcloud-source\";|&\nemit_unchanged = true;\nfeed_dir = \"\${E2E_FEED_DIR:-/nonexistent}\";\nfeed_deletions_pattern = \"deletions-*.csv\";|" \
    "$T_TMP/pipelines/fragments/annexcloud-webhook.cfg"
sed -i "s|rate_limit = 4.0; .*|&\n      erase_requests_per_minute = $gdpr_rate.0; erase_poll_s = 2;|" \
    "$T_TMP/pipelines/acme-ometria-webhook.cfg"
grep -q erase_poll_s "$T_TMP/pipelines/acme-ometria-webhook.cfg" || t_fail "cannot set the test's pace"
ib_pipe="$T_TMP/pipelines/acme-infobip-webhook.cfg"
om_pipe="$T_TMP/pipelines/acme-ometria-webhook.cfg"
ib_listen="127.0.0.1:$(t_free_port)"
om_listen="127.0.0.1:$(t_free_port)"

# sync PIPE: a full sync in api mode (exit 0, or 2: the truth's bad records).
sync() {
    local rc=0
    ANNEXCLOUD_MODE=api timeout 900 "$SLUICE" run --once "$1" > "$T_TMP/sync.out" 2> "$T_TMP/sync.err" || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "sync of $(basename "$1") exited $rc: $(tail -5 "$T_TMP/sync.err")"
}
sync "$ib_pipe"
sync "$om_pipe"

# Members both destinations hold (Ometria only those with an email).
curl -s "$infobip_url/_emu/state" > "$T_TMP/ib0.json"
curl -s "$ometria_url/_emu/state" > "$T_TMP/om0.json"
python3 - "$T_TMP/ib0.json" "$T_TMP/om0.json" $((n_webhook + n_feed + n_cli + 1)) > "$T_TMP/chosen.tsv" <<'PY'
import json, sys
ib = json.load(open(sys.argv[1]))["persons"]
om = {c["id"]: c for c in json.load(open(sys.argv[2]))["contacts"].values()}
both = sorted(i for i in ib if i in om and om[i].get("email"))
want = int(sys.argv[3])
if len(both) < want:
    sys.exit(f"only {len(both)} members in both destinations, {want} wanted")
for i in both[:want]:
    print(f"{i}\t{om[i]['email']}")
PY
[ "$(wc -l < "$T_TMP/chosen.tsv")" -eq $((n_webhook + n_feed + n_cli + 1)) ] || t_fail "cannot choose members"
head -n "$n_webhook" "$T_TMP/chosen.tsv" > "$T_TMP/by-webhook.tsv"
sed -n "$((n_webhook + 1)),$((n_webhook + n_feed))p" "$T_TMP/chosen.tsv" > "$T_TMP/by-feed.tsv"
sed -n "$((n_webhook + n_feed + 1)),$((n_webhook + n_feed + n_cli))p" "$T_TMP/chosen.tsv" | cut -f1 > "$T_TMP/by-cli.ids"
cut -f1 "$T_TMP/chosen.tsv" | head -n $((n_webhook + n_feed + n_cli)) > "$T_TMP/erased.ids"
kept=$(tail -1 "$T_TMP/chosen.tsv" | cut -f1)

# run_daemons: both pipelines in webhook and feed mode, each with its
# listener and feed directory.
mkdir -p "$T_TMP/feed-infobip" "$T_TMP/feed-ometria"
run_daemons() {
    ANNEXCLOUD_MODE=webhook,feed ANNEXCLOUD_WEBHOOK_LISTEN=$ib_listen E2E_FEED_DIR=$T_TMP/feed-infobip \
        t_bg "$SLUICE" run "$ib_pipe"
    ib_pid=$T_LAST_PID
    ANNEXCLOUD_MODE=webhook,feed ANNEXCLOUD_WEBHOOK_LISTEN=$om_listen E2E_FEED_DIR=$T_TMP/feed-ometria \
        t_bg "$SLUICE" run "$om_pipe"
    om_pid=$T_LAST_PID
    t_wait_for 120 curl -s -o /dev/null --max-time 30 "http://$ib_listen/" || t_fail "infobip pipeline's listener did not start"
    t_wait_for 120 curl -s -o /dev/null --max-time 30 "http://$om_listen/" || t_fail "ometria pipeline's listener did not start"
}
stop_daemons() {
    kill -TERM "$ib_pid" "$om_pid"
    t_wait_for 300 bash -c "! kill -0 $ib_pid 2>/dev/null && ! kill -0 $om_pid 2>/dev/null" || t_fail "pipelines did not stop"
    wait "$ib_pid" "$om_pid" 2>/dev/null || true
}
# post LISTEN BODY: a webhook signed as Annex Cloud signs it; 200 wanted.
post() {
    local sig code
    sig=sha256=$(printf '%s' "$2" | openssl dgst -sha256 -hmac "$ANNEXCLOUD_WEBHOOK_SECRET" | sed 's/.*= *//')
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-AnnexCloud-Signature: $sig" --data-binary "$2" "http://$1/")
    [ "$code" = 200 ] || t_fail "webhook to $1 answered $code: $2"
}

run_daemons
now=$(date -u +%Y-%m-%dT%H:%M:%S+0000)
n=0
while IFS=$'\t' read -r id email; do
    n=$((n + 1))
    body="{\"eventId\":\"erase-$n\",\"eventType\":\"USER_DELETE\",\"timestamp\":\"$now\",\"data\":{\"id\":\"$id\",\"email\":\"$email\"}}"
    post "$ib_listen" "$body"
    post "$om_listen" "$body"
done < "$T_TMP/by-webhook.tsv"
# A Data Feed deletions file (ids only: the deriver knows the emails),
# written whole, then renamed into place as an export drop is.
{
    echo "Loyalty Id,Updated At"
    cut -f1 "$T_TMP/by-feed.tsv" | sed "s/\$/,$now/"
} > "$T_TMP/deletions.csv"
for dest in infobip ometria; do
    cp "$T_TMP/deletions.csv" "$T_TMP/feed-$dest/.part"
    mv "$T_TMP/feed-$dest/.part" "$T_TMP/feed-$dest/deletions-0001.csv"
done
args=()
while read -r id; do args+=(--id "$id"); done < "$T_TMP/by-cli.ids"
"$SLUICE" erase "$ib_pipe" "${args[@]}" > "$T_TMP/erase-ib.out" || t_fail "sluice erase (infobip) failed"
"$SLUICE" erase "$om_pipe" "${args[@]}" > "$T_TMP/erase-om.out" || t_fail "sluice erase (ometria) failed"
t_note "$(cat "$T_TMP/erase-ib.out")"
total=$((n_webhook + n_feed + n_cli))

# confirmed PIPE: how many erasures --status says confirmed.
confirmed() {
    "$SLUICE" erase --status "$1" --json | jq '[.[] | select(.state == "confirmed")] | length'
}
T_POLL_S=1 t_wait_for 300 bash -c "[ \"\$('$SLUICE' erase --status '$ib_pipe' --json | jq '[.[] | select(.state == \"confirmed\")] | length')\" = $total ]" \
    || t_fail "Infobip erasures not all confirmed: $("$SLUICE" erase --status "$ib_pipe" | tail -5)"
# Ometria: 2 requests of the GDPR API per member (send, status), paced.
T_POLL_S=1 t_wait_for 600 bash -c "[ \"\$('$SLUICE' erase --status '$om_pipe' --json | jq '[.[] | select(.state == \"confirmed\")] | length')\" = $total ]" \
    || t_fail "Ometria erasures not all confirmed: $("$SLUICE" erase --status "$om_pipe" | tail -5)"
# The sink kept to the GDPR API's pace: the emulator refused nothing.
limited=$(curl -s "$ometria_url/_emu/stats" | jq '.counters.gdpr_rate_limited // 0')
[ "$limited" = 0 ] || t_fail "ometria-sink went past $gdpr_rate GDPR calls a minute: $limited refused"
"$SLUICE" erase --status "$om_pipe" > "$T_TMP/status-om.txt"
t_note "$(head -3 "$T_TMP/status-om.txt")"
# The audit trail shows no email.
if "$SLUICE" erase --status "$om_pipe" --json | grep -q '@'; then
    t_fail "sluice erase --status shows an email"
fi
stop_daemons

# check_gone WHEN: the destinations hold none of the erased members.
check_gone() {
    curl -s "$infobip_url/_emu/state" > "$T_TMP/ib.json"
    curl -s "$ometria_url/_emu/state" > "$T_TMP/om.json"
    python3 - "$T_TMP/ib.json" "$T_TMP/om.json" "$T_TMP/erased.ids" "$1" <<'PY' || t_fail "erased members came back ($1)"
import json, sys
ib = json.load(open(sys.argv[1]))
om = json.load(open(sys.argv[2]))
erased = [l.strip() for l in open(sys.argv[3]) if l.strip()]
contacts = {c["id"]: c for c in om["contacts"].values()}
bad = []
for i in erased:
    if i in ib["persons"]:
        bad.append(f"Infobip holds person {i}")
    if i not in ib["deleted"]:
        bad.append(f"Infobip never deleted {i}")
    c = contacts.get(i)
    if c is None or not c.get("@anonymised") or set(c) - {"id", "@collection", "@anonymised"}:
        bad.append(f"Ometria contact {i} is not anonymised: {c}")
    for seg, members in om["segments"].items():
        if i in members:
            bad.append(f"Ometria segment {seg} holds {i}")
for b in bad[:10]:
    print(b)
print(f"# {sys.argv[4]}: {len(erased)} erased, {len(bad)} problem(s)")
sys.exit(1 if bad else 0)
PY
}
check_gone "after the erasures"

# A full re-sync: every member emitted again; the erased ones are dropped.
sync "$ib_pipe"
sync "$om_pipe"
check_gone "after a full re-sync"
grep -q 'erased members dropped\|record(s) of erased members dropped' "$T_TMP/sync.err" \
    || t_fail "the re-sync does not say it dropped erased members' records"

# Records of erased members parked earlier, replayed from the DLQ.
first=$(head -1 "$T_TMP/erased.ids")
for dest in infobip ometria; do
    db="$SLUICE_STATE_DIR/acme-$dest-webhook/state.db"
    if [ "$dest" = infobip ]; then
        rec="{\"externalId\":\"$first\",\"firstName\":\"Parked\",\"customAttributes\":{\"annexOptInDate\":\"2020-01-01\"}}"
    else
        rec="{\"@type\":\"contact\",\"id\":\"$first\",\"email\":\"parked@example.com\",\"firstname\":\"Parked\"}"
    fi
    sqlite3 "$db" "insert into dlq(stage, epoch, batch_id, reason, record, record_sha256, parked_at)
                   values('$dest', 1, 1, 'parked before the erasure', '$rec', 'test-$dest', '2026-01-01T00:00:00Z')"
    pipe="$T_TMP/pipelines/acme-$dest-webhook.cfg"
    "$SLUICE" dlq replay "$pipe" --all > /dev/null || t_fail "dlq replay --all failed ($dest)"
    sync "$pipe"
    grep -q "was erased" "$T_TMP/sync.err" || t_fail "the replayed record of $first was not dropped as erased ($dest)"
done
check_gone "after dlq replay --all"

# Re-enrolment of one erased member, dated after the erasure (tomorrow:
# the sinks compare the mapped opt-in date, a calendar date, with the
# erasure's day).
again=$(sed -n 2p "$T_TMP/erased.ids")
email=$(awk -F'\t' -v id="$again" '$1 == id {print $2}' "$T_TMP/chosen.tsv")
[ -n "$email" ] || email="again@example.com"
tomorrow=$(date -u -d tomorrow +%Y-%m-%dT%H:%M:%S+0000)
run_daemons
body="{\"eventId\":\"enrol-again\",\"eventType\":\"USER_CREATE\",\"timestamp\":\"$now\",\"data\":{\"id\":\"$again\",\"email\":\"$email\",\"firstName\":\"Again\",\"optInStatus\":\"YES\",\"optInDate\":\"$tomorrow\",\"status\":\"ACTIVE\",\"points\":{\"availablePoints\":5,\"lifetimePoints\":5,\"usedPoints\":0},\"tiers\":{\"currentTier\":\"Bronze\",\"nextTier\":\"Silver\",\"pointsToNextTier\":995}}}"
post "$ib_listen" "$body"
post "$om_listen" "$body"
t_wait_for 120 bash -c "curl -s '$infobip_url/_emu/state' | jq -e --arg id '$again' '.persons[\$id].firstName == \"Again\"' > /dev/null" \
    || t_fail "re-enrolled member $again did not reach Infobip"
t_wait_for 120 bash -c "curl -s '$ometria_url/_emu/state' | jq -e --arg id '$again' '[.contacts[] | select(.id == \$id)][0].firstname == \"Again\"' > /dev/null" \
    || t_fail "re-enrolled member $again did not reach Ometria"
stop_daemons
# the others stay erased
grep -v -x "$again" "$T_TMP/erased.ids" > "$T_TMP/still.ids"
mv "$T_TMP/still.ids" "$T_TMP/erased.ids"
check_gone "after one member enrolled again"
# A member nobody erased is untouched.
curl -s "$infobip_url/_emu/state" | jq -e --arg id "$kept" '.persons[$id] != null' > /dev/null \
    || t_fail "member $kept, never erased, is gone from Infobip"
echo "ok: $total members erased ($n_webhook by webhook, $n_feed by feed file, $n_cli by sluice erase) at Infobip and Ometria; a re-sync and dlq replay brought none back; a re-enrolment synced"

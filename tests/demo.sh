#!/usr/bin/env bash
# demo.sh: `make demo`: the loyalty sync end to end against the bundled
# emulators. A generated program (1,000 members, a month of activity ending
# today) is loaded into annexcloud-emu; then, as a client would run it:
#   1. initial sync through the API to Ometria and Infobip, two pipelines
#      in parallel (acme-ometria-webhook in api mode, acme-infobip-api);
#   2. the month goes by: Annex Cloud posts a signed webhook per change,
#      acme-ometria-webhook turns them into contacts, events and segments;
#   3. month-end API sync to Infobip (acme-infobip-api again);
# and prints what arrived at each destination next to the ground truth.
#   DEMO_MEMBERS (default 1000); DEMO_PIPELINES (default the source tree's
#   pipelines/) and DEMO_STATE_DIR (default a temp dir) for the packaging
#   test, which runs the installed sluice on /etc/sluice/pipelines.d
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
export top_builddir=${top_builddir:-$(cd "$here/.." && pwd)}
. "$here/lib.sh"
members=${DEMO_MEMBERS:-1000}
step() { printf '\n== %s\n' "$*"; }

step "generating a loyalty program: $members members, 30 days ending today"
start=$(date -u -d '30 days ago' +%Y-%m-%d)
"$GEN_DIR/loyaltygen" --seed 42 --members "$members" --days 30 --start "$start" --out "$T_TMP/program" 2>&1 | fold -w 160

step "starting the Annex Cloud, Ometria and Infobip emulators"
export ANNEXCLOUD_SITE_ID=29235480 ANNEXCLOUD_SECRET=demo-annex-secret ANNEXCLOUD_WEBHOOK_SECRET=demo-webhook-secret
export OMETRIA_API_KEY=demo-ometria-key INFOBIP_API_KEY=demo-infobip-key
export SLUICE_STATE_DIR="${DEMO_STATE_DIR:-$T_TMP/state}"
webhook_port=$(t_free_port)
export ANNEXCLOUD_WEBHOOK_LISTEN="127.0.0.1:$webhook_port"
t_start_emu ometria-emu "$T_TMP/ometria.log" --api-key "$OMETRIA_API_KEY"
export OMETRIA_BASE_URL="http://127.0.0.1:$T_EMU_PORT"
t_start_emu infobip-emu "$T_TMP/infobip.log" --api-key "$INFOBIP_API_KEY"
export INFOBIP_BASE_URL="http://127.0.0.1:$T_EMU_PORT"
t_start_emu annexcloud-emu "$T_TMP/annexcloud.log" --site-id "$ANNEXCLOUD_SITE_ID" \
    --secret "$ANNEXCLOUD_SECRET" --program "$T_TMP/program" \
    --webhook-url "http://$ANNEXCLOUD_WEBHOOK_LISTEN/" --webhook-secret "$ANNEXCLOUD_WEBHOOK_SECRET"
annex="http://127.0.0.1:$T_EMU_PORT"
export ANNEXCLOUD_BASE_URL="$annex"
echo "annexcloud-emu $annex, ometria-emu $OMETRIA_BASE_URL, infobip-emu $INFOBIP_BASE_URL"

pipelines="${DEMO_PIPELINES:-$top_srcdir/pipelines}"
step "1. initial sync through the Annex Cloud API, both destinations in parallel"
ANNEXCLOUD_MODE=api "$SLUICE" run --once --log-level warn \
    "$pipelines/acme-ometria-webhook.cfg" "$pipelines/acme-infobip-api.cfg" || true

step "2. a month of loyalty activity arrives as webhooks (acme-ometria-webhook)"
ANNEXCLOUD_MODE=webhook t_bg "$SLUICE" run --log-level warn "$pipelines/acme-ometria-webhook.cfg"
listener=$T_LAST_PID
t_wait_for 120 curl -s -o /dev/null "http://$ANNEXCLOUD_WEBHOOK_LISTEN/" || t_fail "webhook listener did not start"
curl -s -X POST -d '{"days":30}' "$annex/_emu/advance" | jq -c '{clock, applied, webhooks}'
# Every accepted webhook leaves the spool once acknowledged end to end.
db="$SLUICE_STATE_DIR/acme-ometria-webhook/state.db"
t_wait_for 300 bash -c "[ \"\$(sqlite3 '$db' 'select count(*) from annexcloud_spool' 2>/dev/null)\" = 0 ]" \
    || t_fail "webhooks accepted but not delivered to Ometria in time"
echo "all webhooks delivered to Ometria and acknowledged"
kill -TERM "$listener"
t_wait_for 60 bash -c "! kill -0 $listener" || t_fail "the webhook pipeline did not drain and stop"

step "3. month-end sync through the API to Infobip"
"$SLUICE" run --once --log-level warn "$pipelines/acme-infobip-api.cfg" || true

step "what arrived, next to the ground truth"
curl -s "$OMETRIA_BASE_URL/_emu/state" > "$T_TMP/ometria-state.json"
curl -s "$INFOBIP_BASE_URL/_emu/state" > "$T_TMP/infobip-state.json"
verdict=0
"$here/demo-report.py" "$T_TMP/ometria-state.json" "$T_TMP/program/truth/stream/ometria.json" \
    "$T_TMP/infobip-state.json" "$T_TMP/program/truth/snapshot/infobip.json" || verdict=1
echo
echo "dead-letter queues (records the destinations cannot take, with the reason):"
for p in acme-ometria-webhook acme-infobip-api; do
    "$SLUICE" dlq list "$pipelines/$p.cfg" > "$T_TMP/dlq-$p.txt" 2>&1 || true
    sed "s/^/  $p: /" "$T_TMP/dlq-$p.txt" | cut -c1-170 | head -12
done
exit "$verdict"

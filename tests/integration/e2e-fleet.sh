#!/usr/bin/env bash
# e2e-fleet.sh: issue 15's fleet test against the emulators. Three clients
# of the shipped acme Ometria webhook pipeline (each its own Annex Cloud
# and Ometria emulator, listener port, state_dir) run from one directory
# with `sluice run --dir`, syncing the generated program's start through
# the API and then its month of webhooks. While client 1's webhooks flow,
# a 4th file is added, the 2nd changed (its contacts go to another
# collection), the 3rd deleted and a broken 5th put there; then SIGHUP:
# client 1 keeps its processes and is neither rewound nor restarted, and
# its Ometria ends equal to the ground truth, DLQ included; the 2nd
# restarts and writes the new collection; the 3rd drains and stops; the
# 4th starts and ends equal to the ground truth; the 5th is refused with
# FILE:LINE in the log.
#   E2E_MEMBERS (default 300 here; SLUICE_LONG_TESTS=1: 10000)
set -euo pipefail
E2E_MEMBERS=${E2E_MEMBERS:-300}
. "$top_srcdir/tests/integration/e2e-lib.sh"
# no admin endpoint: not under test here, and its port may be taken
export SLUICE_ADMIN_LISTEN=off

start=$(date -u -d "$E2E_DAYS days ago" +%Y-%m-%d)
"$GEN_DIR/loyaltygen" --seed 11 --members "$E2E_MEMBERS" --days "$E2E_DAYS" --start "$start" \
    --out "$T_TMP/program" 2> "$T_TMP/gen.log" || t_fail "loyaltygen: $(cat "$T_TMP/gen.log")"
E2E_TRUTH="$T_TMP/program/truth/stream"
E2E_DEST=ometria
export ANNEXCLOUD_SITE_ID=29235480 ANNEXCLOUD_SECRET=e2e-annex-secret-1
export ANNEXCLOUD_WEBHOOK_SECRET=e2e-webhook-secret-1 OMETRIA_API_KEY=e2e-ometria-key-1
export SLUICE_STATE_DIR="$T_TMP/state" SLUICE_INCLUDE_PATH="$top_srcdir/pipelines"
D="$T_TMP/pipelines.d"
mkdir -p "$D"

declare -A LISTEN ANNEX OMETRIA
# client N: its emulators (Annex Cloud posting webhooks to its listener,
# Ometria) and its port.
client() {
    local n=$1
    LISTEN[$n]="127.0.0.1:$(t_free_port)"
    t_start_emu ometria-emu "$T_TMP/ometria-$n.log" --api-key "$OMETRIA_API_KEY" --seed 5
    OMETRIA[$n]="http://127.0.0.1:$T_EMU_PORT"
    t_start_emu annexcloud-emu "$T_TMP/annexcloud-$n.log" --site-id "$ANNEXCLOUD_SITE_ID" \
        --secret "$ANNEXCLOUD_SECRET" --program "$T_TMP/program" --webhook-max-attempts 100 \
        --webhook-url "http://${LISTEN[$n]}/" --webhook-secret "$ANNEXCLOUD_WEBHOOK_SECRET"
    ANNEX[$n]="http://127.0.0.1:$T_EMU_PORT"
}
# pipeline_file N NAME: the shipped pipeline as client N's file, its own
# name, state_dir, listener and emulators (the source's fragment inlined).
pipeline_file() {
    local n=$1 name=$2
    python3 - "$top_srcdir/pipelines/acme-ometria-webhook.cfg" "$name" "${LISTEN[$n]}" \
        "${ANNEX[$n]}" "${OMETRIA[$n]}" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
name, listen, annex, ometria = sys.argv[2:6]
source = ('plugin = "annexcloud-source"; mode = "api,webhook"; listen = "%s"; '
          'webhook_secret = "${ANNEXCLOUD_WEBHOOK_SECRET}"; base_url = "%s"; '
          'site_id = "${ANNEXCLOUD_SITE_ID}"; secret = "${ANNEXCLOUD_SECRET}";' % (listen, annex))
text = text.replace('@include "fragments/annexcloud-webhook.cfg"', source)
text = text.replace('"acme-ometria-webhook"', '"%s"' % name)
text = text.replace('/acme-ometria-webhook"', '/%s"' % name)
text = text.replace('${OMETRIA_BASE_URL}', ometria)
sys.stdout.write(text)
PY
}
# webhooks_done N: every webhook client N's Annex Cloud sent was answered.
webhooks_done() {
    curl -s --max-time 60 "${ANNEX[$1]}/_emu/state" \
        | jq -e '.webhooks.sent > 0 and .webhooks.sent == .webhooks.delivered + .webhooks.failed' > /dev/null
}
# spool_empty NAME: pipeline NAME acknowledged every webhook it spooled.
spool_empty() {
    [ "$(sqlite3 "$SLUICE_STATE_DIR/$1/state.db" 'select count(*) from annexcloud_spool' 2>/dev/null)" = 0 ]
}
# settled N NAME: client N's month delivered end to end.
settled() { webhooks_done "$1" && spool_empty "$2"; }
listening() { curl -s -o /dev/null --max-time 30 "http://${LISTEN[$1]}/"; }
advance() { curl -s -X POST -d '{"days":30,"wait":false}' "${ANNEX[$1]}/_emu/advance" > /dev/null; }
pids_of() { # pids_of NAME: "stage=pid ..." of pipeline NAME
    local f out=""
    for f in "$SLUICE_STATE_DIR/$1/run/"*.pid; do out="$out $(basename "$f" .pid)=$(cat "$f")"; done
    echo "$out"
}
# check_truth N NAME: client N's Ometria and DLQ equal the ground truth
# (e2e_check reads acme-ometria-webhook's state.db: the name is linked).
check_truth() {
    E2E_DEST_URL="${OMETRIA[$1]}"
    if [ "$2" != acme-ometria-webhook ]; then
        rm -rf "$SLUICE_STATE_DIR/acme-ometria-webhook"
        ln -s "$SLUICE_STATE_DIR/$2" "$SLUICE_STATE_DIR/acme-ometria-webhook"
    fi
    e2e_check
}

for n in 1 2 3 4; do client "$n"; done
pipeline_file 1 acme-ometria-webhook > "$D/c1.cfg"
pipeline_file 2 client2 > "$D/c2.cfg"
pipeline_file 3 client3 > "$D/c3.cfg"
E="$T_TMP/fleet.err"
t_bg "$SLUICE" run --log-format json --dir "$D" --pid-file "$T_TMP/sluice.pid" 2> "$E"
fleet=$T_LAST_PID
for n in 1 2 3; do
    t_wait_for 300 listening "$n" || t_fail "client $n's webhook listener did not start"
done
# the API syncs of the program's start state done (each spools nothing yet)
for n in 1 2 3; do
    name=$([ "$n" = 1 ] && echo acme-ometria-webhook || echo "client$n")
    T_POLL_S=0.5 t_wait_for 600 grep -q "\"pipeline\":\"$name\".*sync 1 complete" "$E" \
        || t_fail "client $n's API sync did not complete: $(grep "\"$name\"" "$E" | tail -3)"
done
c1_pids=$(pids_of acme-ometria-webhook)
c2_src=$(t_pid_of_stage "$SLUICE_STATE_DIR/client2/run" annexcloud)
c3_pids=$(pids_of client3)
t_note "client 1 runs as$c1_pids"

# Client 1's month flows while the directory changes: its Annex Cloud
# moves a day at a time (pacing, not waiting), the reload comes after the
# 5th day and the month goes on after it.
( for d in $(seq 1 "$E2E_DAYS"); do
      curl -s -X POST -d '{"days":1,"wait":false}' "${ANNEX[1]}/_emu/advance" > /dev/null
      echo "$d" > "$T_TMP/c1.days"; sleep 0.3
  done ) &
pacer=$!
days_past() { [ "$(cat "$T_TMP/c1.days" 2>/dev/null || echo 0)" -ge "$1" ]; }
t_wait_for 120 days_past 5 || t_fail "client 1's Annex Cloud did not advance"
T_POLL_S=0.2 t_wait_for 120 bash -c "curl -s '${ANNEX[1]}/_emu/state' | jq -e '.webhooks.delivered > 0' > /dev/null" \
    || t_fail "client 1's webhooks did not start flowing"
pipeline_file 4 client4 > "$D/c4.cfg"
pipeline_file 2 client2 | sed 's|^\( *\)@include "mappings/ometria.cfg"|&\n\1vars = { collection = "acme_v2"; };|' > "$D/c2.cfg"
grep -q acme_v2 "$D/c2.cfg" || t_fail "could not change c2.cfg"
rm "$D/c3.cfg"
pipeline_file 4 client5 | sed 's/batch_size = 500;/batch_size = 500; batchsize = 5;/' > "$D/c5.cfg"
kill -HUP "$fleet"
t_wait_for 120 grep -q '"msg":"reload 1 done: 1 file(s) refused"' "$E" || t_fail "no reload line"
t_note "reload done on day $(cat "$T_TMP/c1.days") of client 1's $E2E_DAYS; webhooks then: $(curl -s "${ANNEX[1]}/_emu/state" | jq -c .webhooks)"
kill -0 "$pacer" 2>/dev/null || t_fail "client 1's month was over before the reload: nothing flowed through it"
grep '"level":"error"' "$E" | grep -q "$D/c5.cfg:[0-9]*: unknown pipeline key 'batchsize'" \
    || t_fail "c5.cfg not refused with FILE:LINE: $(grep c5.cfg "$E" | head -2)"

# 3rd: drains and stops.
for kv in $c3_pids; do
    t_wait_for 120 bash -c "! kill -0 ${kv#*=} 2>/dev/null" || t_fail "client 3's $kv still runs"
done
grep -q '"pipeline":"client3".*stopped (its file was removed)' "$E" || t_fail "no stop line for client 3"
# 2nd: restarted with the new collection, then its month.
t_wait_stage_pid "$SLUICE_STATE_DIR/client2/run" annexcloud "$c2_src" > /dev/null \
    || t_fail "client 2 did not restart"
t_wait_for 300 listening 2 || t_fail "client 2's listener did not come back"
advance 2
# 4th: starts, syncs, takes its month.
t_wait_for 300 listening 4 || t_fail "client 4 did not start"
T_POLL_S=0.5 t_wait_for 600 grep -q '"pipeline":"client4".*sync 1 complete' "$E" \
    || t_fail "client 4's API sync did not complete"
advance 4

wait "$pacer"
for n in 1 2 4; do
    name=$([ "$n" = 1 ] && echo acme-ometria-webhook || echo "client$n")
    T_POLL_S=0.5 t_wait_for 900 settled "$n" "$name" \
        || t_fail "client $n's month not delivered: $(curl -s "${ANNEX[$n]}/_emu/state" | jq -c .webhooks)"
done

# 1st: untouched: same processes, started once, never rewound.
[ "$(pids_of acme-ometria-webhook)" = "$c1_pids" ] \
    || t_fail "client 1's processes changed:$(pids_of acme-ometria-webhook)"
[ "$(grep -c '"pipeline":"acme-ometria-webhook","stage":null.*"msg":"starting' "$E")" = 1 ] \
    || t_fail "client 1 was started more than once"
! grep '"pipeline":"acme-ometria-webhook"' "$E" | grep -qi 'rewind' \
    || t_fail "client 1 rewound: $(grep '"pipeline":"acme-ometria-webhook"' "$E" | grep -i rewind | head -2)"
check_truth 1 acme-ometria-webhook
check_truth 4 client4
# 2nd: contacts of its month are in the new collection.
curl -s "${OMETRIA[2]}/_emu/state" | jq -e '.contacts | keys | map(select(startswith("acme_v2/"))) | length > 0' > /dev/null \
    || t_fail "client 2 wrote no contact to the new collection"

kill -TERM "$fleet"
t_wait_for 300 bash -c "! kill -0 $fleet 2>/dev/null" || t_fail "the fleet did not stop"
echo "ok: client 1 untouched and equal to the truth, 2 restarted with its new mapping, 3 stopped, 4 started and equal to the truth, 5 refused"

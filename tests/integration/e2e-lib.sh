# e2e-lib.sh: the loyalty sync end to end, sourced by the e2e-*.sh tests.
# A generated program (a month ending today) runs through the shipped
# pipeline pipelines/acme-<dest>-webhook.cfg as a client runs it: an
# initial API sync, then the month's webhooks; the destination emulator's
# final state must equal the generator's ground truth exactly (records,
# every attribute, events, segments/tags) and the dead-letter queue must
# hold exactly the records the truth says are rejected.
#   E2E_MEMBERS (default 1000; SLUICE_LONG_TESTS=1 makes it 10000)
#   E2E_DAYS    (default 30) days of the program, ending today
#   E2E_TRUTH   (default the generator's truth/stream) the truth directory
#               e2e_check compares with
#   E2E_GEN_ARGS  more loyaltygen options (e.g. --odd-names 0.05)
#   E2E_WEBHOOK_PAYLOAD (default full) annexcloud-emu's --webhook-payload:
#               delta posts partial members (the profile fields that changed)
#   E2E_EMU_START_ONLY=1  annexcloud-emu serves the program's start and
#               never posts its changes (a test that posts them itself);
#               it then starts without loading changes.jsonl

. "$top_srcdir/tests/lib.sh"
E2E_MEMBERS=${E2E_MEMBERS:-1000}
[ -n "${SLUICE_LONG_TESTS:-}" ] && E2E_MEMBERS=10000
E2E_DAYS=${E2E_DAYS:-30}

# e2e_setup DEST [EMU_FAULT_ARGS...]: program, emulators, environment.
e2e_setup() {
    E2E_DEST=$1
    shift
    local start
    # Infobip's 30-day window moves while the test runs: E2E_T0 marks its
    # earliest position (see e2e_expected_state).
    E2E_T0=$(date -u +%s)
    start=$(date -u -d "$E2E_DAYS days ago" +%Y-%m-%d)
    # shellcheck disable=SC2086 # E2E_GEN_ARGS is a list of options
    "$GEN_DIR/loyaltygen" --seed 11 --members "$E2E_MEMBERS" --days "$E2E_DAYS" --start "$start" \
        ${E2E_GEN_ARGS:-} --out "$T_TMP/program" 2> "$T_TMP/gen.log" || t_fail "loyaltygen: $(cat "$T_TMP/gen.log")"
    t_note "$(tail -1 "$T_TMP/gen.log" | cut -c1-200)"
    E2E_TRUTH=${E2E_TRUTH:-$T_TMP/program/truth/stream}
    export ANNEXCLOUD_SITE_ID=29235480 ANNEXCLOUD_SECRET=e2e-annex-secret-1
    export ANNEXCLOUD_WEBHOOK_SECRET=e2e-webhook-secret-1 SLUICE_STATE_DIR="$T_TMP/state"
    export OMETRIA_API_KEY=e2e-ometria-key-1 INFOBIP_API_KEY=e2e-infobip-key-1
    export ANNEXCLOUD_WEBHOOK_LISTEN="127.0.0.1:$(t_free_port)"
    if [ "$E2E_DEST" = ometria ]; then
        t_start_emu ometria-emu "$T_TMP/dest.log" --api-key "$OMETRIA_API_KEY" --seed 5 "$@"
        export OMETRIA_BASE_URL="http://127.0.0.1:$T_EMU_PORT"
    else
        t_start_emu infobip-emu "$T_TMP/dest.log" --api-key "$INFOBIP_API_KEY" --seed 5 \
            --log "$T_TMP/requests.log" "$@"
        export INFOBIP_BASE_URL="http://127.0.0.1:$T_EMU_PORT"
    fi
    E2E_DEST_URL="http://127.0.0.1:$T_EMU_PORT"
    local emu_program="$T_TMP/program"
    if [ -n "${E2E_EMU_START_ONLY:-}" ]; then
        emu_program="$T_TMP/program-start"
        mkdir -p "$emu_program/annex"
        cp "$T_TMP/program/program.json" "$emu_program/"
        cp "$T_TMP/program/annex/members.jsonl" "$emu_program/annex/"
        : > "$emu_program/annex/changes.jsonl"
    fi
    # The sender retries a webhook up to 100 times (about 8 minutes with
    # its backoff capped at 5 s), not its default 20 (a minute and a half):
    # stages killed and restarted on a busy machine must not make it give up.
    t_start_emu annexcloud-emu "$T_TMP/annexcloud.log" --site-id "$ANNEXCLOUD_SITE_ID" \
        --secret "$ANNEXCLOUD_SECRET" --program "$emu_program" --webhook-max-attempts 100 \
        --webhook-payload "${E2E_WEBHOOK_PAYLOAD:-full}" \
        --webhook-url "http://$ANNEXCLOUD_WEBHOOK_LISTEN/" --webhook-secret "$ANNEXCLOUD_WEBHOOK_SECRET"
    export ANNEXCLOUD_BASE_URL="http://127.0.0.1:$T_EMU_PORT"
    E2E_PIPELINE="$top_srcdir/pipelines/acme-$E2E_DEST-webhook.cfg"
    E2E_RUN_DIR="$SLUICE_STATE_DIR/acme-$E2E_DEST-webhook/run"
}

# e2e_initial_sync: the API sync of the program's start state.
e2e_initial_sync() {
    ANNEXCLOUD_MODE=api timeout 900 "$SLUICE" run --once "$E2E_PIPELINE" \
        > "$T_TMP/sync.out" 2> "$T_TMP/sync.err"
    local rc=$?
    # 2 = some records ended in the dead-letter queue, which the truth expects.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "initial sync exited $rc: $(tail -5 "$T_TMP/sync.err")"
    t_note "initial sync: $(cat "$T_TMP/sync.out")"
}

# e2e_month [KILLS]: run the webhook pipeline as a daemon, let the month's
# webhooks arrive (killing KILLS random stages with SIGKILL meanwhile),
# then stop it gracefully.
e2e_month() {
    local kills=${1:-0} pid i stage victim
    ANNEXCLOUD_MODE=webhook t_bg "$SLUICE" run --log-format json "$E2E_PIPELINE"
    pid=$T_LAST_PID
    t_wait_for 120 curl -s -o /dev/null --max-time 30 "http://$ANNEXCLOUD_WEBHOOK_LISTEN/" || t_fail "webhook listener did not start"
    curl -s -X POST -d '{"days":30,"wait":false}' "$ANNEXCLOUD_BASE_URL/_emu/advance" > /dev/null
    for ((i = 0; i < kills; i++)); do
        sleep "0.$(( RANDOM % 8 + 2 ))" # pacing, not waiting: kill at random moments
        # any stage process, instances of a stage (map#1, map#2) included
        stage=$(cd "$E2E_RUN_DIR" && ls -- *.pid 2> /dev/null | sed 's/\.pid$//' | shuf -n 1 || true)
        victim=$(t_pid_of_stage "$E2E_RUN_DIR" "$stage" || true)
        [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null && t_note "killed $stage (pid $victim)"
    done
    # All webhooks delivered (the sender retries through restarts)...
    T_POLL_S=0.5 t_wait_for 900 bash -c "curl -s --max-time 60 '$ANNEXCLOUD_BASE_URL/_emu/state' | jq -e '.webhooks.sent > 0 and .webhooks.sent == .webhooks.delivered + .webhooks.failed' > /dev/null" \
        || t_fail "webhooks not delivered: $(curl -s "$ANNEXCLOUD_BASE_URL/_emu/state" | jq -c .webhooks)"
    [ "$(curl -s "$ANNEXCLOUD_BASE_URL/_emu/state" | jq .webhooks.failed)" = 0 ] || t_fail "some webhooks were refused for good"
    # ... and every accepted webhook acknowledged end to end (the spool
    # keeps an event until then; a graceful stop drains only what is in
    # flight and leaves the rest durable for the next run) ...
    local db="$SLUICE_STATE_DIR/acme-$E2E_DEST-webhook/state.db"
    T_POLL_S=0.5 t_wait_for 900 bash -c "[ \"\$(sqlite3 '$db' 'select count(*) from annexcloud_spool' 2>/dev/null)\" = 0 ]" \
        || t_fail "spooled webhooks not acknowledged: $(sqlite3 "$db" 'select count(*) from annexcloud_spool')"
    # ... then a graceful stop.
    kill -TERM "$pid"
    t_wait_for 300 bash -c "! kill -0 $pid" || t_fail "pipeline did not stop after SIGTERM"
    wait "$pid" 2>/dev/null || true
}

# e2e_expected_state EXPECTED ACTUAL: the truth for this destination, as
# the destination must hold it. Infobip refuses events older than 30 days,
# which the sink skips by design; the 30-day line moves while the test
# runs, so an event that crossed it between E2E_T0 and now may have been
# sent (it was recent then) or skipped: such events are taken out of both
# the truth and the destination's state (ACTUAL is rewritten), and the DLQ
# check ignores "older than" rejections of them. Older events must be
# absent, newer ones present.
e2e_expected_state() {
    if [ "$E2E_DEST" = ometria ]; then
        cp "$E2E_TRUTH/ometria.json" "$1"
    else
        python3 - "$E2E_TRUTH/infobip.json" "$1" "$2" "$E2E_T0" <<'PY'
import datetime, json, sys
utc = datetime.timezone.utc
truth = json.load(open(sys.argv[1], encoding="utf-8"))
actual = json.load(open(sys.argv[3], encoding="utf-8"))
early = datetime.datetime.fromtimestamp(int(sys.argv[4]), utc) - datetime.timedelta(days=30)
late = datetime.datetime.now(utc) - datetime.timedelta(days=30)
def when(item):
    t = datetime.datetime.strptime(item["event"]["occurredTime"][:19], "%Y-%m-%dT%H:%M:%S")
    return t.replace(tzinfo=utc)
def ambiguous(item):
    return early - datetime.timedelta(minutes=1) <= when(item) < late
truth["events"] = {k: v for k, v in truth["events"].items() if when(v) >= late}
actual["events"] = {k: v for k, v in actual.get("events", {}).items() if not ambiguous(v)}
json.dump(truth, open(sys.argv[2], "w", encoding="utf-8"))
json.dump(actual, open(sys.argv[3], "w", encoding="utf-8"))
PY
    fi
}

# e2e_check: destination state and DLQ equal the truth.
e2e_check() {
    curl -s "$E2E_DEST_URL/_emu/state" > "$T_TMP/actual.json"
    e2e_expected_state "$T_TMP/expected.json" "$T_TMP/actual.json"
    python3 "$top_srcdir/tests/gen/compare" "$T_TMP/expected.json" "$T_TMP/actual.json" > "$T_TMP/compare.out" \
        || t_fail "destination state differs from the ground truth:
$(head -30 "$T_TMP/compare.out")"
    t_note "$(tail -1 "$T_TMP/compare.out")"
    # Dead-letter queue: one entry per expected rejection, same member and field.
    sqlite3 -json "$SLUICE_STATE_DIR/acme-$E2E_DEST-webhook/state.db" \
        "select stage, reason, record from dlq order by id" > "$T_TMP/dlq.json" 2>/dev/null || echo '[]' > "$T_TMP/dlq.json"
    [ -s "$T_TMP/dlq.json" ] || echo '[]' > "$T_TMP/dlq.json"
    python3 - "$E2E_TRUTH/dlq.jsonl" "$T_TMP/dlq.json" "$E2E_DEST" <<'PY' || t_fail "dead-letter queue differs from the truth"
import json, sys
stage_of = {"tier-event-deriver": "derive", "field-mapper": "map", "ometria-sink": "ometria", "infobip-sink": "infobip"}
want = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
want = [w for w in want if w["destination"] in (sys.argv[3], "any")]
got = json.load(open(sys.argv[2], encoding="utf-8"))
def plain(text):
    # canonical first_name and Ometria's firstname name the same field
    return text.lower().replace("_", "")
def member(entry):
    record = json.loads(entry["record"])
    return record.get("loyalty_id") or record.get("id") or record.get("externalId")
unmatched = list(got)
missing = []
for w in want:
    hit = next((g for g in unmatched if g["stage"] == stage_of.get(w["stage"], w["stage"])
                and member(g) == w["loyalty_id"] and plain(w["field"].split(".")[-1]) in plain(g["reason"])), None)
    if hit is None:
        missing.append(w)
    else:
        unmatched.remove(hit)
for w in missing[:10]:
    print(f"missing from the DLQ: {w}")
for g in unmatched[:10]:
    print(f"unexpected in the DLQ: stage {g['stage']}: {g['reason'][:160]}")
print(f"# dlq: {len(got)} entries, {len(want)} expected, {len(missing)} missing, {len(unmatched)} unexpected")
sys.exit(1 if missing or unmatched else 0)
PY
}

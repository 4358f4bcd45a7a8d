#!/usr/bin/env bash
# e2e-webhook-soak.sh: can a webhook answered 2xx go missing (issue 13)?
# A generated program runs through the shipped pipeline
# pipelines/acme-<dest>-webhook.cfg as a client runs it (an API sync of the
# start, then the webhook daemon), but the webhooks come from webhook-load:
# 16 senders at once, each answer logged, while kill -9 hits every stage
# process at random and once the supervisor, which is then started again
# (soak-lib.sh). Then the destination emulator must hold exactly the truth
# computed from the program's start and the webhooks answered 2xx, every
# attribute, event and segment, and the dead-letter queue exactly the
# truth's rejections.
#   default: 1,500 members x 30 days (~3,100 webhooks) at 150 webhooks/s,
#            8 kills while they arrive and 2 while the backlog drains
#   SLUICE_LONG_TESTS=1: 200,000 webhooks (10,000 members x 300 days) at
#            full speed, 40 kills while they arrive and 10 while draining
#   SOAK_DEST (default ometria): ometria, infobip or "ometria infobip"
set -euo pipefail
E2E_MEMBERS=${E2E_MEMBERS:-1500}
E2E_EMU_START_ONLY=1 # webhook-load posts the changes, annexcloud-emu serves the sync
. "$top_srcdir/tests/integration/e2e-lib.sh"
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then
    E2E_DAYS=${SOAK_DAYS:-300}
    SOAK_LIMIT=${SOAK_LIMIT:-200000}
    SOAK_KILLS=${SOAK_KILLS:-40}
    SOAK_DRAIN_KILLS=${SOAK_DRAIN_KILLS:-10}
    SOAK_DEADLINE=${SOAK_DEADLINE:-7200}
else
    SOAK_LIMIT=${SOAK_LIMIT:-100000000}
    SOAK_RATE=${SOAK_RATE:-150}
fi
. "$top_srcdir/tests/integration/soak-lib.sh"

dests=${SOAK_DEST:-ometria}
for d in $dests; do
    e2e_setup "$d"
    e2e_initial_sync
    SOAK_PIPELINE=$E2E_PIPELINE
    SOAK_URL="http://$ANNEXCLOUD_WEBHOOK_LISTEN/"
    SOAK_RUN_DIR=$E2E_RUN_DIR
    started=$SECONDS
    soak_start_pipeline
    soak_load --limit "$SOAK_LIMIT"
    soak_kills_during_load
    soak_drain "$SLUICE_STATE_DIR/acme-$d-webhook/state.db"
    soak_check_kills
    soak_stop
    t_note "$d: webhooks in and acknowledged end to end in $((SECONDS - started)) s"

    # The truth of the program's start (the API sync) followed by exactly
    # the webhooks answered 2xx, in change order.
    t_note "$(soak_answered_changes "$T_TMP/answered.jsonl")"
    cat "$T_TMP/program/annex/members.jsonl" "$T_TMP/answered.jsonl" > "$T_TMP/truth-input.jsonl"
    "$GEN_DIR/truth" --program "$T_TMP/program/program.json" --out "$T_TMP/truth" "$T_TMP/truth-input.jsonl" \
        > /dev/null 2> "$T_TMP/truth.err" || t_fail "truth failed: $(tail -3 "$T_TMP/truth.err")"
    E2E_TRUTH="$T_TMP/truth"
    e2e_check
    echo "ok: $d: $SOAK_WEBHOOKS webhooks from $SOAK_CONNECTIONS senders, all answered 2xx, ${#SOAK_KILL_LOG[@]} kill -9 of stages (${SOAK_KILLED[*]}) and $SOAK_SUPERVISOR_KILLS of the supervisor: the destination equals the truth"

    # Next destination in a fresh directory.
    for pid in "${T_PIDS[@]}"; do kill -TERM -- "-$pid" 2> /dev/null || true; done
    T_PIDS=() SOAK_KILLED=() SOAK_KILL_LOG=() SOAK_SUPERVISOR_KILLS=0
    rm -rf "$T_TMP/program" "$T_TMP/program-start" "$T_TMP/state" "$T_TMP/truth" "$T_TMP"/load.* "$T_TMP"/run.*
done

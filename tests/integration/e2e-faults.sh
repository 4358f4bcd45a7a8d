#!/usr/bin/env bash
# e2e-faults.sh: the same month with the destinations misbehaving (10% 5xx,
# 429 bursts with and without Retry-After, connection resets) and stages
# of the pipeline killed with SIGKILL at random while webhooks arrive; the
# destination still ends equal to the ground truth, for both platforms.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
faults=(--fail-rate 0.10 --rate429 0.05 --rate429-noretry 0.05 --retry-after 1 --reset-rate 0.02)
dest=${E2E_FAULT_DEST:-ometria infobip}
for d in $dest; do
    e2e_setup "$d" "${faults[@]}"
    e2e_initial_sync
    e2e_month 6
    e2e_check
    t_note "$d: $(curl -s "$E2E_DEST_URL/_emu/stats" | jq -c '.faults')"
    # Next destination in a fresh directory.
    for pid in "${T_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    T_PIDS=()
    rm -rf "$T_TMP/program" "$T_TMP/state"
done
echo "ok: with 5xx, 429s, resets and kill -9 the destinations equal the ground truth ($dest)"

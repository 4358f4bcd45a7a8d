#!/usr/bin/env bash
# e2e-ometria-delta-keep.sh: issue 17's @merge: the month's webhooks are
# deltas (a partial member: the profile fields that changed, loyalty data in
# full) and ometria-emu runs --merge-without-flag keep (a contact without
# "@merge": true keeps what it lacks, as the Push API page says).
# ometria-sink sends "@merge": true, so no delta blanks a field: Ometria
# ends equal to the ground truth.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=${E2E_MEMBERS_DELTA:-300}
[ -n "${SLUICE_LONG_TESTS:-}" ] && E2E_MEMBERS=10000
E2E_WEBHOOK_PAYLOAD=delta
e2e_setup ometria --merge-without-flag keep
e2e_initial_sync
e2e_month 0
e2e_check
echo "ok: Ometria equals the ground truth after delta webhooks (--merge-without-flag keep, $E2E_MEMBERS members)"

#!/usr/bin/env bash
# e2e-infobip.sh: a generated month through annexcloud-source (API sync,
# then webhooks) -> tier-event-deriver -> field-mapper -> infobip-sink as
# separate processes; infobip-emu ends equal to the ground truth.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
e2e_setup infobip
e2e_initial_sync
e2e_month 0
e2e_check
echo "ok: Infobip equals the ground truth ($E2E_MEMBERS members, a month of webhooks)"

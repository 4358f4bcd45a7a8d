#!/usr/bin/env bash
# e2e-ometria.sh: a generated month through annexcloud-source (API sync,
# then webhooks) -> tier-event-deriver -> field-mapper -> ometria-sink as
# separate processes; ometria-emu ends equal to the ground truth.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
e2e_setup ometria
e2e_initial_sync
e2e_month 0
e2e_check
echo "ok: Ometria equals the ground truth ($E2E_MEMBERS members, a month of webhooks)"

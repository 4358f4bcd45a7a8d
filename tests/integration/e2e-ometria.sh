#!/usr/bin/env bash
# e2e-ometria.sh: a generated month through annexcloud-source (API sync,
# then webhooks) -> tier-event-deriver -> field-mapper -> ometria-sink as
# separate processes; ometria-emu ends equal to the ground truth.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
# Some members' names hold every character Infobip forbids in names (issue
# 17): the mapping must send them so that nothing is refused for it.
E2E_GEN_ARGS="--odd-names 0.05"
e2e_setup ometria
e2e_initial_sync
e2e_month 0
e2e_check
echo "ok: Ometria equals the ground truth ($E2E_MEMBERS members, a month of webhooks)"

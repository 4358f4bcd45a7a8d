#!/usr/bin/env bash
# e2e-infobip.sh: a generated month through annexcloud-source (API sync,
# then webhooks) -> tier-event-deriver -> field-mapper -> infobip-sink as
# separate processes; infobip-emu ends equal to the ground truth.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
e2e_setup infobip
e2e_initial_sync
# Every person of the first sync is new to Infobip (status CREATED) and
# carries exactly the tags sent: no tag removal is needed, none is sent.
removals=$(grep -c '^DELETE /people/2/tags/' "$T_TMP/requests.log" || true)
[ "$removals" = 0 ] || t_fail "the first sync sent $removals tag removal(s) for persons it had just created"
e2e_month 0
# Opt-outs during the month take the Loyalty tag away from known persons.
grep -q '^DELETE /people/2/tags/Loyalty/persons' "$T_TMP/requests.log" \
    || t_fail "no Loyalty tag removal during a month with opt-outs"
e2e_check
echo "ok: Infobip equals the ground truth ($E2E_MEMBERS members, a month of webhooks)"

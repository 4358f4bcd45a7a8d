#!/usr/bin/env bash
# e2e-infobip.sh: a generated month through annexcloud-source (API sync,
# then webhooks) -> tier-event-deriver -> field-mapper -> infobip-sink as
# separate processes; infobip-emu ends equal to the ground truth.
# E2E_UPSERT_TAGS (default replace) is infobip-emu's --upsert-tags: the sink
# sends no tags in its upserts, so the truth holds whatever the upsert does
# with them; e2e-infobip-tags.sh runs the other two modes.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
# Some members' names hold every character Infobip forbids in names (issue
# 17): the mapping must send them so that nothing is refused for it.
E2E_GEN_ARGS="--odd-names 0.05"
E2E_UPSERT_TAGS=${E2E_UPSERT_TAGS:-replace}
e2e_setup infobip --upsert-tags "$E2E_UPSERT_TAGS"
e2e_initial_sync
# A person the first sync creates (status CREATED) carries no tag yet
# (tags go through the tag endpoints, as additions) and needs no removal;
# only persons Infobip already had (a
# match on email or phone: UPDATED / NOT_MODIFIED) may need one request
# per managed tag (5 here).
known=$(curl -s "$E2E_DEST_URL/_emu/stats" | jq '.counters.persons_updated + .counters.persons_not_modified')
removals=$(grep -c '^DELETE /people/2/tags/' "$T_TMP/requests.log" || true)
[ "$removals" -le $((known * 5)) ] \
    || t_fail "the first sync sent $removals tag removal(s) though only $known person(s) were not created by it"
t_note "first sync: $removals tag removal request(s), $known person(s) already known to Infobip"
e2e_month 0
# Opt-outs during the month take the Loyalty tag away from known persons.
grep -q '^DELETE /people/2/tags/Loyalty/persons' "$T_TMP/requests.log" \
    || t_fail "no Loyalty tag removal during a month with opt-outs"
e2e_check
[ "$(curl -s "$E2E_DEST_URL/_emu/stats" | jq '.counters.upsert_persons_with_tags // 0')" -eq 0 ] \
    || t_fail "upserts carried tags"
echo "ok: Infobip equals the ground truth ($E2E_MEMBERS members, a month of webhooks, --upsert-tags $E2E_UPSERT_TAGS)"

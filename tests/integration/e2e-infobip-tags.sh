#!/usr/bin/env bash
# e2e-infobip-tags.sh: e2e-infobip.sh against infobip-emu's other
# --upsert-tags modes (append, then ignore; e2e-infobip.sh runs replace):
# the sink sets tags only through the tag endpoints, so Infobip ends equal
# to the ground truth whatever its upsert does with a "tags" member.
set -euo pipefail
for mode in append ignore; do
    E2E_UPSERT_TAGS=$mode bash "$top_srcdir/tests/integration/e2e-infobip.sh"
done

#!/usr/bin/env bash
# e2e-badkey.sh: a wrong destination API key stops the run at once (the
# refused key is not retried: the platform sees no more refused requests
# than the sink had in flight) with a message naming the sink and the
# platform's answer, a non-zero exit, and the key in no output.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=50
for d in ometria infobip; do
    e2e_setup "$d"
    export OMETRIA_API_KEY=wrong-key-ometria-7391 INFOBIP_API_KEY=wrong-key-infobip-7391
    start=$(date +%s)
    set +e
    ANNEXCLOUD_MODE=api timeout 600 "$SLUICE" run --once "$E2E_PIPELINE" > "$T_TMP/$d.out" 2> "$T_TMP/$d.err"
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || t_fail "$d: exit $rc with a wrong key"
    refused=$(curl -s --max-time 60 "$E2E_DEST_URL/_emu/stats" | jq '.by_status["401"] // 0')
    [ "$refused" -ge 1 ] && [ "$refused" -le 4 ] || t_fail "$d: $refused requests refused with 401: the key was retried"
    grep -q "$d-sink\|$d: .*API key rejected" "$T_TMP/$d.err" || grep -q "API key rejected by ${d^}" "$T_TMP/$d.err" \
        || t_fail "$d: no clear message: $(tail -3 "$T_TMP/$d.err")"
    grep -q "API key rejected by ${d^} (HTTP 401)" "$T_TMP/$d.err" || t_fail "$d: message lacks the HTTP status: $(grep -i 'rejected' "$T_TMP/$d.err" | head -2)"
    ! grep -q "wrong-key-" "$T_TMP/$d.out" "$T_TMP/$d.err" || t_fail "$d: the API key appears in the output"
    t_note "$d: stopped in ${took}s after $refused refused request(s): $(grep -o "API key rejected[^\"]*" "$T_TMP/$d.err" | head -1)"
    for pid in "${T_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    T_PIDS=()
    rm -rf "$T_TMP/program" "$T_TMP/state"
done
echo "ok: wrong keys stop both sinks with a clear message and no key in the output"

#!/usr/bin/env bash
# test_annexcloud_webhook_slowloris.sh: annexcloud-source's webhook
# listener under a slowloris attack (review section 2: ~1,000 connections
# that send a header line a second shut out every genuine webhook).
# Attacker connections come from 127.0.0.2.. (each address under the
# per-address limit, so the listener has to hold them all) and never
# finish their headers; meanwhile genuine signed webhooks arrive at 10 a
# second from 127.0.0.1. Checks: every genuine webhook is answered 200
# within 1 s (or 4 x the slowest of a quiet warm-up on a slow machine) and
# arrives at the sink; the source stage's peak RSS stays under 100 MB; the
# listener closes attackers at request_timeout_ms; 100 connections that
# send ~1 MB bodies with a forged signature header do not take the RSS past
# that either (a shared body budget); libmicrohttpd's
# messages reach the JSON log rate-limited, not one per connection.
#   default: 1,100 connections (past the old select() ceiling of 1,024
#   descriptors) for 10 s; SLUICE_LONG_TESTS=1: 1,500 for 30 s.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

TOOL="python3 $top_srcdir/tests/integration/webhook_tool.py"
SECRET="wh-secret-$$"
attackers=1100 seconds=10 sources=20
[ -n "${SLUICE_LONG_TESTS:-}" ] && attackers=1500 seconds=30 sources=30
# The attacker holds one descriptor per connection; so does the listener
# (it raises its own soft limit as far as the hard one allows).
need=$((attackers + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    attackers=$(( $(ulimit -n) - 512 ))
    [ "$attackers" -ge 100 ] || { echo "open-file limit $(ulimit -n) too low for this test"; exit 77; }
    t_note "open-file limit $(ulimit -n): $attackers attacker connections"
fi
port=$(t_free_port)
hook="http://127.0.0.1:$port/hook"

cat > "$T_TMP/wh.cfg" <<CFG
pipeline = {
  name = "slowloris";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "webhook";
      listen = "127.0.0.1:$port"; webhook_secret = "$SECRET"; enrich = false;
      request_timeout_ms = 5000; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
runtime="$T_TMP/state/run"
t_bg "$SLUICE" run "$T_TMP/wh.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
listening() { [ "$($TOOL post "$hook" '{}' --timeout 5 | cut -d' ' -f1)" != 000 ]; }
t_wait_for 60 listening || t_fail "the webhook listener did not start: $(tail -3 "$T_TMP/run.stderr")"
src_pid=$(t_pid_of_stage "$runtime" src) || t_fail "no pid file for the source"

# A quiet warm-up: how long a genuine webhook takes on this machine now.
$TOOL genuine "$hook" --rate 10 --seconds 2 --secret "$SECRET" --prefix warm > "$T_TMP/warm.json"
jq -e '[.results[].status] | all(. == 200)' "$T_TMP/warm.json" > /dev/null ||
    t_fail "warm-up webhooks were refused: $(jq -c '[.results[] | select(.status != 200)][:3]' "$T_TMP/warm.json")"
bound=$(jq '[.results[].seconds] | max * 4 | if . > 1 then . else 1 end' "$T_TMP/warm.json")
t_note "warm-up: slowest $(jq '[.results[].seconds] | max' "$T_TMP/warm.json") s; bound under attack $bound s"

$TOOL slowloris 127.0.0.1 "$port" --connections "$attackers" --seconds "$((seconds + 300))" --sources "$sources" \
    --stop-file "$T_TMP/stop-attack" > "$T_TMP/attack.json" 2> "$T_TMP/attack.err" &
attack=$!
T_PIDS+=("$attack")
# Let the attacker open its connections before the genuine traffic starts.
holding() {
    [ "$(ls /proc/"$src_pid"/fd 2>/dev/null | wc -l)" -ge "$((attackers * 9 / 10))" ]
}
t_wait_for 60 holding || t_fail "the attacker did not get its connections open ($(ls /proc/"$src_pid"/fd | wc -l) fds in the source)"
t_note "source holds $(ls /proc/"$src_pid"/fd | wc -l) descriptors"
$TOOL genuine "$hook" --rate 10 --seconds "$seconds" --secret "$SECRET" --prefix real > "$T_TMP/genuine.json"
kill -0 "$attack" 2>/dev/null || t_fail "the attacker stopped before the genuine webhooks were sent: $(tail -3 "$T_TMP/attack.err")"
: > "$T_TMP/stop-attack"
wait "$attack" || t_fail "the attacker failed: $(tail -3 "$T_TMP/attack.err")"
t_note "attacker: $(cat "$T_TMP/attack.json")"
t_note "genuine: $(jq -c '{sent, slowest: ([.results[].seconds] | max), statuses: ([.results[].status] | group_by(.) | map({(.[0] | tostring): length}) | add)}' "$T_TMP/genuine.json")"

refused=$(jq '[.results[] | select(.status != 200)] | length' "$T_TMP/genuine.json")
[ "$refused" = 0 ] || t_fail "$refused genuine webhooks were not answered 200 under attack: $(jq -c '[.results[] | select(.status != 200)][:5]' "$T_TMP/genuine.json")"
slow=$(jq --argjson b "$bound" '[.results[] | select(.seconds > $b)] | length' "$T_TMP/genuine.json")
[ "$slow" = 0 ] || t_fail "$slow genuine webhooks took longer than $bound s: $(jq -c --argjson b "$bound" '[.results[] | select(.seconds > $b)][:5]' "$T_TMP/genuine.json")"
peak_open=$(jq .peak_open "$T_TMP/attack.json")
[ "$peak_open" -ge "$((attackers * 9 / 10))" ] || t_fail "the attacker held only $peak_open connections"

# Everything answered 200 arrives at the sink.
sent=$(jq .sent "$T_TMP/genuine.json")
all_arrived() {
    [ -f "$T_TMP/out.jsonl" ] && [ "$(grep -c '"loyalty_id":"REAL-' "$T_TMP/out.jsonl")" -ge "$sent" ]
}
t_wait_for 120 all_arrived || t_fail "$(grep -c '"loyalty_id":"REAL-' "$T_TMP/out.jsonl") of $sent genuine webhooks arrived"
missing=$(comm -23 <(seq 0 $((sent - 1)) | sed 's/^/REAL-/' | sort) \
    <(jq -r 'select(.loyalty_id) | .loyalty_id' "$T_TMP/out.jsonl" | sort -u) | wc -l)
[ "$missing" = 0 ] || t_fail "$missing genuine webhooks answered 200 are missing at the sink"

# Memory before authentication: connections with a well-formed (but
# wrong) signature header each send most of a ~1 MB body and wait. Bodies
# are held within body_budget (32 MiB): the rest are answered 503 on their
# headers, and the deadline frees what is held.
$TOOL hog 127.0.0.1 "$port" --connections 100 --length 1040000 --send 1000000 --seconds 30 \
    > "$T_TMP/hog.json" 2> "$T_TMP/hog.err" || t_fail "the body hog failed: $(tail -3 "$T_TMP/hog.err")"
t_note "body hogs: $(cat "$T_TMP/hog.json")"
code=$($TOOL genuine "$hook" --rate 10 --seconds 0.5 --secret "$SECRET" --prefix after | jq -c '[.results[].status] | unique')
[ "$code" = '[200]' ] || t_fail "genuine webhooks after the body hogs got $code"

peak_kb=$(awk '/^VmHWM/ { print $2 }' /proc/"$src_pid"/status)
t_note "source peak RSS $((peak_kb / 1024)) MB"
[ "$peak_kb" -lt 102400 ] || t_fail "the source's peak RSS was $((peak_kb / 1024)) MB, want under 100 MB"
[ "$(t_pid_of_stage "$runtime" src)" = "$src_pid" ] || t_fail "the source stage was restarted during the attack"
grep -q 'did not send a whole request within request_timeout_ms' "$T_TMP/run.stderr" ||
    t_fail "no attacker connection was closed at request_timeout_ms"
# Rate-limited: at most 5 lines of a kind per 10 s (plus a window's edge).
mhd_lines=$(grep -c 'libmicrohttpd' "$T_TMP/run.stderr" || true)
[ "$mhd_lines" -le $(( (seconds / 10 + 3) * 5 * 2 )) ] ||
    t_fail "$mhd_lines libmicrohttpd lines in the log: not rate-limited"
nonjson=$(grep -cv '^{' "$T_TMP/run.stderr" || true)
[ "$nonjson" = 0 ] || t_fail "$nonjson log lines are not JSON: $(grep -v '^{' "$T_TMP/run.stderr" | head -2)"

echo "ok: slowloris: $peak_open slow connections held for ${seconds}s, $sent genuine webhooks all 200 within $bound s" \
    "and delivered, source peak RSS $((peak_kb / 1024)) MB, $mhd_lines libmicrohttpd log lines"

#!/usr/bin/env bash
# test_annexcloud_api.sh: annexcloud-source in api mode against
# annexcloud-emu loaded with a loyaltygen program, `sluice run --once` into
# file-sink. Checks: every member emitted equals the generator's start state
# (DIR/annex/members.jsonl) field by field (segment order ignored), with
# as_of = the server's clock; a second run emits nothing (change detection); after the
# emulator advances 5 days a run emits exactly the members that changed, as
# the emulator now holds them; a wrong secret stops the run at once (no
# retry of the refused request) with the AC1002 message and a non-zero
# exit, never showing the secret; a
# server answering 404 AC1001 ("Oops! Something went wrong") is retried,
# never taken as "no members"; a 404 without an Annex error code (wrong
# base_url) stops the run naming the HTTP status.
#   default: 2,000 members; SLUICE_LONG_TESTS=1: 10,000.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

SECRET="ac-secret-$$-k7Q"
WRONG_SECRET="wrong-secret-$$-Zx9"
members=2000
[ -n "${SLUICE_LONG_TESTS:-}" ] && members=10000
norm='del(.as_of) | if (.segments | type) == "array" then .segments |= sort else . end'

"$GEN_DIR/loyaltygen" --seed 11 --members "$members" --days 30 --truth none --out "$T_TMP/prog" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
site_id=$(jq -r .site_id "$T_TMP/prog/program.json")
t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret "$SECRET" --site-id "$site_id" --program "$T_TMP/prog"
base="http://127.0.0.1:$T_EMU_PORT"

# write_cfg FILE NAME SECRET
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "api"; base_url = "$base";
      site_id = "$site_id"; secret = "$3"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$2.jsonl"; }
  );
};
CFG
}

# run_once CFG NAME: sluice run --once, bounded; sets RC.
run_once() {
    RC=0
    timeout 900 "$SLUICE" run --once "$1" > "$T_TMP/$2.stdout" 2> "$T_TMP/$2.stderr" || RC=$?
}

write_cfg "$T_TMP/api.cfg" api "$SECRET"

# 1. A full sync emits the program's start state.
start=$(date +%s)
run_once "$T_TMP/api.cfg" run1
[ "$RC" = 0 ] || t_fail "first run exited $RC: $(tail -3 "$T_TMP/run1.stderr")"
t_note "full sync of $members members: $(( $(date +%s) - start )) s; $(cat "$T_TMP/run1.stdout")"
jq -cS "$norm" "$T_TMP/prog/annex/members.jsonl" | sort > "$T_TMP/want.txt"
jq -cS "$norm" "$T_TMP/out-api.jsonl" | sort > "$T_TMP/have.txt"
[ "$(wc -l < "$T_TMP/have.txt")" = "$members" ] ||
    t_fail "expected $members records, got $(wc -l < "$T_TMP/have.txt")"
diff "$T_TMP/want.txt" "$T_TMP/have.txt" > "$T_TMP/diff1.txt" ||
    t_fail "emitted members differ from the program: $(head -4 "$T_TMP/diff1.txt" | cut -c1-400)"
# as_of is Annex Cloud's time (the Date header), i.e. the emulator's clock.
program_start=$(jq -r .start "$T_TMP/prog/program.json")
[ "$(jq -s --arg t "$program_start" '[.[] | select(.as_of != $t)] | length' "$T_TMP/out-api.jsonl")" = 0 ] ||
    t_fail "as_of is not the server's time $program_start: $(jq -r .as_of "$T_TMP/out-api.jsonl" | sort | uniq -c | head -3)"

# 2. Nothing changed: nothing emitted.
run_once "$T_TMP/api.cfg" run2
[ "$RC" = 0 ] || t_fail "second run exited $RC: $(tail -3 "$T_TMP/run2.stderr")"
[ "$(wc -l < "$T_TMP/out-api.jsonl")" = "$members" ] ||
    t_fail "second run emitted $(( $(wc -l < "$T_TMP/out-api.jsonl") - members )) unchanged members"

# 3. Five days of changes: exactly the changed members, as the emulator
# holds them now (its state, not final.jsonl: see the generator's known
# points_req_for_next_tier issue).
curl -sf -X POST -d '{"days":5}' "$base/_emu/advance" > "$T_TMP/advance.json" || t_fail "advance failed"
run_once "$T_TMP/api.cfg" run3
[ "$RC" = 0 ] || t_fail "third run exited $RC: $(tail -3 "$T_TMP/run3.stderr")"
curl -sf "$base/_emu/state" > "$T_TMP/state.json" || t_fail "cannot read emulator state"
jq -cS ".members[] | $norm" "$T_TMP/state.json" | sort > "$T_TMP/now.txt"
comm -13 "$T_TMP/want.txt" "$T_TMP/now.txt" > "$T_TMP/changed.txt"
tail -n +"$((members + 1))" "$T_TMP/out-api.jsonl" | jq -cS "$norm" | sort > "$T_TMP/have3.txt"
clock=$(jq -r .clock "$T_TMP/advance.json")
[ "$(tail -n +"$((members + 1))" "$T_TMP/out-api.jsonl" | jq -s --arg t "$clock" '[.[] | select(.as_of != $t)] | length')" = 0 ] ||
    t_fail "after the advance, as_of is not the server's time $clock"
[ -s "$T_TMP/changed.txt" ] || t_fail "the advance changed no member: $(cat "$T_TMP/advance.json")"
diff "$T_TMP/changed.txt" "$T_TMP/have3.txt" > "$T_TMP/diff3.txt" ||
    t_fail "after the advance, emitted != changed members: $(head -4 "$T_TMP/diff3.txt" | cut -c1-400)"
t_note "advance of 5 days: $(wc -l < "$T_TMP/changed.txt") changed members emitted, no others"

# 4. Wrong secret: stops at once (the refused request is not retried),
# says why, never shows the secret.
refused_401() { curl -s --max-time 60 "$base/_emu/stats" | jq '.by_status["401"] // 0'; }
write_cfg "$T_TMP/bad.cfg" bad "$WRONG_SECRET"
start=$(date +%s)
refused_before=$(refused_401)
run_once "$T_TMP/bad.cfg" bad
took=$(( $(date +%s) - start ))
refused=$(( $(refused_401) - refused_before ))
[ "$RC" != 0 ] || t_fail "a wrong secret exited 0"
[ "$RC" != 124 ] || t_fail "a wrong secret did not stop (timeout)"
[ "$refused" = 1 ] || t_fail "a wrong secret was sent $refused times (refused with 401): it must stop at the first refusal"
grep -q 'credentials rejected by Annex Cloud (HTTP 401, AC1002)' "$T_TMP/bad.stderr" ||
    t_fail "no credentials message: $(tail -3 "$T_TMP/bad.stderr")"
if grep -rq -- "$WRONG_SECRET" "$T_TMP/bad.stdout" "$T_TMP/bad.stderr" "$T_TMP/state-bad" \
    $( [ -f "$T_TMP/out-bad.jsonl" ] && echo "$T_TMP/out-bad.jsonl" ); then
    t_fail "the secret appears in the output"
fi
[ ! -s "$T_TMP/out-bad.jsonl" ] || t_fail "records emitted with a wrong secret"

# 5. A stand-in server that fails every call with 404 + CODE (or no code).
cat > "$T_TMP/failing.py" <<'PY'
import http.server, json, sys
code = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"errorCode": code, "errorMessage": "Oops! Something went wrong"}).encode() if code != "none" else b"<html>Not Found</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
for code in AC1001 none; do
    t_bg python3 "$T_TMP/failing.py" "$code" > "$T_TMP/failing-$code.port"
    t_wait_for 60 test -s "$T_TMP/failing-$code.port" || t_fail "the stand-in server did not start"
    base="http://127.0.0.1:$(cat "$T_TMP/failing-$code.port")"
    write_cfg "$T_TMP/fail-$code.cfg" "fail-$code" "$SECRET"
    if [ "$code" = AC1001 ]; then
        # Retried until stopped: once the retry is reported the run must
        # still be going, and SIGTERM ends it.
        t_bg "$SLUICE" run --once "$T_TMP/fail-$code.cfg" > "$T_TMP/fail-$code.stdout" 2> "$T_TMP/fail-$code.stderr"
        run_pid=$T_LAST_PID
        t_wait_for 300 grep -q 'will retry: HTTP 404, AC1001' "$T_TMP/fail-$code.stderr" ||
            t_fail "404 AC1001 not reported as retried: $(tail -3 "$T_TMP/fail-$code.stderr")"
        kill -0 "$run_pid" 2> /dev/null || t_fail "404 AC1001: the run ended instead of retrying: $(tail -3 "$T_TMP/fail-$code.stderr")"
        kill -TERM "$run_pid"
        t_wait_for 300 sh -c "! kill -0 $run_pid 2>/dev/null" || t_fail "404 AC1001: SIGTERM did not end the retrying run"
        grep -q 'complete: 0 members' "$T_TMP/fail-$code.stderr" && t_fail "404 $code was taken for an empty program"
    else
        RC=0
        timeout 600 "$SLUICE" run --once "$T_TMP/fail-$code.cfg" > "$T_TMP/fail-$code.stdout" 2> "$T_TMP/fail-$code.stderr" || RC=$?
        grep -q 'complete: 0 members' "$T_TMP/fail-$code.stderr" && t_fail "404 $code was taken for an empty program"
        [ "$RC" = 3 ] || t_fail "404 without a code: exit $RC, want 3"
        grep -q 'member enumeration refused: HTTP 404' "$T_TMP/fail-$code.stderr" ||
            t_fail "404 without a code not explained: $(grep error "$T_TMP/fail-$code.stderr" | tail -2)"
    fi
done

echo "ok: api mode: $members members exact, change detection, wrong secret refused once, stopped in ${took}s"

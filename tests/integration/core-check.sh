#!/usr/bin/env bash
# core-check.sh: a bad pipeline is refused before anything runs: exit 78,
# FILE:LINE naming the stage and the problem, no state directory created;
# secrets never appear in `sluice check --print` or in errors.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

t_seq_jsonl 3 "$T_TMP/in.jsonl"
cat > "$T_TMP/bad.cfg" <<CFG
pipeline = {
  name = "bad";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "tag"; plugin = "set-field"; feild = "x"; value = "y"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
set +e
"$SLUICE" check "$T_TMP/bad.cfg" > "$T_TMP/check.out" 2>&1; rc=$?
"$SLUICE" run --once "$T_TMP/bad.cfg" > "$T_TMP/run.out" 2>&1; rc_run=$?
set -e
[ "$rc" -eq 78 ] || t_fail "sluice check exit $rc, expected 78: $(cat "$T_TMP/check.out")"
[ "$rc_run" -eq 78 ] || t_fail "sluice run exit $rc_run, expected 78: $(cat "$T_TMP/run.out")"
grep -q "bad.cfg:6: stage 'tag' (plugin set-field): .*feild" "$T_TMP/check.out" \
    || t_fail "error does not name file:line, stage and key: $(cat "$T_TMP/check.out")"
[ ! -e "$T_TMP/state" ] || t_fail "a refused pipeline created its state directory"
[ ! -e "$T_TMP/out.jsonl" ] || t_fail "a refused pipeline wrote output"

# Unknown plugin: a clear error, nothing started.
sed 's/set-field"; feild/no-such-plugin"; field/' "$T_TMP/bad.cfg" > "$T_TMP/noplugin.cfg"
set +e; "$SLUICE" check "$T_TMP/noplugin.cfg" > "$T_TMP/np.out" 2>&1; rc=$?; set -e
[ "$rc" -ne 0 ] || t_fail "unknown plugin accepted"
grep -q "no-such-plugin" "$T_TMP/np.out" || t_fail "unknown plugin not named: $(cat "$T_TMP/np.out")"

# The good pipeline passes, and --print masks a secret from the environment.
sed 's/feild/field/' "$T_TMP/bad.cfg" > "$T_TMP/good.cfg"
"$SLUICE" check "$T_TMP/good.cfg" > "$T_TMP/good.out" 2>&1 || t_fail "good pipeline refused: $(cat "$T_TMP/good.out")"
grep -q "ok" "$T_TMP/good.out" || t_fail "check printed no ok line"
echo "ok: bad config refused with file:line and exit 78, nothing created"

# An @include of a directory or a FIFO, and an @file: FIFO: exit 78 with
# FILE:LINE, never libconfig's exit 2 ("input in flex scanner failed") or
# a hang. `timeout` only bounds a failure.
mkdir -p "$T_TMP/frag"
mkfifo "$T_TMP/frag/pipe"
for target in 'frag/' 'frag/pipe'; do
    sed "s|{ name = \"tag\"; plugin = \"set-field\"; feild = \"x\"; value = \"y\"; },|{ name = \"tag\"; plugin = \"set-field\"; field = \"x\";\n      @include \"$target\"\n    },|" \
        "$T_TMP/bad.cfg" > "$T_TMP/inc.cfg"
    set +e
    timeout 60 "$SLUICE" check "$T_TMP/inc.cfg" > "$T_TMP/inc.out" 2>&1; rc=$?
    timeout 60 "$SLUICE" run --once "$T_TMP/inc.cfg" > "$T_TMP/inc-run.out" 2>&1; rc_run=$?
    set -e
    [ "$rc" -ne 124 ] || t_fail "sluice check hung on @include \"$target\""
    [ "$rc" -eq 78 ] || t_fail "@include \"$target\": check exit $rc, expected 78: $(cat "$T_TMP/inc.out")"
    [ "$rc_run" -eq 78 ] || t_fail "@include \"$target\": run exit $rc_run, expected 78: $(cat "$T_TMP/inc-run.out")"
    grep -q "inc.cfg:7: cannot open include file $T_TMP/$target: is a" "$T_TMP/inc.out" \
        || t_fail "@include \"$target\": no FILE:LINE naming it: $(cat "$T_TMP/inc.out")"
done
sed 's|value = "y"; },|value = "@file:frag/pipe"; },|; s/feild/field/' "$T_TMP/bad.cfg" > "$T_TMP/fifo.cfg"
set +e; timeout 60 "$SLUICE" check "$T_TMP/fifo.cfg" > "$T_TMP/fifo.out" 2>&1; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "@file: of a FIFO: check exit $rc, expected 78 (124: hung): $(cat "$T_TMP/fifo.out")"
grep -q "fifo.cfg:6: .*is a FIFO" "$T_TMP/fifo.out" || t_fail "FIFO not named: $(cat "$T_TMP/fifo.out")"
[ ! -e "$T_TMP/state" ] || t_fail "a refused pipeline created its state directory"
echo "ok: a directory or FIFO include, an @file: FIFO: exit 78 with FILE:LINE, no hang"

# Endpoints `sluice run` cannot bind are refused by `check` (run crash-
# looped on "Address already in use" after check said ok).
port=$(t_free_port)
endpoint_case() { # NAME TAG_ENDPOINT OUT_ENDPOINT EXPECTED_LINE_AND_TEXT
    sed "s|feild = \"x\"; value = \"y\"; },|field = \"x\"; value = \"y\";\n      endpoint = \"$2\"; },|; s|path = \"$T_TMP/out.jsonl\"; }|path = \"$T_TMP/out.jsonl\";\n      endpoint = \"$3\"; }|" \
        "$T_TMP/bad.cfg" > "$T_TMP/$1.cfg"
    set +e; "$SLUICE" check "$T_TMP/$1.cfg" > "$T_TMP/$1.out" 2>&1; rc=$?; set -e
    [ "$rc" -eq 78 ] || t_fail "$1: check exit $rc, expected 78: $(cat "$T_TMP/$1.out")"
    grep -q "$1.cfg:$4" "$T_TMP/$1.out" || t_fail "$1: expected '$1.cfg:$4': $(cat "$T_TMP/$1.out")"
}
endpoint_case port65535 "tcp://127.0.0.1:65535" "tcp://127.0.0.1:$port" \
    "7: stage 'tag' (plugin set-field): 'endpoint' must be .* PORT in 1..65534"
endpoint_case portnext "tcp://127.0.0.1:$port" "tcp://127.0.0.1:$((port + 1))" \
    "9: stage 'out' (plugin file-sink): its data endpoint tcp://127.0.0.1:$((port + 1)) clashes with the ack endpoint"
endpoint_case ipcack "ipc://$T_TMP/P" "ipc://$T_TMP/P.ack" \
    "9: stage 'out' (plugin file-sink): its data endpoint ipc://$T_TMP/P.ack clashes with the ack endpoint"
# Two ports apart: check and run agree it works.
endpoint_case_ok() {
    sed "s|feild = \"x\"; value = \"y\"; },|field = \"x\"; value = \"y\";\n      endpoint = \"tcp://127.0.0.1:$port\"; },|; s|path = \"$T_TMP/out.jsonl\"; }|path = \"$T_TMP/out.jsonl\";\n      endpoint = \"tcp://127.0.0.1:$((port + 2))\"; }|" \
        "$T_TMP/bad.cfg" > "$T_TMP/apart.cfg"
    "$SLUICE" check "$T_TMP/apart.cfg" > "$T_TMP/apart.out" 2>&1 || t_fail "ports two apart refused: $(cat "$T_TMP/apart.out")"
}
endpoint_case_ok
echo "ok: port 65535, N and N+1, P and P.ack refused by check with FILE:LINE"

# ack_timeout_ms against HTTP stages. A transform that makes HTTP
# requests sends no heartbeat while it waits (unit/test_config checks
# that rule with a test plugin); a sink does, during a hung request and
# its backoffs, so a sink pipeline with an ack timeout far below its HTTP
# timeouts is accepted as it is (integration/sink-waits.sh runs one), and
# an unset ack_timeout_ms stays 30 s.
http_cfg() { # NAME PIPELINE_KEYS
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "http";
  state_dir = "$T_TMP/state";
  $2
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "ometria"; plugin = "ometria-sink"; base_url = "http://127.0.0.1:9";
      api_key = "k-123456"; }
  );
};
CFG
}
http_cfg acksink "ack_timeout_ms = 3000;"
"$SLUICE" check --print "$T_TMP/acksink.cfg" > "$T_TMP/acksink.out" 2>&1 \
    || t_fail "a sink's ack_timeout_ms below its HTTP timeouts refused: $(cat "$T_TMP/acksink.out")"
grep -q "ack_timeout_ms = 3000;" "$T_TMP/acksink.out" || t_fail "ack_timeout_ms changed: $(grep ack_timeout "$T_TMP/acksink.out")"
http_cfg ackdefault ""
"$SLUICE" check --print "$T_TMP/ackdefault.cfg" > "$T_TMP/ackdefault.out" 2>&1 \
    || t_fail "default ack_timeout_ms refused: $(cat "$T_TMP/ackdefault.out")"
grep -q "ack_timeout_ms = 30000;" "$T_TMP/ackdefault.out" \
    || t_fail "a sink pipeline's default ack_timeout_ms changed: $(grep ack_timeout "$T_TMP/ackdefault.out")"
echo "ok: a sink that heartbeats while it waits is not held to its HTTP timeouts"

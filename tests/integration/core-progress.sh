#!/usr/bin/env bash
# core-progress.sh: the progress line of `sluice run --once` (issue 15,
# item 5). The API sync of the Ometria pipeline runs with stderr on a
# pseudo-terminal: the line (members read of members listed, rate,
# delivered, DLQ) is drawn and its last drawing, ended by a newline,
# carries the final figures: every listed member read (100%) and as many
# delivered as the --once summary says. With stderr not a terminal (logs
# as JSON), and with --no-progress on a terminal, no progress text.
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=60
e2e_setup ometria

# on_pty OUT ERR ARGS...: run ARGS with stderr on a pseudo-terminal (what
# it writes there into ERR, raw) and stdout into OUT; exits with its status.
on_pty() {
    python3 - "$@" <<'PY'
import os, pty, subprocess, sys
out, err, args = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = pty.openpty()
with open(out, "wb") as stdout:
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave)
os.close(slave)
data = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the last holder of the terminal closed it
        break
    if not chunk:
        break
    data += chunk
open(err, "wb").write(data)
sys.exit(child.wait())
PY
}

rc=0
ANNEXCLOUD_MODE=api on_pty "$T_TMP/sync.out" "$T_TMP/sync.tty" timeout 900 "$SLUICE" run --once \
    --log-level warn "$E2E_PIPELINE" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || t_fail "the sync on a terminal exited $rc: $(tail -c 600 "$T_TMP/sync.tty")"
delivered=$(sed -n 's/.* \([0-9]*\) delivered,.*/\1/p' "$T_TMP/sync.out" | head -1)
[ -n "$delivered" ] || t_fail "no --once summary: $(cat "$T_TMP/sync.out")"
python3 - "$T_TMP/sync.tty" "$delivered" <<'PY' || t_fail "progress line: $(tr '\r\033' '|~' < "$T_TMP/sync.tty" | tail -c 800)"
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace").replace("\r\n", "\n")
delivered = sys.argv[2]
draws = [d for d in re.split(r"\r\x1b\[K", text)[1:]]
if not draws:
    sys.exit("no progress line drawn")
last = draws[-1]
if "\n" not in last:
    sys.exit(f"the last drawing does not end the line: {last!r}")
last = last.split("\n")[0]
m = re.search(r"acme-ometria-webhook: \[#+\] (\d+)/(\d+) read \(100%\), [\d.]+/s, took [\d:]+, "
              r"(\d+) delivered, (\d+) DLQ$", last)
if not m or m.group(1) != m.group(2) or m.group(3) != delivered:
    sys.exit(f"last drawing {last!r}, {delivered} delivered by the summary")
print(f"{len(draws)} drawing(s); last: {last}")
PY
t_note "$(python3 - "$T_TMP/sync.tty" <<'PY'
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
print("progress, last drawing: " + re.split(r"\r\x1b\[K", text)[-1].strip())
PY
)"

# Not a terminal: the logs only (JSON), no progress text.
rm -rf "$SLUICE_STATE_DIR/acme-ometria-webhook"
rc=0
ANNEXCLOUD_MODE=api timeout 900 "$SLUICE" run --once --log-format json "$E2E_PIPELINE" \
    > "$T_TMP/plain.out" 2> "$T_TMP/plain.err" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || t_fail "the sync without a terminal exited $rc: $(tail -5 "$T_TMP/plain.err")"
if grep -q $'\r\|\033\|read (' "$T_TMP/plain.err"; then
    t_fail "progress text with stderr not a terminal: $(grep -m1 $'\r\|\033\|read (' "$T_TMP/plain.err" | head -c 300)"
fi
grep -v '^{' "$T_TMP/plain.err" | head -3 | grep -q . && t_fail "non-JSON lines on stderr: $(grep -v '^{' "$T_TMP/plain.err" | head -3)"

# A terminal with --no-progress: none either.
rm -rf "$SLUICE_STATE_DIR/acme-ometria-webhook"
rc=0
ANNEXCLOUD_MODE=api on_pty "$T_TMP/quiet.out" "$T_TMP/quiet.tty" timeout 900 "$SLUICE" run --once \
    --no-progress --log-level warn "$E2E_PIPELINE" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || t_fail "the sync with --no-progress exited $rc: $(tail -c 600 "$T_TMP/quiet.tty")"
if grep -q $'\033\[K\|read (' "$T_TMP/quiet.tty"; then
    t_fail "progress text with --no-progress: $(tr '\r\033' '|~' < "$T_TMP/quiet.tty" | tail -c 300)"
fi
echo "ok: progress line on a terminal ending with the final figures ($delivered delivered); none without a terminal or with --no-progress"

#!/usr/bin/env bash
# core-fleet.sh: `sluice run --dir` with the generic plugins. Three
# pipelines run from a directory while records flow into the first; then
# a 4th file is added, the 2nd changed (another value for its set-field),
# the 3rd deleted, a broken 5th and a 6th that fails at run time put
# there, and `sluice reload` asks for a reload: the 1st keeps its process
# ids and delivers every record exactly once (nothing replayed), the 2nd
# restarts and writes the new value, the 3rd drains and stops, the 4th
# starts, the 5th is refused with FILE:LINE in the log, the 6th fails for
# good (logged at error) while the others run on. A changed file that
# fails to load leaves its running version alone (SIGHUP this time); a
# second fleet on the same pid file exits 75; every stage process is
# titled "sluice: PIPELINE/STAGE".
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
# no admin endpoint: not under test here, and its port may be taken
export SLUICE_ADMIN_LISTEN=off

D="$T_TMP/pipelines.d"
mkdir -p "$D"
# pipeline NAME VALUE: the file of pipeline NAME (file-source following
# NAME.in, set-field v = VALUE, file-sink NAME.out).
pipeline() {
    cat <<CFG
pipeline = {
  name = "fleet-$1";
  state_dir = "$T_TMP/state/$1";
  batch_size = 20;
  batch_linger_ms = 50;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/$1.in"; follow = true; },
    { name = "tag"; plugin = "set-field"; field = "v"; value = "$2"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/$1.out"; }
  );
};
CFG
}
records() { # records FROM TO >> FILE
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"id\":%d}\n", i }'
}
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }
stage_pids() { # stage_pids NAME: "src tag out" pids of pipeline NAME
    local s out=""
    for s in src tag out; do out="$out $(t_pid_of_stage "$T_TMP/state/$1/run" "$s" || echo -)"; done
    echo "$out"
}
for p in a b c; do
    records 1 100 > "$T_TMP/$p.in"
    pipeline "$p" 1 > "$D/$p.cfg"
done
cp "$D/a.cfg" "$T_TMP/a.cfg.copy"

admin="127.0.0.1:$(t_free_port)"
t_bg "$SLUICE" run --log-format json --dir "$D" --pid-file "$T_TMP/sluice.pid" \
    --admin-listen "$admin" 2> "$T_TMP/fleet.err"
fleet_pid=$T_LAST_PID
for p in a b c; do
    t_wait_for 120 has_lines "$T_TMP/$p.out" 100 || t_fail "pipeline $p did not deliver its 100 records"
done
a_pids=$(stage_pids a)
c_pids=$(stage_pids c)
b_src=$(t_pid_of_stage "$T_TMP/state/b/run" src)
t_note "a runs as$a_pids"

# Titles: ps shows which process is which.
for s in src tag out; do
    pid=$(t_pid_of_stage "$T_TMP/state/a/run" "$s")
    [ "$(tr '\0' ' ' < "/proc/$pid/cmdline" | sed 's/ *$//')" = "sluice: fleet-a/$s" ] \
        || t_fail "stage $s's title: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
done

# A second fleet on the same pid file leaves at once.
rc=0
timeout 60 "$SLUICE" run --dir "$D" --pid-file "$T_TMP/sluice.pid" 2> "$T_TMP/second.err" || rc=$?
[ "$rc" -eq 75 ] || t_fail "second fleet exited $rc, expected 75: $(cat "$T_TMP/second.err")"
grep -q "already running.*(pid $fleet_pid)" "$T_TMP/second.err" || t_fail "second fleet: $(cat "$T_TMP/second.err")"

# Records keep flowing into a while the directory changes (pacing, not
# waiting: the writer appends a batch every 50 ms until stopped).
( i=101; while [ ! -e "$T_TMP/stop-writer" ] && [ "$i" -le 5000 ]; do
      records "$i" $((i + 9)) >> "$T_TMP/a.in"; echo $((i + 9)) > "$T_TMP/a.written"; i=$((i + 10)); sleep 0.05
  done ) &
writer=$!
t_wait_for 60 test -s "$T_TMP/a.written" || t_fail "writer did not start"

records 1 100 > "$T_TMP/d.in"
pipeline d 1 > "$D/d.cfg"              # new
pipeline b 2 > "$D/b.cfg"              # changed
rm "$D/c.cfg"                          # removed
printf 'pipeline = {\n  name = "fleet-e";\n  state_dir = "%s";\n  batchsize = 5;\n};\n' \
    "$T_TMP/state/e" > "$D/e.cfg"      # broken: line 4
mkdir -p "$T_TMP/f.out"                # f's sink cannot open its file
records 1 10 > "$T_TMP/f.in"
pipeline f 1 > "$D/f.cfg"
"$SLUICE" reload --pid-file "$T_TMP/sluice.pid" > "$T_TMP/reload.out" \
    || t_fail "sluice reload exited $?"

E="$T_TMP/fleet.err"
t_wait_for 120 grep -q '"msg":"reload 1 done: 1 file(s) refused"' "$E" || t_fail "no reload line in the log"
grep '"level":"error"' "$E" | grep -q "refused: $D/e.cfg:4: unknown pipeline key 'batchsize'" \
    || t_fail "e.cfg not refused with FILE:LINE at error: $(grep e.cfg "$E" | head -3)"

# The admin endpoint lists the fleet as it is now: e refused with its
# FILE:LINE, c gone, d there.
status_shows() {
    curl -s --max-time 30 "http://$admin/status" > "$T_TMP/status.json" &&
        jq -e --arg e "$D/e.cfg:4:" '[.pipelines[] | select(.name == "fleet-d")] | length == 1' \
            "$T_TMP/status.json" > /dev/null &&
        jq -e --arg e "$D/e.cfg:4:" '[.pipelines[] | select((.error // "") | startswith($e))] | length == 1' \
            "$T_TMP/status.json" > /dev/null &&
        jq -e '[.pipelines[] | select(.name == "fleet-c")] | length == 0' "$T_TMP/status.json" > /dev/null
}
t_wait_for 120 status_shows || t_fail "/status does not show the reloaded fleet: $(jq -c '[.pipelines[] | {name, state, error}]' "$T_TMP/status.json")"

# f fails for good, at error, and the others run on.
t_wait_for 120 grep -q '"pipeline":"fleet-f".*"level":"error"\|"level":"error".*"pipeline":"fleet-f".*stopped for good' "$E" \
    || t_fail "f did not fail: $(grep fleet-f "$E" | tail -3)"
grep -q '"level":"error","pipeline":"fleet-f".*pipeline stopped for good: exit 3' "$E" \
    || t_fail "f's end not logged as an error: $(grep fleet-f "$E" | tail -3)"

# c drains and stops: its processes leave and it delivers nothing more.
for pid in $c_pids; do
    t_wait_for 120 bash -c "! kill -0 $pid 2>/dev/null" || t_fail "c's process $pid still runs"
done
grep -q '"pipeline":"fleet-c".*stopped (its file was removed)' "$E" || t_fail "no stop line for c"
records 101 110 >> "$T_TMP/c.in"

# d starts and delivers.
t_wait_for 120 has_lines "$T_TMP/d.out" 100 || t_fail "d did not deliver: $(lines "$T_TMP/d.out")"

# b restarted with the new value: records appended now come out with v = 2.
new_b_src=$(t_wait_stage_pid "$T_TMP/state/b/run" src "$b_src") || t_fail "b's source did not restart"
records 101 150 >> "$T_TMP/b.in"
t_wait_for 120 has_lines "$T_TMP/b.out" 150 || t_fail "b did not deliver after its restart: $(lines "$T_TMP/b.out")"
[ "$(jq -r 'select(.id > 100) | .v' "$T_TMP/b.out" | sort -u)" = 2 ] \
    || t_fail "b's new records lack the new value: $(tail -3 "$T_TMP/b.out")"
[ "$(jq -r .id "$T_TMP/b.out" | sort -un | wc -l)" = 150 ] || t_fail "b lost records"

# A changed file that fails to load is refused; the running version stays.
b_pids=$(stage_pids b)
sed -i 's/value = "2"/valeu = "3"/' "$D/b.cfg"
kill -HUP "$fleet_pid"
t_wait_for 120 grep -q '"msg":"reload 2 done: 2 file(s) refused"' "$E" || t_fail "no second reload line"
grep -q "refused; the running version keeps running: $D/b.cfg:[0-9]*: stage 'tag'" "$E" \
    || t_fail "b's broken change not refused: $(grep b.cfg "$E" | tail -2)"
[ "$(stage_pids b)" = "$b_pids" ] || t_fail "b's processes changed after a refused reload"

# a was never touched: same processes, every record exactly once.
touch "$T_TMP/stop-writer"
wait "$writer"
written=$(cat "$T_TMP/a.written")
t_wait_for 120 has_lines "$T_TMP/a.out" "$written" || t_fail "a delivered $(lines "$T_TMP/a.out") of $written"
[ "$(stage_pids a)" = "$a_pids" ] || t_fail "a's processes changed:$(stage_pids a) instead of$a_pids"
[ "$(lines "$T_TMP/a.out")" = "$written" ] || t_fail "a delivered $(lines "$T_TMP/a.out") lines for $written records (replayed)"
[ "$(jq -r .id "$T_TMP/a.out" | sort -un | wc -l)" = "$written" ] || t_fail "a lost or doubled records"
[ "$(grep -c '"pipeline":"fleet-a".*"stage":null.*starting' "$E")" = 1 ] || t_fail "a was started more than once"
[ "$(lines "$T_TMP/c.out")" = 100 ] || t_fail "c delivered after it was removed"

# A file renamed: its pipeline stops under the old name and starts under
# the new one (no clash with itself), and delivers what comes next.
d_src=$(t_pid_of_stage "$T_TMP/state/d/run" src)
mv "$D/d.cfg" "$D/d-renamed.cfg"
kill -HUP "$fleet_pid"
t_wait_for 120 grep -q '"msg":"reload 3 done: 2 file(s) refused"' "$E" || t_fail "no third reload line"
t_wait_stage_pid "$T_TMP/state/d/run" src "$d_src" > /dev/null || t_fail "the renamed d did not start again"
! grep -q "d-renamed.cfg.*already used" "$E" || t_fail "the renamed file clashed with its old name"
records 101 120 >> "$T_TMP/d.in"
t_wait_for 120 has_lines "$T_TMP/d.out" 120 || t_fail "the renamed d did not deliver: $(lines "$T_TMP/d.out")"

# SIGTERM: every pipeline drains, the fleet leaves, the pid file is gone.
kill -TERM "$fleet_pid"
t_wait_for 120 bash -c "! kill -0 $fleet_pid 2>/dev/null" || t_fail "the fleet did not stop"
[ ! -e "$T_TMP/sluice.pid" ] || t_fail "pid file left behind"
echo "ok: reload started d, restarted b, stopped c, refused e, f failed alone; a untouched ($written records once)"

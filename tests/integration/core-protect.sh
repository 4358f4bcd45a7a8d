#!/usr/bin/env bash
# core-protect.sh: what sluice keeps private. Every file of a running
# pipeline (state.db, -wal, -shm, pid and statistics files, file-sink
# output) is 0600 and every directory it makes 0700, also inside a
# state_dir and an output directory that already exist 0755; a state.db
# left 0644 by an older sluice is made 0600. A stage process can write no
# core dump (RLIMIT_CORE 0; it would hold the secrets) unless
# SLUICE_ALLOW_CORE=1.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

umask 022
t_seq_jsonl 50 "$T_TMP/in.jsonl"
mkdir -m 0755 "$T_TMP/state" "$T_TMP/outdir"
echo "k-77-secret-value" > "$T_TMP/key"
cat > "$T_TMP/p.cfg" <<CFG
pipeline = {
  name = "private";
  state_dir = "$T_TMP/state";
  batch_size = 10;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "tag"; plugin = "set-field"; field = "k"; value = "@file:key"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/outdir/out.jsonl"; }
  );
};
CFG

# The test's own limit, raised as far as it may go, is what a stage would
# inherit without sluice's protection.
ulimit -S -c "$(ulimit -H -c)" 2>/dev/null || true
shell_core=$(ulimit -c) # in 1024-byte blocks, or "unlimited"; /proc gives bytes
[ "$shell_core" = unlimited ] || shell_core=$((shell_core * 1024))

# start_run LOG [ENV...]: start the pipeline (no --once: it stays up)
# and wait until its three stage processes run.
start_run() {
    local log=$1 s
    shift
    rm -f "$T_TMP/state/run/"*.pid
    t_bg env "$@" "$SLUICE" --log-format json run "$T_TMP/p.cfg" 2> "$log"
    RUN_PID=$T_LAST_PID
    for s in src tag out; do
        t_wait_for 60 test -s "$T_TMP/state/run/$s.pid" \
            || t_fail "stage $s did not start: $(tail -5 "$log")"
    done
}

# stop_run: SIGTERM the run and wait for it to end.
stop_run() {
    kill -TERM "$RUN_PID" 2>/dev/null || true
    t_wait_for 60 bash -c "! kill -0 $RUN_PID 2>/dev/null" || t_fail "sluice run did not stop"
}

# limit_of PID: the soft RLIMIT_CORE of a process ("0", "unlimited", ...).
limit_of() {
    awk '/^Max core file size/ { print $5 }' "/proc/$1/limits"
}

start_run "$T_TMP/run1.log"
t_wait_for 60 bash -c "[ \"\$(wc -l < '$T_TMP/outdir/out.jsonl' 2>/dev/null)\" = 50 ]" \
    || t_fail "not all records delivered: $(tail -5 "$T_TMP/run1.log")"
t_wait_for 30 test -e "$T_TMP/state/state.db-wal" || t_fail "no state.db-wal while running"
bad=$(find "$T_TMP/state" "$T_TMP/outdir" -type f ! -perm 0600 -printf '%m %p\n')
[ -z "$bad" ] || t_fail "files not 0600: $bad"
bad=$(find "$T_TMP/state" -mindepth 1 -type d ! -perm 0700 -printf '%m %p\n')
[ -z "$bad" ] || t_fail "directories sluice made are not 0700: $bad"
for f in state.db state.db-wal state.db-shm run/src.pid run/tag.pid run/out.pid; do
    [ -e "$T_TMP/state/$f" ] || t_fail "expected $f while running"
done
ls "$T_TMP/state/run/"*.stats > /dev/null 2>&1 || t_fail "no statistics files while running"

tag_pid=$(t_pid_of_stage "$T_TMP/state/run" tag)
[ "$(limit_of "$tag_pid")" = 0 ] \
    || t_fail "stage process $tag_pid may dump core: $(grep 'core file' "/proc/$tag_pid/limits")"
[ "$(limit_of "$RUN_PID")" = 0 ] || t_fail "sluice run may dump core"
# A crash writes no core file (where the kernel writes plain files).
pattern=$(cat /proc/sys/kernel/core_pattern)
if [ "${pattern:0:1}" != "|" ] && [ "$shell_core" != 0 ]; then
    core_dir=$(readlink "/proc/$tag_pid/cwd")
    before=$(find "$core_dir" -maxdepth 1 -name 'core*' | wc -l)
    kill -SEGV "$tag_pid"
    t_wait_for 60 bash -c "test -s '$T_TMP/state/run/tag.pid' && [ \"\$(cat '$T_TMP/state/run/tag.pid')\" != $tag_pid ]" \
        || t_fail "the crashed stage was not restarted"
    after=$(find "$core_dir" -maxdepth 1 -name 'core*' | wc -l)
    [ "$after" -eq "$before" ] || t_fail "a crashed stage left a core file in $core_dir"
else
    t_note "core_pattern is a pipe or core dumps are off here: core file check skipped"
fi
stop_run
echo "ok: files 0600, directories 0700, stage processes write no core dump"

# A state.db left 0644 (an older sluice, umask 022) is made 0600.
chmod 0644 "$T_TMP/state/state.db"
start_run "$T_TMP/run2.log"
[ "$(stat -c %a "$T_TMP/state/state.db")" = 600 ] || t_fail "state.db still $(stat -c %a "$T_TMP/state/state.db")"
grep -q "state.db was mode 0644, now 0600" "$T_TMP/run2.log" || t_fail "the change of mode was not logged"
stop_run
echo "ok: a state.db left 0644 is made 0600"

# SLUICE_ALLOW_CORE=1: the stage keeps the limit it inherited.
if [ "$shell_core" != 0 ]; then
    start_run "$T_TMP/run3.log" SLUICE_ALLOW_CORE=1
    tag_pid=$(t_pid_of_stage "$T_TMP/state/run" tag)
    [ "$(limit_of "$tag_pid")" = "$shell_core" ] \
        || t_fail "SLUICE_ALLOW_CORE=1: limit $(limit_of "$tag_pid"), expected $shell_core"
    stop_run
    echo "ok: SLUICE_ALLOW_CORE=1 leaves core dumps to the system's limit"
else
    t_note "the hard core limit is 0 here: SLUICE_ALLOW_CORE=1 check skipped"
fi
if grep -q "k-77-secret-value" "$T_TMP"/run*.log; then
    t_fail "the secret was logged"
fi

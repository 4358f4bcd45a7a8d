#!/usr/bin/env bash
# core-fulldisk.sh: a full disk under the state store is waited out, not
# counted as crashes. state_dir is on a 2 MB tmpfs; once the pipeline runs,
# a filler file takes the rest of it: the source cannot commit its
# checkpoint and exits, again and again, more often than restart.max
# allows crashes, yet the pipeline stays up, logs the condition at error
# once (not per attempt), and names the pipeline in the store's error
# lines; when the filler goes, every record arrives. A pipeline started
# on the full disk waits for space too.
# The script runs in a mount namespace of its own (the tmpfs is seen by it
# and the processes it starts only, and goes with them); that needs root
# or unprivileged user namespaces (else skipped, exit 77).
set -euo pipefail

if [ -z "${SLUICE_FULLDISK_NS:-}" ]; then
    for how in "-m" "-r -m"; do
        # shellcheck disable=SC2086
        if unshare $how --propagation private true 2>/dev/null; then
            SLUICE_FULLDISK_NS=1 exec unshare $how --propagation private bash "$0" "$@"
        fi
    done
    echo "# SKIP: mounting a small tmpfs needs root or user namespaces"
    exit 77
fi
. "$top_srcdir/tests/lib.sh"

MNT="$T_TMP/mnt"
mkdir "$MNT"
if ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$MNT" 2>"$T_TMP/mount.err"; then
    echo "# SKIP: cannot mount a tmpfs: $(cat "$T_TMP/mount.err")"
    exit 77
fi
# The mount goes before the temp dir (lazily: a stage process that
# outlives the test's kill may still hold state.db open).
fulldisk_cleanup() {
    local rc=$? pid
    for pid in "${T_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
    done
    umount -l "$MNT" 2>/dev/null || true
    t_cleanup
    exit "$rc"
}
trap fulldisk_cleanup EXIT

# records FROM TO: append records FROM..TO to the input.
records() {
    awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' \
        >> "$T_TMP/in.jsonl"
}
# distinct_out: how many distinct records the sink wrote (a rewind may
# deliver some twice).
distinct_out() {
    [ -s "$T_TMP/out.jsonl" ] || { echo 0; return; }
    jq -r .id "$T_TMP/out.jsonl" | sort -u | wc -l
}
# fill: take every free block of the tmpfs.
fill() {
    dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
    [ "$(stat -f -c %a "$MNT")" -eq 0 ] || t_fail "the tmpfs still has free blocks"
}
# processes STAGE: how many processes of the stage have logged.
processes() {
    jq -r "select(.stage == \"$1\") | .pid" "$T_TMP/run.log" 2>/dev/null | sort -u | wc -l
}

: > "$T_TMP/in.jsonl"
records 1 100
cat > "$T_TMP/full.cfg" <<CFG
pipeline = {
  name = "full";
  state_dir = "$MNT/state";
  runtime_dir = "$T_TMP/run";
  batch_size = 10;
  restart = { max = 1; window_s = 600; backoff_ms = 50; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG

t_bg "$SLUICE" --log-format json run "$T_TMP/full.cfg" 2> "$T_TMP/run.log"
RUN_PID=$T_LAST_PID
t_wait_for 60 bash -c "[ \$(jq -r .id '$T_TMP/out.jsonl' 2>/dev/null | sort -u | wc -l) -eq 100 ]" \
    || t_fail "the first 100 records were not delivered"
fill
filled_at=$(date +%s)
records 101 600
# More exits on the full disk than restart.max = 1 allows crashes.
export -f processes
export T_TMP
t_wait_for 120 bash -c "[ \$(processes src) -ge 4 ]" \
    || t_fail "the source was not restarted 3 times on the full disk ($(processes src) processes): $(grep -v '"info"' "$T_TMP/run.log" | tail -5)"
kill -0 "$RUN_PID" 2>/dev/null || t_fail "sluice run exited on a full disk: $(grep -v '"info"' "$T_TMP/run.log" | tail -5)"
if grep -q "giving up" "$T_TMP/run.log"; then
    t_fail "a full disk was counted against restart.max: $(grep 'giving up' "$T_TMP/run.log")"
fi
# Logged the first time, then at most once a minute.
n=$(grep -c "no space left for the state store" "$T_TMP/run.log" || true)
most=$((1 + ($(date +%s) - filled_at) / 60))
[ "$n" -ge 1 ] && [ "$n" -le "$most" ] \
    || t_fail "the full disk was logged $n times in $(processes src) attempts, expected 1..$most"
grep -q '"level":"error","pipeline":"full",.*stage .src. stopped: no space left' "$T_TMP/run.log" \
    || t_fail "the full disk was not logged at error: $(grep 'no space' "$T_TMP/run.log")"
# The store's own error lines name the pipeline and the stage.
grep -q '"pipeline":"full","stage":"src".*state store .*database or disk is full' "$T_TMP/run.log" \
    || t_fail "store errors do not name the pipeline: $(grep 'state store' "$T_TMP/run.log" | head -3)"
# (the admin endpoint's own lines belong to no pipeline: "stage":"admin")
if grep '"pipeline":null' "$T_TMP/run.log" | grep -qv '"stage":"admin"'; then
    t_fail "a line names no pipeline: $(grep '"pipeline":null' "$T_TMP/run.log" | grep -v '"stage":"admin"' | head -3)"
fi
echo "ok: $(processes src) processes of the source on a full disk, no crash counted, logged $n time(s)"

rm -f "$MNT/filler"
t_wait_for 120 bash -c "[ \$(jq -r .id '$T_TMP/out.jsonl' | sort -u | wc -l) -eq 600 ]" \
    || t_fail "after space returned, $(distinct_out) of 600 records delivered: $(tail -3 "$T_TMP/run.log")"
t_wait_for 60 grep -q "stage 'src' runs again" "$T_TMP/run.log" || t_fail "the recovery was not logged"
kill -TERM "$RUN_PID"
t_wait_for 60 bash -c "! kill -0 $RUN_PID 2>/dev/null" || t_fail "sluice run did not stop"
wait "$RUN_PID" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || t_fail "sluice run exited $rc after a graceful stop"
echo "ok: space returned, all 600 records delivered"

# Started on a full disk: the pipeline waits for space instead of exiting.
rm -f "$MNT/state/state.db-wal" "$MNT/state/state.db-shm"
fill
records 601 650
mv "$T_TMP/run.log" "$T_TMP/run1.log"
t_bg "$SLUICE" --log-format json run "$T_TMP/full.cfg" 2> "$T_TMP/run.log"
RUN_PID=$T_LAST_PID
t_wait_for 60 grep -Eq "(cannot start|stopped): no space left for the state store" "$T_TMP/run.log" \
    || t_fail "a start on a full disk did not wait: $(tail -3 "$T_TMP/run.log")"
kill -0 "$RUN_PID" 2>/dev/null || t_fail "sluice run exited when started on a full disk"
rm -f "$MNT/filler"
t_wait_for 120 bash -c "[ \$(jq -r .id '$T_TMP/out.jsonl' | sort -u | wc -l) -eq 650 ]" \
    || t_fail "after space returned, $(distinct_out) of 650 records delivered: $(tail -3 "$T_TMP/run.log")"
echo "ok: a pipeline started on a full disk waits for space"

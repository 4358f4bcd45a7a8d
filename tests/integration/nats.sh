#!/usr/bin/env bash
# nats.sh: nats-sink and nats-source against a real nats-server with
# JetStream on loopback (docs/nats.md). First, `sluice check` refuses bad
# options (subject template, consumer name, nkey without its seed). file-source -> nats-sink publishes
# N records (the sink creates the stream); nats-source -> file-sink reads
# them back: exactly the input, in order, once each; publishing them again
# adds nothing (Nats-Msg-Id). Then N2 more records while the nats-source
# stage is killed with SIGKILL mid-run: every record arrives (duplicates
# only of records after the last committed checkpoint, as documented),
# and a second run emits nothing new. Then nats-server is restarted under
# a publishing run and a consuming run: nothing lost. Skips (77) without nats-server or
# without the plugins (configure found no libnats).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
if [ ! -x "$NATS_SERVER" ]; then
    echo "SKIP: nats-server not installed (apt-get install nats-server)"
    exit 77
fi
if [ ! -e "$SLUICE_PLUGIN_PATH/nats-sink.so" ] || [ ! -e "$SLUICE_PLUGIN_PATH/nats-source.so" ]; then
    echo "SKIP: the nats plugins were not built (configure found no libnats)"
    exit 77
fi
N=3000
# The killed run: small batches of many records, so it lasts long enough
# for the kills to land while messages are in flight on a fast machine.
N2=20000
[ -n "${SLUICE_LONG_TESTS:-}" ] && N2=200000

# --- 0. What the option table cannot see is refused before anything runs.
cat > "$T_TMP/bad.cfg" <<CFG
pipeline = {
  name = "bad";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "sub"; plugin = "nats-source"; servers = ["nats://127.0.0.1:1"]; stream = "S";
      consumer = "a.b"; nkey = "UABC"; },
    { name = "pub"; plugin = "nats-sink"; servers = ["nats://127.0.0.1:1"]; stream = "S";
      subject = "sluice.{client.members"; }
  );
};
CFG
t_check_refuses "$T_TMP/bad.cfg"
for want in "bad.cfg:6: stage 'sub' (plugin nats-source): 'nkey' and 'nkey_seed_file' go together" \
            "bad.cfg:6: stage 'sub' (plugin nats-source): a durable name without '.'" \
            "bad.cfg:8: stage 'pub' (plugin nats-sink): '{' at column 8 opens no {field}"; do
    grep -qF "$want" "$T_TMP/check.err" || t_fail "sluice check did not say: $want; it said: $(cat "$T_TMP/check.err")"
done

port=$(t_free_port)
t_bg "$NATS_SERVER" -js -sd "$T_TMP/js" -a 127.0.0.1 -p "$port" -l "$T_TMP/nats-server.log"
nats_pid=$T_LAST_PID
t_wait_for 60 grep -q 'Server is ready' "$T_TMP/nats-server.log" \
    || t_fail "nats-server did not start: $(tail -3 "$T_TMP/nats-server.log")"

# publish_cfg NAME INPUT: file-source -> nats-sink into stream SLUICE.
publish_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = 200;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$2"; },
    { name = "pub"; plugin = "nats-sink"; servers = ["nats://127.0.0.1:$port"];
      stream = "SLUICE"; create_stream = true; subject = "sluice.{client}.members";
      client = "acme"; max_pending = 64; }
  );
};
CFG
}
# consume_cfg NAME OUTPUT BATCH: nats-source (durable consumer "worker") -> file-sink.
consume_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-consume";
  batch_size = $3;
  stages = (
    { name = "sub"; plugin = "nats-source"; servers = ["nats://127.0.0.1:$port"];
      stream = "SLUICE"; consumer = "worker"; fetch_batch = $3; fetch_wait_ms = 2000; },
    { name = "out"; plugin = "file-sink"; path = "$2"; }
  );
};
CFG
}

# --- 1. N records out and back, no faults: exactly the input.
t_seq_jsonl "$N" "$T_TMP/in1.jsonl"
publish_cfg pub1 "$T_TMP/in1.jsonl"
timeout 600 "$SLUICE" run --once "$T_TMP/pub1.cfg" > "$T_TMP/pub1.stdout" 2> "$T_TMP/pub1.stderr" \
    || t_fail "publishing run exited $?: $(tail -5 "$T_TMP/pub1.stderr")"
grep -q "pipeline pub1: $N records in, $N delivered, 0 rejected" "$T_TMP/pub1.stdout" \
    || t_fail "publishing summary wrong: $(head -2 "$T_TMP/pub1.stdout")"
consume_cfg sub1 "$T_TMP/out1.jsonl" 100
timeout 600 "$SLUICE" run --once "$T_TMP/sub1.cfg" > "$T_TMP/sub1.stdout" 2> "$T_TMP/sub1.stderr" \
    || t_fail "consuming run exited $?: $(tail -5 "$T_TMP/sub1.stderr")"
jq -c . "$T_TMP/in1.jsonl" > "$T_TMP/expected1.jsonl"
jq -c . "$T_TMP/out1.jsonl" > "$T_TMP/actual1.jsonl"
cmp -s "$T_TMP/expected1.jsonl" "$T_TMP/actual1.jsonl" \
    || t_fail "read back differs from the input: $(diff "$T_TMP/expected1.jsonl" "$T_TMP/actual1.jsonl" | head -5)"
seq1=$(sqlite3 "$T_TMP/state-consume/state.db" "select json_extract(value, '\$.seq') from checkpoints where stage = 'sub'")
[ "$seq1" = "$N" ] || t_fail "checkpoint at stream sequence $seq1, expected $N"
t_note "1: $N records published and read back exactly"

# Publishing the same records again adds nothing: Nats-Msg-Id = id, and
# the stream drops duplicates within its window.
rm -rf "$T_TMP/state-pub1"
timeout 600 "$SLUICE" run --once "$T_TMP/pub1.cfg" > "$T_TMP/pub1b.stdout" 2> "$T_TMP/pub1b.stderr" \
    || t_fail "second publishing run exited $?: $(tail -5 "$T_TMP/pub1b.stderr")"

# --- 2. N2 more, the nats-source stage killed with SIGKILL mid-run.
awk -v n="$N" -v m="$N2" 'BEGIN { for (i = n + 1; i <= n + m; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' \
    > "$T_TMP/in2.jsonl"
publish_cfg pub2 "$T_TMP/in2.jsonl"
timeout 600 "$SLUICE" run --once "$T_TMP/pub2.cfg" > "$T_TMP/pub2.stdout" 2> "$T_TMP/pub2.stderr" \
    || t_fail "publishing run 2 exited $?: $(tail -5 "$T_TMP/pub2.stderr")"
consume_cfg sub2 "$T_TMP/out2.jsonl" 20
t_bg "$SLUICE" run "$T_TMP/sub2.cfg"
run=$T_LAST_PID
runtime="$T_TMP/state-consume/run"
out_lines() { [ -f "$T_TMP/out2.jsonl" ] && wc -l < "$T_TMP/out2.jsonl" || echo 0; }
distinct() { [ -f "$T_TMP/out2.jsonl" ] && sort -u "$T_TMP/out2.jsonl" | wc -l || echo 0; }
grown() { [ "$(out_lines)" -gt "$1" ]; }
all_in() { [ "$(distinct)" -ge "$N2" ]; }
kills=0
killed=""
for _ in 1 2 3; do
    all_in && break
    mark=$(out_lines)
    t_wait_for 300 grown "$mark" || t_fail "no progress for 300 s after $kills kills"
    pid=$(t_wait_stage_pid "$runtime" sub "$killed" 120) || t_fail "nats-source not running"
    all_in && break
    kill -9 "$pid" 2>/dev/null && { kills=$((kills + 1)); killed=$pid; \
        t_note "kill $kills: nats-source (pid $pid) at $(out_lines) records out"; }
done
[ "$kills" -ge 1 ] || t_fail "the records were all out before any kill landed: nothing was tested"
t_wait_for 600 all_in || t_fail "after $kills kills only $(distinct) of $N2 records arrived"
jq -c . "$T_TMP/in2.jsonl" > "$T_TMP/expected2.jsonl"
jq -sc 'sort_by(.id) | .[]' "$T_TMP/out2.jsonl" | uniq > "$T_TMP/actual2.jsonl"
cmp -s "$T_TMP/expected2.jsonl" "$T_TMP/actual2.jsonl" \
    || t_fail "after kills the records differ from the input: $(diff "$T_TMP/expected2.jsonl" "$T_TMP/actual2.jsonl" | head -5)"
# The first time each record came out, it came in stream order.
jq -r .id "$T_TMP/out2.jsonl" | awk '!seen[$1]++' > "$T_TMP/first-order.txt"
sort -n -c "$T_TMP/first-order.txt" 2>/dev/null || t_fail "records first came out of order: $(sort -n -c "$T_TMP/first-order.txt" 2>&1)"
dups=$(( $(out_lines) - N2 ))
kill -TERM "$run"
t_wait_for 60 bash -c "! kill -0 $run" || t_fail "sluice run did not stop on SIGTERM"
# Every record is committed and acked: a --once run emits nothing more.
timeout 600 "$SLUICE" run --once "$T_TMP/sub2.cfg" > "$T_TMP/sub2b.stdout" 2> "$T_TMP/sub2b.stderr" \
    || t_fail "last consuming run exited $?: $(tail -5 "$T_TMP/sub2b.stderr")"
[ "$(out_lines)" -eq $((N2 + dups)) ] || t_fail "a run after everything was committed emitted $(( $(out_lines) - N2 - dups )) records"
kill -0 "$nats_pid" || t_fail "nats-server died"

# --- 3. nats-server restarted (SIGTERM: a single node syncs its files on
# the way out; kill -9 of a node is the cluster test's, with replicas)
# while a publishing run and then a consuming run are under way: both
# reconnect, and the records read back are exactly the input.
restart_nats() {
    kill -TERM "$nats_pid"
    t_wait_for 60 bash -c "! kill -0 $nats_pid 2>/dev/null" || t_fail "nats-server did not stop"
    : > "$T_TMP/nats-server.log"
    t_bg "$NATS_SERVER" -js -sd "$T_TMP/js" -a 127.0.0.1 -p "$port" -l "$T_TMP/nats-server.log"
    nats_pid=$T_LAST_PID
    t_wait_for 60 grep -q 'Server is ready' "$T_TMP/nats-server.log" \
        || t_fail "nats-server did not restart: $(tail -3 "$T_TMP/nats-server.log")"
}
N3=10000
awk -v n="$((N + N2))" -v m="$N3" 'BEGIN { for (i = n + 1; i <= n + m; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' \
    > "$T_TMP/in3.jsonl"
publish_cfg pub3 "$T_TMP/in3.jsonl"
sed -i 's/batch_size = 200;/batch_size = 20;/' "$T_TMP/pub3.cfg"
t_bg timeout 600 "$SLUICE" run --once "$T_TMP/pub3.cfg" > "$T_TMP/pub3.stdout" 2> "$T_TMP/pub3.stderr"
pub_run=$T_LAST_PID
t_wait_for 120 grep -q 'sink started' "$T_TMP/pub3.stderr" || t_fail "publishing run 3 did not start"
restart_nats
wait "$pub_run" || t_fail "publishing run 3 exited $? across the restart: $(tail -5 "$T_TMP/pub3.stderr")"
grep -q "pipeline pub3: $N3 records in, $N3 delivered, 0 rejected" "$T_TMP/pub3.stdout" \
    || t_fail "publishing summary 3 wrong: $(head -2 "$T_TMP/pub3.stdout")"
consume_cfg sub3 "$T_TMP/out3.jsonl" 20
t_bg timeout 600 "$SLUICE" run --once "$T_TMP/sub3.cfg"
sub_run=$T_LAST_PID
t_wait_for 120 test -s "$T_TMP/out3.jsonl" || t_fail "consuming run 3 emitted nothing"
restart_nats
wait "$sub_run" || t_fail "consuming run 3 exited $? across the restart"
jq -c . "$T_TMP/in3.jsonl" > "$T_TMP/expected3.jsonl"
jq -sc 'sort_by(.id) | .[]' "$T_TMP/out3.jsonl" | uniq > "$T_TMP/actual3.jsonl"
cmp -s "$T_TMP/expected3.jsonl" "$T_TMP/actual3.jsonl" \
    || t_fail "across nats-server restarts the records differ from the input: $(diff "$T_TMP/expected3.jsonl" "$T_TMP/actual3.jsonl" | head -5)"
t_note "3: $N3 records published and read back across two nats-server restarts, $(( $(wc -l < "$T_TMP/out3.jsonl") - N3 )) duplicates"
# --- 4. The file-sink killed with SIGKILL mid-run: the source rewinds
# (the supervisor restarted a downstream stage) and nothing is lost. (With
# NAKs for the rewind, JetStream served the next fetch before the NAKs and
# 100 of these 2,000 records were lost as "already committed".)
N4=2000
awk -v n="$((N + N2 + N3))" -v m="$N4" 'BEGIN { for (i = n + 1; i <= n + m; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' \
    > "$T_TMP/in4.jsonl"
publish_cfg pub4 "$T_TMP/in4.jsonl"
timeout 600 "$SLUICE" run --once "$T_TMP/pub4.cfg" > "$T_TMP/pub4.stdout" 2> "$T_TMP/pub4.stderr" \
    || t_fail "publishing run 4 exited $?: $(tail -5 "$T_TMP/pub4.stderr")"
consume_cfg sub4 "$T_TMP/out4.jsonl" 20
t_bg "$SLUICE" run "$T_TMP/sub4.cfg"
run4=$T_LAST_PID
t_wait_for 120 test -s "$T_TMP/out4.jsonl" || t_fail "consuming run 4 emitted nothing"
sink_pid=$(t_wait_stage_pid "$T_TMP/state-consume/run" out "" 120) || t_fail "file-sink not running"
kill -9 "$sink_pid"
out4_distinct() { sort -u "$T_TMP/out4.jsonl" | wc -l; }
t_wait_for 300 bash -c "[ \$(sort -u '$T_TMP/out4.jsonl' | wc -l) -ge $N4 ]" \
    || t_fail "after the sink's kill only $(out4_distinct) of $N4 records arrived"
kill -TERM "$run4"
t_wait_for 60 bash -c "! kill -0 $run4" || t_fail "sluice run 4 did not stop on SIGTERM"
jq -c . "$T_TMP/in4.jsonl" > "$T_TMP/expected4.jsonl"
jq -sc 'sort_by(.id) | .[]' "$T_TMP/out4.jsonl" | uniq > "$T_TMP/actual4.jsonl"
cmp -s "$T_TMP/expected4.jsonl" "$T_TMP/actual4.jsonl" \
    || t_fail "after the sink's kill the records differ from the input: $(diff "$T_TMP/expected4.jsonl" "$T_TMP/actual4.jsonl" | head -5)"
t_note "4: $N4 records through a kill -9 of the file-sink (a rewind): none lost, $(( $(wc -l < "$T_TMP/out4.jsonl") - N4 )) duplicates"

echo "ok: $N records out and back exactly; $N2 more through $kills kill -9 of nats-source: none lost, $dups duplicates; $N3 across two nats-server restarts"

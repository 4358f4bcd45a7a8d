#!/usr/bin/env bash
# core-tcp-stage.sh: one stage placed "on another host": its input is a
# tcp://127.0.0.1 endpoint and it runs in a separate `sluice run --stage`
# process; the rest of the pipeline runs under `sluice run --once`. Then a
# record over the remote stage's max_frame_bytes is parked by the sender.
# (A plain link on loopback; core-curve.sh links hosts with keys.)
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

port=$(t_free_port)
t_seq_jsonl 3000 "$T_TMP/in.jsonl"
cat > "$T_TMP/tcp.cfg" <<CFG
pipeline = {
  name = "tcp";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "remote"; plugin = "set-field"; field = "host"; value = "remote";
      endpoint = "tcp://127.0.0.1:$port"; external = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
t_bg "$SLUICE" run --stage remote "$T_TMP/tcp.cfg"
remote=$T_LAST_PID
timeout 60 "$SLUICE" run --once "$T_TMP/tcp.cfg" > "$T_TMP/stdout" 2> "$T_TMP/stderr" \
    || t_fail "pipeline exited $?: $(tail -5 "$T_TMP/stderr")"
[ "$(jq -r .host "$T_TMP/out.jsonl" | sort | uniq -c | awk '{ print $1, $2 }')" = "3000 remote" ] \
    || t_fail "records did not all pass the tcp stage"
kill -0 "$remote" || t_fail "the --stage process died"
echo "ok: 3000 records through a stage over tcp://127.0.0.1:$port"

# A record too big for the remote stage's max_frame_bytes is parked in the
# dead-letter queue by the sender, with the reason; the rest of its batch
# and the others travel (a frame over the limit would cost the connection
# at the receiver, and again at every replay).
port=$(t_free_port)
t_seq_jsonl 500 "$T_TMP/in-big.jsonl"
big=$(head -c 100000 /dev/zero | tr '\0' x)
sed -i "250s/.*/{\"id\":250,\"name\":\"n250\",\"pad\":\"$big\"}/" "$T_TMP/in-big.jsonl"
sed -e "s#tcp://127.0.0.1:[0-9]*\"; external = true;#tcp://127.0.0.1:$port\"; external = true; max_frame_bytes = 65536;#" \
    -e "s#$T_TMP/in.jsonl#$T_TMP/in-big.jsonl#" -e "s#$T_TMP/out.jsonl#$T_TMP/out-big.jsonl#" \
    -e "s#$T_TMP/state#$T_TMP/state-big#" -e 's/name = "tcp";/name = "tcpbig"; batch_size = 50;/' \
    "$T_TMP/tcp.cfg" > "$T_TMP/big.cfg"
grep -q 'max_frame_bytes = 65536' "$T_TMP/big.cfg" || t_fail "big.cfg: $(cat "$T_TMP/big.cfg")"
t_bg "$SLUICE" run --stage remote "$T_TMP/big.cfg"
set +e
timeout 60 "$SLUICE" run --once "$T_TMP/big.cfg" > "$T_TMP/big.stdout" 2> "$T_TMP/big.stderr"
rc=$?
set -e
[ "$rc" = 2 ] || t_fail "oversized record: run exited $rc, expected 2: $(tail -5 "$T_TMP/big.stderr")"
[ "$(jq -r .id "$T_TMP/out-big.jsonl" | sort -n | tr '\n' ' ')" = "$(seq 500 | grep -vx 250 | tr '\n' ' ')" ] \
    || t_fail "oversized record: the other 499 records did not all arrive once"
"$SLUICE" dlq list "$T_TMP/big.cfg" > "$T_TMP/big.dlq"
grep -q "over max_frame_bytes = 65536 of stage 'remote'" "$T_TMP/big.dlq" \
    || t_fail "oversized record: DLQ says $(cat "$T_TMP/big.dlq")"
echo "ok: a record over the remote stage's max_frame_bytes is parked by the sender"

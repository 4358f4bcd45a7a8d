#!/usr/bin/env bash
# core-tcp-stage.sh: one stage placed "on another host": its input is a
# tcp://127.0.0.1 endpoint and it runs in a separate `sluice run --stage`
# process; the rest of the pipeline runs under `sluice run --once`.
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
timeout 600 "$SLUICE" run --once "$T_TMP/tcp.cfg" > "$T_TMP/stdout" 2> "$T_TMP/stderr" \
    || t_fail "pipeline exited $?: $(tail -5 "$T_TMP/stderr")"
[ "$(jq -r .host "$T_TMP/out.jsonl" | sort | uniq -c | awk '{ print $1, $2 }')" = "3000 remote" ] \
    || t_fail "records did not all pass the tcp stage"
kill -0 "$remote" || t_fail "the --stage process died"
echo "ok: 3000 records through a stage over tcp://127.0.0.1:$port"

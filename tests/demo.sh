#!/usr/bin/env bash
# demo.sh: `make demo`: a generic pipeline through real processes (the
# loyalty demo replaces this once the loyalty plugins land).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
export top_builddir=${top_builddir:-$(cd "$here/.." && pwd)}
. "$here/lib.sh"
"$top_builddir/tests/bench_records" "$top_srcdir/tests/bench/member-sample.json" 10000 > "$T_TMP/in.jsonl"
cat > "$T_TMP/demo.cfg" <<CFG
pipeline = {
  name = "demo";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "source"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "tag"; plugin = "set-field"; field = "synced_by"; value = "sluice"; },
    { name = "sink"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
"$SLUICE" run --once "$T_TMP/demo.cfg"
echo "synced $(wc -l < "$T_TMP/out.jsonl") records; first: $(head -c 160 "$T_TMP/out.jsonl")..."

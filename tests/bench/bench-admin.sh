#!/usr/bin/env bash
# bench-admin.sh: what one scrape of the admin endpoint costs for 200
# pipelines (issue 15: under 100 ms): one real `sluice run` of a 5-stage
# pipeline leaves its statistics and status files; they are copied into
# 200 pipeline directories, and bench_admin times the gather (files and
# /proc), the health rules and the /metrics rendering over all of them.
# The copies' processes are gone, so /proc answers "no such process" for
# them: a live fleet adds two small /proc reads per process. Figures only;
# take them on a quiet machine.
#   BENCH_ADMIN_PIPELINES (default 200), BENCH_ADMIN_RUNS (default 20)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
sluice="$builddir/core/sluice"
export SLUICE_PLUGIN_PATH="$builddir/plugins/.libs"
pipelines=${BENCH_ADMIN_PIPELINES:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-admin.XXXXXX")
trap 'rm -rf "$work"' EXIT

awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' > "$work/in.jsonl"
cat > "$work/one.cfg" <<CFG
pipeline = {
  name = "one";
  state_dir = "$work/one";
  batch_size = 100;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$work/in.jsonl"; },
    { name = "a"; plugin = "set-field"; field = "a"; value = "x"; },
    { name = "b"; plugin = "set-field"; field = "b"; value = "y"; },
    { name = "c"; plugin = "set-field"; field = "c"; value = "z"; },
    { name = "out"; plugin = "file-sink"; path = "$work/out.jsonl"; }
  );
};
CFG
"$sluice" run --once "$work/one.cfg" > /dev/null 2>&1
mkdir -p "$work/fleet"
for ((i = 1; i <= pipelines; i++)); do
    mkdir -p "$work/fleet/client-$i/run"
    cp "$work/one/run/"*.stats "$work/one/run/supervisor.status" "$work/fleet/client-$i/run/"
done
read -r n median worst bytes < <("$builddir/tests/bench_admin" "$work/fleet" "${BENCH_ADMIN_RUNS:-20}")
echo "admin scrape of $n pipelines (5 stages each): median ${median} ms, worst ${worst} ms, /metrics ${bytes} bytes (target < 100 ms: $(awk -v m="$median" 'BEGIN { print (m < 100 ? "met" : "NOT met") }'))"

#!/usr/bin/env bash
# bench-transforms.sh: one-core throughput of the field-mapper (default
# Ometria mapping) and tier-event-deriver plugins, calling their process()
# callbacks in-process on generated records with a real SQLite state store;
# prints the median of BENCH_RUNS (3) runs of BENCH_TRANSFORM_RECORDS (100000).
# The driver links the allocator the sluice executable links (jemalloc when
# configure found it), as a stage process runs them.
#   field-mapper: N records/s
#   tier-event-deriver: N records/s
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$builddir/plugins/.libs}
records=${BENCH_TRANSFORM_RECORDS:-100000}
runs=${BENCH_RUNS:-3}
driver="$builddir/tests/bench/bench_transforms"
[ -x "$driver" ] || { echo "bench-transforms: build $driver first (make check)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-transforms.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/mappings"
cp "$srcdir/pipelines/mappings/ometria.cfg" "$work/mappings/"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }

for run in $(seq "$runs"); do
    cat > "$work/bench.cfg" <<CFG
pipeline = {
  name = "bench-transforms";
  state_dir = "$work/state-$run";
  stages = (
    { name = "source"; plugin = "file-source"; path = "/dev/null"; },
    { name = "derive"; plugin = "tier-event-deriver";
      tier_ladder = [ "Bronze", "Silver", "Gold", "Platinum" ]; close_threshold = "100"; },
    { name = "map"; plugin = "field-mapper";
      @include "mappings/ometria.cfg"
      lists = { loyalty = 1001; vip = 1002; newsletter = 1003; };
    },
    { name = "sink"; plugin = "file-sink"; path = "$work/out.jsonl"; }
  );
};
CFG
    # One core, as the figure is per core.
    taskset -c 0 "$driver" "$work/bench.cfg" "$srcdir/tests/bench/member-sample.json" "$records" \
        > "$work/run-$run.txt"
done
cat "$work"/run-*.txt | awk '/^field-mapper:/ { print $2 }' | median | awk '{ printf "field-mapper: %.0f records/s\n", $1 }'
cat "$work"/run-*.txt | awk '/^tier-event-deriver:/ { print $2 }' | median | awk '{ printf "tier-event-deriver: %.0f records/s\n", $1 }'
grep -h '^tier-event-deriver' "$work/run-1.txt" | sed 's/^/  (run 1) /'

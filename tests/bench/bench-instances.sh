#!/usr/bin/env bash
# bench-instances.sh: what parallel instances of a stateless stage buy.
# file-source -> field-mapper (pipelines/mappings/infobip.cfg, the busiest
# stage of the Infobip sync) -> file-sink over BENCH_MEMBERS loyaltygen
# members, `sluice run --once`, with the mapper as 1 process and as one
# per core. Prints the median wall time of BENCH_RUNS runs per setting,
# the speed-up, and checks that every setting wrote the same file byte for
# byte (the instances' batches are put back in order):
#   instances: field-mapper x1: 100000 members in X s (R members/s, CPU C s)
#   instances: field-mapper x2: ... ; speed-up S; outputs identical
#   BENCH_RUNS     (default 3)
#   BENCH_MEMBERS  (default 100000)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
sluice=${SLUICE:-$builddir/core/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$builddir/plugins/.libs}
gen_dir=${GEN_DIR:-$builddir/tests/gen}
runs=${BENCH_RUNS:-3}
members=${BENCH_MEMBERS:-100000}
cores=$(nproc 2> /dev/null || getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1)

for tool in "$sluice" "$gen_dir/loyaltygen"; do
    [ -x "$tool" ] || { echo "bench-instances: $tool not built (make check builds it)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-instances.XXXXXX")
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }

"$gen_dir/loyaltygen" --seed 6 --members "$members" --days 0 --truth none --out "$work/gen" \
    2> "$work/gen.log" || { echo "bench-instances: loyaltygen failed: $(tail -3 "$work/gen.log")" >&2; exit 1; }
cp -r "$srcdir/pipelines/mappings" "$work/mappings"

settings=1
[ "$cores" -gt 1 ] && settings="1 $cores"
for n in $settings; do
    for run in $(seq "$runs"); do
        rm -rf "$work/state" "$work/out-$n.jsonl"
        cat > "$work/x$n.cfg" << CFG
pipeline = {
  name = "bench-instances";
  state_dir = "$work/state";
  batch_size = 4000;
  stages = (
    { name = "source"; plugin = "file-source"; path = "$work/gen/final.jsonl"; },
    { name = "map"; plugin = "field-mapper"; instances = $n;
      @include "mappings/infobip.cfg"
    },
    { name = "out"; plugin = "file-sink"; path = "$work/out-$n.jsonl"; sync = "none"; }
  );
};
CFG
        "$sluice" run --once --log-level warn "$work/x$n.cfg" > "$work/x$n-$run.out" 2> "$work/x$n-$run.err" \
            || { echo "bench-instances: run with $n instance(s) failed: $(tail -3 "$work/x$n-$run.err")" >&2; exit 1; }
        # "elapsed X.XXs" and the CPU line's map entries (map or map#k)
        awk '/ elapsed / { for (i = 1; i <= NF; i++) if ($i == "elapsed") { sub(/s,?$/, "", $(i + 1)); t = $(i + 1) } }
             $3 == "CPU" { for (i = 4; i < NF; i += 2) if ($i ~ /^map(#[0-9]+)?$/) c += $(i + 1) + 0 }
             END { printf "%s %.2f\n", t, c }' "$work/x$n-$run.out" >> "$work/x$n.times"
    done
    [ "$(wc -l < "$work/out-$n.jsonl")" -eq "$members" ] \
        || { echo "bench-instances: $n instance(s) wrote $(wc -l < "$work/out-$n.jsonl") of $members members" >&2; exit 1; }
done

identical=yes
for n in $settings; do
    cmp -s "$work/out-1.jsonl" "$work/out-$n.jsonl" || identical=NO
done
line="instances:"
for n in $settings; do
    t=$(awk '{ print $1 }' "$work/x$n.times" | median)
    c=$(awk '{ print $2 }' "$work/x$n.times" | median)
    eval "t$n=$t"
    line+=$(awk -v n="$n" -v t="$t" -v c="$c" -v m="$members" \
        'BEGIN { printf " field-mapper x%d: %d members in %.2f s (%.0f members/s, mapper CPU %.2f s);", n, m, t, m / t, c }')
done
if [ "$cores" -gt 1 ]; then
    line+=$(awk -v a="$t1" -v b="$(eval echo "\$t$cores")" 'BEGIN { printf " speed-up %.2f;", a / b }')
fi
echo "$line outputs identical: $identical (median of $runs runs, $cores cores)"
[ "$identical" = yes ]

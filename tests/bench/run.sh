#!/usr/bin/env bash
# run.sh: `make bench`: throughput and peak memory of sluice pipelines, as
# medians of several runs, next to the bound this machine sets: a plain
# jansson parse+dump loop on every core at once, measured again just
# before each process-per-stage run (the vCPUs of a virtual machine need
# not be equal, nor steady: here one ran the loop at 33,000 records/s while
# the other ran it at 56,000). Figures only; nothing here is a pass/fail
# test.
#   BENCH_RECORDS (default 1000000)  records per run
#   BENCH_RUNS    (default 3)        runs per figure (the median is printed)
#   BENCH_BOUND_RECORDS (default 200000) records per loop of the bound
#   BENCH_EXTRAS  (default 1)        0: only the core pipeline figures, not bench-*.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
sluice="$builddir/core/sluice"
export SLUICE_PLUGIN_PATH="$builddir/plugins/.libs"
records=${BENCH_RECORDS:-1000000}
runs=${BENCH_RUNS:-3}
sample="$srcdir/tests/bench/member-sample.json"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }

echo "== sluice benchmarks ($records records of $(head -c 2000 "$sample" | tr -d '\n' | wc -c) bytes, median of $runs runs, $(nproc) cores)"
"$builddir/tests/bench_records" "$sample" "$records" > "$work/in.jsonl"

# The bound: the plain jansson loop (parse+dump each record, then parse
# alone) on every core at once, each copy pinned to its core (taskset;
# unpinned without it), over the first BENCH_BOUND_RECORDS records.
# bound_once appends to $work/bound a line "SUM_PARSE_DUMP SUM_PARSE
# CORE0_PARSE_DUMP CORE1_PARSE_DUMP ..." (records/s).
cores=$(nproc)
head -n "${BENCH_BOUND_RECORDS:-200000}" "$work/in.jsonl" > "$work/bound.jsonl"
bound_once() {
    local c pin=()
    for c in $(seq 0 $((cores - 1))); do
        command -v taskset > /dev/null && pin=(taskset -c "$c")
        "${pin[@]}" "$builddir/tests/jansson_bound" "$work/bound.jsonl" > "$work/bound.core$c" &
    done
    wait
    for c in $(seq 0 $((cores - 1))); do cat "$work/bound.core$c"; done |
        awk '{ pd += $3; p += $4; each = each " " $3 } END { printf "%.0f %.0f%s\n", pd, p, each }' >> "$work/bound"
}
"$builddir/tests/jansson_bound" "$work/bound.jsonl" > /dev/null # warm the page cache
: > "$work/bound"

write_pipeline() {
    local name=$1 placement=$2 group=""
    [ "$placement" = grouped ] && group='group = "all";'
    cat > "$work/$name.cfg" <<CFG
pipeline = {
  name = "$name";
  state_dir = "$work/state-$name";
  batch_size = 500;
  window = 8;
  stages = (
    { name = "source"; plugin = "file-source"; path = "$work/in.jsonl"; $group },
    { name = "t1"; plugin = "set-field"; field = "bench_t1"; value = "a"; $group },
    { name = "t2"; plugin = "set-field"; field = "current_tier"; value = "Platinum"; $group },
    { name = "t3"; plugin = "set-field"; field = "bench.t3"; value = "c"; $group },
    { name = "sink"; plugin = "file-sink"; path = "$work/out-$name.jsonl"; sync = "none"; $group }
  );
};
CFG
}

# run_once NAME: prints "records_per_s peak_rss_kb". Peak RSS of a run in kB: the --once summary's "peak RSS" (the pipeline
# supervisor plus each stage process's peak, from wait4's rusage: no
# sampling process competing for the 2 cores) plus the `sluice run` parent
# process, whose resident set is fixed once it has forked the pipeline.
run_once() {
    local name=$1 start end peak parent rc lines
    rm -rf "$work/state-$name" "$work/out-$name.jsonl"
    start=$(date +%s.%N)
    "$sluice" run --once --log-level warn "$work/$name.cfg" > "$work/$name.stdout" 2> "$work/$name.stderr" &
    local pid=$!
    sleep 1
    parent=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    wait "$pid" && rc=0 || rc=$?
    end=$(date +%s.%N)
    lines=$(wc -l < "$work/out-$name.jsonl" 2>/dev/null || echo 0)
    peak=$(sed -n 's/.*peak RSS \([0-9.]*\) MB.*/\1/p' "$work/$name.stdout")
    if [ "$rc" -ne 0 ] || [ "$lines" -lt "$records" ] || [ -z "$peak" ]; then
        echo "bench: $name failed (exit $rc, $lines of $records records out)" >&2
        tail -5 "$work/$name.stderr" >&2
        echo "0 0"
        return
    fi
    awk -v n="$records" -v s="$start" -v e="$end" -v p="$peak" -v q="${parent:-0}" \
        'BEGIN { printf "%.0f %d\n", n / (e - s), p * 1024 + q }'
}

# bench_placement PLACEMENT LABEL: runs the pipeline BENCH_RUNS times and
# prints the medians. For the process-per-stage placement the bound is
# measured just before each run, and each run's rate is kept next to its
# bound in $work/pairs-separate ("RATE SUM_PARSE_DUMP").
bench_placement() {
    local placement=$1 label=$2 i results rate rss
    write_pipeline "bench-$placement" "$placement"
    results=$(for i in $(seq "$runs"); do
        if [ "$placement" = separate ]; then bound_once; fi
        run_once "bench-$placement"
    done)
    if [ "$placement" = separate ]; then
        paste -d' ' <(echo "$results" | awk '{ print $1 }') <(awk '{ print $1 }' "$work/bound") \
            > "$work/pairs-separate"
        printf 'jansson bound, all %d cores at once, measured before each run: parse+dump %.0f records/s (median; by run and core:%s), parse alone %.0f\n' \
            "$cores" "$(awk '{ print $1 }' "$work/bound" | median)" \
            "$(awk '{ $1 = $2 = ""; sub(/^ +/, ""); gsub(/ /, "+"); printf " %s", $0 }' "$work/bound")" \
            "$(awk '{ print $2 }' "$work/bound" | median)"
    fi
    rate=$(echo "$results" | awk '{ print $1 }' | median)
    rss=$(echo "$results" | awk '{ print $2 }' | median)
    printf '%-44s %8.0f records/s   peak RSS %6.1f MB\n' "$label" "$rate" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
    echo "$rate" > "$work/rate-$placement"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# (The figure lines go straight to stdout: a `tee /dev/stderr` here used to
# truncate a redirected stderr file, losing the first figure.)
bench_placement separate "file-source -> 3 x set-field -> file-sink, process per stage (ipc://):"
bench_placement grouped "same, all stages grouped in one process (inproc://):"
separate=$(cat "$work/rate-separate")
grouped=$(cat "$work/rate-grouped")

# Process per stage, the jansson work per record: the source reads lines
# and sends them unparsed (marked unverified), each of the 3 transforms
# parses and dumps, and file-sink writes the text it received (records are
# parsed lazily, docs/architecture.md): three parse+dump passes. Each run
# is set against the bound measured just before it (the cores' summed
# parse+dump rate / passes) and the median of those shares is printed.
# Also shown against four and five passes, what it would be had the source
# parsed and dumped too, or every stage.
for passes in 3 4 5; do
    case $passes in
        3) what=' (its jansson work; target 80%)' ;;
        4) what=' (had the source parsed and dumped too)' ;;
        5) what=' (had every stage parsed and dumped)' ;;
    esac
    allowed=$(awk -v p="$passes" '{ print $2 / p }' "$work/pairs-separate" | median)
    share=$(awk -v p="$passes" '{ print 100 * $1 * p / $2 }' "$work/pairs-separate" | median)
    printf 'bound for %d parse+dump passes on %d cores: %.0f records/s; process-per-stage reaches %.0f%%%s\n' \
        "$passes" "$cores" "$allowed" "$share" "$what"
done
printf 'grouped target 48000 records/s: %s\n' "$(awk -v g="$grouped" 'BEGIN { print (g >= 48000 ? "met" : "NOT met") }')"

# Other benchmarks contributed by each area, when present.
if [ "${BENCH_EXTRAS:-1}" != 0 ]; then
    for extra in "$here"/bench-*.sh; do
        [ -f "$extra" ] || continue
        bash "$extra" || echo "bench: $(basename "$extra") failed" >&2
    done
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

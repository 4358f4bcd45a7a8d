#!/usr/bin/env bash
# tests/bench/bench-sinks.sh: issue 6 item 4: time to sync N canonical members
# (loyaltygen final.jsonl) to ometria-emu and to infobip-emu with both the
# sink and the emulator limited to R requests/s, as a ratio to the minimum
# that rate limit allows (requests needed / R). Pipeline as shipped:
# file-source -> field-mapper (pipelines/mappings/<dest>.cfg) -> <dest>-sink,
# one process per stage and field-mapper as one instance per core,
# `sluice run --once`. Prints, per destination, the
# median of the runs (its request and 429 counts are the median run's):
#   ometria-sink: 100000 members in X s, N requests, minimum Y s at 50 req/s, ratio R, 429s: K
# and next to the rate-limit minimum the CPU-time floor of that run on this
# machine: the user+sys CPU of every process of the run (sluice and its
# stage processes, the emulator included) divided by the number of cores,
# and the CPU of the busiest stage process (the --once summary's CPU
# line; no number of cores runs one process faster), so a reader sees
# which bound the run hits:
#   ometria-sink bounds: CPU C s on N cores = floor F s; busiest stage S B s; rate-limit minimum Y s: bound by ...
#   BENCH_RUNS          (default 3)       runs per destination
#   BENCH_MEMBERS       (default 100000)  members per run
#   BENCH_SINK_RATE     (default 50)      requests/s (sink and emulator)
#   BENCH_SINK_TIMEOUT  (default 600)     seconds a single run may take
#   BENCH_SINK_DESTS    (default "ometria infobip")
#   BENCH_INFOBIP_BATCH (default 4000)    batch_size of the Infobip pipeline
#   BENCH_MAP_INSTANCES (default: cores)  processes running field-mapper
#   BENCH_KEEP          (set: keep the work directory and say where)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
sluice=${SLUICE:-$builddir/core/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$builddir/plugins/.libs}
emu_dir=${EMU_DIR:-$builddir/tests/emulators}
gen_dir=${GEN_DIR:-$builddir/tests/gen}
runs=${BENCH_RUNS:-3}
members=${BENCH_MEMBERS:-100000}
rate=${BENCH_SINK_RATE:-50}
run_timeout=${BENCH_SINK_TIMEOUT:-600}
dests=${BENCH_SINK_DESTS:-ometria infobip}

for tool in "$sluice" "$emu_dir/ometria-emu" "$emu_dir/infobip-emu" "$gen_dir/loyaltygen"; do
    [ -x "$tool" ] || { echo "bench-sinks: $tool not built (make check builds it)" >&2; exit 1; }
done
command -v curl > /dev/null || { echo "bench-sinks: needs curl" >&2; exit 1; }
for cmd in jq sqlite3; do
    command -v "$cmd" > /dev/null || { echo "bench-sinks: needs $cmd" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-sinks.XXXXXX")
emu_pid=""
sluice_pid=""
stop_emulator() {
    if [ -n "$emu_pid" ]; then
        kill -TERM "$emu_pid" 2> /dev/null || true
        wait "$emu_pid" 2> /dev/null || true
        emu_pid=""
    fi
}
cleanup() {
    [ -z "$sluice_pid" ] || kill -TERM -- "-$sluice_pid" 2> /dev/null || true
    stop_emulator
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-sinks: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

cores=$(nproc 2> /dev/null || getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1)
map_instances=${BENCH_MAP_INSTANCES:-$cores}

# cpu_of_children VAR: set VAR to the user+sys seconds of every child this
# shell waited for so far (bash's `times`, second line; grandchildren count
# once their parent waited for them: sluice waits for its stages, timeout
# for sluice). `times` runs in this shell, not in a $(...) subshell, which
# would report its own children only.
cpu_of_children() {
    local file="$work/times.$BASHPID"
    times > "$file"
    printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$file")"
}

# emu_cpu: user+sys seconds the running emulator has used so far.
clock_ticks=$(getconf CLK_TCK)
emu_cpu() {
    awk -v t="$clock_ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$emu_pid/stat"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'; }

# The members: every member's final state, as an API-mode full sync sees it.
"$gen_dir/loyaltygen" --seed 6 --members "$members" --days 0 --truth none --out "$work/gen" \
    2> "$work/gen.log" || { echo "bench-sinks: loyaltygen failed: $(tail -3 "$work/gen.log")" >&2; exit 1; }
input="$work/gen/final.jsonl"
# The shipped mappings, found through @include relative to the pipeline file.
cp -r "$srcdir/pipelines/mappings" "$work/mappings"

# start_emulator NAME ARGS...: a fresh emulator (a fresh rate-limit bucket)
# on a free port, logging each request; sets emu_pid and emu_url.
start_emulator() {
    local name=$1
    shift
    : > "$work/emu.out"
    : > "$work/emu.log"
    "$emu_dir/$name" --port 0 --log "$work/emu.log" --rate-limit "$rate" "$@" > "$work/emu.out" 2> "$work/emu.err" &
    emu_pid=$!
    for _ in $(seq 100); do grep -q '^listening on' "$work/emu.out" && break; sleep 0.05; done
    emu_url="http://127.0.0.1:$(sed -n 's/^listening on 127\.0\.0\.1://p' "$work/emu.out")"
    [ "$emu_url" != "http://127.0.0.1:" ] || { echo "bench-sinks: $name did not start: $(cat "$work/emu.err")" >&2; exit 1; }
}

# write_pipeline DEST RUN: the pipeline file for one run (fresh state dir).
write_pipeline() {
    local dest=$1 run=$2 sink
    if [ "$dest" = ometria ]; then
        sink="{ name = \"ometria\"; plugin = \"ometria-sink\";
      base_url = \"$emu_url\"; api_key = \"bench-ometria-key\";
      rate_limit = $rate.0; }"
        batch=500
    else
        # 4000 persons per batch: upserts carry Infobip's maximum (1000),
        # and the sink has 4 of them to keep in flight at once
        # (max_in_flight, default 4); the request count is the same.
        sink="{ name = \"infobip\"; plugin = \"infobip-sink\";
      base_url = \"$emu_url\"; api_key = \"bench-infobip-key\";
      requests_per_second = $rate.0;
      @include \"mappings/infobip-schema.cfg\"
      tags = [ \"Loyalty\", \"vip\", \"newsletter\", \"birthday_club\", \"high_spender\" ]; }"
        batch=${BENCH_INFOBIP_BATCH:-4000}
    fi
    cat > "$work/$dest.cfg" << CFG
pipeline = {
  name = "bench-$dest";
  state_dir = "$work/state-$dest-$run";
  batch_size = $batch;
  stages = (
    { name = "source"; plugin = "file-source"; path = "$input"; },
    { name = "map"; plugin = "field-mapper"; instances = $map_instances;
      @include "mappings/$dest.cfg"
    },
    $sink
  );
};
CFG
}

# run_once DEST RUN: prints "seconds requests minimum_requests 429s delivered
# dead-lettered cpu_seconds busiest_stage its_cpu_seconds" (cpu: the whole
# sluice run, and the emulator while the run lasted; the busiest stage
# process from the --once summary's CPU line).
run_once() {
    local dest=$1 run=$2 start end rc stats requests limited needed delivered dead cpu_before cpu
    local emu_before emu_after
    if [ "$dest" = ometria ]; then
        start_emulator ometria-emu --api-key bench-ometria-key
    else
        start_emulator infobip-emu --api-key bench-infobip-key
    fi
    write_pipeline "$dest" "$run"
    # CPU of the timed window only: the sluice run and the emulator from
    # just before the run starts until it ends.
    cpu_of_children cpu_before
    emu_before=$(emu_cpu)
    start=$(date +%s.%N)
    setsid timeout "$run_timeout" "$sluice" run --once --log-level warn "$work/$dest.cfg" \
        > "$work/$dest.stdout" 2> "$work/$dest.stderr" &
    sluice_pid=$!
    wait "$sluice_pid" && rc=0 || rc=$?
    sluice_pid=""
    end=$(date +%s.%N)
    emu_after=$(emu_cpu)
    cpu_of_children cpu
    stats=$(curl -s --max-time 10 "$emu_url/_emu/stats")
    requests=$(echo "$stats" | jq '.requests')
    limited=$(echo "$stats" | jq '.by_status["429"] // 0')
    if [ "$dest" = ometria ]; then
        # One push of at most 100 contacts per 100 members.
        needed=$(( (members + 99) / 100 ))
        delivered=$(echo "$stats" | jq '.counters.records_accepted')
    else
        # One upsert of at most 1000 persons per 1000 members, plus the
        # tag requests the sink made (on a first sync one PATCH per tag
        # per upsert, no removal).
        needed=$(( (members + 999) / 1000 + $(grep -c '^[A-Z]* /people/2/tags/[^ ]*/persons ' "$work/emu.log" || true) ))
        delivered=$(echo "$stats" | jq '.counters.persons_created + .counters.persons_updated + .counters.persons_not_modified')
    fi
    stop_emulator
    cpu=$(awk -v a="$cpu_before" -v b="$cpu" -v ea="$emu_before" -v eb="$emu_after" \
        'BEGIN { printf "%.2f", (b - a) + (eb - ea) }')
    # Exit 2: some records were refused and dead-lettered (the run itself
    # completed); every member must be either delivered or dead-lettered.
    dead=0
    if [ "$rc" -eq 2 ]; then
        dead=$(sqlite3 "$work/state-$dest-$run/state.db" 'select count(*) from dlq' 2> /dev/null || echo 0)
        sqlite3 "$work/state-$dest-$run/state.db" 'select reason from dlq limit 3' 2> /dev/null \
            | sed "s/^/  $dest-sink dead-lettered: /" >&2 || true
    fi
    if { [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; } || [ $((delivered + dead)) -lt "$members" ]; then
        echo "bench-sinks: $dest run $run failed (exit $rc, $delivered of $members members delivered, $dead dead-lettered)" >&2
        tail -5 "$work/$dest.stderr" >&2
        return 1
    fi
    # "pipeline NAME: CPU source 0.41s, map 3.80s, ..., supervisor 0.03s"
    busiest=$(awk '$3 == "CPU" { for (i = 4; i < NF; i += 2) { v = $(i + 1) + 0; if (v > max) { max = v; name = $i } } }
        END { printf "%s %.2f", (name == "" ? "?" : name), max }' "$work/$dest.stdout")
    awk -v s="$start" -v e="$end" -v r="$requests" -v n="$needed" -v k="$limited" -v d="$delivered" -v q="$dead" \
        -v c="$cpu" -v b="$busiest" 'BEGIN { printf "%.2f %d %d %d %d %d %.2f %s\n", e - s, r, n, k, d, q, c, b }'
}

bench_dest() {
    local dest=$1 run line results="" mid minimum
    for run in $(seq "$runs"); do
        line=$(run_once "$dest" "$run") || return 1
        echo "  $dest-sink run $run: $(echo "$line" | awk -v r="$rate" -v c="$cores" \
            '{ printf "%s s, %d requests (%d needed, minimum %.2f s), 429s: %d, %d members delivered, %d dead-lettered, CPU %.2f s (floor %.2f s on %d cores), busiest stage %s %.2f s", $1, $2, $3, $3 / r, $4, $5, $6, $7, $7 / c, c, $8, $9 }')" >&2
        results+="$line"$'\n'
    done
    mid=$(printf '%s' "$results" | awk '{ print $1 }' | median)
    printf '%s' "$results" | awk -v m="$mid" -v r="$rate" -v n="$members" -v d="$dest" -v c="$cores" '
        $1 == m && !done {
            minimum = $3 / r
            printf "%s-sink: %d members in %.1f s, %d requests, minimum %.1f s at %s req/s, ratio %.2f, 429s: %d\n",
                d, n, $1, $2, minimum, r, $1 / minimum, $4
            printf "%s-sink target (within 10%% of the minimum): %s; %d members delivered, %d dead-lettered\n",
                d, ($1 / minimum <= 1.10 ? "met" : "NOT met"), $5, $6
            floor = $7 / c
            bound = "rate limit"
            if (floor > minimum && floor >= $9) bound = "CPU (no schedule can beat the floor here)"
            else if ($9 > minimum) bound = "busiest stage process (no number of cores runs one process faster; a stateless stage can have more instances)"
            printf "%s-sink bounds: CPU %.1f s (every process, emulator included) on %d cores = floor %.1f s; busiest stage %s %.1f s; rate-limit minimum %.1f s: bound by the %s\n",
                d, $7, c, floor, $8, $9, minimum, bound
            done = 1
        }'
}

echo "== sinks: $members members at $rate requests/s, median of $runs runs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
for dest in $dests; do
    bench_dest "$dest" || status=1
done
exit "$status"

#!/usr/bin/env bash
# tests/bench/bench-emulators.sh: ometria-emu push and infobip-emu upsert throughput (rate limits off), median of runs.
#   BENCH_RUNS            (default 3)      runs; the median is printed
#   BENCH_EMU_REQUESTS    (default 10000)  ometria pushes per run (each run also stops after 15 s)
#   BENCH_EMU_CONC        (default 4)      concurrent keep-alive connections
#   BENCH_INFOBIP_UPSERTS (default 40)     infobip 1,000-person upserts per run (also stops after 15 s)
# Each line also gives the emulator's CPU per request (utime + stime from
# /proc/PID/stat around the run), which depends much less on machine load
# than requests/s.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${EMU_DIR:-}" ]; then
    emu_dir=$EMU_DIR
elif [ -n "${top_builddir:-}" ]; then
    emu_dir="$top_builddir/tests/emulators"
else
    emu_dir="$here/../emulators"
fi
runs=${BENCH_RUNS:-3}
requests=${BENCH_EMU_REQUESTS:-10000}
conc=${BENCH_EMU_CONC:-4}
upserts=${BENCH_INFOBIP_UPSERTS:-40}
for tool in ometria-emu infobip-emu emu-load; do
    [ -x "$emu_dir/$tool" ] || { echo "bench-emulators: $emu_dir/$tool not built (make check builds it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-emulators.XXXXXX")
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# start_emu NAME ARGS...: starts emulator NAME on a free port; sets pid and port.
start_emu() {
    local name=$1
    shift
    "$emu_dir/$name" --port 0 "$@" > "$work/$name.out" 2> "$work/$name.err" &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening on' "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
    port=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$work/$name.out")
    [ -n "$port" ] || { echo "bench-emulators: $name did not start: $(cat "$work/$name.err")" >&2; exit 1; }
}

# stop_emu: stops the running emulator.
stop_emu() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# median: the median of the numbers on stdin (one a line).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure LABEL URL [emu-load args]: runs emu-load $runs times against the
# running emulator; prints "<median requests/s> <median CPU us/request>" on
# stdout, one line per run on stderr.
measure() {
    local label=$1 url=$2 rates=() cpus=() before after line n cpu
    shift 2
    for _ in $(seq "$runs"); do
        curl -s -X POST "http://127.0.0.1:$port/_emu/reset" > /dev/null
        before=$(cpu_ticks)
        line=$("$emu_dir/emu-load" --url "$url" --api-key bench --concurrency "$conc" "$@")
        after=$(cpu_ticks)
        n=$(echo "$line" | sed -n 's/.*(\([0-9]*\) ok.*/\1/p')
        cpu=$(awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }')
        echo "  $label run: $line; emulator CPU $cpu us/request" >&2
        rates+=("${line%% *}")
        cpus+=("$cpu")
    done
    echo "$(printf '%s\n' "${rates[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}

start_emu ometria-emu --api-key bench --rate-limit 0
read -r typical typical_cpu < <(measure typical "http://127.0.0.1:$port/v2/push" \
    --requests "$requests" --seconds 15)
read -r minimal minimal_cpu < <(measure minimal "http://127.0.0.1:$port/v2/push" \
    --requests "$requests" --seconds 15 --minimal)
stop_emu
load=$(cut -d' ' -f1 /proc/loadavg)
echo "ometria-emu: $typical requests/s (100-record pushes of ~26 KB: 4-field contacts with 3 properties; median of $runs runs, $conc connections, emulator CPU $typical_cpu us/request, load average $load)"
echo "ometria-emu: $minimal requests/s (100-record pushes of ~9 KB: id+email contacts; emulator CPU $minimal_cpu us/request)"

# Infobip: each run starts from a reset state; emu-load defines the 25
# attributes, its first 10 upserts create 10,000 persons, the later ones
# update them (16 body variants, the points change).
start_emu infobip-emu --api-key bench --rate-limit 0
read -r upsert_rate upsert_cpu < <(measure infobip "http://127.0.0.1:$port" --infobip-upsert \
    --requests "$upserts" --seconds 15)
stop_emu
awk -v r="$upsert_rate" -v c="$upsert_cpu" -v n="$runs" -v k="$conc" 'BEGIN {
    printf "infobip-emu: %s upserts/s of 1000 persons (%.1f ms CPU per upsert; ~1.1 MB bodies of acme-mapping persons with 25 custom attributes, first 10 create then update; median of %s runs, %s connections)\n", r, c / 1000, n, k }'

#!/usr/bin/env bash
# tests/bench/bench-emulators.sh: ometria-emu push throughput (100-record pushes, rate limit off), median of runs.
#   BENCH_RUNS         (default 3)      runs; the median is printed
#   BENCH_EMU_REQUESTS (default 10000)  requests per run (each run also stops after 15 s)
#   BENCH_EMU_CONC     (default 4)      concurrent keep-alive connections
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
for tool in ometria-emu emu-load; do
    [ -x "$emu_dir/$tool" ] || { echo "bench-emulators: $emu_dir/$tool not built (make check builds it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-emulators.XXXXXX")
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$emu_dir/ometria-emu" --port 0 --api-key bench --rate-limit 0 > "$work/emu.out" 2> "$work/emu.err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/emu.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$work/emu.out")
[ -n "$port" ] || { echo "bench-emulators: ometria-emu did not start: $(cat "$work/emu.err")" >&2; exit 1; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# measure LABEL [emu-load args]: runs emu-load $runs times; prints the median
# requests/s on stdout, one line per run on stderr.
measure() {
    local label=$1 rates=() before after line n
    shift
    for _ in $(seq "$runs"); do
        curl -s -X POST "http://127.0.0.1:$port/_emu/reset" > /dev/null
        before=$(cpu_ticks)
        line=$("$emu_dir/emu-load" --url "http://127.0.0.1:$port/v2/push" --api-key bench \
            --requests "$requests" --seconds 15 --concurrency "$conc" "$@")
        after=$(cpu_ticks)
        n=$(echo "$line" | sed -n 's/.*(\([0-9]*\) ok.*/\1/p')
        echo "  $label run: $line; emulator CPU $(awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }') us/request" >&2
        rates+=("${line%% *}")
    done
    printf '%s\n' "${rates[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

typical=$(measure typical)
minimal=$(measure minimal --minimal)
load=$(cut -d' ' -f1 /proc/loadavg)
echo "ometria-emu: $typical requests/s (100-record pushes of ~26 KB: 4-field contacts with 3 properties; median of $runs runs, $conc connections, load average $load)"
echo "ometria-emu: $minimal requests/s (100-record pushes of ~9 KB: id+email contacts)"

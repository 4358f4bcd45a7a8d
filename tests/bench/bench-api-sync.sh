#!/usr/bin/env bash
# tests/bench/bench-api-sync.sh: a full api-mode sync of annexcloud-source (default settings: adaptive concurrency up to 64) against annexcloud-emu at 100 ms latency, without and with a server-side rate limit.
#   BENCH_API_MEMBERS    (default 20000)  members of the loyaltygen program
#   BENCH_API_LATENCY_MS (default 100)    the emulator's latency per request
#   BENCH_API_LIMIT      (default 200)    the emulated server limit, requests/s
#                                         (a token bucket of burst = rate; 429
#                                         without Retry-After)
#   BENCH_API_RETRY_AFTER (default none)  seconds: the limited run's 429s carry
#                                         Retry-After (the client then pauses its
#                                         requests that long at every 429)
# Each run: `sluice run --once` of annexcloud-source (mode api) -> file-sink
# from a fresh state directory and a fresh emulator. members/s = members /
# wall time of the run (searches, segments and every member's requests);
# requests/member = every request the emulator saw / members. With the
# limit: "used" = the answers that were not 429 per second of the run / the
# limit, and the share of requests answered 429, and the pace the HTTP
# gate learned from the 429s (its cuts and its last value, from the debug
# log). Targets (issue 18): at
# least 150 members/s without a limit; with it at least 90 % used and
# under 1 % 429s. The figures are meaningful on a quiet machine only (a
# busy one stretches response times, which the adaptive limit reads as
# back pressure).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
sluice=${SLUICE:-$builddir/core/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$builddir/plugins/.libs}
emu_dir=${EMU_DIR:-$builddir/tests/emulators}
gen_dir=${GEN_DIR:-$builddir/tests/gen}
members=${BENCH_API_MEMBERS:-20000}
latency=${BENCH_API_LATENCY_MS:-100}
limit=${BENCH_API_LIMIT:-200}
secret=bench-api-secret

for tool in "$sluice" "$emu_dir/annexcloud-emu" "$gen_dir/loyaltygen"; do
    [ -x "$tool" ] || { echo "bench-api-sync: $tool is not built" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-api.XXXXXX")
emu_pid=
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2> /dev/null && wait "$emu_pid" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$gen_dir/loyaltygen" --seed 18 --members "$members" --days 30 --truth none --out "$work/program" \
    2> "$work/gen.log" || { echo "bench-api-sync: loyaltygen failed: $(tail -3 "$work/gen.log")" >&2; exit 1; }
site_id=$(jq -r .site_id "$work/program/program.json")

# start_emu ARGS...: a fresh emulator; sets port and emu_pid.
start_emu() {
    : > "$work/emu.out"
    "$emu_dir/annexcloud-emu" --port 0 --secret "$secret" --site-id "$site_id" \
        --program "$work/program" --latency-ms "$latency" "$@" > "$work/emu.out" 2> "$work/emu.log" &
    emu_pid=$!
    for _ in $(seq 600); do
        grep -q 'listening on' "$work/emu.out" && break
        sleep 0.1
    done
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/emu.out" | head -1)
    [ -n "$port" ] || { echo "bench-api-sync: the emulator did not start: $(tail -3 "$work/emu.log")" >&2; exit 1; }
}

stop_emu() {
    kill "$emu_pid" 2> /dev/null || true
    wait "$emu_pid" 2> /dev/null || true
    emu_pid=
}

# sync NAME [SLUICE_ARGS...]: one full sync; prints "SECONDS REQUESTS
# ANSWERED_429 RECORDS".
sync() {
    local name=$1 start end
    shift
    cat > "$work/$name.cfg" <<CFG
pipeline = {
  name = "bench-api-$name";
  state_dir = "$work/state-$name";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "api"; base_url = "http://127.0.0.1:$port";
      site_id = "$site_id"; secret = "$secret"; },
    { name = "out"; plugin = "file-sink"; path = "$work/out-$name.jsonl"; sync = "none"; }
  );
};
CFG
    start=$(date +%s.%N)
    "$sluice" run --once --admin-listen off --log-format text "$@" "$work/$name.cfg" > "$work/$name.stdout" 2> "$work/$name.stderr" ||
        { echo "bench-api-sync: the $name sync failed: $(tail -3 "$work/$name.stderr")" >&2; exit 1; }
    end=$(date +%s.%N)
    curl -sf "http://127.0.0.1:$port/_emu/stats" > "$work/$name.stats"
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}') \
$(jq '.requests' "$work/$name.stats") $(jq '.by_status["429"] // 0' "$work/$name.stats") \
$(wc -l < "$work/out-$name.jsonl")"
}

load_at_start=$(cut -d' ' -f1 /proc/loadavg)
start_emu
read -r secs requests refused records < <(sync free)
stop_emu
rate=$(awk -v m="$members" -v s="$secs" 'BEGIN {printf "%.1f", m / s}')
echo "api full sync, $members members at $latency ms, no server limit: $secs s, $rate members/s," \
     "$(awk -v r="$requests" -v m="$members" 'BEGIN {printf "%.2f", r / m}') requests/member," \
     "$records records (target 150 members/s: $(awk -v r="$rate" 'BEGIN {print (r >= 150 ? "met" : "NOT met")}'))"
grep -o 'sync 1 complete.*' "$work/free.stderr" | sed 's/^/  source: /' || true

retry_args=()
[ -n "${BENCH_API_RETRY_AFTER:-}" ] && retry_args=(--retry-after "$BENCH_API_RETRY_AFTER")
start_emu --rate-limit "$limit" "${retry_args[@]}"
# at debug: the pace the gate learned from the 429s (pace.c) is in the log
read -r secs requests refused records < <(sync limited --log-level debug)
stop_emu
used=$(awk -v r="$requests" -v x="$refused" -v s="$secs" -v l="$limit" 'BEGIN {printf "%.1f", 100 * (r - x) / s / l}')
share=$(awk -v r="$requests" -v x="$refused" 'BEGIN {printf "%.2f", r ? 100 * x / r : 0}')
echo "api full sync, $members members at $latency ms, server limit $limit requests/s" \
     "(429 ${BENCH_API_RETRY_AFTER:+with Retry-After $BENCH_API_RETRY_AFTER s}${BENCH_API_RETRY_AFTER:-without Retry-After}):" \
     "$secs s, $(awk -v m="$members" -v s="$secs" 'BEGIN {printf "%.1f", m / s}') members/s, $used % of the limit used," \
     "$share % of $requests requests answered 429, $records records" \
     "(targets >= 90 % used: $(awk -v u="$used" 'BEGIN {print (u >= 90 ? "met" : "NOT met")}')," \
     "< 1 % 429: $(awk -v s="$share" 'BEGIN {print (s < 1 ? "met" : "NOT met")}'))"
grep -o 'sync 1 complete.*' "$work/limited.stderr" | sed 's/^/  source: /' || true
echo "  pace: $(grep -c 'HTTP pace .* 429 while' "$work/limited.stderr" || true) cuts on 429s;" \
     "last: $(grep -o 'HTTP pace .*' "$work/limited.stderr" | tail -1 || true)"
echo "  load average $load_at_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end (figures are provisional unless the machine was quiet)"

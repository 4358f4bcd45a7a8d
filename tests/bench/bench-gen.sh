#!/bin/bash
# tests/bench/bench-gen.sh: times loyaltygen on 1,000,000 members (median wall time of 3 runs, truth included).
# Env: GEN_DIR (built tests/gen), SLUICE_BENCH_GEN_MEMBERS (1000000), SLUICE_BENCH_GEN_DAYS (0),
#      SLUICE_BENCH_GEN_RUNS (3; BENCH_RUNS is read when it is unset), SLUICE_BENCH_GEN_TRUTH
#      (both|stream|snapshot|none), SLUICE_BENCH_GEN_DIRECT_IO (auto|on|off: loyaltygen --direct-io), TMPDIR.
# Each run writes ~9.4 GB for 1,000,000 members with both truths; it is deleted before the next run.
set -u
gen=${GEN_DIR:-${top_builddir:-.}/tests/gen}
members=${SLUICE_BENCH_GEN_MEMBERS:-1000000}
days=${SLUICE_BENCH_GEN_DAYS:-0}
runs=${SLUICE_BENCH_GEN_RUNS:-${BENCH_RUNS:-3}}
truth=${SLUICE_BENCH_GEN_TRUTH:-both}
direct_io=${SLUICE_BENCH_GEN_DIRECT_IO:-auto}
if [ ! -x "$gen/loyaltygen" ]; then
    echo "bench-gen: $gen/loyaltygen not built (make check builds it; set GEN_DIR)" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-gen.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
walls=() cpus=()
for i in $(seq "$runs"); do
    TIMEFORMAT='%R %U %S'
    if ! { time timeout 900 "$gen/loyaltygen" --seed "$i" --members "$members" --days "$days" --truth "$truth" \
        --direct-io "$direct_io" --out "$tmp/run" 2>"$tmp/summary"; } 2>"$tmp/time"; then
        echo "bench-gen: run $i failed: $(cat "$tmp/summary")" >&2
        exit 1
    fi
    read -r wall user sys <"$tmp/time"
    bytes=$(du -sb "$tmp/run" | cut -f1)
    rm -rf "$tmp/run"
    walls+=("$wall")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u + s}')")
    echo "bench-gen: run $i: wall $wall s, cpu ${cpus[-1]} s, $((bytes / 1000000)) MB written" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf 'loyaltygen: %d members in %.2f s\n' "$members" "$(median "${walls[@]}")"
printf 'loyaltygen: cpu (user+sys) median %.2f s, days %d, truth %s, median of %d runs\n' \
    "$(median "${cpus[@]}")" "$days" "$truth" "$runs"

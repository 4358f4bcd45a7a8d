#!/bin/bash
# tests/gen/test_gen_sums.sh: loyaltygen output is byte-identical to the recorded SHA-256 sums (the truth files are the data contract).
# Usage: test_gen_sums.sh            compare every file of every case with tests/gen/data/gen-sums.txt
#        test_gen_sums.sh --record   (re)write gen-sums.txt from the current build (only for a deliberate output change)
# Env: GEN_DIR (built tests/gen), top_srcdir.
set -u
here=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/gen
gen=${GEN_DIR:-$here}
sums=$here/data/gen-sums.txt
record=0
[ "${1:-}" = --record ] && record=1
if [ ! -x "$gen/loyaltygen" ]; then
    echo "FAIL: $gen/loyaltygen not built (set GEN_DIR)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Each case: a name and the loyaltygen arguments. They cover both truths, --days 0, a long
# simulation (anniversaries, the rolling tier window), a custom ladder and a percent threshold.
cases=(
    "s1-20000-d30|--seed 1 --members 20000 --days 30"
    "s1-20000-d0|--seed 1 --members 20000 --days 0"
    "s7-3000-d90-stream|--seed 7 --members 3000 --days 90 --bad-rate 0.05 --truth stream"
    "s3-1500-d400-snapshot|--seed 3 --members 1500 --days 400 --ladder Blue:0,Red:800,Black:4000 --close-threshold 10% --truth snapshot"
    "s11-1000-d40-none|--seed 11 --members 1000 --days 40 --bad-rate 0.04 --start 2025-03-01 --truth none"
)
: >"$tmp/sums"
for c in "${cases[@]}"; do
    name=${c%%|*}
    # shellcheck disable=SC2206
    args=(${c#*|})
    if ! timeout 600 "$gen/loyaltygen" "${args[@]}" --out "$tmp/$name" 2>"$tmp/$name.err"; then
        fail "$name: loyaltygen ${args[*]} failed: $(cat "$tmp/$name.err")"
        continue
    fi
    # the truth CLI (the JSON path of the same engine) on the stream of the first case with a stream truth
    if [ "$name" = s7-3000-d90-stream ]; then
        timeout 600 "$gen/truth" --program "$tmp/$name/program.json" --out "$tmp/$name/cli" "$tmp/$name/stream.jsonl" ||
            fail "$name: truth on stream.jsonl failed"
    fi
    (cd "$tmp/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sed "s|  \./|  $name/|" >>"$tmp/sums"
    rm -rf "${tmp:?}/$name"
done
# the same bytes when written with O_DIRECT (what --direct-io auto picks from 100,000 members on):
# the sums of the first case, written again bypassing the page cache
if timeout 600 "$gen/loyaltygen" --seed 1 --members 20000 --days 30 --direct-io on --out "$tmp/direct" 2>"$tmp/direct.err"; then
    (cd "$tmp/direct" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sed "s|  \./|  s1-20000-d30/|" >"$tmp/direct.sums"
    rm -rf "${tmp:?}/direct"
    if diff <(grep '  s1-20000-d30/' "$tmp/sums") "$tmp/direct.sums" >"$tmp/direct.diff"; then
        echo "ok: --direct-io on writes the same $(wc -l <"$tmp/direct.sums") files byte for byte"
    else
        fail "--direct-io on changes the output:"
        cat "$tmp/direct.diff"
    fi
else
    fail "loyaltygen --direct-io on failed: $(cat "$tmp/direct.err")"
fi
if [ $record = 1 ]; then
    [ $fails -eq 0 ] || exit 1
    cp "$tmp/sums" "$sums" && echo "recorded $(wc -l <"$sums") sums in $sums"
    exit 0
fi
if [ ! -s "$sums" ]; then
    fail "no recorded sums in $sums"
elif diff <(awk '{print $2, $1}' "$sums") <(awk '{print $2, $1}' "$tmp/sums") >"$tmp/diff"; then
    echo "ok: $(wc -l <"$sums") files in ${#cases[@]} cases byte-identical to the recorded sums"
else
    fail "output differs from $sums (< recorded, > now):"
    cat "$tmp/diff"
fi
[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }

#!/usr/bin/env bash
# run.sh: build the libFuzzer harnesses of tests/fuzz (clang,
# --enable-fuzzers: ASan + UBSan) in their own build directory and run each
# for a bounded time, FUZZ_JOBS at once. Each run starts from the committed
# seeds (tests/fuzz/corpus/NAME) and replays the committed crash inputs
# (tests/fuzz/regress/NAME) first. A crash, a sanitizer report, a leak, a
# timeout or a broken property fails the harness: its input is kept under
# the build directory and printed (base64) with the stack. Prints one line
# per harness, then "N passed, N failed"; exit status 0 only if all passed.
#   FUZZ_BUILD_DIR  build directory (default _build-fuzz at the top)
#   FUZZ_SECONDS    seconds per harness (default 45)
#   FUZZ_JOBS       harnesses run at once (default 2; each uses one core)
#   FUZZ_ONLY       space-separated harness names (default: all built)
#   CC              compiler (default clang)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/_build-fuzz}
seconds=${FUZZ_SECONDS:-45}
jobs=${FUZZ_JOBS:-2}
fuzz_src="$top/tests/fuzz"

# fail_build LOG: the build failed; show why and count one failure.
fail_build() {
    tail -40 "$1"
    echo "0 passed, 1 failed"
    exit 1
}

mkdir -p "$build"
build=$(cd "$build" && pwd)
if ! grep -q '^FUZZ_LDFLAGS = -fsanitize=fuzzer' "$build/tests/Makefile" 2>/dev/null; then
    echo "== configure --enable-fuzzers ($build)"
    [ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) > "$build/autoreconf.log" 2>&1 ||
        fail_build "$build/autoreconf.log"
    (cd "$build" && CC="${CC:-clang}" "$top/configure" -q --enable-fuzzers) \
        > "$build/configure.log" 2>&1 || fail_build "$build/configure.log"
fi
echo "== build the harnesses"
{ make -C "$build/core" -j"$jobs" -s libsluice.la libsluice-internal.la &&
  make -C "$build/plugins" -j"$jobs" -s &&
  make -C "$build/tests" -j"$jobs" -s fuzzers; } > "$build/build.log" 2>&1 ||
    fail_build "$build/build.log"

if [ -n "${FUZZ_ONLY:-}" ]; then
    harnesses=$FUZZ_ONLY
else
    harnesses=$(cd "$build/tests/fuzz" &&
                find . -maxdepth 1 -type f -executable -name 'fuzz_*' -printf '%f\n' | sort | tr '\n' ' ')
fi
[ -n "$harnesses" ] || { echo "no harness was built"; echo "0 passed, 1 failed"; exit 1; }

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 ||
             ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | tail -1 || true)
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$symbolizer}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export LSAN_OPTIONS="suppressions=$fuzz_src/lsan.supp:print_suppressions=0"
export top_srcdir=$top
# the registry of a program outside the build's core/ finds the built
# plugins only through the path (registry.c: no build path is compiled in)
export SLUICE_PLUGIN_PATH="$build/plugins/.libs${SLUICE_PLUGIN_PATH:+:$SLUICE_PLUGIN_PATH}"

# fuzz_one NAME: run harness NAME for $seconds; writes $out/NAME.status
# (pass/fail) and $out/NAME.log.
out="$build/fuzz-results"
rm -rf "$out"
mkdir -p "$out"
fuzz_one() {
    local name=$1 corpus="$build/fuzz-corpus/$1" artifacts="$out/$1-artifacts"
    local args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048
                -print_final_stats=1 -artifact_prefix="$artifacts/")
    mkdir -p "$corpus" "$artifacts"
    [ -f "$fuzz_src/dict/$name.dict" ] && args+=(-dict="$fuzz_src/dict/$name.dict")
    args+=("$corpus" "$fuzz_src/corpus/$name")
    [ -d "$fuzz_src/regress/$name" ] && args+=("$fuzz_src/regress/$name")
    if (cd "$out" && exec "$build/tests/fuzz/$name" "${args[@]}") < /dev/null > "$out/$name.log" 2>&1 &&
       [ -z "$(ls -A "$artifacts")" ]; then
        echo pass > "$out/$name.status"
    else
        echo fail > "$out/$name.status"
    fi
}

echo "== fuzz $seconds s each, $jobs at a time: $harnesses"
running=0
for name in $harnesses; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$name" &
    running=$((running + 1))
done
wait

passed=0 failed=0
for name in $harnesses; do
    log="$out/$name.log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ "$(cat "$out/$name.status" 2>/dev/null)" = pass ]; then
        passed=$((passed + 1))
        echo "PASS: $name (${runs:-?} runs, ${cov:-cov: ?})"
        continue
    fi
    failed=$((failed + 1))
    echo "FAIL: $name (${runs:-?} runs)"
    echo "---- $name: end of its log ($log)"
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -60
    for input in "$out/$name-artifacts"/*; do
        [ -f "$input" ] || continue
        echo "---- $name: input $(basename "$input"), $(stat -c %s "$input") bytes, base64:"
        head -c 65536 "$input" | base64 -w 76
        echo "---- a new find? keep it as a regression case: cp '$input' tests/fuzz/regress/$name/"
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

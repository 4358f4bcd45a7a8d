#!/usr/bin/env bash
# run-suite.sh: build sluice from a clean checkout and run the whole test
# suite: every test (unit, emulators, integration, fault) on a normal
# build, then the unit tests again under AddressSanitizer + UBSan. Ends
# with one line "N passed, N failed". Exit status 0 only if all passed.
#   BUILD_DIR (default _build), JOBS (default nproc), SKIP_ASAN=1
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}
jobs=${JOBS:-$(nproc)}
passed=0 failed=0

# count LOGDIR: add the PASS/FAIL totals of an automake test-suite.log.
count() {
    local log=$1 p f
    p=$(awk '/^# PASS:/ { print $3 }' "$log" | head -1)
    f=$(awk '/^# (FAIL|ERROR|XPASS):/ { s += $3 } END { print s + 0 }' "$log")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
}

step() { echo "== $*"; }

cd "$top"
step "autoreconf"
autoreconf -fi > "$top/.autoreconf.log" 2>&1 || { cat "$top/.autoreconf.log"; echo "0 passed, 1 failed"; exit 1; }
rm -f "$top/.autoreconf.log"

step "configure + build ($build)"
mkdir -p "$build"
( cd "$build" && "$top/configure" -q ) || { echo "configure failed"; echo "0 passed, 1 failed"; exit 1; }
if ! make -C "$build" -j"$jobs" -s > "$build/build.log" 2>&1; then
    tail -40 "$build/build.log"
    echo "0 passed, 1 failed"
    exit 1
fi

step "make check"
make -C "$build" -j"$jobs" -s check > "$build/check.log" 2>&1
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$build/check.log" || true
for log in $(find "$build/tests" -name test-suite.log); do count "$log"; done
if grep -qE '^(FAIL|ERROR):' "$build/check.log"; then
    for t in $(grep -E '^(FAIL|ERROR):' "$build/check.log" | awk '{ print $2 }'); do
        echo "---- $t"
        tail -30 "$build/tests/$t.log" 2>/dev/null
    done
fi

if [ -z "${SKIP_ASAN:-}" ]; then
    step "unit tests under AddressSanitizer + UBSan"
    asan="$build-asan"
    mkdir -p "$asan"
    ( cd "$asan" && "$top/configure" -q --enable-sanitizers ) || true # make fails next, counted
    if make -C "$asan" -j"$jobs" -s > "$asan/build.log" 2>&1; then
        units=$(cd "$top/tests" && ls unit/test_*.c 2>/dev/null | sed 's/\.c$//' | tr '\n' ' ')
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            make -C "$asan/tests" -j"$jobs" -s check TESTS="$units" > "$asan/check.log" 2>&1
        grep -E '^(PASS|FAIL|ERROR):' "$asan/check.log" | sed 's/^/asan /' || true
        count "$asan/tests/test-suite.log"
    else
        tail -20 "$asan/build.log"
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# run-suite.sh: build sluice from a clean checkout and run the whole test
# suite: every test (unit, emulators, integration, fault) on a normal
# build, then the unit tests again under AddressSanitizer + UBSan, then the
# libFuzzer harnesses for a bounded time each (tests/fuzz/run.sh: clang,
# its own build directory; each harness counts as one test). Ends with one
# line "N passed, N failed". Exit status 0 only if all passed.
# A failed test is diagnosable from this output alone: its whole log is
# printed (the middle of a very long one elided), and the shell tests'
# logs end with the last lines of every log their processes wrote. The
# failed tests' logs and the temp dirs they kept are moved to FAILED_DIR.
#   BUILD_DIR (default _build), JOBS (default nproc), SKIP_ASAN=1,
#   SKIP_FUZZ=1, FUZZ_SECONDS (default 45 per harness),
#   FAILED_DIR (default BUILD_DIR/failed-tests), LOG_LINES (default 400:
#   a longer log shows its first 80 and last LOG_LINES - 80 lines),
#   SUITE_TESTS (default: all): run only these, e.g. 'unit/test_http
#   integration/core-basic.sh' (the ASan pass runs the unit tests among them)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}
jobs=${JOBS:-$(nproc)}
failed_dir=${FAILED_DIR:-$build/failed-tests}
log_lines=${LOG_LINES:-400}
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

# show_log FILE: the whole file, or its first 80 and last LOG_LINES - 80
# lines when longer (the failure is at the end, the setup at the start).
show_log() {
    local file=$1 lines
    lines=$(wc -l < "$file")
    if [ "$lines" -le "$log_lines" ]; then
        cat "$file"
    else
        head -n 80 "$file"
        echo "[... $((lines - log_lines)) lines of $file elided ...]"
        tail -n $((log_lines - 80)) "$file"
    fi
}

# report_failures CHECK_LOG TESTS_DIR LABEL: for every test CHECK_LOG marks
# FAIL or ERROR, print its log and move the log, its .trs and the temp dir
# it kept ("kept DIR", tests/lib.sh) to FAILED_DIR/LABEL.
report_failures() {
    local check_log=$1 tests_dir=$2 label=$3 t base kept dest
    for t in $(grep -E '^(FAIL|ERROR):' "$check_log" | awk '{ print $2 }'); do
        base=${t%.sh}
        dest="$failed_dir/$label/$base"
        echo "---- $label $t: $tests_dir/$base.log"
        if [ -f "$tests_dir/$base.log" ]; then
            show_log "$tests_dir/$base.log"
            mkdir -p "$dest"
            cp "$tests_dir/$base.log" "$dest/"
            cp "$tests_dir/$base.trs" "$dest/" 2>/dev/null || true
            for kept in $(sed -n 's/^kept \(.*\)$/\1/p' "$tests_dir/$base.log"); do
                [ -d "$kept" ] && mv "$kept" "$dest/" && echo "(kept $kept moved to $dest/)"
            done
        else
            echo "(no log)"
        fi
        echo "---- end of $label $t"
    done
}

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

rm -rf "$failed_dir"
step "make check"
only=()
[ -n "${SUITE_TESTS:-}" ] && only=(TESTS="$SUITE_TESTS")
make -C "$build" -j"$jobs" -s check "${only[@]}" > "$build/check.log" 2>&1
grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$build/check.log" || true
for log in $(find "$build/tests" -name test-suite.log); do count "$log"; done
report_failures "$build/check.log" "$build/tests" build

if [ -z "${SKIP_ASAN:-}" ]; then
    step "unit tests under AddressSanitizer + UBSan"
    asan="$build-asan"
    mkdir -p "$asan"
    ( cd "$asan" && "$top/configure" -q --enable-sanitizers ) || true # make fails next, counted
    if make -C "$asan" -j"$jobs" -s > "$asan/build.log" 2>&1; then
        units=$(cd "$top/tests" && ls unit/test_*.c 2>/dev/null | sed 's/\.c$//' | tr '\n' ' ')
        if [ -n "${SUITE_TESTS:-}" ]; then
            units=$(for u in $units; do case " $SUITE_TESTS " in *" $u "*) echo "$u" ;; esac; done | tr '\n' ' ')
        fi
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            make -C "$asan/tests" -j"$jobs" -s check TESTS="$units" > "$asan/check.log" 2>&1
        grep -E '^(PASS|FAIL|ERROR):' "$asan/check.log" | sed 's/^/asan /' || true
        count "$asan/tests/test-suite.log"
        report_failures "$asan/check.log" "$asan/tests" asan
    else
        tail -20 "$asan/build.log"
        failed=$((failed + 1))
    fi
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
    step "fuzzers, ${FUZZ_SECONDS:-45} s each (tests/fuzz/run.sh, $build-fuzz)"
    FUZZ_BUILD_DIR="$build-fuzz" bash "$top/tests/fuzz/run.sh" > "$build/fuzz.log" 2>&1
    # Its PASS/FAIL lines, and for a failure the input (base64) and stack.
    sed '$d' "$build/fuzz.log" | grep -v '^== ' | sed -E 's/^(PASS|FAIL):/fuzz \1:/'
    summary=$(tail -1 "$build/fuzz.log")
    if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        tail -20 "$build/fuzz.log"
        failed=$((failed + 1))
    fi
fi

[ -d "$failed_dir" ] && echo "== the failed tests' logs and temp dirs: $failed_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

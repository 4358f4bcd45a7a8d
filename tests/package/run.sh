#!/usr/bin/env bash
# run.sh: the packaging checks CI runs after the suite (.ci/run), each a
# script of this directory, one after the other: distcheck.sh (make
# distcheck-subset and a complete tarball), reconfigure.sh (./configure
# with another prefix in a built tree), deb.sh (the Debian packages built,
# installed, run as the service, purged: root only, it changes the
# machine). Prints PASS or FAIL and the time of each, a failed step's log,
# and ends with "N passed, N failed". Exit status 0 only if all passed.
#   BUILD_DIR (default _build: configured and built, `make check` done, as
#   tests/run-suite.sh leaves it), PACKAGE_STEPS (default "distcheck
#   reconfigure deb"), JOBS (default nproc)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/_build}
steps=${PACKAGE_STEPS:-distcheck reconfigure deb}
logs="$build/package-logs"
passed=0 failed=0

mkdir -p "$logs"
for step in $steps; do
    echo "== package/$step"
    start=$(date +%s)
    if top_srcdir="$top" BUILD="$build" JOBS="${JOBS:-$(nproc)}" bash "$top/tests/package/$step.sh" \
        > "$logs/$step.log" 2>&1; then
        grep '^# ' "$logs/$step.log" || true
        echo "PASS: package/$step ($(($(date +%s) - start)) s)"
        passed=$((passed + 1))
    else
        echo "---- package/$step: $logs/$step.log"
        cat "$logs/$step.log"
        echo "---- end of package/$step"
        echo "FAIL: package/$step ($(($(date +%s) - start)) s)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

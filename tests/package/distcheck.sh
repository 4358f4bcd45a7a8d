#!/usr/bin/env bash
# distcheck.sh: `make distcheck-subset` in BUILD (a configured tree): the
# tarball builds out of tree from read-only sources, passes DISTCHECK_TESTS
# (top-level Makefile.am), installs and uninstalls cleanly, with a DESTDIR
# too. Then the tarball must hold every file git tracks (but .gitignore
# and m4/.keep), so the tests outside the subset miss nothing either.
#   top_srcdir, BUILD, JOBS (default 2)
set -euo pipefail
: "${top_srcdir:?}" "${BUILD:?}"
start=$(date +%s)
rm -f "$BUILD"/sluice-*.tar.gz
make -C "$BUILD" -j"${JOBS:-2}" -s distcheck-subset > "$BUILD/distcheck.log" 2>&1 || {
    tail -60 "$BUILD/distcheck.log"
    echo "FAIL: make distcheck-subset (whole log: $BUILD/distcheck.log)"
    exit 1
}
grep -A3 "archives ready for distribution" "$BUILD/distcheck.log"
echo "# make distcheck-subset in $(($(date +%s) - start)) s"
tarball=$(ls "$BUILD"/sluice-*.tar.gz)
if git -C "$top_srcdir" rev-parse --git-dir > /dev/null 2>&1; then
    tar -tzf "$tarball" | sed 's|^[^/]*/||' | sort > "$BUILD/distcheck-tarball.txt"
    git -C "$top_srcdir" ls-files | grep -vx -e .gitignore -e m4/.keep | sort > "$BUILD/distcheck-git.txt"
    missing=$(comm -23 "$BUILD/distcheck-git.txt" "$BUILD/distcheck-tarball.txt")
    if [ -n "$missing" ]; then
        echo "FAIL: tracked files missing from $tarball:"
        echo "$missing"
        exit 1
    fi
    echo "# the tarball holds all $(wc -l < "$BUILD/distcheck-git.txt") files git tracks"
fi
echo "ok: make distcheck-subset"

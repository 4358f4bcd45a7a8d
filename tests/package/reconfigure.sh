#!/usr/bin/env bash
# reconfigure.sh: issue 16's `./configure --prefix=Q` in a built tree. A
# tree built for one prefix and configured again for another must rebuild
# and install there (libtool refused to install plugins linked for the old
# plugin dir until `make clean`), and the sluice installed there must load
# its plugins from there. Builds core/ and plugins/ twice in a temp dir.
#   top_srcdir, JOBS (default 2); the source tree must not be configured
#   in place (a VPATH build refuses that)
set -euo pipefail
: "${top_srcdir:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-reconfigure.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir build
build_for() {
    (cd build && "$top_srcdir/configure" -q --prefix="$work/$1" --with-systemdsystemunitdir=no) \
        > "$work/configure-$1.log" 2>&1 || { cat "$work/configure-$1.log"; exit 1; }
    make -C build/core -j"${JOBS:-2}" -s > "$work/make-$1.log" 2>&1 \
        && make -C build/plugins -j"${JOBS:-2}" -s >> "$work/make-$1.log" 2>&1 \
        || { tail -30 "$work/make-$1.log"; exit 1; }
}
build_for one
build_for two
for dir in core plugins; do
    make -C "build/$dir" -s install > "$work/install.log" 2>&1 || {
        tail -20 "$work/install.log"
        echo "FAIL: make install after ./configure --prefix=$work/two"
        exit 1
    }
done
env -u SLUICE_PLUGIN_PATH "$work/two/bin/sluice" plugins > "$work/plugins.out" 2>&1 || {
    cat "$work/plugins.out"
    echo "FAIL: the sluice installed in $work/two finds no plugins"
    exit 1
}
cat "$work/plugins.out" | cut -c1-120
if awk 'NR > 1 { print $4 }' "$work/plugins.out" | grep -v "^$work/two/lib/sluice/"; then
    echo "FAIL: plugins loaded from outside $work/two/lib/sluice"
    exit 1
fi
echo "ok: configured again for another prefix, rebuilt, installed and used there"

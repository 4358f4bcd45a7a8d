#!/usr/bin/env bash
# install-layout.sh: sluice as `make install` lays it out (into a DESTDIR):
# the installed sluice never searches the build tree for plugins (nothing
# of it is compiled in) and finds the installed ones; the uninstalled one
# uses the build tree's and nothing installed; a pipeline outside the tree
# includes the installed shared mappings and fragments through the include
# search path; the files of docs/operations.md ("Files") are where it says,
# the state directory 0700, the example plugin only with --enable-examples,
# the service settings file as installed is accepted with its settings
# uncommented and the installed sluice with no arguments looks for it at
# this build's sysconfdir, the unit made with this build's paths (Type=
# notify with libsystemd) and clean for systemd-analyze. (A run of the
# installed sluice with no arguments from a prefix of its own is
# tests/package/reconfigure.sh's.)
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

inst="$T_TMP/inst"
# conf NAME: a directory configure compiled in (config.h).
conf() { sed -n "s/^#define $1 \"\\(.*\\)\"\$/\\1/p" "$top_builddir/config.h"; }
bindir=$(conf SLUICE_BINDIR)
pkglibdir=$(conf SLUICE_PKGLIBDIR)
pkgdatadir=$(conf SLUICE_PKGDATADIR)
confdir=$(conf SLUICE_SYSCONFDIR)
statedir=$(conf SLUICE_STATEDIR)
[ -n "$bindir" ] && [ -n "$pkglibdir" ] && [ -n "$pkgdatadir" ] && [ -n "$confdir" ] \
    && [ -n "$statedir" ] || t_fail "config.h lacks the installed directories"
libdir=$(dirname "$pkglibdir")
docdir=$(dirname "$pkgdatadir")/doc/sluice # configure's default --docdir
build_plugins=$(cd "$top_builddir/plugins/.libs" && pwd -P)

for dir in core plugins pipelines contrib docs; do
    make -s -C "$top_builddir/$dir" install DESTDIR="$inst" > "$T_TMP/install-$dir.log" 2>&1 \
        || t_fail "make -C $dir install DESTDIR failed: $(tail -5 "$T_TMP/install-$dir.log")"
done
make -s -C "$top_builddir" install-dist_docDATA DESTDIR="$inst" > "$T_TMP/install-top.log" 2>&1 \
    || t_fail "installing LICENSE and NOTICE failed: $(tail -5 "$T_TMP/install-top.log")"

# installed SLUICE_PLUGIN_PATH ARGS...: the installed sluice, from the DESTDIR.
installed() {
    local path=$1
    shift
    if [ -n "$path" ]; then
        SLUICE_PLUGIN_PATH=$path LD_LIBRARY_PATH="$inst$libdir" "$inst$bindir/sluice" "$@"
    else
        env -u SLUICE_PLUGIN_PATH LD_LIBRARY_PATH="$inst$libdir" "$inst$bindir/sluice" "$@"
    fi
}

# 1. The installed sluice: no build tree, with the build tree right there.
set +e
installed "" plugins > "$T_TMP/installed.out" 2> "$T_TMP/installed.err"
installed "" plugins file-sink > "$T_TMP/installed-one.out" 2> "$T_TMP/installed-one.err"; rc=$?
set -e
if grep -qF "$build_plugins" "$T_TMP/installed.out" "$T_TMP/installed-one.out" "$T_TMP/installed-one.err"; then
    t_fail "the installed sluice loads the build tree's plugins: $(cat "$T_TMP/installed.out" "$T_TMP/installed-one.out" "$T_TMP/installed-one.err")"
fi
if [ ! -e "$pkglibdir/file-sink.so" ]; then
    [ "$rc" -eq 69 ] || t_fail "sluice plugins file-sink with nothing installed: exit $rc, expected 69"
    grep -qF "plugin 'file-sink' not found (searched:" "$T_TMP/installed-one.err" \
        || t_fail "unexpected answer: $(cat "$T_TMP/installed-one.err")"
fi

# 2. It finds the installed plugins, and says where from.
installed "$inst$pkglibdir" plugins > "$T_TMP/listed.out" 2>&1 \
    || t_fail "sluice plugins on the installed dir: $(cat "$T_TMP/listed.out")"
for plugin in file-source file-sink set-field annexcloud-source field-mapper tier-event-deriver \
    ometria-sink infobip-sink; do
    [ -e "$top_builddir/plugins/.libs/$plugin.so" ] || continue # --disable-<plugin>
    grep -Eq "^$plugin +[a-z]+ +[0-9.]+ +$inst$pkglibdir/$plugin\\.so " "$T_TMP/listed.out" \
        || t_fail "$plugin not listed from $inst$pkglibdir: $(cat "$T_TMP/listed.out")"
done
awk 'NR > 1 { print $4 }' "$T_TMP/listed.out" | grep -v "^$inst$pkglibdir/" \
    && t_fail "a plugin came from elsewhere: $(cat "$T_TMP/listed.out")"
if "$top_builddir/config.status" --config | grep -q -- "--enable-examples"; then
    [ -e "$inst$pkglibdir/example-upcase.so" ] || t_fail "--enable-examples: example-upcase not installed"
else
    [ ! -e "$inst$pkglibdir/example-upcase.so" ] \
        || t_fail "example-upcase installed among the production plugins without --enable-examples"
fi
[ -f "$inst$docdir/examples/plugin/upcase.c" ] && [ -f "$inst$docdir/examples/plugin/Makefile" ] \
    || t_fail "the example plugin's source is not installed with the docs ($docdir/examples/plugin)"

# 3. The uninstalled sluice: the build tree's plugins, nothing installed.
env -u SLUICE_PLUGIN_PATH "$SLUICE" plugins > "$T_TMP/uninstalled.out" 2>&1 \
    || t_fail "the uninstalled sluice finds no plugins: $(cat "$T_TMP/uninstalled.out")"
grep -q "^file-sink .* $build_plugins/file-sink\\.so " "$T_TMP/uninstalled.out" \
    || t_fail "the uninstalled sluice does not use the build tree: $(cat "$T_TMP/uninstalled.out")"
awk 'NR > 1 { print $4 }' "$T_TMP/uninstalled.out" | grep -v "^$build_plugins/" \
    && t_fail "the uninstalled sluice loads installed plugins: $(cat "$T_TMP/uninstalled.out")"

# 4. A client pipeline elsewhere includes the installed fragments and mappings.
mkdir -p "$T_TMP/etc/pipelines.d"
cp "$inst$pkgdatadir/examples/acme-ometria-api.cfg" "$inst$pkgdatadir/examples/acme-infobip-api.cfg" \
    "$T_TMP/etc/pipelines.d/"
export ANNEXCLOUD_BASE_URL=http://127.0.0.1:9/api ANNEXCLOUD_SITE_ID=1 ANNEXCLOUD_SECRET=s \
    OMETRIA_BASE_URL=http://127.0.0.1:9 OMETRIA_API_KEY=k INFOBIP_BASE_URL=http://127.0.0.1:9 \
    INFOBIP_API_KEY=k SLUICE_STATE_DIR="$T_TMP/state"
SLUICE_INCLUDE_PATH="$inst$pkgdatadir" installed "$inst$pkglibdir" check \
    "$T_TMP/etc/pipelines.d/acme-ometria-api.cfg" "$T_TMP/etc/pipelines.d/acme-infobip-api.cfg" \
    > "$T_TMP/check.out" 2>&1 || t_fail "the client pipelines were refused: $(cat "$T_TMP/check.out")"
grep -q "acme-ometria-api.cfg: ok (pipeline acme-ometria-api, 4 stages)" "$T_TMP/check.out" \
    || t_fail "unexpected check output: $(cat "$T_TMP/check.out")"
if [ ! -e "$pkgdatadir/mappings/ometria.cfg" ]; then
    set +e
    installed "$inst$pkglibdir" check "$T_TMP/etc/pipelines.d/acme-ometria-api.cfg" > "$T_TMP/noinc.out" 2>&1; rc=$?
    set -e
    [ "$rc" -eq 78 ] || t_fail "without the shared dir on the search path: exit $rc, expected 78"
    grep -qF "acme-ometria-api.cfg:9: cannot open include file $T_TMP/etc/pipelines.d/fragments/annexcloud-api.cfg" \
        "$T_TMP/noinc.out" || t_fail "unexpected error: $(cat "$T_TMP/noinc.out")"
fi

# 5. The layout.
for file in "$confdir/sluice.conf" "$confdir/sluice.env.example" "$pkgdatadir/fragments/deriver.cfg" \
    "$pkgdatadir/mappings/ometria.cfg" "$pkgdatadir/mappings/infobip-schema.cfg" \
    "$pkgdatadir/examples/README.md"; do
    [ -f "$inst$file" ] || t_fail "$file not installed"
done
[ -d "$inst$confdir/pipelines.d" ] || t_fail "$confdir/pipelines.d not made"
[ "$(stat -c %a "$inst$statedir")" = 700 ] || t_fail "$statedir is not 0700: $(stat -c %a "$inst$statedir")"
for doc in LICENSE NOTICE architecture.md configuration.md operations.md plugin-authoring.md; do
    [ -f "$inst$docdir/$doc" ] || t_fail "$doc not installed in $docdir"
done
# Every variable pipelines/README.md lists is in the environment template.
vars=$(sed -n 's/^| `\([A-Z_]*\)` |.*/\1/p' "$top_srcdir/pipelines/README.md")
[ "$(echo "$vars" | wc -w)" -ge 12 ] || t_fail "could not read the variables of pipelines/README.md"
for var in $vars; do
    grep -q "^#$var=" "$inst$confdir/sluice.env.example" || t_fail "sluice.env.example lacks $var"
done
for setting in pipelines_dir state_dir admin_listen log_level; do
    grep -q "^#$setting = " "$inst$confdir/sluice.conf" || t_fail "sluice.conf lacks $setting"
done
grep -rl '@[A-Za-z_]*@' "$inst$confdir" && t_fail "unsubstituted @VARIABLE@ in $confdir"
grep -q "not read yet" "$inst$confdir/sluice.conf" && t_fail "sluice.conf still says it is not read"

# 5b. The service settings as shipped: the settings shown, uncommented (the
# directories moved into the DESTDIR), are accepted; the pipelines_dir is
# checked (empty: nothing to run).
sed -e 's/^#\(pipelines_dir\|state_dir\|admin_listen\|log_level\) = /\1 = /' \
    -e "s|\"$confdir/|\"$inst$confdir/|; s|\"$statedir\"|\"$inst$statedir\"|" \
    "$inst$confdir/sluice.conf" > "$T_TMP/sluice.conf"
[ "$(grep -c '^[a-z_]* = ' "$T_TMP/sluice.conf")" -eq 4 ] \
    || t_fail "sluice.conf does not show the four settings: $(grep '^#*[a-z_]* = ' "$inst$confdir/sluice.conf")"
installed "$inst$pkglibdir" check --service-config "$T_TMP/sluice.conf" > "$T_TMP/service-check.out" 2>&1 \
    || t_fail "the shipped sluice.conf is refused: $(cat "$T_TMP/service-check.out")"
grep -qF "$T_TMP/sluice.conf: ok (service settings; pipelines_dir $inst$confdir/pipelines.d, state_dir $inst$statedir)" \
    "$T_TMP/service-check.out" || t_fail "unexpected service check: $(cat "$T_TMP/service-check.out")"
if [ ! -e "$confdir/sluice.conf" ]; then
    set +e
    installed "$inst$pkglibdir" run > "$T_TMP/noconf.out" 2>&1; rc=$?
    set -e
    [ "$rc" -eq 64 ] && grep -qF "no service settings: $confdir/sluice.conf:" "$T_TMP/noconf.out" \
        || t_fail "the installed sluice run with no arguments: exit $rc: $(cat "$T_TMP/noconf.out")"
fi

# 6. The unit, when configure found where systemd keeps units.
unit=$(find "$inst" -name sluice.service | head -1)
if [ -n "$unit" ]; then
    grep -qx "ExecStart=$bindir/sluice run" "$unit" \
        || t_fail "ExecStart does not run this build's sluice as the service: $(grep ExecStart "$unit")"
    type=simple
    grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" && type=notify
    grep -qx "Type=$type" "$unit" || t_fail "the unit is not Type=$type: $(grep '^Type=' "$unit")"
    grep -q "SLUICE_STATE_DIR\|SLUICE_LOG_LEVEL" "$unit" \
        && t_fail "the unit still sets what sluice.conf holds: $(grep 'SLUICE_' "$unit")"
    grep -qx "ReadWritePaths=$statedir" "$unit" || t_fail "ReadWritePaths is not $statedir"
    grep -qx "EnvironmentFile=-$confdir/sluice.env" "$unit" || t_fail "EnvironmentFile is not $confdir/sluice.env"
    if command -v systemd-analyze > /dev/null; then
        # verify wants ExecStart's program to exist: the installed one is
        # in the DESTDIR (its path, checked above, is the unit's)
        mkdir -p "$T_TMP/unit"
        sed "s|^ExecStart=$bindir/sluice |ExecStart=$inst$bindir/sluice |" "$unit" > "$T_TMP/unit/sluice.service"
        unit="$T_TMP/unit/sluice.service"
        systemd-analyze verify --man=no "$unit" > "$T_TMP/verify.out" 2>&1 \
            || t_fail "systemd-analyze verify: $(cat "$T_TMP/verify.out")"
        [ ! -s "$T_TMP/verify.out" ] || t_fail "systemd-analyze verify: $(cat "$T_TMP/verify.out")"
    else
        t_note "systemd-analyze not installed: unit not verified"
    fi
else
    t_note "configured without a systemd unit dir: no unit installed"
fi
echo "ok: installed sluice uses only its plugin dir, includes the shared files, layout as documented"

#!/usr/bin/env bash
# deb.sh: issue 16's operator with the Debian packages. Build them from a
# clean copy of the tree (dpkg-buildpackage -us -uc -b, nocheck), lintian
# must find no error; install them with apt-get; with the build trees
# still there `sluice plugins` shows only the installed plugin dir; move the
# build tree away (the deb's is deleted) and run the demo's acme pipelines
# from /etc/sluice/pipelines.d as sluice.service runs them (the sluice
# user, a clean environment: the state_dir of sluice.conf and the variables
# sluice.env.example names) against the emulators of the moved tree: what
# arrives must be the ground truth; the unit passes systemd-analyze verify
# (where systemd is PID 1 it is also started, restarted and stopped); the
# SDK builds the example plugin; purge leaves nothing behind.
# Root only, on a machine it may change (CI): it installs and purges the
# packages and the sluice user, and refuses to run where sluice is
# installed already.
#   top_srcdir (source tree, a git checkout), BUILD (a built tree: its
#   emulators and generator), DEB_JOBS (default 2)
set -euo pipefail
: "${top_srcdir:?}" "${BUILD:?}"
top_builddir=$BUILD
. "$top_srcdir/tests/lib.sh"
unset SLUICE_PLUGIN_PATH SLUICE_INCLUDE_PATH

packages=(sluice libsluice0 sluice-plugins sluice-dev)
moved="$BUILD.moved-by-deb-test"
had_user=0
getent passwd sluice > /dev/null && had_user=1

# installed PACKAGE: 0 if dpkg knows it in any state but "not installed".
installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2> /dev/null | grep -qv '^not-installed$'
}

# Put the machine back whatever happened: the build tree, no package, no user.
deb_cleanup() {
    if [ -d "$moved" ] && [ ! -e "$BUILD" ]; then
        mv "$moved" "$BUILD"
    fi
    for p in "${packages[@]}"; do
        if installed "$p"; then
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" > /dev/null 2>&1 || true
            break
        fi
    done
    if [ "$had_user" = 0 ] && getent passwd sluice > /dev/null; then
        userdel sluice 2> /dev/null || true
    fi
    t_cleanup
}
trap deb_cleanup EXIT

[ "$(id -u)" -eq 0 ] || t_fail "deb.sh installs packages: run it as root (CI)"
for p in "${packages[@]}"; do
    installed "$p" && t_fail "package $p is installed on this machine; deb.sh installs and purges its own: run it on a CI machine"
done
[ ! -e "$moved" ] || t_fail "$moved exists (a previous run did not finish): move it back to $BUILD"
[ -x "$BUILD/tests/emulators/ometria-emu" ] && [ -x "$BUILD/tests/gen/loyaltygen" ] \
    || t_fail "$BUILD has no built emulators and generator (make -C $BUILD check builds them)"
command -v dpkg-buildpackage > /dev/null && command -v lintian > /dev/null \
    || t_fail "dpkg-buildpackage and lintian needed (tests/setup-debian.sh installs them)"

# 1. The packages, from a clean copy: what git tracks or would (not ignored).
version=$(sed -n '1s/^sluice (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
debdir="$T_TMP/deb"
src="$debdir/sluice-$version"
mkdir -p "$src"
git -C "$top_srcdir" ls-files -z --cached --others --exclude-standard \
    | (cd "$top_srcdir" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) \
    | (cd "$top_srcdir" && tar --null -T - -cf -) | tar -xf - -C "$src" \
    || t_fail "cannot copy the tree"
start=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=${DEB_JOBS:-2}" dpkg-buildpackage -us -uc -b) \
    > "$T_TMP/dpkg-buildpackage.log" 2>&1 \
    || t_fail "dpkg-buildpackage failed: $(tail -40 "$T_TMP/dpkg-buildpackage.log")"
echo "# packages built in $(($(date +%s) - start)) s"
arch=$(dpkg --print-architecture)
debs=()
for p in "${packages[@]}"; do
    debs+=("$debdir/${p}_${version}_$arch.deb")
    [ -f "${debs[-1]}" ] || t_fail "no ${p}_${version}_$arch.deb built: $(ls "$debdir")"
done
set +e
lintian --fail-on error "$debdir/sluice_${version}_$arch.changes" \
    > "$T_TMP/lintian.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 0 ] || t_fail "lintian: $(cat "$T_TMP/lintian.log")"
echo "# lintian: no error ($(grep -c '^W: ' "$T_TMP/lintian.log" || true) warnings)"
sed 's/^/#   /' "$T_TMP/lintian.log"

# 2. Installed as an operator does.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" \
    > "$T_TMP/apt-install.log" 2>&1 || t_fail "apt-get install failed: $(tail -20 "$T_TMP/apt-install.log")"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null || gcc -print-multiarch)
plugindir="/usr/lib/$multiarch/sluice"
getent passwd sluice > /dev/null || t_fail "no sluice user"
[ "$(stat -c '%U:%G %a' /var/lib/sluice)" = "sluice:sluice 700" ] \
    || t_fail "/var/lib/sluice is $(stat -c '%U:%G %a' /var/lib/sluice), expected sluice:sluice 700"
for f in /etc/sluice/sluice.conf /etc/sluice/sluice.env.example /usr/share/sluice/mappings/ometria.cfg \
    /usr/share/sluice/fragments/deriver.cfg /usr/share/doc/sluice/operations.md \
    /usr/share/doc/sluice-dev/plugin-authoring.md /usr/include/sluice/plugin.h; do
    [ -e "$f" ] || [ -e "$f.gz" ] || t_fail "$f not installed"
done
[ -d /etc/sluice/pipelines.d ] || t_fail "no /etc/sluice/pipelines.d"
# the operator's edits of the service settings survive upgrades
dpkg-query --control-show sluice conffiles | grep -qE '^ */etc/sluice/sluice.conf( |$)' \
    || t_fail "/etc/sluice/sluice.conf is not a conffile: $(dpkg-query --control-show sluice conffiles)"
[ ! -e "$plugindir/example-upcase.so" ] || t_fail "the example plugin is installed among the plugins"
unit=/lib/systemd/system/sluice.service
[ -f "$unit" ] || t_fail "no $unit"
# built --with-systemd: sluice tells systemd when it is ready (sd_notify)
grep -qx 'Type=notify' "$unit" || t_fail "the unit is not Type=notify: $(grep '^Type=' "$unit")"
grep -qx 'ExecStart=/usr/bin/sluice run' "$unit" || t_fail "ExecStart: $(grep '^ExecStart=' "$unit")"
man_check=--man=yes
command -v man > /dev/null || man_check=--man=no
systemd-analyze verify "$man_check" "$unit" > "$T_TMP/verify.log" 2>&1 \
    || t_fail "systemd-analyze verify $unit: $(cat "$T_TMP/verify.log")"
[ ! -s "$T_TMP/verify.log" ] || t_fail "systemd-analyze verify $unit: $(cat "$T_TMP/verify.log")"

# The service's view: its user, a clean environment made as the unit makes
# it (the variables sluice.env.example names), with SLUICE_STATE_DIR as the
# service sets it from sluice.conf's state_dir for its pipelines (the demo
# runs `sluice run FILE...`, which does not read sluice.conf).
service="$T_TMP/sluice-as-service"
cat > "$service" <<'WRAPPER'
#!/bin/bash
vars=(PATH=/usr/sbin:/usr/bin:/sbin:/bin SLUICE_STATE_DIR=/var/lib/sluice)
for name in $(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' /etc/sluice/sluice.env.example); do
    [ -n "${!name+x}" ] && vars+=("$name=${!name}")
done
cd /
exec setpriv --reuid=sluice --regid=sluice --init-groups -- env -i "${vars[@]}" /usr/bin/sluice "$@"
WRAPPER
chmod 0755 "$service"

# check_plugins LABEL: every plugin the service's sluice lists is a file of
# the installed plugin dir, and all eight are there.
check_plugins() {
    "$service" plugins > "$T_TMP/plugins-$1.out" 2>&1 || t_fail "sluice plugins ($1): $(cat "$T_TMP/plugins-$1.out")"
    awk 'NR > 1 { print $4 }' "$T_TMP/plugins-$1.out" | grep -v "^$plugindir/[a-z-]*\\.so\$" \
        && t_fail "sluice plugins ($1) shows a plugin outside $plugindir: $(cat "$T_TMP/plugins-$1.out")"
    # as many as the package installed: 8 always, 10 with the nats plugins
    # (built when libnats is found)
    local installed
    installed=$(find "$plugindir" -maxdepth 1 -name '*.so' | wc -l)
    [ "$installed" -ge 8 ] || t_fail "only $installed plugins installed in $plugindir"
    [ "$(awk 'NR > 1' "$T_TMP/plugins-$1.out" | wc -l)" -eq "$installed" ] \
        || t_fail "sluice plugins ($1): expected the $installed installed plugins: $(cat "$T_TMP/plugins-$1.out")"
}
check_plugins "build trees present"
env -u SLUICE_PLUGIN_PATH /usr/bin/sluice plugins file-sink | grep -qx "  file: $plugindir/file-sink.so" \
    || t_fail "sluice plugins file-sink does not name $plugindir/file-sink.so"

# The SDK: the example plugin builds with its own Makefile and pkg-config.
mkdir -p "$T_TMP/author"
for f in upcase.c Makefile; do
    if [ -f "/usr/share/doc/sluice-dev/examples/plugin/$f" ]; then
        cp "/usr/share/doc/sluice-dev/examples/plugin/$f" "$T_TMP/author/"
    else
        t_fail "sluice-dev has no examples/plugin/$f"
    fi
done
make -s -C "$T_TMP/author" > "$T_TMP/author.log" 2>&1 || t_fail "the example plugin does not build: $(cat "$T_TMP/author.log")"
SLUICE_PLUGIN_PATH="$T_TMP/author" /usr/bin/sluice plugins example-upcase > "$T_TMP/author.out" 2>&1 \
    || t_fail "the example plugin does not load: $(cat "$T_TMP/author.out")"

# 3. Nothing of the build trees is needed: the deb's goes, BUILD moves.
rm -rf "$src"
mv "$BUILD" "$moved"
check_plugins "build trees gone"

# 4. The demo's acme pipelines as the service runs them.
cp /usr/share/sluice/examples/acme-*.cfg /etc/sluice/pipelines.d/
"$service" check /etc/sluice/pipelines.d/*.cfg > "$T_TMP/check.out" 2>&1 \
    && t_fail "the pipelines were accepted without their environment: $(cat "$T_TMP/check.out")"
grep -q "environment variable '[A-Z_]*' is not set" "$T_TMP/check.out" \
    || t_fail "unexpected refusal: $(cat "$T_TMP/check.out")"
start=$(date +%s)
set +e
top_srcdir="$top_srcdir" top_builddir="$moved" SLUICE="$service" EMU_DIR="$moved/tests/emulators" \
    GEN_DIR="$moved/tests/gen" DEMO_PIPELINES=/etc/sluice/pipelines.d DEMO_STATE_DIR=/var/lib/sluice \
    bash "$top_srcdir/tests/demo.sh" > "$T_TMP/demo.log" 2>&1
rc=$?
set -e
sed 's/^/#   /' "$T_TMP/demo.log" | grep -v '^#   *$' | tail -40
[ "$rc" -eq 0 ] || t_fail "the demo under the installed layout failed (exit $rc)"
grep -qx "everything arrived as the ground truth says" "$T_TMP/demo.log" \
    || t_fail "the demo did not report the ground truth"
echo "# demo under the installed layout in $(($(date +%s) - start)) s"
for dir in /var/lib/sluice/acme-ometria-webhook /var/lib/sluice/acme-infobip-api; do
    [ "$(stat -c '%U %a' "$dir")" = "sluice 700" ] \
        || t_fail "$dir is $(stat -c '%U %a' "$dir"), expected sluice 700"
    [ "$(stat -c '%U' "$dir/state.db")" = sluice ] || t_fail "$dir/state.db is not the sluice user's"
done

# 5. Where systemd runs the machine, the unit for real.
if [ -d /run/systemd/system ]; then
    mkdir -p "$T_TMP/off"
    mv /etc/sluice/pipelines.d/*.cfg "$T_TMP/off/"
    t_seq_jsonl 50 /var/lib/sluice/smoke-in.jsonl
    chown sluice:sluice /var/lib/sluice/smoke-in.jsonl
    cat > /etc/sluice/pipelines.d/smoke.cfg <<'CFG'
pipeline = {
  name = "smoke";
  state_dir = "${SLUICE_STATE_DIR}/smoke";
  stages = (
    { name = "in"; plugin = "file-source"; path = "/var/lib/sluice/smoke-in.jsonl"; },
    { name = "out"; plugin = "file-sink"; path = "/var/lib/sluice/smoke-out.jsonl"; }
  );
};
CFG
    systemctl daemon-reload
    systemctl start sluice || t_fail "systemctl start sluice: $(journalctl -u sluice -n 30 --no-pager)"
    t_wait_for 120 bash -c '[ "$(wc -l < /var/lib/sluice/smoke-out.jsonl)" -ge 50 ]' \
        || t_fail "the service delivered nothing: $(journalctl -u sluice -n 30 --no-pager)"
    systemctl restart sluice || t_fail "systemctl restart sluice: $(journalctl -u sluice -n 30 --no-pager)"
    t_wait_for 60 systemctl is-active -q sluice || t_fail "not active after restart"
    systemctl stop sluice
    [ "$(systemctl show -p Result --value sluice)" = success ] \
        || t_fail "stopping was not clean: $(journalctl -u sluice -n 30 --no-pager)"
    rm -f /etc/sluice/pipelines.d/smoke.cfg
    echo "# systemd is PID 1: the unit started, delivered, restarted and stopped cleanly"
else
    echo "# systemd is not PID 1 here ($(cat /proc/1/comm)): the unit is verified, not started"
fi

# 6. Purge leaves nothing behind (the user stays, as Debian does).
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" > "$T_TMP/purge.log" 2>&1 \
    || t_fail "apt-get purge failed: $(tail -20 "$T_TMP/purge.log")"
for p in "${packages[@]}"; do
    installed "$p" && t_fail "$p still known to dpkg after purge: $(dpkg -l "$p" | tail -1)"
done
leftovers=$(find /etc /lib /usr /var/lib /run -path /var/lib/dpkg -prune -o -path /var/lib/apt -prune \
    -o -path "$top_srcdir" -prune -o -path "$moved" -prune -o -name '*sluice*' -print 2> /dev/null || true)
[ -z "$leftovers" ] || t_fail "left after purge: $leftovers"
mv "$moved" "$BUILD"
echo "ok: packages built, lintian clean of errors, demo delivered under the installed layout as the sluice user, purged"

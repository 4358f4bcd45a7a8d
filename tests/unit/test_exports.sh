#!/usr/bin/env bash
# test_exports.sh: the public/private line of libsluice.so. The built
# library exports exactly what core/libsluice.map lists, each symbol in its
# node (the SDK in SLUICE_0, the sluice command's entry points in
# SLUICE_PRIVATE_0), and nothing else: no internal function, no linker
# symbol. SLUICE_0 is exactly the functions <sluice/plugin.h> declares;
# SLUICE_PRIVATE_0 is exactly what the built sluice command imports from
# it; every plugin built here (shipped and test plugins) uses the SDK only.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

NM=${NM:-nm}
map=$top_srcdir/core/libsluice.map
header=$top_srcdir/core/include/sluice/plugin.h
lib=$top_builddir/core/.libs/libsluice.so
cli=$top_builddir/core/.libs/sluice
if [ ! -e "$lib" ]; then
    echo "SKIP: no shared libsluice ($lib): configured with --disable-shared"
    exit 77
fi

# node_symbols NODE: the symbols NODE of the version script lists under
# global:, one a line, sorted (comments removed; the script has one
# statement a line).
node_symbols() {
    sed -e 's:/\*.*\*/::g' -e '\:/\*:,\:\*/:d' "$map" |
        awk -v node="$1" '
            $1 == node && $2 == "{" { in_node = 1; global = 0; next }
            in_node && /^}/ { in_node = 0 }
            in_node && $1 == "global:" { global = 1; next }
            in_node && $1 == "local:" { global = 0; next }
            in_node && global && NF { sub(/;$/, "", $1); print $1 }' | sort
}

# differ WHAT EXPECTED ACTUAL: fail naming what is missing and what is extra.
differ() {
    local missing extra
    missing=$(comm -23 "$2" "$3" | tr '\n' ' ')
    extra=$(comm -13 "$2" "$3" | tr '\n' ' ')
    [ -z "$missing$extra" ] && return 0
    t_fail "$1: missing: [${missing% }] extra: [${extra% }]"
}

node_symbols SLUICE_0 > "$T_TMP/sdk"
node_symbols SLUICE_PRIVATE_0 > "$T_TMP/private"
[ -s "$T_TMP/sdk" ] || t_fail "no symbol in node SLUICE_0 of $map"
[ -s "$T_TMP/private" ] || t_fail "no symbol in node SLUICE_PRIVATE_0 of $map"
dup=$(sort "$T_TMP/sdk" "$T_TMP/private" | uniq -d | tr '\n' ' ')
[ -z "$dup" ] || t_fail "$map lists these in both nodes: $dup"

# 1. The library's dynamic symbol table: every defined global symbol, with
#    the version it is bound to ("A" rows are the version nodes themselves).
"$NM" -D --defined-only --with-symbol-versions "$lib" > "$T_TMP/nm.out" ||
    t_fail "$NM -D $lib failed"
awk 'NF == 3 && $2 ~ /^[A-Z]$/ { print $3 }' "$T_TMP/nm.out" | sort > "$T_TMP/exported"
{
    echo SLUICE_0
    echo SLUICE_PRIVATE_0
    sed 's/$/@@SLUICE_0/' "$T_TMP/sdk"
    sed 's/$/@@SLUICE_PRIVATE_0/' "$T_TMP/private"
} | sort > "$T_TMP/expected"
differ "symbols $lib exports (nm -D --defined-only) against $map" \
    "$T_TMP/expected" "$T_TMP/exported"

# 2. SLUICE_0 is the SDK: the functions and variables plugin.h declares
#    (a declaration starts at the beginning of a line; members and
#    comments are indented).
grep -E '^[A-Za-z].*\bsluice_[a-z0-9_]+[[:space:]]*(\(|;|\[)' "$header" |
    grep -v '^typedef' |
    grep -oE '\bsluice_[a-z0-9_]+[[:space:]]*(\(|;|\[)' |
    sed -E 's/[[:space:]]*[(;[]$//' | sort -u > "$T_TMP/declared"
[ -s "$T_TMP/declared" ] || t_fail "found no declaration in $header"
differ "node SLUICE_0 of $map against what $header declares" \
    "$T_TMP/declared" "$T_TMP/sdk"

# 3. SLUICE_PRIVATE_0 is what the command calls, no more: an entry it no
#    longer uses leaves the map with it.
if [ -e "$cli" ]; then
    "$NM" -D --undefined-only --with-symbol-versions "$cli" |
        awk '{ print $2 }' | sed -n 's/@SLUICE_PRIVATE_0$//p' | sort > "$T_TMP/cli_uses"
    differ "node SLUICE_PRIVATE_0 of $map against what $cli imports from it" \
        "$T_TMP/private" "$T_TMP/cli_uses"
    # Whatever else it takes from libsluice is SDK (SLUICE_0).
    bad=$("$NM" -D --undefined-only --with-symbol-versions "$cli" |
          awk '{ print $2 }' | grep '@SLUICE_' | grep -vE '@SLUICE_(0|PRIVATE_0)$' || true)
    [ -z "$bad" ] || t_fail "$cli imports from an unknown node: $bad"
else
    t_fail "no $cli to check SLUICE_PRIVATE_0 against (built with libtool's shared libraries?)"
fi

# 4. Plugins use the SDK only: versioned references are to SLUICE_0, and the
#    test plugins (which do not link libsluice, so their references carry no
#    version) name SDK functions only.
checked=0
for plugin in "$top_builddir"/plugins/.libs/*.so "$top_builddir"/tests/unit/plugins/.libs/test-*.so; do
    [ -e "$plugin" ] || continue
    checked=$((checked + 1))
    "$NM" -D --undefined-only --with-symbol-versions "$plugin" | awk '{ print $2 }' |
        grep -E '^sluice_|@SLUICE_' > "$T_TMP/uses" || true
    bad=$(grep '@SLUICE_' "$T_TMP/uses" | grep -v '@SLUICE_0$' || true)
    [ -z "$bad" ] || t_fail "$plugin uses what is not SDK: $bad"
    sed 's/@.*//' "$T_TMP/uses" | sort -u | comm -23 - "$T_TMP/sdk" > "$T_TMP/unknown"
    [ ! -s "$T_TMP/unknown" ] ||
        t_fail "$plugin needs symbols plugin.h does not declare: $(tr '\n' ' ' < "$T_TMP/unknown")"
done
[ "$checked" -gt 0 ] || t_fail "no plugin found under $top_builddir/plugins/.libs"

echo "libsluice.so exports $(wc -l < "$T_TMP/sdk") SDK and $(wc -l < "$T_TMP/private") command symbols, nothing else; $checked plugins use the SDK only"

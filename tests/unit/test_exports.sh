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

# differ WHAT A-NAME A-FILE B-NAME B-FILE: fail naming what only one of the
# two sorted lists holds.
differ() {
    local only_a only_b
    only_a=$(comm -23 "$3" "$5" | tr '\n' ' ')
    only_b=$(comm -13 "$3" "$5" | tr '\n' ' ')
    [ -z "$only_a$only_b" ] && return 0
    t_fail "$1: only in $2: [${only_a% }]; only in $4: [${only_b% }]"
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
differ "the symbols of $lib" "$map" "$T_TMP/expected" \
    "nm -D --defined-only" "$T_TMP/exported"

# 2. SLUICE_0 is the SDK: the functions and variables plugin.h declares
#    (a declaration starts at the beginning of a line; members and
#    comments are indented).
grep -E '^[A-Za-z].*\bsluice_[a-z0-9_]+[[:space:]]*(\(|;|\[)' "$header" |
    grep -v '^typedef' |
    grep -oE '\bsluice_[a-z0-9_]+[[:space:]]*(\(|;|\[)' |
    sed -E 's/[[:space:]]*[(;[]$//' | sort -u > "$T_TMP/declared"
[ -s "$T_TMP/declared" ] || t_fail "found no declaration in $header"
differ "the SDK" "$header" "$T_TMP/declared" "node SLUICE_0 of $map" "$T_TMP/sdk"

# 3. SLUICE_PRIVATE_0 is what the command calls, no more: an entry it no
#    longer uses leaves the map with it.
if [ -e "$cli" ]; then
    "$NM" -D --undefined-only --with-symbol-versions "$cli" |
        awk '{ print $2 }' | sed -n 's/@SLUICE_PRIVATE_0$//p' | sort > "$T_TMP/cli_uses"
    differ "the command's entry points" "node SLUICE_PRIVATE_0 of $map" "$T_TMP/private" \
        "what $cli imports" "$T_TMP/cli_uses"
    # Whatever else it takes from libsluice is SDK (SLUICE_0).
    bad=$("$NM" -D --undefined-only --with-symbol-versions "$cli" |
          awk '{ print $2 }' | grep '@SLUICE_' | grep -vE '@SLUICE_(0|PRIVATE_0)$' || true)
    [ -z "$bad" ] || t_fail "$cli imports from an unknown node: $bad"
else
    t_fail "no $cli to check SLUICE_PRIVATE_0 against (built with libtool's shared libraries?)"
fi

# 4. Plugins use the SDK only: of what the engine defines (everything
#    libsluice-internal.so exports), a plugin references SDK functions
#    only, and a versioned reference names SLUICE_0. (The test plugins do
#    not link libsluice, so their references carry no version; a plugin
#    that calls an internal still links, the .so may have undefined
#    symbols, and fails when loaded.)
internal=$top_builddir/core/.libs/libsluice-internal.so
[ -e "$internal" ] || t_fail "no $internal"
"$NM" -D --defined-only "$internal" | awk 'NF == 3 && $2 ~ /^[A-Z]$/ { sub(/@.*/, "", $3); print $3 }' |
    sort -u > "$T_TMP/engine"
checked=0
for plugin in "$top_builddir"/plugins/.libs/*.so "$top_builddir"/tests/unit/plugins/.libs/test-*.so; do
    [ -e "$plugin" ] || continue
    checked=$((checked + 1))
    "$NM" -D --undefined-only --with-symbol-versions "$plugin" | awk '{ print $2 }' > "$T_TMP/uses"
    bad=$(grep '@SLUICE_' "$T_TMP/uses" | grep -v '@SLUICE_0$' || true)
    [ -z "$bad" ] || t_fail "$plugin uses what is not SDK: $bad"
    sed 's/@.*//' "$T_TMP/uses" | sort -u | comm -12 - "$T_TMP/engine" |
        comm -23 - "$T_TMP/sdk" > "$T_TMP/internals"
    [ ! -s "$T_TMP/internals" ] ||
        t_fail "$plugin calls engine internals plugin.h does not declare: $(paste -sd ' ' "$T_TMP/internals")"
done
[ "$checked" -gt 0 ] || t_fail "no plugin found under $top_builddir/plugins/.libs"

echo "libsluice.so exports $(wc -l < "$T_TMP/sdk") SDK and $(wc -l < "$T_TMP/private") command symbols, nothing else; $checked plugins use the SDK only"

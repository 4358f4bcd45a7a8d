#!/usr/bin/env bash
# core-secrets.sh: secrets stay masked in what `sluice run` and `sluice
# check` print: with more than 64 secrets over several pipelines of one
# run, in a `${` syntax error, and in a configuration error after an
# @file: value was read.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

t_seq_jsonl 5 "$T_TMP/in.jsonl"

# p1: 70 set-field stages in one process, each value read with @file: (70
# secrets registered before p2's).
{
    echo 'pipeline = {'
    echo '  name = "p1";'
    echo "  state_dir = \"$T_TMP/state1\";"
    echo '  stages = ('
    echo "    { name = \"src\"; plugin = \"file-source\"; path = \"$T_TMP/in.jsonl\"; },"
    for i in $(seq 1 70); do
        printf 'secret-p1-%02d-Vb3\n' "$i" > "$T_TMP/s$i"
        echo "    { name = \"set$i\"; plugin = \"set-field\"; field = \"f$i\"; value = \"@file:s$i\"; group = \"g\"; },"
    done
    echo "    { name = \"out\"; plugin = \"file-sink\"; path = \"$T_TMP/out1.jsonl\"; }"
    echo '  );'
    echo '};'
} > "$T_TMP/p1.cfg"
# p2: its source's path is a secret (read with @file:) that does not
# exist, so the source's error names it.
echo "$T_TMP/SUPERSECRET-PATH-7q" > "$T_TMP/path.secret"
cat > "$T_TMP/p2.cfg" <<CFG
pipeline = {
  name = "p2";
  state_dir = "$T_TMP/state2";
  stages = (
    { name = "src"; plugin = "file-source"; path = "@file:path.secret"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out2.jsonl"; }
  );
};
CFG
"$SLUICE" check "$T_TMP/p1.cfg" "$T_TMP/p2.cfg" > "$T_TMP/check.out" 2>&1 \
    || t_fail "pipelines refused: $(cat "$T_TMP/check.out")"
set +e
timeout 120 "$SLUICE" --log-format json run --once "$T_TMP/p1.cfg" "$T_TMP/p2.cfg" \
    > "$T_TMP/run.out" 2> "$T_TMP/run.log"
rc=$?
set -e
[ "$rc" -ne 124 ] || t_fail "sluice run did not finish: $(tail -5 "$T_TMP/run.log")"
[ "$(wc -l < "$T_TMP/out1.jsonl")" -eq 5 ] || t_fail "p1 did not deliver its 5 records: $(tail -5 "$T_TMP/run.log")"
if grep -q "SUPERSECRET" "$T_TMP/run.log" "$T_TMP/run.out"; then
    t_fail "the 71st secret was printed: $(grep SUPERSECRET "$T_TMP/run.log" | head -2)"
fi
if grep -q "secret-p1-" "$T_TMP/run.log" "$T_TMP/run.out"; then
    t_fail "a secret of p1 was printed: $(grep secret-p1- "$T_TMP/run.log" | head -2)"
fi
grep -q 'cannot open \*\*\*\*\*\*\*\*' "$T_TMP/run.log" \
    || t_fail "p2's source did not report its missing input: $(grep '"p2"' "$T_TMP/run.log")"
echo "ok: 71 secrets over two pipelines of one run, none printed"

# A '${' typo inside a literal secret: the error names the line, not the
# value (it is refused, so never registered with the masks).
cat > "$T_TMP/typo.cfg" <<CFG
pipeline = {
  name = "typo";
  state_dir = "$T_TMP/state3";
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "ometria"; plugin = "ometria-sink"; base_url = "http://127.0.0.1:9";
      api_key = "live-KEY-0123456789\${MISSING"; }
  );
};
CFG
for cmd in check "run --once"; do
    set +e; "$SLUICE" $cmd "$T_TMP/typo.cfg" > "$T_TMP/typo.out" 2>&1; rc=$?; set -e
    [ "$rc" -eq 78 ] || t_fail "sluice $cmd: exit $rc, expected 78: $(cat "$T_TMP/typo.out")"
    grep -q "typo.cfg:7: stage 'ometria' (plugin ometria-sink): unterminated '\${'" "$T_TMP/typo.out" \
        || t_fail "sluice $cmd: no FILE:LINE: $(cat "$T_TMP/typo.out")"
    if grep -q "live-KEY" "$T_TMP/typo.out"; then
        t_fail "sluice $cmd echoed the secret: $(cat "$T_TMP/typo.out")"
    fi
done
echo "ok: a '\${' error does not echo the secret"

# A configuration error quoting a value read with @file: (registered by
# then): masked by check and by run.
printf 'not a group name!\n' > "$T_TMP/group.secret"
sed 's|path = "@file:path.secret"; },|path = "@file:path.secret"; group = "@file:group.secret"; },|' \
    "$T_TMP/p2.cfg" > "$T_TMP/group.cfg"
for cmd in check "run --once"; do
    set +e; "$SLUICE" $cmd "$T_TMP/group.cfg" > "$T_TMP/group.out" 2>&1; rc=$?; set -e
    [ "$rc" -eq 78 ] || t_fail "sluice $cmd: exit $rc, expected 78: $(cat "$T_TMP/group.out")"
    grep -q "got \"\*\*\*\*\*\*\*\*\"" "$T_TMP/group.out" \
        || t_fail "sluice $cmd: value not masked: $(cat "$T_TMP/group.out")"
done
echo "ok: configuration errors mask @file: values in check and run"

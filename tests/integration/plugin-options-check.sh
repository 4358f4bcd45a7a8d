#!/usr/bin/env bash
# plugin-options-check.sh: the option values ometria-sink, file-source,
# set-field and annexcloud-source (api mode's since) used to refuse only
# in init() (sluice_fail, exit 3 once the stage started) are refused by
# `sluice check` and by `sluice run` before anything runs: FILE:LINE,
# stage and plugin, exit 78, no state directory (issue 14: the option
# table and check() own them).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

cat > "$T_TMP/opts.cfg" <<CFG
pipeline = {
  name = "opts";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "in"; plugin = "file-source";
      path = ""; },
    { name = "tag"; plugin = "set-field";
      field = "meta..tag"; value = "x"; },
    { name = "ometria"; plugin = "ometria-sink";
      base_url = "api.ometria.com";
      api_key = "om-key";
      max_records_per_request = 101;
      max_record_bytes = 0;
    }
  );
};
CFG
t_check_refuses "$T_TMP/opts.cfg"
expect() { t_expect_refusal "$T_TMP/opts.cfg" "$1"; }
expect "6: stage 'in' (plugin file-source): option 'path' must be a path, not empty"
expect "8: stage 'tag' (plugin set-field): "
grep -qF '"meta..tag" has an empty part (at character 6)' "$T_TMP/check.err" \
    || t_fail "check did not say where the field path is empty: $(cat "$T_TMP/check.err")"
expect "10: stage 'ometria' (plugin ometria-sink): option 'base_url' must be an http:// or https:// URL"
expect "12: stage 'ometria' (plugin ometria-sink): option 'max_records_per_request' must be in 1..100, got 101"
expect "13: stage 'ometria' (plugin ometria-sink): option 'max_record_bytes' must be in 1..61440, got 0"
[ "$(tail -1 "$T_TMP/check.err")" = "5 errors" ] \
    || t_fail "check did not end with '5 errors': $(tail -1 "$T_TMP/check.err")"

# Fixed, the same pipeline passes.
sed -e 's|path = "";|path = "'"$T_TMP"'/in.jsonl";|; s/meta\.\.tag/meta.tag/' \
    -e 's|"api.ometria.com"|"http://127.0.0.1:1"|; s/= 101;/= 100;/; s/max_record_bytes = 0;/max_record_bytes = 61440;/' \
    "$T_TMP/opts.cfg" > "$T_TMP/fixed.cfg"
"$SLUICE" check "$T_TMP/fixed.cfg" > "$T_TMP/fixed.out" 2>&1 \
    || t_fail "the fixed pipeline was refused: $(cat "$T_TMP/fixed.out")"

# annexcloud-source: api mode's since must be a time with a zone.
cat > "$T_TMP/since.cfg" <<CFG
pipeline = {
  name = "since";
  state_dir = "$T_TMP/since-state";
  stages = (
    { name = "annexcloud"; plugin = "annexcloud-source"; mode = "api";
      base_url = "http://127.0.0.1:1"; site_id = "1"; secret = "x";
      since = "2020-01-01 00:00:00"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
set +e; "$SLUICE" check "$T_TMP/since.cfg" 2> "$T_TMP/since.err"; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "since without a zone: check exit $rc: $(cat "$T_TMP/since.err")"
grep -qF "$T_TMP/since.cfg:7: stage 'annexcloud' (plugin annexcloud-source): " "$T_TMP/since.err" \
    && grep -qF "'2020-01-01 00:00:00' is not a time like 2020-01-01T00:00:00Z" "$T_TMP/since.err" \
    || t_fail "check did not report since at its line: $(cat "$T_TMP/since.err")"
[ ! -e "$T_TMP/since-state" ] || t_fail "a refused pipeline created its state directory"
sed -i 's/"2020-01-01 00:00:00"/"2020-01-01 00:00:00Z"/' "$T_TMP/since.cfg"
"$SLUICE" check "$T_TMP/since.cfg" > "$T_TMP/since-fixed.out" 2>&1 \
    || t_fail "since with a zone was refused: $(cat "$T_TMP/since-fixed.out")"

# field-mapper: a field's sanitize / max_length (issue 17) are checked with
# the mapping, at the stage's line.
cat > "$T_TMP/names.cfg" <<CFG
pipeline = {
  name = "names";
  state_dir = "$T_TMP/names-state";
  stages = (
    { name = "in"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; },
    { name = "map"; plugin = "field-mapper";
      member = { fields = ( { to = "firstName"; from = "first_name"; type = "string";
                              sanitize = "&;"; sanitize_with = ";"; max_length = 0; } ); }; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
set +e; "$SLUICE" check "$T_TMP/names.cfg" 2> "$T_TMP/names.err"; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "bad sanitize_with: check exit $rc: $(cat "$T_TMP/names.err")"
grep -qF "$T_TMP/names.cfg:6: stage 'map' (plugin field-mapper): bad mapping: member.fields[0] (to 'firstName'): 'sanitize_with' must not hold a character of 'sanitize'" "$T_TMP/names.err" \
    || t_fail "check did not report sanitize_with at its stage: $(cat "$T_TMP/names.err")"
sed -i 's/sanitize_with = ";";//' "$T_TMP/names.cfg"
set +e; "$SLUICE" check "$T_TMP/names.cfg" 2> "$T_TMP/names.err"; rc=$?; set -e
[ "$rc" -eq 78 ] && grep -qF "'max_length' must be an integer 1..1000000" "$T_TMP/names.err" \
    || t_fail "check did not refuse max_length = 0 (exit $rc): $(cat "$T_TMP/names.err")"
sed -i 's/max_length = 0;/max_length = 255;/' "$T_TMP/names.cfg"
"$SLUICE" check "$T_TMP/names.cfg" > "$T_TMP/names-fixed.out" 2>&1 \
    || t_fail "sanitize with max_length 255 was refused: $(cat "$T_TMP/names-fixed.out")"
[ ! -e "$T_TMP/names-state" ] || t_fail "a checked pipeline created its state directory"
t_note "5 errors before anything ran, since without a zone and bad sanitize/max_length refused; the fixed pipelines pass"

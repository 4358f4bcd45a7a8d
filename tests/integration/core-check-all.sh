#!/usr/bin/env bash
# core-check-all.sh: `sluice check` reports every error of a pipeline in one
# run, each FILE:LINE with its stage and plugin, ends with "N errors" and
# exits 78; the values the option tables and the plugins' check() refuse
# are refused before anything runs (issue 14: each of these passed check at
# 9fc8cf0 and failed at run, or ran wrong). --env-file sets the variables
# a pipeline reads; --without-secrets checks everything but the secrets.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

cp -r "$top_srcdir/pipelines/mappings" "$T_TMP/"
unset NO_SUCH_KEY_VAR || true
cat > "$T_TMP/many.cfg" <<CFG
pipeline = {
  name = "many";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "annexcloud"; plugin = "annexcloud-source"; mode = "apii";
      base_url = "http://127.0.0.1:1"; site_id = "1"; secret = "x"; hwm = 0; },
    { name = "derive"; plugin = "tier-event-deriver";
      tier_ladder = ( { name = "Bronze"; points = 0; }, { name = "Silver"; points = 5000; },
                      { name = "Gold"; points = 1000; } );
    },
    { name = "map"; plugin = "field-mapper";
      @include "mappings/infobip.cfg"
    },
    { name = "infobip"; plugin = "infobip-sink";
      base_url = "api.infobip.com";
      api_key = "\${NO_SUCH_KEY_VAR}";
      requests_per_second = -5.0;
      max_persons_per_request = 5000;
      max_in_flight = 99;
      too_old_events = "bogus";
      @include "mappings/infobip-schema.cfg"
      tags = [ "Loyalty", "vip", "newsletter", "birthday_club", "high_spender" ];
    }
  );
};
CFG
t_check_refuses "$T_TMP/many.cfg"
expect() { t_expect_refusal "$T_TMP/many.cfg" "$1"; }
expect "5: stage 'annexcloud' (plugin annexcloud-source): mode 'apii' is not one of"
expect "6: stage 'annexcloud' (plugin annexcloud-source): option 'hwm' must be in 1..100000, got 0"
expect "8: stage 'derive' (plugin tier-event-deriver): tier_ladder[2]: 'Gold' (1000 points) is listed above 'Silver'"
expect "15: stage 'infobip' (plugin infobip-sink): option 'base_url' must be an http:// or https:// URL"
expect "16: stage 'infobip' (plugin infobip-sink): environment variable 'NO_SUCH_KEY_VAR' is not set"
expect "17: stage 'infobip' (plugin infobip-sink): option 'requests_per_second' must be in 0.01..1000, got -5"
expect "18: stage 'infobip' (plugin infobip-sink): option 'max_persons_per_request' must be in 1..1000, got 5000"
expect "19: stage 'infobip' (plugin infobip-sink): option 'max_in_flight' must be in 1..16, got 99"
expect "20: stage 'infobip' (plugin infobip-sink): option 'too_old_events' must be one of skip|dlq, got \"bogus\""
[ "$(tail -1 "$T_TMP/check.err")" = "9 errors" ] \
    || t_fail "check did not end with '9 errors': $(tail -1 "$T_TMP/check.err")"

# The variable from an env file: that error goes, the others stay.
printf '# the service environment\nNO_SUCH_KEY_VAR="a-key"\n' > "$T_TMP/sluice.env"
set +e; "$SLUICE" check --env-file "$T_TMP/sluice.env" "$T_TMP/many.cfg" 2> "$T_TMP/env.err"; rc=$?; set -e
[ "$rc" -eq 78 ] || t_fail "check --env-file exit $rc"
! grep -q NO_SUCH_KEY_VAR "$T_TMP/env.err" || t_fail "--env-file did not set the variable"
[ "$(tail -1 "$T_TMP/env.err")" = "8 errors" ] || t_fail "with --env-file: $(tail -1 "$T_TMP/env.err")"
printf 'not a line\n' > "$T_TMP/bad.env"
set +e; "$SLUICE" check --env-file "$T_TMP/bad.env" "$T_TMP/many.cfg" 2> "$T_TMP/badenv.err"; rc=$?; set -e
[ "$rc" -eq 78 ] && grep -qF "$T_TMP/bad.env:1: expected KEY=VALUE" "$T_TMP/badenv.err" \
    || t_fail "a malformed env file: exit $rc, $(cat "$T_TMP/badenv.err")"

# Fixed, the pipeline passes without its secret when asked to.
sed -e 's/"apii"/"api"/; s/hwm = 0; //; s/"Silver"; points = 5000;/"Silver"; points = 1000;/; s/"Gold"; points = 1000;/"Gold"; points = 5000;/' \
    -e 's/"api.infobip.com"/"https:\/\/xx.api.infobip.com"/; s/= -5.0/= 5.0/; s/= 5000;$/= 1000;/' \
    -e 's/= 99;/= 4;/; s/"bogus"/"skip"/' "$T_TMP/many.cfg" > "$T_TMP/fixed.cfg"
set +e; "$SLUICE" check "$T_TMP/fixed.cfg" 2> "$T_TMP/fixed.err"; rc=$?; set -e
[ "$rc" -eq 78 ] && [ "$(grep -c . "$T_TMP/fixed.err")" -eq 2 ] && grep -q NO_SUCH_KEY_VAR "$T_TMP/fixed.err" \
    || t_fail "the fixed pipeline without its secret: exit $rc, $(cat "$T_TMP/fixed.err")"
"$SLUICE" check --without-secrets "$T_TMP/fixed.cfg" > "$T_TMP/nosecret.out" 2>&1 \
    || t_fail "check --without-secrets refused: $(cat "$T_TMP/nosecret.out")"
t_note "9 errors in one run; --env-file and --without-secrets work"

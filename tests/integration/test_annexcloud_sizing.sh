#!/usr/bin/env bash
# test_annexcloud_sizing.sh: annexcloud-source api mode tells how a full
# sync sizes up. Against annexcloud-emu with 30 ms latency and a fixed
# concurrency of 4, a sync of 100 members takes seconds while interval_s is
# 1: the sync's sizing line (members, requests, requests/member, members/s,
# the time the program takes), a warning that it outlasted interval_s, and
# the next sync starting right after it ends, never before (the run goes on
# until stopped). `sluice check` refuses concurrency 0 and max_concurrency
# over 256, an unknown resource and activity_pages (exit 78, FILE:LINE).
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

SECRET="ac-secret-$$-s1Z"
members=100

"$GEN_DIR/loyaltygen" --seed 5 --members "$members" --days 10 --truth none --out "$T_TMP/prog" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
site_id=$(jq -r .site_id "$T_TMP/prog/program.json")
t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret "$SECRET" --site-id "$site_id" \
    --program "$T_TMP/prog" --latency-ms 30
base="http://127.0.0.1:$T_EMU_PORT"

# write_cfg FILE EXTRA: the pipeline with EXTRA options on the source.
write_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "sizing";
  state_dir = "$T_TMP/state";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "api"; base_url = "$base";
      site_id = "$site_id"; secret = "$SECRET";
      $2 },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
}

# 1. Out-of-range concurrency is refused before anything runs.
for bad in "concurrency = 0;" "max_concurrency = 257;" "concurrency = 300;" \
    'resources = ["points", "rewards"];' 'activity_pages = "some";'; do
    write_cfg "$T_TMP/bad.cfg" "$bad"
    rc=0
    "$SLUICE" check "$T_TMP/bad.cfg" > "$T_TMP/check.out" 2>&1 || rc=$?
    [ "$rc" = 78 ] || t_fail "sluice check of '$bad' exited $rc, want 78: $(cat "$T_TMP/check.out")"
    grep -q "bad.cfg:[0-9]" "$T_TMP/check.out" || t_fail "'$bad': no FILE:LINE in: $(cat "$T_TMP/check.out")"
done

# 2. A sync longer than interval_s: sizing line, warning, the next at once.
write_cfg "$T_TMP/sizing.cfg" "interval_s = 1; concurrency = 4;"
t_bg "$SLUICE" run "$T_TMP/sizing.cfg" > "$T_TMP/run.stdout" 2> "$T_TMP/run.stderr"
run_pid=$T_LAST_PID
t_wait_for 300 grep -q 'sync 2: [0-9]* members' "$T_TMP/run.stderr" ||
    t_fail "no second sync: $(tail -5 "$T_TMP/run.stderr")"
kill -TERM "$run_pid"
t_wait_for 120 sh -c "! kill -0 $run_pid 2>/dev/null" || t_fail "SIGTERM did not end the run"

sizing=$(grep 'sync 1 complete' "$T_TMP/run.stderr") || t_fail "no sizing line: $(tail -5 "$T_TMP/run.stderr")"
echo "$sizing" | grep -Eq "complete: $members members read in [0-9]+ (s|min)" ||
    t_fail "the sizing line does not say the members and the time: $sizing"
echo "$sizing" | grep -Eq '[0-9]+ requests \([0-9.]+/member\), [0-9.]+ members/s: the program of '"$members"' members takes' ||
    t_fail "the sizing line lacks requests, members/s or the projection: $sizing"
grep -q "sync 1 took .*, longer than interval_s = 1: the next sync starts now" "$T_TMP/run.stderr" ||
    t_fail "no warning that sync 1 outlasted interval_s: $(grep 'sync 1' "$T_TMP/run.stderr")"
# never overlapping: sync 2 begins after sync 1 ended
complete_line=$(grep -n 'sync 1 complete' "$T_TMP/run.stderr" | head -1 | cut -d: -f1)
second_line=$(grep -n 'sync 2: [0-9]* members' "$T_TMP/run.stderr" | head -1 | cut -d: -f1)
[ "$second_line" -gt "$complete_line" ] || t_fail "sync 2 began before sync 1 ended"
# requests per member: profile, points, tiers, reward, and activity from
# both ends: 5 to 6 for most members, besides the searches
perm=$(echo "$sizing" | sed -n 's/.*(\([0-9.]*\)\/member).*/\1/p')
awk -v p="$perm" 'BEGIN {exit !(p >= 5 && p < 8)}' || t_fail "requests/member $perm not in 5..8: $sizing"
t_note "$sizing"

# 3. A sync within interval_s warns nothing.
write_cfg "$T_TMP/once.cfg" "interval_s = 3600;"
rm -rf "$T_TMP/state"
"$SLUICE" run --once "$T_TMP/once.cfg" > "$T_TMP/once.stdout" 2> "$T_TMP/once.stderr" ||
    t_fail "run --once failed: $(tail -3 "$T_TMP/once.stderr")"
grep -q 'sync 1 complete' "$T_TMP/once.stderr" || t_fail "no sizing line in the short sync"
if grep -q 'longer than interval_s' "$T_TMP/once.stderr"; then
    t_fail "a sync shorter than interval_s was warned about"
fi
echo "ok: sizing line, the interval_s warning, no overlap, concurrency ranges refused by check"

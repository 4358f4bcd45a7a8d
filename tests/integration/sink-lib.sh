# sink-lib.sh: helpers for the sink tests against fake-dest.py, the
# loopback fake destination (sourced after tests/lib.sh, not run).

FAKE_DEST="$top_srcdir/tests/integration/fake-dest.py"

# fake_start NAME MODE ARGS...: start fake-dest.py MODE ARGS with its POSTs
# logged to $T_TMP/NAME.posts; wait for its port, set FAKE_PORT.
fake_start() {
    local name=$1 out="$T_TMP/$1.stdout"
    shift
    : > "$out"
    : > "$T_TMP/$name.posts"
    t_bg python3 "$FAKE_DEST" "$@" --log "$T_TMP/$name.posts" > "$out" 2> "$T_TMP/$name.stderr"
    t_wait_for 20 grep -q 'listening on' "$out" ||
        t_fail "fake-dest $name did not start: $(tail -3 "$T_TMP/$name.stderr")"
    FAKE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -1)
    [ -n "$FAKE_PORT" ] || t_fail "fake-dest $name printed no port"
}

# gen_contacts N FILE: N Ometria contacts LID-1..N.
gen_contacts() {
    awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"@type\":\"contact\",\"id\":\"LID-%d\",\"email\":\"m%d@example.com\",\"firstname\":\"F%d\"}\n", i, i, i }' > "$2"
}

# gen_persons N FILE: N Infobip persons L-1..N.
gen_persons() {
    awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"externalId\":\"L-%d\",\"firstName\":\"F%d\",\"tags\":[\"Loyalty\"]}\n", i, i }' > "$2"
}

# sink_cfg FILE NAME INPUT SINK_PLUGIN BASE_URL [PIPELINE_OPTIONS] [STAGE_OPTIONS]
sink_cfg() {
    cat > "$1" <<CFG
pipeline = {
  name = "$2";
  state_dir = "$T_TMP/state-$2";
  ${6:-}
  stages = (
    { name = "src"; plugin = "file-source"; path = "$3"; },
    { name = "dest"; plugin = "$4"; base_url = "$5"; api_key = "fake-key-4d2c"; ${7:-} }
  );
};
CFG
}

# run_once CFG SECONDS: sluice run --once bounded by SECONDS; sets RC,
# output in $T_TMP/run.out and $T_TMP/run.err (text logs).
run_once() {
    RC=0
    timeout "$2" "$SLUICE" --log-format text run --once "$1" > "$T_TMP/run.out" 2> "$T_TMP/run.err" || RC=$?
    [ "$RC" -ne 124 ] || t_fail "sluice run --once $1 did not finish in $2 s: $(tail -3 "$T_TMP/run.err")"
}

# checkpoint_of NAME: the source's committed checkpoint in pipeline NAME's
# state ("" when none was ever committed).
checkpoint_of() {
    sqlite3 "$T_TMP/state-$1/state.db" "select value from checkpoints where stage = 'src'" 2>/dev/null || true
}

# posts_of NAME: how many requests the fake destination NAME logged.
posts_of() {
    wc -l < "$T_TMP/$1.posts" | tr -d ' '
}

# soak-lib.sh: the webhook soak (docs/testing.md, "Webhook soak"), sourced
# after lib.sh by e2e-webhook-soak.sh and soak-intake.sh. webhook-load posts
# a generated program's webhooks from SOAK_CONNECTIONS senders at once and
# logs the answer to every attempt; meanwhile kill -9 hits every stage
# process of the pipeline at random, and once the supervisor (`sluice run`
# and its pipeline process), which is then started again. The tests then
# build the truth from exactly the webhooks that were answered 2xx.
# A failing run keeps $T_TMP (as T_KEEP=1 would) and copies what explains
# it into the test log.
#   SOAK_CONNECTIONS (default 16)  webhook-load senders
#   SOAK_RATE        (default 0)   webhook-load --rate (attempts/s; 0 = no cap)
#   SOAK_KILLS       (default 8)   kills while the webhooks arrive, the
#                                  supervisor's in the middle of them
#   SOAK_DRAIN_KILLS (default 2)   stage kills while the backlog drains
#   SOAK_DEADLINE    (default 900) seconds for webhook-load, and again for
#                                  the backlog to drain

SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-16}
SOAK_RATE=${SOAK_RATE:-0}
SOAK_KILLS=${SOAK_KILLS:-8}
SOAK_DRAIN_KILLS=${SOAK_DRAIN_KILLS:-2}
SOAK_DEADLINE=${SOAK_DEADLINE:-900}
SOAK_KILLED=()          # stage labels killed at least once
SOAK_KILL_LOG=()        # "SECONDS label" per stage kill
SOAK_SUPERVISOR_KILLS=0

# soak_exit: the EXIT trap. On failure keep $T_TMP and print the logs that
# explain it (the load's answers, the pipeline's warnings and errors, the
# kills) before lib.sh's cleanup.
soak_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        T_KEEP=1
        soak_diagnose >&2 || true
    fi
    t_cleanup
}
trap soak_exit EXIT

# soak_diagnose: what a failed run leaves in the test log.
soak_diagnose() {
    echo "== soak failed; everything is kept in $T_TMP"
    [ -f "$T_TMP/load.out" ] && echo "-- webhook-load: $(cat "$T_TMP/load.out")"
    [ -f "$T_TMP/load.err" ] && tail -5 "$T_TMP/load.err"
    if [ -f "$T_TMP/load.log" ]; then
        echo "-- attempts by verdict, status and answer (load.log):"
        awk -F'\t' '{ gsub(/[0-9]+ ms/, "N ms", $10); n[$7 " " $6 " " $10]++ } END { for (k in n) print n[k], k }' "$T_TMP/load.log" |
            sort -rn | head -20
        echo "-- webhooks never answered 2xx (first 20, with their attempts):"
        awk -F'\t' '$7 == "2xx" { ok[$1] = 1 } { seen[$1] = 1 } END { for (i in seen) if (!ok[i]) print i }' \
            "$T_TMP/load.log" | sort -n | head -20 | while read -r i; do
                awk -F'\t' -v i="$i" '$1 == i' "$T_TMP/load.log"
            done
    fi
    echo "-- kills (SECONDS label): ${SOAK_KILL_LOG[*]:-none}; supervisor kills: $SOAK_SUPERVISOR_KILLS"
    if [ -f "$T_TMP/run.log" ]; then
        grep -E '"level":"(warn|error)"' "$T_TMP/run.log" > "$T_TMP/run.warnings" || true
        echo "-- pipeline warnings and errors ($(wc -l < "$T_TMP/run.warnings") in run.log; at most the first and last 60):"
        if [ "$(wc -l < "$T_TMP/run.warnings")" -le 120 ]; then
            cat "$T_TMP/run.warnings"
        else
            head -60 "$T_TMP/run.warnings"
            echo "   ..."
            tail -60 "$T_TMP/run.warnings"
        fi
        echo "-- pipeline log, last 20 lines:"
        tail -20 "$T_TMP/run.log"
    fi
    # The members a check named: their webhooks' attempts (load.log).
    if [ -f "$T_TMP/load.log" ]; then
        cat "$T_TMP/compare.out" "$T_TMP/witness.out" 2> /dev/null | grep -o 'LID-[0-9]*' | sort -u | head -5 |
            while read -r member; do
                echo "-- attempts of the webhooks of $member (load.log; last 10):"
                awk -F'\t' -v m="$member" '$3 == m' "$T_TMP/load.log" | tail -10
            done
    fi
    [ -f "$T_TMP/compare.out" ] && { echo "-- compare:"; head -40 "$T_TMP/compare.out"; }
    [ -f "$T_TMP/witness.out" ] && { echo "-- witness:"; head -40 "$T_TMP/witness.out"; }
    return 0
}

# soak_alive PID: whether PID runs (a zombie does not).
soak_alive() {
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2> /dev/null
}

# soak_gone PID: whether PID has ended.
soak_gone() {
    ! soak_alive "$1"
}

# soak_start_pipeline: `sluice run` of $SOAK_PIPELINE in webhook mode,
# logging (appended) to run.log; waits until the listener answers. Sets
# SOAK_RUN_PID.
soak_start_pipeline() {
    ANNEXCLOUD_MODE=webhook t_bg "$SLUICE" run --log-format json "$SOAK_PIPELINE" \
        >> "$T_TMP/run.out" 2>> "$T_TMP/run.log"
    SOAK_RUN_PID=$T_LAST_PID
    t_wait_for 120 curl -s -o /dev/null "$SOAK_URL" || t_fail "the webhook listener did not start"
}

# soak_stages: every stage process label of the running pipeline (its pid
# files: "annexcloud", "map#1", ...), one a line.
soak_stages() {
    (cd "$SOAK_RUN_DIR" && ls -- *.pid 2> /dev/null | sed 's/\.pid$//')
}

# soak_restarted LABEL OLD_PID: whether the stage runs again as another process.
soak_restarted() {
    local pid
    pid=$(t_pid_of_stage "$SOAK_RUN_DIR" "$1") && [ "$pid" != "$2" ] && soak_alive "$pid"
}

# soak_kill_stage: kill -9 one stage process, chosen at random among those
# not killed yet, else among those killed fewer than three times in the last
# 60 s (the supervisor gives up after restart.max = 5 crashes a minute);
# then wait until the supervisor has started it again.
soak_kill_stage() {
    local label pid candidates=() fresh=() recent entry
    for label in "${SOAK_STAGES[@]}"; do
        if [[ " ${SOAK_KILLED[*]} " != *" $label "* ]]; then
            fresh+=("$label")
            continue
        fi
        recent=0
        for entry in "${SOAK_KILL_LOG[@]}"; do
            [ "${entry#* }" = "$label" ] && [ $((SECONDS - ${entry%% *})) -lt 60 ] && recent=$((recent + 1))
        done
        [ "$recent" -lt 3 ] && candidates+=("$label")
    done
    [ "${#fresh[@]}" -gt 0 ] && candidates=("${fresh[@]}")
    if [ "${#candidates[@]}" -eq 0 ]; then
        t_note "no stage may be killed again within the minute; kill skipped"
        return 0
    fi
    label=${candidates[RANDOM % ${#candidates[@]}]}
    t_wait_for 120 soak_restarted "$label" 0 || t_fail "stage $label is not running"
    pid=$(t_pid_of_stage "$SOAK_RUN_DIR" "$label")
    kill -9 "$pid" || t_fail "kill -9 $label (pid $pid) failed"
    SOAK_KILLED+=("$label")
    SOAK_KILL_LOG+=("$SECONDS $label")
    t_note "kill -9 $label (pid $pid) after $(soak_accepted) webhooks answered 2xx"
    t_wait_for 120 soak_restarted "$label" "$pid" || t_fail "stage $label was not restarted after kill -9"
}

# soak_kill_supervisor: kill -9 the pipeline's supervisor process and the
# `sluice run` above it (their stages follow: PR_SET_PDEATHSIG), wait until
# every process of the pipeline is gone, and start `sluice run` again.
soak_kill_supervisor() {
    local supervisor pids pid
    supervisor=$(cat /proc/"$SOAK_RUN_PID"/task/*/children 2> /dev/null)
    [ -n "$supervisor" ] || t_fail "no pipeline process under sluice run $SOAK_RUN_PID"
    pids="$supervisor $SOAK_RUN_PID $(cat "$SOAK_RUN_DIR"/*.pid 2> /dev/null | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -9 $supervisor "$SOAK_RUN_PID" || t_fail "kill -9 of the supervisor ($supervisor, $SOAK_RUN_PID) failed"
    SOAK_SUPERVISOR_KILLS=$((SOAK_SUPERVISOR_KILLS + 1))
    t_note "kill -9 the supervisor (sluice run $SOAK_RUN_PID, pipeline $supervisor) after $(soak_accepted) webhooks answered 2xx"
    wait "$SOAK_RUN_PID" 2> /dev/null || true
    for pid in $pids; do
        t_wait_for 120 soak_gone "$pid" || t_fail "process $pid of the killed pipeline still runs"
    done
    soak_start_pipeline
    t_note "sluice run started again (pid $SOAK_RUN_PID)"
}

# soak_load [WEBHOOK_LOAD_ARGS...]: start webhook-load on the program in
# $T_TMP/program against $SOAK_URL (its log: load.log); waits until it has
# built the webhooks and sets SOAK_WEBHOOKS to their number.
soak_load() {
    t_bg "$EMU_DIR/webhook-load" --url "$SOAK_URL" --secret "$ANNEXCLOUD_WEBHOOK_SECRET" \
        --program "$T_TMP/program" --connections "$SOAK_CONNECTIONS" --rate "$SOAK_RATE" \
        --deadline "$SOAK_DEADLINE" --log "$T_TMP/load.log" "$@" > "$T_TMP/load.out" 2> "$T_TMP/load.err"
    SOAK_LOAD_PID=$T_LAST_PID
    t_wait_for 600 grep -q '^webhook-load: sending' "$T_TMP/load.err" ||
        t_fail "webhook-load did not start: $(tail -3 "$T_TMP/load.err")"
    SOAK_WEBHOOKS=$(sed -n 's/^webhook-load: sending \([0-9]*\) webhooks.*/\1/p' "$T_TMP/load.err")
}

# soak_accepted: how many webhooks were answered 2xx so far.
soak_accepted() {
    grep -c $'\t2xx\t' "$T_TMP/load.log" 2> /dev/null || true
}

# soak_wait_accepted N: wait until N webhooks were answered 2xx. Returns 1
# when webhook-load ended first.
soak_wait_accepted() {
    while [ "$(soak_accepted)" -lt "$1" ]; do
        soak_alive "$SOAK_LOAD_PID" || return 1
        sleep 0.2
    done
}

# soak_kills_during_load: SOAK_KILLS kills spread over the webhooks as they
# are answered (kill k after k/(SOAK_KILLS+1) of them), the one in the
# middle the supervisor's, every stage process hit before any twice; then
# wait for webhook-load and check that it got a 2xx for every webhook.
soak_kills_during_load() {
    local k rc=0
    mapfile -t SOAK_STAGES < <(soak_stages)
    [ "${#SOAK_STAGES[@]}" -gt 0 ] || t_fail "no stage pid files in $SOAK_RUN_DIR"
    for ((k = 1; k <= SOAK_KILLS; k++)); do
        soak_wait_accepted $((SOAK_WEBHOOKS * k / (SOAK_KILLS + 1))) || break
        if [ "$k" -eq $(((SOAK_KILLS + 1) / 2)) ]; then
            soak_kill_supervisor
        else
            soak_kill_stage
        fi
    done
    wait "$SOAK_LOAD_PID" || rc=$?
    [ "$rc" -eq 0 ] || t_fail "webhook-load exited $rc: not every webhook was answered 2xx: $(cat "$T_TMP/load.out")"
    t_note "$(cat "$T_TMP/load.out")"
}

# soak_spooled DB: webhooks spooled and not yet acknowledged end to end.
soak_spooled() {
    sqlite3 "$1" 'select count(*) from annexcloud_spool' 2> /dev/null || echo unknown
}

# soak_spooled_at_most DB N: whether at most N webhooks are left in the spool.
soak_spooled_at_most() {
    local n
    n=$(sqlite3 "$1" 'select count(*) from annexcloud_spool' 2> /dev/null) && [ "$n" -le "$2" ]
}

# soak_drain DB: SOAK_DRAIN_KILLS stage kills while the spool in DB drains
# (kill j once it is down to (D+1-j)/(D+1) of what it held when the last
# webhook was answered), then wait until it is empty: every accepted
# webhook acknowledged end to end.
soak_drain() {
    local db=$1 held j left
    held=$(soak_spooled "$db")
    t_note "$held webhooks spooled and not yet acknowledged when the last was answered"
    for ((j = 1; j <= SOAK_DRAIN_KILLS; j++)); do
        t_wait_for "$SOAK_DEADLINE" soak_spooled_at_most "$db" $((held * (SOAK_DRAIN_KILLS + 1 - j) / (SOAK_DRAIN_KILLS + 1))) ||
            t_fail "the spool did not drain: $(soak_spooled "$db") left"
        left=$(soak_spooled "$db")
        if [ "$left" = 0 ]; then
            t_note "the spool drained before drain kill $j"
            break
        fi
        t_note "drain kill $j with $left webhooks left in the spool:"
        soak_kill_stage
    done
    t_wait_for "$SOAK_DEADLINE" soak_spooled_at_most "$db" 0 ||
        t_fail "spooled webhooks not acknowledged: $(soak_spooled "$db") left"
}

# soak_check_kills: every stage process and the supervisor were killed.
soak_check_kills() {
    local label
    for label in "${SOAK_STAGES[@]}"; do
        [[ " ${SOAK_KILLED[*]} " == *" $label "* ]] || t_fail "stage $label was never killed (kills: ${SOAK_KILL_LOG[*]})"
    done
    [ "$SOAK_SUPERVISOR_KILLS" -ge 1 ] || t_fail "the supervisor was never killed"
}

# soak_stop: graceful stop of the pipeline (SIGTERM, as an operator stops it).
soak_stop() {
    kill -TERM "$SOAK_RUN_PID"
    t_wait_for 120 soak_gone "$SOAK_RUN_PID" || t_fail "pipeline did not stop after SIGTERM"
    wait "$SOAK_RUN_PID" 2> /dev/null || true
}

# soak_answered_changes OUT: the member record (as_of = the change's time)
# of every change of $T_TMP/program whose webhook was answered 2xx, in
# change order, one a line (what the source must have turned the webhooks
# into). Prints how many webhooks were sent and how many of them answered.
soak_answered_changes() {
    python3 - "$T_TMP/program/annex/changes.jsonl" "$T_TMP/load.log" "$1" <<'PY'
import json, sys
answered, sent = set(), set()
with open(sys.argv[2], encoding="utf-8") as log:
    for line in log:
        field = line.rstrip("\n").split("\t")
        sent.add(field[1])
        if field[6] == "2xx":
            answered.add(field[1])
kept = 0
with open(sys.argv[1], encoding="utf-8") as changes, open(sys.argv[3], "w", encoding="utf-8") as out:
    for line in changes:
        change = json.loads(line)
        if change.get("silent") or change["event_id"] not in answered:
            continue
        member = dict(change["member"], as_of=change["at"])
        out.write(json.dumps(member, ensure_ascii=False, separators=(",", ":")) + "\n")
        kept += 1
print(f"{len(sent)} webhooks sent, {kept} answered 2xx")
PY
}

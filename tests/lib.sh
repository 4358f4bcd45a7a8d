# lib.sh: helpers shared by the shell tests (sourced, not run).
# Every test gets a private temp dir, kills what it started on exit, and
# fails with a message saying what was expected. A test never sleeps to
# let something happen: it waits for the condition (t_wait_for) with a
# generous deadline, so a busy machine makes it slower, never wrong.
# A failed test keeps its temp dir and prints the end of every log in it.

: "${top_srcdir:?run through make check (top_srcdir unset)}"
: "${top_builddir:?run through make check (top_builddir unset)}"
SLUICE=${SLUICE:-$top_builddir/core/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$top_builddir/plugins/.libs}
EMU_DIR=${EMU_DIR:-$top_builddir/tests/emulators}
GEN_DIR=${GEN_DIR:-$top_builddir/tests/gen}

T_PIDS=()
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")

# t_groups_alive PID...: true while a process of one of these process
# groups still runs (zombies do not count: an orphan may wait for a reaper
# that never comes).
t_groups_alive() {
    ps -e -o pgid=,stat= | awk -v groups=" $* " '
        index(groups, " " $1 " ") && $2 !~ /^Z/ { found = 1 }
        END { exit !found }'
}

# t_dump_logs: the last lines of every log-like file in T_TMP, so that the
# test's own log (all CI shows) tells what the processes said.
t_dump_logs() {
    local f lines
    find "$T_TMP" -maxdepth 3 -type f \( -name '*.log' -o -name '*.err' -o -name '*.out' \
        -o -name '*.stderr' -o -name '*.stdout' -o -name 'stderr*' -o -name 'stdout*' \) \
        -size +0 2>/dev/null | sort | while read -r f; do
        lines=$(wc -l < "$f")
        if [ "$lines" -gt "${T_DUMP_LINES:-25}" ]; then
            echo "---- ${f#"$T_TMP"/} (last ${T_DUMP_LINES:-25} of $lines lines)"
        else
            echo "---- ${f#"$T_TMP"/}"
        fi
        tail -n "${T_DUMP_LINES:-25}" "$f" | cut -c1-400
    done
}

# t_cleanup: the EXIT trap. Stops every process group t_bg started (TERM,
# up to 10 s to leave, then KILL); removes T_TMP, unless the test failed
# (its logs are printed and the dir kept: "kept DIR", which run-suite.sh
# collects) or T_KEEP is set.
t_cleanup() {
    local status=$? pid
    for pid in "${T_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    # Let them leave on their own (a few seconds at most), then force it.
    if [ "${#T_PIDS[@]}" -gt 0 ]; then
        t_wait_for 10 eval '! t_groups_alive "${T_PIDS[@]}"' || true
    fi
    for pid in "${T_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        echo "==== $0 failed (exit $status); the logs it left in $T_TMP:" >&2
        t_dump_logs >&2
        echo "kept $T_TMP" >&2
    elif [ -n "${T_KEEP:-}" ]; then
        echo "kept $T_TMP" >&2
    else
        rm -rf "$T_TMP"
    fi
}
trap t_cleanup EXIT

t_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

t_note() {
    echo "# $*"
}

# t_bg CMD...: start CMD in its own process group, remember it for cleanup.
# Sets T_LAST_PID.
t_bg() {
    setsid "$@" &
    T_LAST_PID=$!
    T_PIDS+=("$T_LAST_PID")
}

# t_wait_for SECONDS CMD...: run CMD every T_POLL_S seconds (default 0.1)
# until it succeeds; fails once SECONDS of wall-clock time have passed.
# SECONDS only bounds a failure: give a generous one (60 s and more for
# anything that runs processes), never one a slow machine could reach by
# being slow.
t_wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while :; do
        if "$@" 2>/dev/null; then
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep "${T_POLL_S:-0.1}"
    done
}

# t_free_port: print a loopback TCP port nothing listens on, for a server
# that must be told its port in advance (a webhook listener, a tcp://
# stage link). It lies below the kernel's ephemeral range, so no outgoing
# connection of another test can hold it, and is checked by binding it.
t_free_port() {
    python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = min(low, 32768) - 1
for _ in range(200):
    port = random.randint(20000, top)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("t_free_port: no free port found")
PY
}

# t_start_emu NAME LOGFILE ARGS...: start an emulator binary with --port 0,
# wait for its "listening on 127.0.0.1:PORT" line, set T_EMU_PORT.
t_start_emu() {
    local name=$1 log=$2 out
    shift 2
    out="$T_TMP/$name.stdout"
    : > "$out"
    t_bg "$EMU_DIR/$name" --port 0 "$@" > "$out" 2> "$log"
    t_wait_for 60 grep -q 'listening on' "$out" || t_fail "$name did not start: $(tail -3 "$log")"
    T_EMU_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -1)
    [ -n "$T_EMU_PORT" ] || t_fail "$name printed no port"
}

# t_pid_of_stage RUNTIME_DIR STAGE: print the pid in a stage's pid file
# (the supervisor writes it at each start and removes it when the process
# ends). Fails while there is none: between a crash and the restart, or at
# the instant the file is being written.
t_pid_of_stage() {
    local f="$1/$2.pid" pid=""
    [ -f "$f" ] && read -r pid < "$f" 2>/dev/null
    [[ "$pid" =~ ^[0-9]+$ ]] && echo "$pid"
}

# t_wait_stage_pid RUNTIME_DIR STAGE [OLD_PID [SECONDS]]: wait (default 120
# s) until the stage runs as a live process other than OLD_PID (a restart
# after a kill; without OLD_PID, any), and print its pid. The supervisor
# restarts a crashed stage after a backoff that doubles per crash, and
# the pid file is absent meanwhile: never read it once after a sleep.
t_wait_stage_pid() {
    local runtime=$1 stage=$2 old=${3:-} limit=${4:-120} pid
    # shellcheck disable=SC2317
    t_stage_restarted() {
        pid=$(t_pid_of_stage "$runtime" "$stage") && [ "$pid" != "$old" ] && kill -0 "$pid"
    }
    t_wait_for "$limit" t_stage_restarted || {
        echo "t_wait_stage_pid: stage $stage has no live process${old:+ other than $old} after $limit s" >&2
        return 1
    }
    echo "$pid"
}

# t_seq_jsonl N FILE: N small records {"id":i,"name":"n<i>"}.
t_seq_jsonl() {
    awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' > "$2"
}

# t_check_refuses CFG: both `sluice check CFG` and `sluice run --once CFG`
# must refuse it (exit 78) before anything runs (no state directory under
# $T_TMP/state); their stderr is kept in $T_TMP/check.err and run.err for
# t_expect_refusal.
t_check_refuses() {
    local rc rc_run
    set +e
    "$SLUICE" check "$1" > "$T_TMP/check.out" 2> "$T_TMP/check.err"; rc=$?
    "$SLUICE" run --once "$1" > "$T_TMP/run.out" 2> "$T_TMP/run.err"; rc_run=$?
    set -e
    [ "$rc" -eq 78 ] || t_fail "sluice check exit $rc, expected 78: $(cat "$T_TMP/check.err")"
    [ "$rc_run" -eq 78 ] || t_fail "sluice run exit $rc_run, expected 78: $(cat "$T_TMP/run.err")"
    [ ! -e "$T_TMP/state" ] || t_fail "a refused pipeline created its state directory"
}

# t_expect_refusal CFG TEXT: after t_check_refuses CFG, both check and run
# reported "CFG:TEXT" (TEXT starts with the line number).
t_expect_refusal() {
    grep -qF -- "$1:$2" "$T_TMP/check.err" \
        || t_fail "check did not report '$2':"$'\n'"$(cat "$T_TMP/check.err")"
    grep -qF -- "$1:$2" "$T_TMP/run.err" \
        || t_fail "run did not report '$2':"$'\n'"$(cat "$T_TMP/run.err")"
}

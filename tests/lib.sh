# lib.sh: helpers shared by the shell tests (sourced, not run).
# Every test gets a private temp dir, kills what it started on exit, and
# fails with a message saying what was expected.

: "${top_srcdir:?run through make check (top_srcdir unset)}"
: "${top_builddir:?run through make check (top_builddir unset)}"
SLUICE=${SLUICE:-$top_builddir/core/sluice}
export SLUICE_PLUGIN_PATH=${SLUICE_PLUGIN_PATH:-$top_builddir/plugins/.libs}
EMU_DIR=${EMU_DIR:-$top_builddir/tests/emulators}
GEN_DIR=${GEN_DIR:-$top_builddir/tests/gen}

T_PIDS=()
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")

t_cleanup() {
    local pid
    for pid in "${T_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${T_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "${T_KEEP:-}" ]; then
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

# t_wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
t_wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        if "$@" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
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
    t_wait_for 10 grep -q 'listening on' "$out" || t_fail "$name did not start: $(tail -3 "$log")"
    T_EMU_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out" | head -1)
    [ -n "$T_EMU_PORT" ] || t_fail "$name printed no port"
}

# t_pid_of_stage RUNTIME_DIR STAGE: pid of a running stage (from its pid file).
t_pid_of_stage() {
    local f="$1/$2.pid"
    [ -f "$f" ] && cat "$f"
}

# t_seq_jsonl N FILE: N small records {"id":i,"name":"n<i>"}.
t_seq_jsonl() {
    awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"name\":\"n%d\"}\n", i, i }' > "$2"
}

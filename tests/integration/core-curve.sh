#!/usr/bin/env bash
# core-curve.sh: stages on two hosts linked over tcp with CURVE keys, and a
# stranger with network access (tests/integration/ztool) attacking the
# links as the reliability review did (section 1). The hosts are two
# network namespaces joined by a veth pair (as root, where `ip netns`
# works), else the loopback addresses 127.0.0.1 and 127.0.0.2; the test
# says which ran (SLUICE_TEST_NO_NETNS=1 forces the fallback).
#   host A: src (file-source) -> ... -> out (file-sink, tcp input with keys)
#   host B: remote (set-field, `sluice run --stage`, tcp input with keys)
# 1. `sluice check` refuses the same links without keys (78, FILE:LINE).
# 2. With keys, while real records flow: forged batches (1a), a far-ahead
#    epoch (1b), PULLs on both ack ports (1c), a 100 MB frame (1d), plain
#    and with a key of the stranger's own, get nothing in and nothing out:
#    the output equals the input exactly, no rewind is logged, refusals are;
#    a peer holding the upstream's real key still cannot make the stage
#    buffer a frame over max_frame_bytes (its RSS stays small) and the link
#    keeps working.
# 3. Control: the same stranger against the same pipeline without keys
#    (insecure_tcp = true) gets its forged record delivered and real acks
#    stolen, so step 2 passing is the keys' doing, not a broken stranger.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

ZTOOL=${ZTOOL:-$top_builddir/tests/integration/ztool}
[ -x "$ZTOOL" ] || t_fail "ztool not built: $ZTOOL"

# --- two hosts ------------------------------------------------------------
NSA=sluice-a-$$
NSB=sluice-b-$$
NETNS=0
curve_cleanup() {
    t_cleanup
    if [ "$NETNS" = 1 ]; then
        ip netns del "$NSA" 2>/dev/null || true
        ip netns del "$NSB" 2>/dev/null || true
    fi
}
trap curve_cleanup EXIT

# SLUICE_TEST_NO_NETNS=1 takes the loopback fallback even as root.
if [ -z "${SLUICE_TEST_NO_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
    ip netns add "$NSA" 2>/dev/null; then
    NETNS=1
    if ip netns add "$NSB" &&
        ip link add "sla$$" type veth peer name "slb$$" &&
        ip link set "sla$$" netns "$NSA" && ip link set "slb$$" netns "$NSB" &&
        ip -n "$NSA" addr add 169.254.77.1/30 dev "sla$$" &&
        ip -n "$NSB" addr add 169.254.77.2/30 dev "slb$$" &&
        ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
        ip -n "$NSA" link set "sla$$" up && ip -n "$NSB" link set "slb$$" up; then
        HOST_A=169.254.77.1
        HOST_B=169.254.77.2
        ON_A=(ip netns exec "$NSA")
        ON_B=(ip netns exec "$NSB")
        PORT_B=27655
        PORT_A=27657
        t_note "hosts: network namespaces $NSA ($HOST_A) and $NSB ($HOST_B), veth"
    else
        t_fail "cannot set up the network namespaces and their veth pair"
    fi
else
    HOST_A=127.0.0.1
    HOST_B=127.0.0.2
    ON_A=()
    ON_B=()
    PORT_B=$(t_free_port)
    PORT_A=$(t_free_port)
    t_note "hosts: loopback addresses $HOST_A and $HOST_B (network namespaces unavailable or SLUICE_TEST_NO_NETNS set)"
fi
EP_B=tcp://$HOST_B:$PORT_B   # remote's input; acks at PORT_B+1
EP_A=tcp://$HOST_A:$PORT_A   # out's input; acks at PORT_A+1

(cd "$T_TMP" && for k in src remote out; do "$SLUICE" keygen "$k" > /dev/null; done) \
    || t_fail "sluice keygen failed"

write_cfg() { # NAME KEYS(yes|no)
    local src_keys="" remote_keys="" out_keys=""
    if [ "$2" = yes ]; then
        src_keys='curve_public_key = "@file:src.pub"; curve_secret_key_file = "src.key";'
        remote_keys='curve_public_key = "@file:remote.pub"; curve_secret_key_file = "remote.key";'
        out_keys='curve_public_key = "@file:out.pub"; curve_secret_key_file = "out.key";'
    elif [ "$NETNS" = 1 ]; then
        remote_keys='insecure_tcp = true;'
        out_keys='insecure_tcp = true;'
    fi
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = 10;
  batch_linger_ms = 20;
  ack_timeout_ms = 3000;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in-$1.jsonl"; follow = true;
      $src_keys },
    { name = "remote"; plugin = "set-field"; field = "host"; value = "remote";
      endpoint = "$EP_B"; external = true; $remote_keys },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$1.jsonl";
      endpoint = "$EP_A"; $out_keys }
  );
};
CFG
    : > "$T_TMP/in-$1.jsonl"
}

# start NAME: remote on host B, the rest on host A; wait until all are up.
start() {
    t_bg "${ON_B[@]}" "$SLUICE" run --stage remote "$T_TMP/$1.cfg" 2> "$T_TMP/$1-b.log"
    REMOTE_PID=$T_LAST_PID
    t_bg "${ON_A[@]}" "$SLUICE" run "$T_TMP/$1.cfg" 2> "$T_TMP/$1-a.log"
    RUN_PID=$T_LAST_PID
    t_wait_for 30 grep -q 'transform started' "$T_TMP/$1-b.log" \
        || t_fail "$1: remote did not start: $(tail -3 "$T_TMP/$1-b.log")"
    t_wait_for 30 grep -q 'sink started' "$T_TMP/$1-a.log" \
        || t_fail "$1: the pipeline did not start: $(tail -3 "$T_TMP/$1-a.log")"
}

# stop: end both hosts' processes.
stop() {
    kill -TERM "$RUN_PID" "$REMOTE_PID" 2>/dev/null || true
    t_wait_for 40 bash -c "! kill -0 $RUN_PID 2>/dev/null && ! kill -0 $REMOTE_PID 2>/dev/null" \
        || t_fail "the pipeline did not stop"
}

# feed NAME FIRST LAST: append records FIRST..LAST and wait until out has LAST.
feed() {
    awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i <= b; i++) printf "{\"id\":%d}\n", i }' \
        >> "$T_TMP/in-$1.jsonl"
    t_wait_for 60 bash -c "[ \$(wc -l < '$T_TMP/out-$1.jsonl' 2>/dev/null || echo 0) -ge $3 ]" \
        || t_fail "$1: records up to $3 did not all arrive: $(wc -l < "$T_TMP/out-$1.jsonl")"
}

# forged frames, as the review wrote them: the next ids of epoch 1, and a
# frame far ahead of every epoch
for i in $(seq 1 12); do
    printf '{"v":1,"epoch":1,"id":%d,"n":1}\n{"id":"FORGED-%d"}\n' "$i" "$i" > "$T_TMP/f$i.bin"
done
printf '{"v":1,"epoch":9000000000000000000,"id":1,"n":1}\n{"id":"INJECTED","evil":true}\n' \
    > "$T_TMP/epoch.bin"
FORGED=("$T_TMP"/f{1..12}.bin "$T_TMP/epoch.bin")

# --- 1. check refuses tcp links off loopback without keys ------------------
# (check binds nothing: the addresses need not exist on this machine)
write_cfg nokeys no
sed -i -e 's/insecure_tcp = true;//' -e "s#$EP_B#tcp://169.254.77.2:$PORT_B#" \
    -e "s#$EP_A#tcp://169.254.77.1:$PORT_A#" "$T_TMP/nokeys.cfg"
set +e
"$SLUICE" check "$T_TMP/nokeys.cfg" > /dev/null 2> "$T_TMP/nokeys.err"
rc=$?
set -e
[ "$rc" = 78 ] || t_fail "check of links without keys exited $rc, expected 78"
grep -qE "^$T_TMP/nokeys.cfg:[0-9]+: stage 'remote' .*endpoint tcp://169.254.77.2:$PORT_B is reachable" \
    "$T_TMP/nokeys.err" || t_fail "check without keys: $(cat "$T_TMP/nokeys.err")"
sed -i 's/external = true;/external = true; insecure_tcp = true;/' "$T_TMP/nokeys.cfg"
set +e
"$SLUICE" check "$T_TMP/nokeys.cfg" > /dev/null 2> "$T_TMP/nokeys.err"
rc=$?
set -e
[ "$rc" = 78 ] && grep -q "stage 'out' .*endpoint tcp://169.254.77.1:$PORT_A is reachable" \
    "$T_TMP/nokeys.err" || t_fail "insecure_tcp on one link waived the other: $(cat "$T_TMP/nokeys.err")"

# --- 2. with keys: nothing in, nothing out --------------------------------
write_cfg keys yes
"$SLUICE" check "$T_TMP/keys.cfg" > /dev/null || t_fail "check refused the pipeline with keys"
start keys
REMOTE_KEY=$(cat "$T_TMP/remote.pub")
OUT_KEY=$(cat "$T_TMP/out.pub")
# plain peers and CURVE peers with a key of their own, on both hosts' inputs
for ep in "$EP_B" "$EP_A"; do
    "${ON_A[@]}" "$ZTOOL" push "$ep" "${FORGED[@]}" > /dev/null
done
"${ON_A[@]}" "$ZTOOL" --server-key "$REMOTE_KEY" push "$EP_B" "${FORGED[@]}" > /dev/null
"${ON_B[@]}" "$ZTOOL" --server-key "$OUT_KEY" push "$EP_A" "${FORGED[@]}" > /dev/null
"${ON_A[@]}" "$ZTOOL" pushbig "$EP_B" 100 > /dev/null
# thieves on both ack ports while real records flow
"${ON_A[@]}" "$ZTOOL" pull "tcp://$HOST_B:$((PORT_B + 1))" 8 > "$T_TMP/steal1" &
t1=$!
"${ON_A[@]}" "$ZTOOL" --server-key "$REMOTE_KEY" pull "tcp://$HOST_B:$((PORT_B + 1))" 8 \
    > "$T_TMP/steal2" &
t2=$!
"${ON_B[@]}" "$ZTOOL" --server-key "$OUT_KEY" pull "tcp://$HOST_A:$((PORT_A + 1))" 8 \
    > "$T_TMP/steal3" &
t3=$!
feed keys 1 300
feed keys 301 600
wait "$t1" "$t2" "$t3"
for f in steal1 steal2 steal3; do
    [ "$(tail -1 "$T_TMP/$f")" = "received 0" ] \
        || t_fail "a stranger took acks off a CURVE link ($f): $(head -3 "$T_TMP/$f")"
done
# 1d from the inside: a peer with the upstream's real key sends a frame
# over max_frame_bytes (16 MiB + 10 x 32 KiB here); the stage drops it
# unbuffered and goes on
"${ON_A[@]}" "$ZTOOL" --server-key "$REMOTE_KEY" --key "$T_TMP/src.key" pushbig "$EP_B" 100 \
    > /dev/null
feed keys 601 1000
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$REMOTE_PID/status")
[ "$hwm_kb" -lt 65536 ] \
    || t_fail "remote's peak RSS is ${hwm_kb} kB after 100 MB frames: one was buffered"
stop
awk '{ printf "{\"id\":%d,\"host\":\"remote\"}\n", $0 }' <(seq 1000) \
    | cmp -s - "$T_TMP/out-keys.jsonl" \
    || t_fail "the output is not the input exactly: $(grep -c . "$T_TMP/out-keys.jsonl") lines, \
$(grep -c -E 'FORGED|INJECTED' "$T_TMP/out-keys.jsonl" || true) forged"
if grep -h 'rewinding' "$T_TMP/keys-a.log" "$T_TMP/keys-b.log"; then
    t_fail "the source rewound while strangers attacked a CURVE link"
fi
grep -q 'refused a connection from .* client key .* is not allowed' "$T_TMP/keys-b.log" \
    || t_fail "remote logged no refusal of the stranger's key"
grep -q 'refused a connection from .* client key .* is not allowed' "$T_TMP/keys-a.log" \
    || t_fail "out logged no refusal of the stranger's key"
t_note "with keys: 1000 records exactly, no rewind, strangers refused, remote peak RSS ${hwm_kb} kB"

# --- 3. control: the same stranger without keys -----------------------------
write_cfg plain no
start plain
"${ON_A[@]}" "$ZTOOL" push "$EP_B" "$T_TMP/f1.bin" > /dev/null
t_wait_for 30 grep -q FORGED-1 "$T_TMP/out-plain.jsonl" \
    || t_fail "control: the forged batch did not arrive without keys (is ztool broken?)"
"${ON_A[@]}" "$ZTOOL" pull "tcp://$HOST_B:$((PORT_B + 1))" 6 > "$T_TMP/steal-plain" &
t1=$!
for n in 1 2 3 4 5 6; do
    awk -v n="$n" 'BEGIN { for (i = 1; i <= 20; i++) printf "{\"id\":\"c%d-%d\"}\n", n, i }' \
        >> "$T_TMP/in-plain.jsonl"
    t_wait_for 10 bash -c "[ \$(grep -c '\"c$n-' '$T_TMP/out-plain.jsonl') -ge 20 ]" || true
done
wait "$t1"
stolen=$(tail -1 "$T_TMP/steal-plain" | awk '{ print $2 }')
[ "$stolen" -gt 0 ] || t_fail "control: no ack was stolen without keys (is ztool broken?)"
stop
t_note "without keys: the forged record was delivered and $stolen acks were stolen"
echo "ok: CURVE links refuse strangers ($([ "$NETNS" = 1 ] && echo 'network namespaces' || echo 'loopback addresses'))"

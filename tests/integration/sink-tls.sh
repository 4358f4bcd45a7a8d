#!/usr/bin/env bash
# sink-tls.sh: a destination whose TLS certificate nobody vouches for (a
# self-signed certificate made here with openssl) is a configuration error,
# not a slow destination: file-source -> ometria-sink / infobip-sink ->
# fake-dest.py over HTTPS stops within seconds with exit 3 and a message
# naming the sink, the host and the fix (set ca_file), having sent nothing
# and committed no checkpoint. With ca_file set to that certificate the
# same pipeline delivers every record.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/sink-lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T_TMP/key.pem" -out "$T_TMP/cert.pem" 2> "$T_TMP/openssl.err" ||
    t_fail "openssl could not make a certificate: $(tail -2 "$T_TMP/openssl.err")"
gen_contacts 30 "$T_TMP/contacts.jsonl"
gen_persons 30 "$T_TMP/persons.jsonl"
fake_start tls ok --tls "$T_TMP/cert.pem" "$T_TMP/key.pem"
URL="https://127.0.0.1:$FAKE_PORT"

# expect_tls_refusal NAME SINK: exit 3 soon, the message says what and how
# to fix it, nothing delivered, no checkpoint.
expect_tls_refusal() {
    local name=$1 sink=$2 what
    [ "$RC" -eq 3 ] || t_fail "$name: exit $RC, expected 3: $(tail -3 "$T_TMP/run.err")"
    for what in "$sink" "certificate verify failed for 127.0.0.1:$FAKE_PORT" "self-signed" \
                "set ca_file or fix the server"; do
        grep -qF -- "$what" "$T_TMP/run.err" ||
            t_fail "$name: no '$what' in: $(grep error "$T_TMP/run.err" | tail -2)"
    done
    ! grep -q 'retry 1 in' "$T_TMP/run.err" || t_fail "$name: a certificate failure was retried"
    [ -z "$(checkpoint_of "$name")" ] || t_fail "$name: a checkpoint was committed"
    [ "$(posts_of tls)" -eq 0 ] || t_fail "$name: the fake destination got $(posts_of tls) requests"
    t_note "$name: exit 3, $(grep -o 'certificate verify failed[^;]*' "$T_TMP/run.err" | head -1)"
}

# --- 1. ometria-sink: refused at once, clearly ------------------------
sink_cfg "$T_TMP/om-tls.cfg" om-tls "$T_TMP/contacts.jsonl" ometria-sink "$URL"
run_once "$T_TMP/om-tls.cfg" 20
expect_tls_refusal om-tls ometria-sink

# --- 2. infobip-sink: refused at its first (setup) call ---------------
sink_cfg "$T_TMP/ib-tls.cfg" ib-tls "$T_TMP/persons.jsonl" infobip-sink "$URL" "" \
    "max_event_age_days = 0;"
run_once "$T_TMP/ib-tls.cfg" 20
expect_tls_refusal ib-tls infobip-sink

# --- 3. with ca_file the same destination is trusted ------------------
sink_cfg "$T_TMP/om-ca.cfg" om-ca "$T_TMP/contacts.jsonl" ometria-sink "$URL" "" \
    "ca_file = \"$T_TMP/cert.pem\";"
run_once "$T_TMP/om-ca.cfg" 30
[ "$RC" -eq 0 ] || t_fail "om-ca: exit $RC with ca_file: $(tail -3 "$T_TMP/run.err")"
grep -q '30 records in, 30 delivered' "$T_TMP/run.out" || t_fail "om-ca: $(cat "$T_TMP/run.out")"
[ -n "$(checkpoint_of om-ca)" ] || t_fail "om-ca: no checkpoint committed"
echo "ok: an untrusted certificate stops the sink at once with the fix; ca_file trusts it"

#!/usr/bin/env bash
# admin-auth.sh: the admin endpoint's basic auth and TLS (issue 15, item 2:
# "optional basic auth and TLS as on the webhook listener"). With
# --admin-auth-file, a request without credentials or with a wrong
# password is answered 401 (with a WWW-Authenticate challenge), the right
# one 200, and the password shows in no log line (debug level). With
# --admin-tls-cert/--admin-tls-key (a self-signed pair made here by
# `openssl req`), HTTPS answers 200 to a client trusting that certificate
# and plain HTTP on the same port gets no HTTP answer.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
command -v openssl > /dev/null || t_fail "openssl is not installed (tests/setup-debian.sh)"

t_seq_jsonl 20 "$T_TMP/in.jsonl"
cat > "$T_TMP/auth.cfg" <<CFG
pipeline = {
  name = "auth-test";
  state_dir = "$T_TMP/state";
  batch_size = 10;
  batch_linger_ms = 50;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/in.jsonl"; follow = true; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
password="s3cret-$RANDOM-pass"
printf 'ops:%s\n' "$password" > "$T_TMP/admin.auth"
chmod 600 "$T_TMP/admin.auth"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$T_TMP/admin.key" -out "$T_TMP/admin.crt" \
    > "$T_TMP/openssl.log" 2>&1 || t_fail "openssl req: $(cat "$T_TMP/openssl.log")"

# code URL [CURL ARGS...]: the HTTP status curl got ("000": no HTTP answer).
code() {
    local url=$1
    shift
    curl -s -o "$T_TMP/body" -D "$T_TMP/headers" -w '%{http_code}' --max-time 30 "$@" "$url" || true
}

# Basic auth over plain HTTP.
ADMIN="127.0.0.1:$(t_free_port)"
t_bg "$SLUICE" run --log-level debug --log-format json --admin-listen "$ADMIN" \
    --admin-auth-file "$T_TMP/admin.auth" "$T_TMP/auth.cfg" > "$T_TMP/run.out" 2> "$T_TMP/run.err"
RUN_PID=$T_LAST_PID
t_wait_for 120 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 'http://$ADMIN/health')\" = 401 ]" \
    || t_fail "no 401 without credentials: $(code "http://$ADMIN/health")"
c=$(code "http://$ADMIN/health")
[ "$c" = 401 ] && grep -qi '^WWW-Authenticate: Basic' "$T_TMP/headers" || t_fail "401 without a Basic challenge: $(cat "$T_TMP/headers")"
for path in /metrics /status / /health; do
    c=$(code "http://$ADMIN$path" -u "ops:wrong-$password")
    [ "$c" = 401 ] || t_fail "$path with a wrong password: $c"
    c=$(code "http://$ADMIN$path" -u "nobody:$password")
    [ "$c" = 401 ] || t_fail "$path with a wrong user: $c"
done
t_wait_for 120 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -u 'ops:$password' 'http://$ADMIN/health')\" = 200 ]" \
    || t_fail "/health with the right password: $(code "http://$ADMIN/health" -u "ops:$password"), $(cat "$T_TMP/body")"
c=$(code "http://$ADMIN/metrics" -u "ops:$password")
[ "$c" = 200 ] && grep -q '^sluice_records_in_total{pipeline="auth-test",stage="src"}' "$T_TMP/body" \
    || t_fail "/metrics with the right password: $c $(head -c 300 "$T_TMP/body")"
kill -TERM "$RUN_PID"
t_wait_for 120 bash -c "! kill -0 $RUN_PID 2>/dev/null" || t_fail "the run did not stop"
if grep -qF "$password" "$T_TMP/run.err" "$T_TMP/run.out"; then
    t_fail "the admin password is in the log: $(grep -F "$password" "$T_TMP/run.err" | head -2)"
fi

# TLS with the self-signed pair.
ADMIN="127.0.0.1:$(t_free_port)"
t_bg "$SLUICE" run --log-format json --admin-listen "$ADMIN" --admin-tls-cert "$T_TMP/admin.crt" \
    --admin-tls-key "$T_TMP/admin.key" "$T_TMP/auth.cfg" > "$T_TMP/tls.out" 2> "$T_TMP/tls.err"
RUN_PID=$T_LAST_PID
t_wait_for 120 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --cacert '$T_TMP/admin.crt' 'https://$ADMIN/health')\" = 200 ]" \
    || t_fail "HTTPS /health: $(code "https://$ADMIN/health" --cacert "$T_TMP/admin.crt"); $(tail -3 "$T_TMP/tls.err")"
c=$(code "https://$ADMIN/status" --cacert "$T_TMP/admin.crt")
[ "$c" = 200 ] && jq -e '.pipelines[0].name == "auth-test"' "$T_TMP/body" > /dev/null \
    || t_fail "HTTPS /status: $c $(head -c 300 "$T_TMP/body")"
# A client that does not trust the certificate refuses it (it is TLS, and
# the self-signed one); plain HTTP gets no HTTP answer.
c=$(code "https://$ADMIN/health")
[ "$c" = 000 ] || t_fail "HTTPS without the CA certificate answered $c"
c=$(code "http://$ADMIN/health")
[ "$c" = 000 ] || t_fail "plain HTTP on the TLS port answered $c: $(head -c 300 "$T_TMP/body")"
# Still serving after that.
c=$(code "https://$ADMIN/health" --cacert "$T_TMP/admin.crt")
[ "$c" = 200 ] || t_fail "HTTPS after a plain HTTP attempt: $c"
echo "ok: basic auth (401 without, wrong user or password; 200 right; password not logged), TLS (200 with the CA, refused without it, no answer to plain HTTP)"

#!/usr/bin/env bash
# sink-unreadable.sh: a 2xx a sink cannot read is never a delivery.
# file-source (30 records) -> ometria-sink / infobip-sink -> fake-dest.py
# answering 200 with a web server's default page ("Welcome to nginx!", a
# base_url that reaches the wrong server) or with counts that do not add up
# ({"status":"OK","accepted":0,"rejected":0}; an upsert naming no person):
# `sluice run --once` retries them, then stops with exit 3 and a message
# naming the sink and what came back, after exactly the stage's budget
# (http_max_attempts = 3) of such answers; nothing is counted delivered and
# no checkpoint is committed.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/sink-lib.sh"

gen_contacts 30 "$T_TMP/contacts.jsonl"
gen_persons 30 "$T_TMP/persons.jsonl"

# expect_refused NAME FAKE WHAT...: the run of pipeline NAME stopped with
# exit 3 after the budget of unreadable answers, with a message holding
# every WHAT, delivered nothing and committed no checkpoint.
expect_refused() {
    local name=$1 fake=$2 what
    shift 2
    [ "$RC" -eq 3 ] || t_fail "$name: exit $RC, expected 3 (fatal): $(tail -3 "$T_TMP/run.err")"
    for what in "$@"; do
        grep -qF -- "$what" "$T_TMP/run.err" ||
            t_fail "$name: no '$what' in the fatal message: $(grep error "$T_TMP/run.err" | tail -2)"
    done
    grep -q ' 0 delivered' "$T_TMP/run.out" ||
        t_fail "$name: records were counted delivered: $(cat "$T_TMP/run.out")"
    [ -z "$(checkpoint_of "$name")" ] ||
        t_fail "$name: the source committed a checkpoint past undelivered records: $(checkpoint_of "$name")"
    [ "$(grep -c 'not a delivery, its records go again' "$T_TMP/run.err")" -eq 2 ] ||
        t_fail "$name: expected 2 retries before the stop: $(grep -c 'go again' "$T_TMP/run.err")"
    t_note "$name: exit 3 after $(posts_of "$fake") answers, nothing delivered, no checkpoint"
}

# --- 1. ometria-sink, a web page answering 200 ------------------------
fake_start om-page garbage
sink_cfg "$T_TMP/om-page.cfg" om-page "$T_TMP/contacts.jsonl" ometria-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3;"
run_once "$T_TMP/om-page.cfg" 30
expect_refused om-page om-page "ometria-sink" "/v2/push answered HTTP 200, text/html" \
    "Welcome to nginx!" "is the URL the destination's API?"
[ "$(posts_of om-page)" -eq 3 ] || t_fail "om-page: $(posts_of om-page) pushes, expected 3"

# --- 2. ometria-sink, counts that do not add up -------------------------
fake_start om-zero zero
sink_cfg "$T_TMP/om-zero.cfg" om-zero "$T_TMP/contacts.jsonl" ometria-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3;"
run_once "$T_TMP/om-zero.cfg" 30
expect_refused om-zero om-zero "ometria-sink" "0 accepted + 0 rejected of the 30 contacts sent"
[ "$(posts_of om-zero)" -eq 3 ] || t_fail "om-zero: $(posts_of om-zero) pushes, expected 3"

# --- 3. infobip-sink, a web page answering 200 (setup calls first) ------
fake_start ib-page garbage
sink_cfg "$T_TMP/ib-page.cfg" ib-page "$T_TMP/persons.jsonl" infobip-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3; max_event_age_days = 0;"
run_once "$T_TMP/ib-page.cfg" 30
expect_refused ib-page ib-page "infobip-sink" "/people/2/tags answered HTTP 200, text/html" \
    "Welcome to nginx!" "the body is not JSON"

# --- 4. infobip-sink, an upsert answer naming none of the persons -------
fake_start ib-zero zero
sink_cfg "$T_TMP/ib-zero.cfg" ib-zero "$T_TMP/persons.jsonl" infobip-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3; setup = false; max_event_age_days = 0;"
run_once "$T_TMP/ib-zero.cfg" 30
expect_refused ib-zero ib-zero "infobip-sink" "/people/3/persons/upsert answered HTTP 200" \
    "it names 0 of the 30 persons sent"
[ "$(posts_of ib-zero)" -eq 3 ] || t_fail "ib-zero: $(posts_of ib-zero) upserts, expected 3"

# --- 5. the same sinks against an answer they can read deliver all -----
fake_start om-ok ok
sink_cfg "$T_TMP/om-ok.cfg" om-ok "$T_TMP/contacts.jsonl" ometria-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3;"
run_once "$T_TMP/om-ok.cfg" 30
[ "$RC" -eq 0 ] || t_fail "om-ok: exit $RC: $(tail -3 "$T_TMP/run.err")"
grep -q '30 records in, 30 delivered' "$T_TMP/run.out" || t_fail "om-ok: $(cat "$T_TMP/run.out")"
[ -n "$(checkpoint_of om-ok)" ] || t_fail "om-ok: no checkpoint committed"
fake_start ib-ok ok
sink_cfg "$T_TMP/ib-ok.cfg" ib-ok "$T_TMP/persons.jsonl" infobip-sink \
    "http://127.0.0.1:$FAKE_PORT" "" "http_max_attempts = 3; max_event_age_days = 0;"
run_once "$T_TMP/ib-ok.cfg" 30
[ "$RC" -eq 0 ] || t_fail "ib-ok: exit $RC: $(tail -3 "$T_TMP/run.err")"
grep -q '30 records in, 30 delivered' "$T_TMP/run.out" || t_fail "ib-ok: $(cat "$T_TMP/run.out")"
echo "ok: unreadable 2xx answers are retried, then stop the sink; readable ones deliver"

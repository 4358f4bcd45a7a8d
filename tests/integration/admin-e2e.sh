#!/usr/bin/env bash
# admin-e2e.sh: the admin endpoint during an end-to-end run (issue 15,
# must-shows 2 and 6). The Ometria webhook pipeline syncs a month of
# webhooks while a file pipeline takes a steady trickle of records.
#  - A real Prometheus (Debian's `prometheus`, loopback, scrape interval
#    1 s, its storage in the test's dir) scrapes /metrics; its HTTP API
#    says sluice_records_out_total of the sink equals what Ometria
#    accepted during the run, and the ack latency histogram has samples.
#  - The exposition parses with python3-prometheus-client's parser.
#  - Headless Chromium renders the status page: the text names both
#    pipelines and a non-zero records/s; the screenshot stays in the
#    test's dir (page.png; the suite keeps failed tests' dirs).
set -euo pipefail
. "$top_srcdir/tests/integration/e2e-lib.sh"
E2E_MEMBERS=300
[ -n "${SLUICE_LONG_TESTS:-}" ] && E2E_MEMBERS=3000
command -v prometheus > /dev/null || t_fail "prometheus is not installed (tests/setup-debian.sh)"
# Debian's python3-prometheus-client is for Debian's python3, which another
# python3 first on PATH (pyenv, a venv) may not see.
PYPROM=
for py in python3 /usr/bin/python3; do
    "$py" -c 'import prometheus_client' 2> /dev/null && PYPROM=$py && break
done
[ -n "$PYPROM" ] || t_fail "python3-prometheus-client is not installed (tests/setup-debian.sh)"
e2e_setup ometria
e2e_initial_sync
accepted_before=$(curl -s --max-time 60 "$E2E_DEST_URL/_emu/stats" | jq '.counters.records_accepted // 0')
ADMIN="127.0.0.1:$(t_free_port)"

# The file pipeline, fed a few records every 0.2 s while the test runs.
: > "$T_TMP/trickle.jsonl"
cat > "$T_TMP/files.cfg" <<CFG
pipeline = {
  name = "files";
  state_dir = "$T_TMP/files-state";
  batch_size = 50;
  batch_linger_ms = 100;
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/trickle.jsonl"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/trickle-out.jsonl"; }
  );
};
CFG
trickle() {
    local i=0
    while :; do
        for _ in 1 2 3 4 5; do i=$((i + 1)); echo "{\"id\":$i}"; done >> "$T_TMP/trickle.jsonl"
        sleep 0.2 # pacing of the feed, not a wait for anything
    done
}
t_bg bash -c "$(declare -f trickle); T_TMP='$T_TMP'; trickle"

ANNEXCLOUD_MODE=webhook t_bg "$SLUICE" run --log-format json --admin-listen "$ADMIN" \
    "$T_TMP/files.cfg" "$E2E_PIPELINE" > "$T_TMP/run.out" 2> "$T_TMP/run.err"
RUN_PID=$T_LAST_PID
t_wait_for 120 curl -sf -o /dev/null --max-time 30 "http://$ADMIN/health" || t_fail "admin endpoint not healthy at the start"

# Prometheus scraping the endpoint every second.
PROM="127.0.0.1:$(t_free_port)"
cat > "$T_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["$ADMIN"]
YML
t_bg prometheus --config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/prom-data" \
    --web.listen-address="$PROM" > "$T_TMP/prometheus.log" 2>&1
t_wait_for 120 curl -sf -o /dev/null --max-time 30 "http://$PROM/-/ready" || t_fail "prometheus did not start"
promq() { curl -s --max-time 30 "http://$PROM/api/v1/query" --data-urlencode "query=$1"; }
t_wait_for 120 bash -c "$(declare -f promq); PROM=$PROM; promq 'up{job=\"sluice\"}' | jq -e '.data.result[0].value[1] == \"1\"' > /dev/null" \
    || t_fail "prometheus does not scrape the endpoint: $(promq 'up' | head -c 500)"

# The month's webhooks.
curl -s -X POST -d '{"days":30,"wait":false}' "$ANNEXCLOUD_BASE_URL/_emu/advance" > /dev/null

# The status page in headless Chromium while records flow.
page_ok() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$T_TMP/chromium" --virtual-time-budget=10000 --dump-dom \
        "http://$ADMIN/" > "$T_TMP/page.html" 2> "$T_TMP/chromium.err" || return 1
    python3 - "$T_TMP/page.html" <<'PY'
import html.parser, sys
class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = []; self.cell = None
    def handle_starttag(self, tag, attrs):
        if tag == "tr": self.rows.append([])
        if tag == "td": self.cell = ""
    def handle_endtag(self, tag):
        if tag == "td" and self.rows: self.rows[-1].append(self.cell.strip()); self.cell = None
    def handle_data(self, data):
        if self.cell is not None: self.cell += data
p = Rows(); p.feed(open(sys.argv[1], encoding="utf-8").read())
rows = {r[0]: r for r in p.rows if r}
ok = "files" in rows and "acme-ometria-webhook" in rows and float(rows["files"][2]) > 0
print(" | ".join(" ".join(r[:3]) for r in rows.values()))
sys.exit(0 if ok else 1)
PY
}
t_wait_for 300 page_ok > "$T_TMP/page-check.out" || t_fail "the status page does not show both pipelines with a non-zero rate: $(tail -1 "$T_TMP/page-check.out"; tail -3 "$T_TMP/chromium.err")"
t_note "status page: $(tail -1 "$T_TMP/page-check.out")"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$T_TMP/chromium" --virtual-time-budget=10000 --window-size=1500,500 \
    --screenshot="$T_TMP/page.png" "http://$ADMIN/" > /dev/null 2>> "$T_TMP/chromium.err" || true
[ -s "$T_TMP/page.png" ] || t_fail "no screenshot: $(tail -3 "$T_TMP/chromium.err")"

# Every webhook delivered and acknowledged end to end.
T_POLL_S=0.5 t_wait_for 900 bash -c "curl -s --max-time 60 '$ANNEXCLOUD_BASE_URL/_emu/state' | jq -e '.webhooks.sent > 0 and .webhooks.sent == .webhooks.delivered + .webhooks.failed' > /dev/null" \
    || t_fail "webhooks not delivered"
db="$SLUICE_STATE_DIR/acme-ometria-webhook/state.db"
T_POLL_S=0.5 t_wait_for 900 bash -c "[ \"\$(sqlite3 '$db' 'select count(*) from annexcloud_spool' 2>/dev/null)\" = 0 ]" \
    || t_fail "spooled webhooks not acknowledged"
accepted=$(( $(curl -s --max-time 60 "$E2E_DEST_URL/_emu/stats" | jq '.counters.records_accepted // 0') - accepted_before ))
[ "$accepted" -gt 0 ] || t_fail "Ometria accepted nothing during the run"
# Prometheus agrees with the emulator (once a scrape saw the last batch).
q='sluice_records_out_total{pipeline="acme-ometria-webhook",stage="ometria"}'
t_wait_for 120 bash -c "$(declare -f promq); PROM=$PROM; promq '$q' | jq -e '.data.result[0].value[1] == \"$accepted\"' > /dev/null" \
    || t_fail "prometheus: $q = $(promq "$q" | jq -c '.data.result[0].value'), Ometria accepted $accepted"
latency=$(promq 'sluice_ack_latency_seconds_count{pipeline="acme-ometria-webhook"}' | jq -r '.data.result[0].value[1]')
[ "${latency%%.*}" -gt 0 ] || t_fail "the ack latency histogram has no samples ($latency)"
p99=$(promq 'histogram_quantile(0.99, sluice_ack_latency_seconds_bucket{pipeline="acme-ometria-webhook"})' | jq -r '.data.result[0].value[1]')
t_note "prometheus: $q = $accepted = what Ometria accepted; ack latency: $latency batches, p99 <= ${p99}s"

# The exposition parses with the reference parser, types included.
curl -s --max-time 60 "http://$ADMIN/metrics" > "$T_TMP/metrics.txt"
"$PYPROM" - "$T_TMP/metrics.txt" <<'PY' || t_fail "the exposition does not parse as expected"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = {"sluice_records_in": "counter", "sluice_records_out": "counter",
        "sluice_records_rejected": "counter", "sluice_dlq_records": "counter",
        "sluice_ack_latency_seconds": "histogram", "sluice_batches_in_flight": "gauge",
        "sluice_http_requests": "counter", "sluice_http_responses": "counter",
        "sluice_stage_restarts": "counter", "sluice_process_cpu_seconds": "counter",
        "sluice_process_resident_memory_bytes": "gauge",
        "sluice_last_commit_timestamp_seconds": "gauge"}
bad = [f"{n}: {fams[n].type if n in fams else 'missing'}" for n, t in want.items()
       if n not in fams or fams[n].type != t]
samples = sum(len(f.samples) for f in fams.values())
print(f"# {len(fams)} families, {samples} samples parsed")
sys.exit(f"unexpected: {bad}" if bad else 0)
PY
echo "ok: Prometheus scraped sluice_records_out_total = what Ometria accepted, latency histogram filled; the exposition parses; the status page renders in Chromium"

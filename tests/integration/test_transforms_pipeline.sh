#!/usr/bin/env bash
# test_transforms_pipeline.sh: file-source -> tier-event-deriver ->
# field-mapper -> file-sink, a process per stage, over a generated loyalty
# program (tests/gen/loyaltygen). Checks, against the generator's ground
# truth: the derived events (exactly, by id and content), the dead-letter
# entries of the two transforms (member and field named), and the default
# Ometria and Infobip mappings folded the way the destinations upsert them
# (contacts/persons, events, segment lists, tags). Then the Ometria run is
# repeated while the deriver is killed with SIGKILL mid-run (the supervisor
# restarts it): the events still equal the truth.
#   default: 2,000 members x 60 days; SLUICE_LONG_TESTS=1: 100,000 x 365.
set -euo pipefail
. "$top_srcdir/tests/lib.sh"

if [ -n "${SLUICE_LONG_TESTS:-}" ]; then
    members=100000 days=365 limit=1800
else
    members=2000 days=60 limit=120
fi
command -v python3 > /dev/null || t_fail "python3 is needed by the truth comparison helpers"

"$GEN_DIR/loyaltygen" --seed 11 --members "$members" --days "$days" --out "$T_TMP/g" \
    2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
truth="$T_TMP/g/truth/stream"
mkdir -p "$T_TMP/mappings"
cp "$top_srcdir/pipelines/mappings/ometria.cfg" "$top_srcdir/pipelines/mappings/infobip.cfg" \
    "$T_TMP/mappings/"

# write_cfg NAME MAPPING EXTRA [BATCH]: the pipeline for one destination.
write_cfg() {
    cat > "$T_TMP/$1.cfg" <<CFG
pipeline = {
  name = "$1";
  state_dir = "$T_TMP/state-$1";
  batch_size = ${4:-500};
  window = 4;
  ack_timeout_ms = 5000;
  restart = { max = 50; window_s = 120; backoff_ms = 50; };
  stages = (
    { name = "src"; plugin = "file-source"; path = "$T_TMP/g/stream.jsonl"; },
    { name = "derive"; plugin = "tier-event-deriver";
      tier_ladder = ( { name = "Bronze"; points = 0; }, { name = "Silver"; points = 1000; },
                      { name = "Gold"; points = 5000; }, { name = "Platinum"; points = 15000; } );
      close_threshold = "100"; },
    { name = "map"; plugin = "field-mapper";
      @include "mappings/$2.cfg"
      $3
    },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out-$1.jsonl"; }
  );
};
CFG
}
lists='lists = { loyalty = 1001; vip = 1002; newsletter = 1003; birthday_club = 1004; high_spender = 1005; };'
tags='tags = { vip = "vip"; newsletter = "newsletter"; birthday_club = "birthday_club"; high_spender = "high_spender"; };'
write_cfg ometria ometria "$lists"
write_cfg infobip infobip "$tags"

# fold DESTINATION OUTPUT.jsonl RESULT.json: apply the mapped records the
# way the destination stores them (upsert by id, lists/tags, events by id),
# skipping what the sink itself refuses (size limits), into the shape of
# GET /_emu/state that tests/gen/compare reads.
fold() {
    python3 - "$@" <<'PY'
import json, sys
dest, src, out = sys.argv[1:4]
state = {}
if dest == "ometria":
    contacts, events, lists = {}, {}, {}
    for line in open(src, encoding="utf-8"):
        rec = json.loads(line)
        kind = rec.pop("@type", None)
        if kind == "contact":
            if len(json.dumps(dict(rec, **{"@type": kind}), ensure_ascii=False,
                              separators=(",", ":")).encode()) > 61440:
                continue  # ometria-sink refuses it ("too large")
            key = rec["@collection"] + "/" + rec["id"]
            old = contacts.setdefault(key, {})
            props = dict(old.get("properties", {}), **rec.get("properties", {}))
            old.update(rec)
            old["properties"] = props
            for list_id in rec.get("@add_to_lists", []):
                lists.setdefault(str(list_id), set()).add(rec["id"])
            for list_id in rec.get("@remove_from_lists", []):
                lists.setdefault(str(list_id), set()).discard(rec["id"])
        elif kind == "custom_event":
            events[rec["id"]] = {"record": rec}
        else:
            sys.exit(f"fold: unexpected record {line[:200]}")
    state = {"contacts": contacts, "events": events,
             "segments": {k: sorted(v) for k, v in lists.items() if v}}
else:
    persons, events = {}, {}
    for line in open(src, encoding="utf-8"):
        rec = json.loads(line)
        if "definitionId" in rec:
            events[rec["eventId"]] = {"event": rec}
            continue
        attrs = rec.get("customAttributes", {})
        if (len(rec.get("externalId", "")) > 256 or len(rec.get("firstName") or "") > 255
                or len(rec.get("lastName") or "") > 255
                or any(isinstance(v, str) and len(v) > 4096 for v in attrs.values())):
            continue  # infobip-sink refuses it (Infobip's 207 error)
        old = persons.setdefault(rec["externalId"], {})
        merged = dict(old.get("customAttributes", {}), **attrs)
        # PATCH keeps contacts of the types a record does not mention.
        contacts = {c["type"]: c for c in old.get("contactInformation", [])}
        contacts.update({c["type"]: c for c in rec.get("contactInformation", [])})
        old.update(rec)
        if contacts:
            old["contactInformation"] = [contacts[t] for t in ("EMAIL", "PHONE") if t in contacts]
        old["customAttributes"] = merged
        old["tags"] = sorted(rec.get("tags", old.get("tags", [])))
    tags = {}
    for pid, person in persons.items():
        for tag in person.get("tags", []):
            tags.setdefault(tag, []).append(pid)
    state = {"persons": persons, "events": events,
             "tags": {k: sorted(v) for k, v in tags.items()}}
json.dump(state, open(out, "w", encoding="utf-8"), ensure_ascii=False)
PY
}

# dlq_of STATE_DIR: "loyalty_id field" per parked record, sorted.
dlq_of() {
    sqlite3 "$1/state.db" "select reason, record from dlq" | python3 -c '
import json, re, sys
for line in sys.stdin:
    reason, record = line.rstrip("\n").split("|", 1)
    m = re.search(r"field '"'"'([^'"'"']+)'"'"'|missing required field (\w+)", reason)
    print(json.loads(record).get("loyalty_id", ""), m.group(1) or m.group(2) if m else "?:" + reason)
' | sort
}

run_once() {
    timeout "$limit" "$SLUICE" run --once "$T_TMP/$1.cfg" > "$T_TMP/$1.stdout" 2> "$T_TMP/$1.stderr" \
        && rc=0 || rc=$?
    # 2: records were parked in the dead-letter queue, which the input has.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "$1 run exited $rc: $(tail -3 "$T_TMP/$1.stderr")"
}

for dest in ometria infobip; do
    run_once "$dest"
    fold "$dest" "$T_TMP/out-$dest.jsonl" "$T_TMP/state-$dest.json"
    python3 "$top_srcdir/tests/gen/compare" "$truth/$dest.json" "$T_TMP/state-$dest.json" \
        > "$T_TMP/compare-$dest.txt" || t_fail "$dest shapes differ from the truth: $(head -12 "$T_TMP/compare-$dest.txt")"
    # The two transforms park exactly the truth's records, naming the field.
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["stage"] in ("tier-event-deriver", "field-mapper") and d["destination"] in ("any", sys.argv[2]):
        print(d["loyalty_id"], d["field"])' "$truth/dlq.jsonl" "$dest" | sort > "$T_TMP/dlq-expected-$dest.txt"
    dlq_of "$T_TMP/state-$dest" > "$T_TMP/dlq-actual-$dest.txt"
    diff "$T_TMP/dlq-expected-$dest.txt" "$T_TMP/dlq-actual-$dest.txt" > /dev/null \
        || t_fail "$dest dead letters differ: $(diff "$T_TMP/dlq-expected-$dest.txt" "$T_TMP/dlq-actual-$dest.txt" | head -5)"
    t_note "$dest: $(tail -1 "$T_TMP/compare-$dest.txt"); $(wc -l < "$T_TMP/dlq-actual-$dest.txt") dead letters as expected"
done
expected_events=$(wc -l < "$truth/events.jsonl")
grep -q "$expected_events events derived" "$T_TMP/ometria.stdout" \
    || t_fail "summary does not count $expected_events derived events: $(cat "$T_TMP/ometria.stdout")"

# --- the deriver killed with SIGKILL mid-run: the same events, none lost.
# Smaller batches make the run long enough for the kills to land mid-run.
rm -rf "$T_TMP/state-ometria" "$T_TMP/out-ometria.jsonl"
write_cfg ometria ometria "$lists" 100
t_bg "$SLUICE" run --once "$T_TMP/ometria.cfg"
run=$T_LAST_PID
kills=0
for delay in 0.6 0.8 1.0; do
    sleep "$delay"
    kill -0 "$run" 2>/dev/null || break
    pid=$(t_pid_of_stage "$T_TMP/state-ometria/run" derive || true)
    if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
        kills=$((kills + 1))
        t_note "killed the deriver (pid $pid)"
        # Wait for the supervisor to restart it before the next kill.
        t_wait_for 20 bash -c "p=\$(cat '$T_TMP/state-ometria/run/derive.pid' 2>/dev/null); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]" || true
    fi
done
t_wait_for "$limit" bash -c "! kill -0 $run" || t_fail "pipeline did not finish after the kills"
wait "$run" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || t_fail "sluice run --once exited $rc after kill -9"
[ "$kills" -ge 1 ] || t_fail "the run ended before any kill landed: nothing was tested"
fold ometria "$T_TMP/out-ometria.jsonl" "$T_TMP/state-killed.json"
python3 "$top_srcdir/tests/gen/compare" "$truth/ometria.json" "$T_TMP/state-killed.json" \
    > "$T_TMP/compare-killed.txt" || t_fail "after $kills kill -9 of the deriver: $(head -12 "$T_TMP/compare-killed.txt")"
echo "ok: $members members x $days days: events, dead letters, Ometria and Infobip shapes equal the truth; again after $kills kill -9 of the deriver"

# test_transforms_lib.sh: shared setup of the transforms integration tests
# (sourced, not run): generates the program with tests/gen/loyaltygen,
# writes the per-destination pipelines (file-source -> tier-event-deriver ->
# field-mapper -> file-sink) and defines fold / dlq_of / run_once.
#   default: 2,000 members x 60 days; SLUICE_LONG_TESTS=1: 100,000 x 365.
if [ -n "${SLUICE_LONG_TESTS:-}" ]; then
    members=100000 days=365 limit=5400
else
    members=2000 days=60 limit=900 # limit only bounds a failure
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
            continue  # not sent: the mapping parks long ids and names, infobip-sink long attributes
        old = persons.setdefault(rec["externalId"], {})
        merged = dict(old.get("customAttributes", {}), **attrs)
        # PATCH accumulates contacts by (type, identifier), first seen first.
        contacts = list(old.get("contactInformation", []))
        for c in rec.get("contactInformation", []):
            if not any(k["type"] == c["type"] and k["identifier"] == c["identifier"] for k in contacts):
                contacts.append(c)
        old.update(rec)
        if contacts:
            old["contactInformation"] = contacts
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


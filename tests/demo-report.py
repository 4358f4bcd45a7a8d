#!/usr/bin/env python3
# demo-report.py: what arrived at Ometria and Infobip (the emulators'
# /_emu/state) next to the generator's ground truth, as a table a person
# reads. usage: demo-report.py OMETRIA_STATE OMETRIA_TRUTH INFOBIP_STATE INFOBIP_TRUTH
# Exits 0 when every line matches.
import collections
import datetime
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def line(label, got, want, ok=None):
    ok = (got == want) if ok is None else ok
    print(f"  {label:<38} {got!s:>10} {want!s:>10}   {'ok' if ok else 'DIFFERENT'}")
    return ok


def same_subset(expected, actual):
    """True if every key of `expected` is in `actual` with an equal value
    (a key expected to be null may also be absent). Lists compare as sets."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        for key, value in expected.items():
            if key not in actual:
                if value is None:
                    continue
                return False
            if not same_subset(value, actual[key]):
                return False
        return True
    if isinstance(expected, list) and isinstance(actual, list):
        key = lambda item: json.dumps(item, sort_keys=True)
        return sorted(map(key, expected)) == sorted(map(key, actual))
    return expected == actual


def report_ometria(state, truth):
    print("Ometria (ometria-emu)                          arrived      truth")
    ok = True
    contacts, want_contacts = state.get("contacts", {}), truth.get("contacts", {})
    ok &= line("contacts (loyalty members)", len(contacts), len(want_contacts))
    exact = sum(1 for k, v in want_contacts.items() if k in contacts and same_subset(v, contacts[k]))
    ok &= line("contacts with every attribute equal", exact, len(want_contacts))
    attrs = sum(len(v.get("properties", {})) for v in contacts.values())
    print(f"  {'loyalty attributes synced (annex_*)':<38} {attrs:>10}")
    got_events = collections.Counter(e["record"]["event_type"] for e in state.get("events", {}).values())
    want_events = collections.Counter(e["record"]["event_type"] for e in truth.get("events", {}).values())
    for kind in sorted(set(got_events) | set(want_events)):
        ok &= line(f"events {kind}", got_events[kind], want_events[kind])
    exact = sum(1 for k, v in truth.get("events", {}).items()
                if k in state.get("events", {}) and same_subset(v["record"], state["events"][k]["record"]))
    ok &= line("events with identical content", exact, len(truth.get("events", {})))
    for seg, ids in sorted(truth.get("segments", {}).items()):
        got = sorted(state.get("segments", {}).get(seg, []))
        ok &= line(f"segment {seg} size", len(got), len(ids), got == sorted(ids))
    return ok


def report_infobip(state, truth, now):
    print("Infobip (infobip-emu)                          arrived      truth")
    ok = True
    persons, want_persons = state.get("persons", {}), truth.get("persons", {})
    ok &= line("persons (loyalty members)", len(persons), len(want_persons))
    exact = 0
    for k, v in want_persons.items():
        got = persons.get(k)
        if got is None:
            continue
        exact += same_subset(v, got)
    ok &= line("persons with every attribute equal", exact, len(want_persons))
    # Infobip refuses events older than 30 days; the sink skips those.
    horizon = now - datetime.timedelta(days=30)
    def recent(e):
        t = datetime.datetime.strptime(e["event"]["occurredTime"][:19], "%Y-%m-%dT%H:%M:%S")
        return t.replace(tzinfo=datetime.timezone.utc) >= horizon
    want_all = truth.get("events", {})
    want_recent = {k: v for k, v in want_all.items() if recent(v)}
    got_events = collections.Counter(e["event"]["definitionId"] for e in state.get("events", {}).values())
    want_events = collections.Counter(e["event"]["definitionId"] for e in want_recent.values())
    for kind in sorted(set(got_events) | set(want_events)):
        ok &= line(f"events {kind}", got_events[kind], want_events[kind])
    print(f"  {'(older than 30 days, skipped by design)':<38} {len(want_all) - len(want_recent):>10}")
    for tag, ids in sorted(truth.get("tags", {}).items()):
        got = sorted(state.get("tags", {}).get(tag, []))
        ok &= line(f"tag {tag} size", len(got), len(ids), got == sorted(ids))
    return ok


def main():
    if len(sys.argv) != 5:
        print(__doc__ or "usage: demo-report.py OM_STATE OM_TRUTH IB_STATE IB_TRUTH", file=sys.stderr)
        return 64
    now = datetime.datetime.now(datetime.timezone.utc)
    ok = report_ometria(load(sys.argv[1]), load(sys.argv[2]))
    print()
    ok &= report_infobip(load(sys.argv[3]), load(sys.argv[4]), now)
    print()
    print("everything arrived as the ground truth says" if ok else "DIFFERENCES from the ground truth (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

# tests/integration/sinks.mk: the loyalty sync end to end (issue 6).
# e2e-infobip.sh runs infobip-emu's --upsert-tags replace, e2e-infobip-tags.sh
# append and ignore (issue 17: the sink sends no tags in its upserts).
E2E_TESTS = integration/e2e-ometria.sh integration/e2e-infobip.sh \
	integration/e2e-infobip-tags.sh integration/e2e-faults.sh integration/e2e-badkey.sh
TESTS += $(E2E_TESTS)

# Ometria @merge (issue 17): delta webhooks in both --merge-without-flag modes.
E2E_TESTS += integration/e2e-ometria-delta-keep.sh integration/e2e-ometria-delta-blank.sh

# Erasure on both destinations (issue 17, must be shown 1; docs/erasure.md).
ERASE_TESTS = integration/e2e-erase.sh integration/erase-intake.sh
TESTS += $(ERASE_TESTS)
EXTRA_DIST += $(ERASE_TESTS)
EXTRA_DIST += $(E2E_TESTS) integration/e2e-lib.sh

# ometria-sink (AREA=http): file-source -> ometria-sink -> ometria-emu.
OMETRIA_INTEGRATION_TESTS = integration/ometria-sink.sh
TESTS += $(OMETRIA_INTEGRATION_TESTS)
EXTRA_DIST += $(OMETRIA_INTEGRATION_TESTS)

# Option values the sinks (and file-source, set-field) once refused only in
# init() are refused by sluice check and before sluice run starts (issue 14).
SINK_CHECK_TESTS = integration/plugin-options-check.sh
TESTS += $(SINK_CHECK_TESTS)
EXTRA_DIST += $(SINK_CHECK_TESTS)

# infobip-sink (AREA=infobip): file-source -> infobip-sink -> infobip-emu;
# overlapped upserts (max_in_flight) against a slow emulator, same outcomes
# and DLQ as one request at a time; tags only through the tag endpoints in
# every --upsert-tags mode of the emulator, and a start that lists before
# it creates; refused events isolated by index, no bare profile under
# either unknown-person reading; members sharing phones or e-mails all
# delivered, conflicts reported; Infobip's published limit per endpoint
# family kept, 429s in either body waited out (issue 17).
INFOBIP_INTEGRATION_TESTS = integration/infobip-sink.sh integration/infobip-tags.sh \
	integration/infobip-events.sh integration/infobip-conflicts.sh integration/infobip-429.sh
TESTS += $(INFOBIP_INTEGRATION_TESTS)
EXTRA_DIST += $(INFOBIP_INTEGRATION_TESTS)

# Sink success paths and waits (issue 13, 14) against fake-dest.py, a
# loopback fake destination that answers like real servers go wrong: a 2xx
# the sink cannot read, a certificate nobody vouches for, a hang, a 429.
SINK_FAULT_TESTS = integration/sink-unreadable.sh integration/sink-tls.sh \
	integration/sink-waits.sh integration/file-sink-short-write.sh
TESTS += $(SINK_FAULT_TESTS)
EXTRA_DIST += $(SINK_FAULT_TESTS) integration/sink-lib.sh integration/fake-dest.py

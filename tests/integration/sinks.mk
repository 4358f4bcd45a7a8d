# tests/integration/sinks.mk: the loyalty sync end to end (issue 6).
E2E_TESTS = integration/e2e-ometria.sh integration/e2e-infobip.sh \
	integration/e2e-faults.sh integration/e2e-badkey.sh
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) integration/e2e-lib.sh

# ometria-sink (AREA=http): file-source -> ometria-sink -> ometria-emu.
OMETRIA_INTEGRATION_TESTS = integration/ometria-sink.sh
TESTS += $(OMETRIA_INTEGRATION_TESTS)
EXTRA_DIST += $(OMETRIA_INTEGRATION_TESTS)

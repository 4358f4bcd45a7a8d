# tests/integration/sinks.mk: integration tests of the sinks area.

# ometria-sink (AREA=http): file-source -> ometria-sink -> ometria-emu.
OMETRIA_INTEGRATION_TESTS = integration/ometria-sink.sh
TESTS += $(OMETRIA_INTEGRATION_TESTS)
EXTRA_DIST += $(OMETRIA_INTEGRATION_TESTS)

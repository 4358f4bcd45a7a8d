# tests/integration/core.mk: the engine end to end with the generic plugins.
CORE_INTEGRATION_TESTS = integration/core-basic.sh integration/core-check.sh integration/core-instances.sh \
	integration/core-dlq.sh integration/core-parallel.sh integration/core-tcp-stage.sh
TESTS += $(CORE_INTEGRATION_TESTS)
EXTRA_DIST += $(CORE_INTEGRATION_TESTS)
# `sluice dlq replay` into the stage that parked each record (ometria-emu).
TESTS += integration/core-dlq-replay.sh
EXTRA_DIST += integration/core-dlq-replay.sh

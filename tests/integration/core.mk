# tests/integration/core.mk: the engine end to end with the generic plugins.
CORE_INTEGRATION_TESTS = integration/core-basic.sh integration/core-check.sh integration/core-instances.sh \
	integration/core-dlq.sh integration/core-parallel.sh integration/core-tcp-stage.sh \
	integration/core-curve.sh integration/core-secrets.sh integration/core-protect.sh \
	integration/core-fulldisk.sh integration/core-check-all.sh integration/core-lock.sh \
	integration/core-fleet.sh integration/core-dlq-log.sh integration/core-idle.sh
TESTS += $(CORE_INTEGRATION_TESTS)
EXTRA_DIST += $(CORE_INTEGRATION_TESTS)
# A bare ZeroMQ peer playing the stranger on stage links (core-curve.sh,
# core-tcp-stage.sh).
check_PROGRAMS += integration/ztool
integration_ztool_SOURCES = integration/ztool.c
integration_ztool_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
integration_ztool_LDADD = $(ZMQ_LIBS)
# `sluice dlq replay` into the stage that parked each record (ometria-emu).
TESTS += integration/core-dlq-replay.sh
EXTRA_DIST += integration/core-dlq-replay.sh
# `sluice run --dir` with client pipelines against the emulators (issue 15).
TESTS += integration/e2e-fleet.sh
EXTRA_DIST += integration/e2e-fleet.sh

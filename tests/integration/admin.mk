# tests/integration/admin.mk: the admin endpoint of `sluice run` (issue 15):
# /health, /status, /metrics and `sluice status` against the emulators.
ADMIN_INTEGRATION_TESTS = integration/admin-health.sh integration/admin-e2e.sh \
	integration/admin-auth.sh integration/admin-metrics.sh integration/core-progress.sh
TESTS += $(ADMIN_INTEGRATION_TESTS)
EXTRA_DIST += $(ADMIN_INTEGRATION_TESTS)

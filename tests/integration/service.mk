# tests/integration/service.mk: sluice as the service (issue 16): the
# settings file (sluice.conf) and what `sluice run` tells systemd.
SERVICE_INTEGRATION_TESTS = integration/service-conf.sh integration/service-notify.sh
TESTS += $(SERVICE_INTEGRATION_TESTS)
EXTRA_DIST += $(SERVICE_INTEGRATION_TESTS)

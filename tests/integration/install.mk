# tests/integration/install.mk: sluice as `make install` lays it out.
INSTALL_INTEGRATION_TESTS = integration/install-layout.sh
TESTS += $(INSTALL_INTEGRATION_TESTS)
EXTRA_DIST += $(INSTALL_INTEGRATION_TESTS)
# `make install` relinks the plugins in place (libtool relinks a library
# against its installed dependencies, rewriting plugins/.libs/*.so): a test
# loading a plugin meanwhile reads a truncated file ("file too short").
# The install test therefore runs after every other test of the run.
integration/install-layout.log: $(filter-out integration/install-layout.log,$(TEST_LOGS))

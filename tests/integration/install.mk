# tests/integration/install.mk: sluice as `make install` lays it out.
INSTALL_INTEGRATION_TESTS = integration/install-layout.sh
TESTS += $(INSTALL_INTEGRATION_TESTS)
EXTRA_DIST += $(INSTALL_INTEGRATION_TESTS)

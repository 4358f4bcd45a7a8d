# tests/integration/sdk.mk: the plugin SDK used out of tree (install into a
# DESTDIR, build the example with pkg-config, check and run it).
SDK_INTEGRATION_TESTS = integration/sdk-out-of-tree.sh
TESTS += $(SDK_INTEGRATION_TESTS)
EXTRA_DIST += $(SDK_INTEGRATION_TESTS)

# tests/unit/exports.mk: the line between libsluice's public SDK and its
# internals (core/libsluice.map): what the built library exports, checked
# against the version script, plugin.h, the sluice command and the plugins.
TESTS += unit/test_exports.sh
EXTRA_DIST += unit/test_exports.sh

# tests/integration/core.mk: integration tests of the core area.

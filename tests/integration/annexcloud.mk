# tests/integration/annexcloud.mk: integration tests of the annexcloud area.

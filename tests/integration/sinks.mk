# tests/integration/sinks.mk: integration tests of the sinks area.

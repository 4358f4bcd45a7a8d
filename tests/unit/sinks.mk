# tests/unit/sinks.mk: unit tests of the sinks area.

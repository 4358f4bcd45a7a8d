# tests/unit/runtime.mk: unit tests of the runtime area.

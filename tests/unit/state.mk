# tests/unit/state.mk: unit tests of the state area.

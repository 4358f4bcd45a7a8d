# tests/unit/config.mk: unit tests of the config area.

# tests/unit/annexcloud.mk: unit tests of the annexcloud area.

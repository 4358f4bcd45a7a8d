# tests/fault/local.mk: tests in tests/fault (filled in with the tests).

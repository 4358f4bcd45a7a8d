# tests/integration/local.mk: tests in tests/integration (filled in with the tests).

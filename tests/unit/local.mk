# tests/unit/local.mk: tests in tests/unit (filled in with the tests).

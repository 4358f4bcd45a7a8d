# tests/bench/local.mk: tests in tests/bench (filled in with the tests).

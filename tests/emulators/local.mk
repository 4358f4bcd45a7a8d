# tests/emulators/local.mk: tests in tests/emulators (filled in with the tests).

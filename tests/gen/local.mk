# tests/gen/local.mk: tests in tests/gen (filled in with the tests).
include $(srcdir)/gen/gen.mk

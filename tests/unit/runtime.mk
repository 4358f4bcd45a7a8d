# tests/unit/runtime.mk: unit tests of the runtime area (stage runners over
# real ZeroMQ sockets and SQLite, the supervisor with real processes).
if HAVE_CHECK
check_PROGRAMS += unit/test_stage unit/test_util
TESTS += unit/test_stage unit/test_util
endif
unit_test_util_SOURCES = unit/test_util.c
unit_test_util_LDADD = $(UNIT_LINK_LIBS)
unit_test_stage_SOURCES = unit/test_stage.c
unit_test_stage_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
unit_test_stage_LDADD = $(UNIT_LINK_LIBS) $(ZMQ_LIBS) $(PTHREAD_LIBS)

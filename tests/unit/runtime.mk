# tests/unit/runtime.mk: unit tests of the runtime area (stage runners over
# real ZeroMQ sockets and SQLite, the supervisor with real processes).
if HAVE_CHECK
check_PROGRAMS += unit/test_stage unit/test_util
TESTS += unit/test_stage unit/test_util
endif
unit_test_util_SOURCES = unit/test_util.c
unit_test_util_LDADD = $(UNIT_LINK_LIBS)
unit_test_stage_SOURCES = unit/test_stage.c $(UNIT_FEED_SOURCES)
unit_test_stage_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS) $(SQLITE_CFLAGS)
unit_test_stage_LDADD = $(UNIT_LINK_LIBS) $(ZMQ_LIBS) $(SQLITE_LIBS) $(PTHREAD_LIBS)
# Trust on stage links: ZAP handler, CURVE, epochs, frame limits, keys.
if HAVE_CHECK
check_PROGRAMS += unit/test_link
TESTS += unit/test_link
endif
unit_test_link_SOURCES = unit/test_link.c $(UNIT_FEED_SOURCES)
unit_test_link_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
unit_test_link_LDADD = $(UNIT_LINK_LIBS) $(ZMQ_LIBS) $(PTHREAD_LIBS)
# The fleet's snapshot API read from another thread of a real fleet.
if HAVE_CHECK
check_PROGRAMS += unit/test_fleet
TESTS += unit/test_fleet
endif
unit_test_fleet_SOURCES = unit/test_fleet.c
unit_test_fleet_LDADD = $(UNIT_LINK_LIBS) $(PTHREAD_LIBS)

# tests/unit/state.mk: unit tests of the state area.
if HAVE_CHECK
check_PROGRAMS += unit/test_batch unit/test_wire unit/test_store unit/test_kv \
	unit/test_generic_plugins
TESTS += unit/test_batch unit/test_wire unit/test_store unit/test_kv \
	unit/test_generic_plugins
endif
unit_test_batch_SOURCES = unit/test_batch.c
unit_test_batch_LDADD = $(UNIT_LINK_LIBS)
unit_test_wire_SOURCES = unit/test_wire.c
unit_test_wire_LDADD = $(UNIT_LINK_LIBS)
unit_test_store_SOURCES = unit/test_store.c $(UNIT_SUPPORT_SOURCES)
# test_store writes a state.db of an older schema with sqlite3 itself.
unit_test_store_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
unit_test_store_LDADD = $(UNIT_LINK_LIBS) $(SQLITE_LIBS)
unit_test_kv_SOURCES = unit/test_kv.c $(UNIT_SUPPORT_SOURCES)
unit_test_kv_LDADD = $(UNIT_LINK_LIBS)
unit_test_generic_plugins_SOURCES = unit/test_generic_plugins.c $(UNIT_SUPPORT_SOURCES)
unit_test_generic_plugins_LDADD = $(UNIT_LINK_LIBS)

# `sluice dlq` end to end (real sluice binary, generic plugins, SQLite file).
TESTS += unit/test_dlq_replay.sh
EXTRA_DIST += unit/test_dlq_replay.sh

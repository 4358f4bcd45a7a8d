# tests/unit/nats.mk: the nats-sink's subject template (pure code, built
# from the plugin's source; needs no libnats).
if HAVE_CHECK
check_PROGRAMS += unit/test_nats_subject
TESTS += unit/test_nats_subject
endif
unit_test_nats_subject_SOURCES = unit/test_nats_subject.c ../plugins/nats-sink/nats_subject.c
unit_test_nats_subject_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/nats-sink
unit_test_nats_subject_LDADD = $(CHECK_LIBS) $(JANSSON_LIBS)

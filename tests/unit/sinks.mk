# tests/unit/sinks.mk: unit tests of the sinks area.

# ometria-sink (AREA=http): pure planning logic, compiled in directly.
if HAVE_CHECK
check_PROGRAMS += unit/test_ometria_plan
TESTS += unit/test_ometria_plan
unit_test_ometria_plan_SOURCES = unit/test_ometria_plan.c \
	$(top_srcdir)/plugins/ometria-sink/ometria_plan.c
unit_test_ometria_plan_LDADD = $(UNIT_LINK_LIBS)
endif
if HAVE_CHECK
check_PROGRAMS += unit/test_ometria_sink
TESTS += unit/test_ometria_sink
unit_test_ometria_sink_SOURCES = unit/test_ometria_sink.c $(UNIT_SUPPORT_SOURCES) $(UNIT_HTTPD_SOURCES) \
	$(top_srcdir)/plugins/ometria-sink/ometria_plan.c \
	$(top_srcdir)/plugins/ometria-sink/ometria_sink.c \
	$(top_srcdir)/plugins/ometria-sink/ometria_erase.c \
	$(top_srcdir)/plugins/common/sink_erase.c $(top_srcdir)/plugins/common/loytime.c
unit_test_ometria_sink_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/common
unit_test_ometria_sink_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
unit_test_ometria_sink_LDADD = $(UNIT_LINK_LIBS) $(MHD_LIBS) $(PTHREAD_LIBS)
endif

# infobip-sink (AREA=infobip): the walk over a record's JSON text, checked
# against jansson's parse; compiled in directly.
if HAVE_CHECK
check_PROGRAMS += unit/test_infobip_scan
TESTS += unit/test_infobip_scan
unit_test_infobip_scan_SOURCES = unit/test_infobip_scan.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_scan.c
unit_test_infobip_scan_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/common
unit_test_infobip_scan_LDADD = $(UNIT_LINK_LIBS)
endif
# infobip-sink: how Infobip's error bodies are read (both 429 shapes,
# problem details, a contact identifier owned by another person); the
# sink's files that hold and reach those functions, compiled in directly.
if HAVE_CHECK
check_PROGRAMS += unit/test_infobip_errors
TESTS += unit/test_infobip_errors
unit_test_infobip_errors_SOURCES = unit/test_infobip_errors.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_client.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_conflicts.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_persons.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_scan.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_tags.c
unit_test_infobip_errors_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/common
unit_test_infobip_errors_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
unit_test_infobip_errors_LDADD = $(UNIT_LINK_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)
endif

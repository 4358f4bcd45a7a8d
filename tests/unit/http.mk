# tests/unit/http.mk: unit tests of the http area (HTTP client, token buckets,
# adaptive request concurrency, the pacer).
if HAVE_CHECK
check_PROGRAMS += unit/test_http unit/test_http_answer unit/test_throttle unit/test_arc unit/test_pace
TESTS += unit/test_http unit/test_http_answer unit/test_throttle unit/test_arc unit/test_pace
unit_test_http_SOURCES = unit/test_http.c $(UNIT_SUPPORT_SOURCES) $(UNIT_HTTPD_SOURCES)
unit_test_http_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
unit_test_http_LDADD = $(UNIT_LINK_LIBS) $(MHD_LIBS) $(PTHREAD_LIBS)
unit_test_http_answer_SOURCES = unit/test_http_answer.c $(UNIT_SUPPORT_SOURCES)
unit_test_http_answer_LDADD = $(UNIT_LINK_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)
unit_test_throttle_SOURCES = unit/test_throttle.c $(UNIT_SUPPORT_SOURCES)
unit_test_throttle_LDADD = $(UNIT_LINK_LIBS) $(PTHREAD_LIBS)
unit_test_arc_SOURCES = unit/test_arc.c
unit_test_arc_LDADD = $(UNIT_LINK_LIBS)
unit_test_pace_SOURCES = unit/test_pace.c
unit_test_pace_LDADD = $(UNIT_LINK_LIBS)
endif

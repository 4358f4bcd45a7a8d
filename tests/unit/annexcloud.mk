# tests/unit/annexcloud.mk: unit tests of the annexcloud area. The plugin's
# internal functions are not exported from its .so; the tests link the
# convenience library the plugin is built from (plugins/annexcloud-source).
AC_LIB = $(top_builddir)/plugins/annexcloud-source/libannexcloud.la

if HAVE_CHECK
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
check_PROGRAMS += unit/test_annexcloud_jwt unit/test_annexcloud_csv \
	unit/test_annexcloud_csv_tiny unit/test_annexcloud_csv_text \
	unit/test_annexcloud_convert unit/test_annexcloud_enum \
	unit/test_annexcloud_sigv4 unit/test_annexcloud_feed_remote \
	unit/test_annexcloud_webhook_auth unit/test_annexcloud_webhook_payload \
	unit/test_annexcloud_spool unit/test_annexcloud_webhook_listener
TESTS += unit/test_annexcloud_jwt unit/test_annexcloud_csv \
	unit/test_annexcloud_csv_tiny unit/test_annexcloud_csv_text \
	unit/test_annexcloud_convert unit/test_annexcloud_enum \
	unit/test_annexcloud_sigv4 unit/test_annexcloud_feed_remote \
	unit/test_annexcloud_webhook_auth unit/test_annexcloud_webhook_payload \
	unit/test_annexcloud_spool unit/test_annexcloud_webhook_listener

unit_test_annexcloud_jwt_SOURCES = unit/test_annexcloud_jwt.c
unit_test_annexcloud_jwt_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_jwt_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CRYPTO_LIBS)

unit_test_annexcloud_csv_SOURCES = unit/test_annexcloud_csv.c
unit_test_annexcloud_csv_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CSV_LIBS)

# The same tests on the reader built with tiny buffers (its own copy of
# ac_csv.c, so not the plugin's library).
unit_test_annexcloud_csv_tiny_SOURCES = unit/test_annexcloud_csv_tiny.c
unit_test_annexcloud_csv_tiny_LDADD = $(UNIT_LINK_LIBS) $(CSV_LIBS)

unit_test_annexcloud_csv_text_SOURCES = unit/test_annexcloud_csv_text.c
unit_test_annexcloud_csv_text_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS)

unit_test_annexcloud_convert_SOURCES = unit/test_annexcloud_convert.c
unit_test_annexcloud_convert_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_convert_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)

unit_test_annexcloud_enum_SOURCES = unit/test_annexcloud_enum.c
unit_test_annexcloud_enum_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_enum_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)

# The S3 emulator's SigV4 verifier (tests/s3emu) against AWS's examples.
unit_test_annexcloud_sigv4_SOURCES = unit/test_annexcloud_sigv4.c s3emu/s3_sigv4.c s3emu/s3_sigv4.h
unit_test_annexcloud_sigv4_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/s3emu
unit_test_annexcloud_sigv4_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_sigv4_LDADD = $(UNIT_LINK_LIBS) $(CRYPTO_LIBS)

# Feed mode's remote locations: the ListObjectsV2 scanner and option checks.
unit_test_annexcloud_feed_remote_SOURCES = unit/test_annexcloud_feed_remote.c
unit_test_annexcloud_feed_remote_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
unit_test_annexcloud_feed_remote_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CURL_LIBS)

# Webhook intake: basic auth and signature checks, the payload rules
# (what is refused at intake), the spool's group-commit writer.
unit_test_annexcloud_webhook_auth_SOURCES = unit/test_annexcloud_webhook_auth.c
unit_test_annexcloud_webhook_auth_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_webhook_auth_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CRYPTO_LIBS)

unit_test_annexcloud_webhook_payload_SOURCES = unit/test_annexcloud_webhook_payload.c
unit_test_annexcloud_webhook_payload_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
unit_test_annexcloud_webhook_payload_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)

unit_test_annexcloud_spool_SOURCES = unit/test_annexcloud_spool.c $(UNIT_SUPPORT_SOURCES)
unit_test_annexcloud_spool_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
unit_test_annexcloud_spool_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(SQLITE_LIBS) $(PTHREAD_LIBS) -ldl

# The real module over a real store, its listener over loopback sockets.
unit_test_annexcloud_webhook_listener_SOURCES = unit/test_annexcloud_webhook_listener.c \
	$(UNIT_SUPPORT_SOURCES)
unit_test_annexcloud_webhook_listener_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_webhook_listener_LDADD = $(AC_LIB) $(UNIT_LINK_LIBS) $(SQLITE_LIBS) $(CRYPTO_LIBS)
endif
endif

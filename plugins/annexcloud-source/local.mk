# plugins/annexcloud-source/local.mk: build of the annexcloud-source plugin.
# Its internals (JWT, conversion, API client, CSV reader, spool and its
# writer, webhook auth and payload rules) form a
# convenience library the module and the unit tests both link, so tests
# exercise the same objects without the module exporting them.
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
pkglib_LTLIBRARIES += annexcloud-source.la
noinst_LTLIBRARIES += annexcloud-source/libannexcloud.la
endif
annexcloud_source_libannexcloud_la_SOURCES = \
	annexcloud-source/ac_api.c annexcloud-source/ac_api.h \
	annexcloud-source/ac_mode_api_enum.c \
	annexcloud-source/ac_convert.c annexcloud-source/ac_convert.h \
	annexcloud-source/ac_csv.c annexcloud-source/ac_csv.h \
	annexcloud-source/ac_csv_text.c annexcloud-source/ac_csv_text.h \
	annexcloud-source/ac_feed_remote.c annexcloud-source/ac_feed_remote.h \
	annexcloud-source/ac_feed_s3.c annexcloud-source/ac_feed_sftp.c \
	annexcloud-source/ac_feed_transport.h \
	annexcloud-source/ac_jwt.c annexcloud-source/ac_jwt.h \
	annexcloud-source/ac_spool.c annexcloud-source/ac_spool.h \
	annexcloud-source/ac_webhook_auth.c annexcloud-source/ac_webhook_auth.h \
	annexcloud-source/ac_webhook_payload.c annexcloud-source/ac_webhook_payload.h
annexcloud_source_libannexcloud_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
annexcloud_source_libannexcloud_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE_CFLAGS)
annexcloud_source_libannexcloud_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(CSV_LIBS) $(SQLITE_LIBS) $(PTHREAD_LIBS)

annexcloud_source_la_SOURCES = \
	annexcloud-source/annexcloud_source.c annexcloud-source/ac_source.h \
	annexcloud-source/ac_mode_api.c annexcloud-source/ac_mode_feed.c \
	annexcloud-source/ac_mode_webhook.c annexcloud-source/ac_erase.c annexcloud-source/ac_erase.h \
	annexcloud-source/ac_webhook_listener.c annexcloud-source/ac_webhook_listener.h
annexcloud_source_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
annexcloud_source_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS)
annexcloud_source_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
annexcloud_source_la_LIBADD = annexcloud-source/libannexcloud.la $(PLUGIN_LINK_LIBS) $(MHD_LIBS) $(PTHREAD_LIBS)

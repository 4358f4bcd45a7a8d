# plugins/annexcloud-source/local.mk: build of the annexcloud-source plugin.
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
pkglib_LTLIBRARIES += annexcloud-source.la
endif
annexcloud_source_la_SOURCES = \
	annexcloud-source/annexcloud_source.c annexcloud-source/ac_source.h \
	annexcloud-source/ac_api.c annexcloud-source/ac_api.h \
	annexcloud-source/ac_convert.c annexcloud-source/ac_convert.h \
	annexcloud-source/ac_csv.c annexcloud-source/ac_csv.h \
	annexcloud-source/ac_jwt.c annexcloud-source/ac_jwt.h \
	annexcloud-source/ac_mode_api.c annexcloud-source/ac_mode_feed.c \
	annexcloud-source/ac_mode_webhook.c annexcloud-source/ac_spool.c annexcloud-source/ac_spool.h
annexcloud_source_la_CPPFLAGS = $(PLUGIN_INCLUDES)
annexcloud_source_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE_CFLAGS)
annexcloud_source_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
annexcloud_source_la_LIBADD = $(PLUGIN_LINK_LIBS) $(CURL_LIBS) $(MHD_LIBS) $(CRYPTO_LIBS) $(CSV_LIBS) $(SQLITE_LIBS) $(PTHREAD_LIBS)

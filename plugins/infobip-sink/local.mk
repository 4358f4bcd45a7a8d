# plugins/infobip-sink/local.mk: build of the infobip-sink plugin.
if BUILD_PLUGIN_INFOBIP_SINK
pkglib_LTLIBRARIES += infobip-sink.la
endif
infobip_sink_la_SOURCES = infobip-sink/infobip.h infobip-sink/infobip_client.c infobip-sink/infobip_erase.c \
	infobip-sink/infobip_events.c infobip-sink/infobip_persons.c \
	infobip-sink/infobip_scan.c infobip-sink/infobip_tags.c \
	infobip-sink/infobip_setup.c infobip-sink/infobip_sink.c
infobip_sink_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
infobip_sink_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CURL_CFLAGS)
infobip_sink_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
infobip_sink_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)

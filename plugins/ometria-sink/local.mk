# plugins/ometria-sink/local.mk: build of the ometria-sink plugin.
if BUILD_PLUGIN_OMETRIA_SINK
pkglib_LTLIBRARIES += ometria-sink.la
endif
ometria_sink_la_SOURCES = ometria-sink/ometria.h ometria-sink/ometria_plan.c \
	ometria-sink/ometria_sink.c ometria-sink/ometria_erase.c
ometria_sink_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
ometria_sink_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
ometria_sink_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
ometria_sink_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS)

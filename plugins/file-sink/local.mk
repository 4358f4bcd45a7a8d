# plugins/file-sink/local.mk: build of the file-sink plugin (JSON lines out).
if BUILD_PLUGIN_FILE_SINK
pkglib_LTLIBRARIES += file-sink.la
endif
file_sink_la_SOURCES = file-sink/file_sink.c
file_sink_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
file_sink_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
file_sink_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
file_sink_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS)

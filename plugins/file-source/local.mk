# plugins/file-source/local.mk: build of the file-source plugin (JSON lines in).
if BUILD_PLUGIN_FILE_SOURCE
pkglib_LTLIBRARIES += file-source.la
endif
file_source_la_SOURCES = file-source/file_source.c
file_source_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
file_source_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
file_source_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
file_source_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS)

# plugins/common/local.mk: helpers several plugins share (calendar dates
# and timestamps, text, the growable buffer the core uses too), built once as
# a convenience library each plugin that needs them links in (nothing here
# is exported from a plugin).
noinst_LTLIBRARIES += libplugin-common.la
libplugin_common_la_SOURCES = common/loytime.h common/loytime.c \
	common/plugin_text.h common/plugin_text.c \
	common/sink_erase.h common/sink_erase.c \
	../core/lib/util/dynbuf.h ../core/lib/util/dynbuf.c
libplugin_common_la_CPPFLAGS = $(PLUGIN_INCLUDES) -I$(top_srcdir)/core/lib
libplugin_common_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
PLUGIN_COMMON_INCLUDES = -I$(srcdir)/common -I$(top_srcdir)/core/lib
PLUGIN_COMMON_LIBS = libplugin-common.la

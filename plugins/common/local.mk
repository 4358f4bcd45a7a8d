# plugins/common/local.mk: helpers several plugins share (calendar dates
# and timestamps, text), built once as a convenience library each plugin
# that needs them links in (nothing here is exported from a plugin).
noinst_LTLIBRARIES += libplugin-common.la
libplugin_common_la_SOURCES = common/loytime.h common/loytime.c \
	common/plugin_text.h common/plugin_text.c
libplugin_common_la_CPPFLAGS = $(PLUGIN_INCLUDES)
libplugin_common_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
PLUGIN_COMMON_INCLUDES = -I$(srcdir)/common
PLUGIN_COMMON_LIBS = libplugin-common.la

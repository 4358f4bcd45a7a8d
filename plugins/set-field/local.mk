# plugins/set-field/local.mk: build of the set-field plugin (trivial transform).
if BUILD_PLUGIN_SET_FIELD
pkglib_LTLIBRARIES += set-field.la
endif
set_field_la_SOURCES = set-field/set_field.c
set_field_la_CPPFLAGS = $(PLUGIN_INCLUDES)
set_field_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
set_field_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
set_field_la_LIBADD = $(PLUGIN_LINK_LIBS)

# plugins/example/local.mk: in-tree build of example-upcase, the example
# plugin of docs/plugin-authoring.md (Makefile here builds it out of tree).
# Only with --enable-examples: an example has no place among the production
# plugins. Its source and Makefile are installed with the docs, below.
if INSTALL_EXAMPLES
pkglib_LTLIBRARIES += example-upcase.la
endif
example_upcase_la_SOURCES = example/upcase.c
example_upcase_la_CPPFLAGS = $(PLUGIN_INCLUDES)
example_upcase_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
example_upcase_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
example_upcase_la_LIBADD = $(PLUGIN_LINK_LIBS)
# The example as the SDK documentation ships it (docs/plugin-authoring.md).
example_plugindir = $(docdir)/examples/plugin
dist_example_plugin_DATA = example/upcase.c example/Makefile

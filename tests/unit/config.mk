# tests/unit/config.mk: unit tests of the config area (plugin loader, pipeline
# definitions) and the test plugins they load.
TEST_PLUGIN_FLAGS = -module -avoid-version -shared -rpath /nowhere
TEST_PLUGIN_CPPFLAGS = -I$(top_srcdir)/core/include

# A shared library the test-needs-lib plugin depends on (hidden at test time).
check_LTLIBRARIES += unit/plugins/libtestdep.la
unit_plugins_libtestdep_la_SOURCES = unit/plugins/test_dependency.c
unit_plugins_libtestdep_la_LDFLAGS = -rpath /nowhere -avoid-version

check_LTLIBRARIES += unit/plugins/test-source.la
unit_plugins_test_source_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_source_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=1
unit_plugins_test_source_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_source_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-transform.la
unit_plugins_test_transform_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_transform_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=2
unit_plugins_test_transform_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_transform_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-sink.la
unit_plugins_test_sink_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_sink_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=3
unit_plugins_test_sink_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_sink_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-bad-abi.la
unit_plugins_test_bad_abi_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_bad_abi_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=4
unit_plugins_test_bad_abi_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_bad_abi_la_LIBADD = $(JANSSON_LIBS)

# Built against the ABI 1 header kept in unit/plugins/abi1: it must still load.
check_LTLIBRARIES += unit/plugins/test-abi1.la
unit_plugins_test_abi1_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_abi1_la_CPPFLAGS = -I$(srcdir)/unit/plugins/abi1 -DTEST_VARIANT=13
unit_plugins_test_abi1_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_abi1_la_LIBADD = $(JANSSON_LIBS)
EXTRA_DIST += unit/plugins/abi1/sluice/plugin.h

check_LTLIBRARIES += unit/plugins/test-newer-size.la
unit_plugins_test_newer_size_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_newer_size_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=14
unit_plugins_test_newer_size_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_newer_size_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-bad-range.la
unit_plugins_test_bad_range_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_bad_range_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=15
unit_plugins_test_bad_range_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_bad_range_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-limits.la
unit_plugins_test_limits_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_limits_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=16
unit_plugins_test_limits_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_limits_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-bad-size.la
unit_plugins_test_bad_size_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_bad_size_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=5
unit_plugins_test_bad_size_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_bad_size_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-no-symbol.la
unit_plugins_test_no_symbol_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_no_symbol_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=6
unit_plugins_test_no_symbol_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_no_symbol_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-dup-name.la
unit_plugins_test_dup_name_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_dup_name_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=7
unit_plugins_test_dup_name_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_dup_name_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-needs-lib.la
unit_plugins_test_needs_lib_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_needs_lib_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=8
unit_plugins_test_needs_lib_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_needs_lib_la_LIBADD = unit/plugins/libtestdep.la $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-sink-no-write.la
unit_plugins_test_sink_no_write_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_sink_no_write_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=9
unit_plugins_test_sink_no_write_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_sink_no_write_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-reserved-option.la
unit_plugins_test_reserved_option_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_reserved_option_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=10
unit_plugins_test_reserved_option_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_reserved_option_la_LIBADD = $(JANSSON_LIBS)

# A transform like test-transform that does not declare itself stateless.
check_LTLIBRARIES += unit/plugins/test-stateful.la
unit_plugins_test_stateful_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_stateful_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=12
unit_plugins_test_stateful_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_stateful_la_LIBADD = $(JANSSON_LIBS)

check_LTLIBRARIES += unit/plugins/test-dup-option.la
unit_plugins_test_dup_option_la_SOURCES = unit/plugins/test_plugin.c
unit_plugins_test_dup_option_la_CPPFLAGS = $(TEST_PLUGIN_CPPFLAGS) -DTEST_VARIANT=11
unit_plugins_test_dup_option_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)
unit_plugins_test_dup_option_la_LIBADD = $(JANSSON_LIBS)
if HAVE_CHECK
check_PROGRAMS += unit/test_registry
TESTS += unit/test_registry
unit_test_registry_SOURCES = unit/test_registry.c
unit_test_registry_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_MODULE_DIR=\"$(abs_top_builddir)/tests/unit/plugins/.libs\"
unit_test_registry_LDADD = $(UNIT_LINK_LIBS)
endif
if HAVE_CHECK
check_PROGRAMS += unit/test_config
TESTS += unit/test_config
unit_test_config_SOURCES = unit/test_config.c
unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_MODULE_DIR=\"$(abs_top_builddir)/tests/unit/plugins/.libs\"
unit_test_config_LDADD = $(UNIT_LINK_LIBS)
endif

# tests/unit/paths.mk: where sluice finds and puts files: the include search
# path, the plugin search path outside the build tree, private state dirs,
# the service settings file.
if HAVE_CHECK
check_PROGRAMS += unit/test_paths
TESTS += unit/test_paths
unit_test_paths_SOURCES = unit/test_paths.c
unit_test_paths_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_MODULE_DIR=\"$(abs_top_builddir)/tests/unit/plugins/.libs\"
unit_test_paths_LDADD = $(UNIT_LINK_LIBS)
endif
if HAVE_CHECK
check_PROGRAMS += unit/test_service_conf
TESTS += unit/test_service_conf
unit_test_service_conf_SOURCES = unit/test_service_conf.c
unit_test_service_conf_LDADD = $(UNIT_LINK_LIBS)
endif

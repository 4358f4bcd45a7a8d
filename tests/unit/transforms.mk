# tests/unit/transforms.mk: unit tests of the transforms area (the pure rule
# engines of field-mapper and tier-event-deriver, compiled in directly) and
# of the plugins' common date code (loytime) they and annexcloud-source use.
if HAVE_CHECK
check_PROGRAMS += unit/test_mapper unit/test_deriver unit/test_deriver_plugin unit/test_loytime
TESTS += unit/test_mapper unit/test_deriver unit/test_deriver_plugin unit/test_loytime
endif
TRANSFORMS_MAPPER_SOURCES = ../plugins/field-mapper/mapper_compile.c \
	../plugins/field-mapper/mapper_apply.c
PLUGIN_COMMON_LA = $(top_builddir)/plugins/libplugin-common.la
PLUGIN_COMMON_CPPFLAGS = -I$(top_srcdir)/plugins/common
unit_test_mapper_SOURCES = unit/test_mapper.c $(TRANSFORMS_MAPPER_SOURCES)
unit_test_mapper_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/field-mapper \
	$(PLUGIN_COMMON_CPPFLAGS)
unit_test_mapper_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS)
unit_test_mapper_LDADD = $(PLUGIN_COMMON_LA) $(CHECK_LIBS) $(JANSSON_LIBS) $(LIBCONFIG_LIBS) $(MATH_LIBS)
TRANSFORMS_DERIVER_SOURCES = ../plugins/tier-event-deriver/deriver_config.c \
	../plugins/tier-event-deriver/deriver_id.c \
	../plugins/tier-event-deriver/deriver_validate.c \
	../plugins/tier-event-deriver/deriver_events.c \
	../plugins/tier-event-deriver/deriver_step.c \
	../plugins/tier-event-deriver/anniv_index.c
unit_test_deriver_SOURCES = unit/test_deriver.c $(TRANSFORMS_DERIVER_SOURCES)
unit_test_deriver_CPPFLAGS = $(AM_CPPFLAGS) $(PLUGIN_COMMON_CPPFLAGS) \
	-I$(top_srcdir)/plugins/tier-event-deriver
unit_test_deriver_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_deriver_LDADD = $(PLUGIN_COMMON_LA) $(CHECK_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
unit_test_loytime_SOURCES = unit/test_loytime.c
unit_test_loytime_CPPFLAGS = $(AM_CPPFLAGS) $(PLUGIN_COMMON_CPPFLAGS)
unit_test_loytime_LDADD = $(PLUGIN_COMMON_LA) $(CHECK_LIBS)
# The deriver plugin through its callbacks, with the real registry and store.
unit_test_deriver_plugin_SOURCES = unit/test_deriver_plugin.c
unit_test_deriver_plugin_LDADD = $(UNIT_LINK_LIBS)
# In-process benchmark driver of both plugins (tests/bench/bench-transforms.sh).
# It links the allocator the sluice executable links (jemalloc when
# configure found it), so process() is timed as it runs in a stage.
check_PROGRAMS += bench/bench_transforms
bench_bench_transforms_SOURCES = bench/bench_transforms.c
bench_bench_transforms_CPPFLAGS = $(AM_CPPFLAGS) $(PLUGIN_COMMON_CPPFLAGS)
bench_bench_transforms_LDADD = $(PLUGIN_COMMON_LA) $(JEMALLOC_LIBS) $(CORE_LINK_LIBS)
# libtool moves JEMALLOC_LIBS' --no-as-needed away from -ljemalloc.
bench_bench_transforms_LDFLAGS = -Wl,--no-as-needed
EXTRA_DIST += bench/bench-transforms.sh

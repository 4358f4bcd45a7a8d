# tests/fuzz/local.mk: the libFuzzer harnesses (docs/testing.md, "Fuzzing").
# Each harness is one program. Configured with --enable-fuzzers (clang) it
# links libFuzzer (`make -C tests fuzzers`; fuzz/run.sh builds and runs
# them for a bounded time); in any other build it links replay_main.c
# instead and `make check` replays its seeds (fuzz/corpus/NAME) and the
# committed crash inputs (fuzz/regress/NAME), so a fixed crash stays fixed
# without clang.
FUZZ_HARNESSES =
if ENABLE_FUZZERS
FUZZ_MAIN =
else
FUZZ_MAIN = fuzz/replay_main.c
endif
FUZZ_SOURCES = fuzz/fuzz.h fuzz/fuzz_common.c $(FUZZ_MAIN)
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TOP_SRCDIR=\"$(abs_top_srcdir)\" \
	-DFUZZ_PLUGIN_DIR=\"$(abs_top_builddir)/plugins/.libs\"
FUZZ_LIBS = $(CORE_LINK_LIBS)

# Wire frames: decode, re-encode, a stage's work, acks (core/lib/wire.c, batch.c).
FUZZ_HARNESSES += fuzz/fuzz_wire
fuzz_fuzz_wire_SOURCES = fuzz/fuzz_wire.c $(FUZZ_SOURCES)
fuzz_fuzz_wire_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_wire_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_wire_LDADD = $(FUZZ_LIBS)

# Pipeline files through what `sluice check --print` runs (core/lib/config.c).
FUZZ_HARNESSES += fuzz/fuzz_config
fuzz_fuzz_config_SOURCES = fuzz/fuzz_config.c $(FUZZ_SOURCES)
fuzz_fuzz_config_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_config_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_config_LDADD = $(FUZZ_LIBS)

# Retry-After and response headers (core/lib/http_answer.c, http.c).
FUZZ_HARNESSES += fuzz/fuzz_retry_after
fuzz_fuzz_retry_after_SOURCES = fuzz/fuzz_retry_after.c $(FUZZ_SOURCES)
fuzz_fuzz_retry_after_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_retry_after_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
fuzz_fuzz_retry_after_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_retry_after_LDADD = $(FUZZ_LIBS) $(MATH_LIBS)

# annexcloud-source: the feed CSV reader and the webhook payload rules and
# conversion, from the plugin's convenience library (as
# tests/unit/annexcloud.mk).
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
FUZZ_HARNESSES += fuzz/fuzz_csv fuzz/fuzz_csv_tiny fuzz/fuzz_acconvert
endif
fuzz_fuzz_csv_SOURCES = fuzz/fuzz_csv.c $(FUZZ_SOURCES)
fuzz_fuzz_csv_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_csv_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_csv_LDADD = $(top_builddir)/plugins/annexcloud-source/libannexcloud.la $(FUZZ_LIBS) \
	$(CSV_LIBS)
# The same on the reader built with 5-byte reads and 64-byte rows (its own
# copy of ac_csv.c, as tests/unit/annexcloud.mk's csv_tiny test).
fuzz_fuzz_csv_tiny_SOURCES = fuzz/fuzz_csv_tiny.c $(FUZZ_SOURCES)
fuzz_fuzz_csv_tiny_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_csv_tiny_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_csv_tiny_LDADD = $(FUZZ_LIBS) $(CSV_LIBS)
fuzz_fuzz_acconvert_SOURCES = fuzz/fuzz_acconvert.c $(FUZZ_SOURCES)
fuzz_fuzz_acconvert_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_acconvert_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
fuzz_fuzz_acconvert_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_acconvert_LDADD = $(top_builddir)/plugins/annexcloud-source/libannexcloud.la \
	$(FUZZ_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)

# field-mapper and tier-event-deriver rules, compiled in (the sources
# tests/unit/transforms.mk lists), configured from the shipped acme
# pipelines, which need every plugin they name.
if BUILD_PLUGIN_FIELD_MAPPER
if BUILD_PLUGIN_TIER_EVENT_DERIVER
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
if BUILD_PLUGIN_OMETRIA_SINK
if BUILD_PLUGIN_INFOBIP_SINK
FUZZ_HARNESSES += fuzz/fuzz_mapper fuzz/fuzz_deriver
endif
endif
endif
endif
endif
fuzz_fuzz_mapper_SOURCES = fuzz/fuzz_mapper.c $(FUZZ_SOURCES) $(TRANSFORMS_MAPPER_SOURCES)
fuzz_fuzz_mapper_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/plugins/field-mapper \
	$(PLUGIN_COMMON_CPPFLAGS)
fuzz_fuzz_mapper_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_mapper_LDADD = $(PLUGIN_COMMON_LA) $(FUZZ_LIBS) $(MATH_LIBS)
fuzz_fuzz_deriver_SOURCES = fuzz/fuzz_deriver.c $(FUZZ_SOURCES) $(TRANSFORMS_DERIVER_SOURCES)
fuzz_fuzz_deriver_CPPFLAGS = $(FUZZ_CPPFLAGS) $(PLUGIN_COMMON_CPPFLAGS) \
	-I$(top_srcdir)/plugins/tier-event-deriver
fuzz_fuzz_deriver_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
fuzz_fuzz_deriver_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_deriver_LDADD = $(PLUGIN_COMMON_LA) $(FUZZ_LIBS) $(CRYPTO_LIBS)

# The sinks' answer parsers.
if BUILD_PLUGIN_OMETRIA_SINK
FUZZ_HARNESSES += fuzz/fuzz_ometria
endif
fuzz_fuzz_ometria_SOURCES = fuzz/fuzz_ometria.c $(FUZZ_SOURCES) \
	$(top_srcdir)/plugins/ometria-sink/ometria_plan.c
fuzz_fuzz_ometria_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_ometria_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_ometria_LDADD = $(FUZZ_LIBS)
if BUILD_PLUGIN_INFOBIP_SINK
FUZZ_HARNESSES += fuzz/fuzz_infobip
endif
# infobip_persons.c and infobip_setup.c are included by the harness (their
# parsers are static).
fuzz_fuzz_infobip_SOURCES = fuzz/fuzz_infobip.c $(FUZZ_SOURCES) \
	$(top_srcdir)/plugins/infobip-sink/infobip.h \
	$(top_srcdir)/plugins/infobip-sink/infobip_client.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_erase.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_events.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_scan.c \
	$(top_srcdir)/plugins/infobip-sink/infobip_tags.c
fuzz_fuzz_infobip_CPPFLAGS = $(FUZZ_CPPFLAGS) $(PLUGIN_COMMON_CPPFLAGS)
fuzz_fuzz_infobip_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
fuzz_fuzz_infobip_LDFLAGS = $(FUZZ_LDFLAGS)
fuzz_fuzz_infobip_LDADD = $(PLUGIN_COMMON_LA) $(FUZZ_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += $(FUZZ_HARNESSES)
if !ENABLE_FUZZERS
TESTS += $(FUZZ_HARNESSES)
endif

# Build the harnesses only (the fuzzing build needs nothing else of tests/).
fuzzers: $(FUZZ_HARNESSES)
.PHONY: fuzzers

EXTRA_DIST += fuzz/run.sh fuzz/lsan.supp fuzz/corpus fuzz/regress fuzz/dict

# tests/bench/local.mk: benchmark helpers (built by make check, run by make bench).
check_PROGRAMS += bench_records jansson_bound
bench_records_SOURCES = bench/bench_records.c
bench_records_LDADD = $(JANSSON_LIBS)
jansson_bound_SOURCES = bench/jansson_bound.c
jansson_bound_LDADD = $(JANSSON_LIBS)
EXTRA_DIST += bench/run.sh
EXTRA_DIST += bench/member-sample.json
EXTRA_DIST += bench/bench-sinks.sh
EXTRA_DIST += bench/bench-gen.sh
EXTRA_DIST += bench/bench-instances.sh
EXTRA_DIST += bench/bench-webhook.sh
# The admin endpoint's scrape over 200 pipelines' files (bench-admin.sh).
check_PROGRAMS += bench_admin
bench_admin_SOURCES = bench/bench_admin.c
bench_admin_LDADD = $(JEMALLOC_LIBS) $(CORE_LINK_LIBS)
EXTRA_DIST += bench/bench-admin.sh
EXTRA_DIST += bench/bench-idle.sh
EXTRA_DIST += bench/bench-api-sync.sh

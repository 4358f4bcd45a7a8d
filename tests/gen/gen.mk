# tests/gen/gen.mk: the loyalty data generator, the ground-truth oracle and their tests.
check_PROGRAMS += gen/loyaltygen gen/truth
gen_truth_SOURCES = gen/truth.c gen/truthlib.c gen/truthlib.h
gen_truth_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
gen_truth_LDADD = $(JANSSON_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)
gen_loyaltygen_SOURCES = gen/loyaltygen.c gen/truthlib.c gen/truthlib.h
gen_loyaltygen_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
gen_loyaltygen_LDADD = $(JANSSON_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS) $(PTHREAD_LIBS)
TESTS += gen/test_truth.sh gen/test_loyaltygen.sh gen/test_gen_sums.sh
EXTRA_DIST += gen/test_truth.sh gen/test_loyaltygen.sh gen/test_gen_sums.sh gen/data/gen-sums.txt gen/compare gen/compare-events gen/validate \
	gen/data/program.json gen/data/tiers.jsonl gen/data/tiers.expected gen/data/tiers.dlq.expected \
	gen/data/leap.jsonl gen/data/leap.expected
if HAVE_CHECK
check_PROGRAMS += gen/test_truthlib
gen_test_truthlib_SOURCES = gen/test_truthlib.c gen/truthlib.c gen/truthlib.h
gen_test_truthlib_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
gen_test_truthlib_LDADD = $(CHECK_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)
TESTS += gen/test_truthlib
endif

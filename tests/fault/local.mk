# tests/fault/local.mk: fault tests: processes killed, networks broken.
TESTS += fault/crash.sh
EXTRA_DIST += fault/crash.sh

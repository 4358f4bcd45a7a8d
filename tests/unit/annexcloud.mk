# tests/unit/annexcloud.mk: unit tests of the annexcloud area. The plugin's
# internal functions are not exported from its .so, so each test program
# compiles the annexcloud-source files it exercises. The path is relative
# (not $(top_srcdir)/...) so the objects land in the build tree, never in
# the shared source tree.
AC_SRC = ../plugins/annexcloud-source

if HAVE_CHECK
if BUILD_PLUGIN_ANNEXCLOUD_SOURCE
check_PROGRAMS += unit/test_annexcloud_jwt unit/test_annexcloud_csv \
	unit/test_annexcloud_convert unit/test_annexcloud_enum
TESTS += unit/test_annexcloud_jwt unit/test_annexcloud_csv \
	unit/test_annexcloud_convert unit/test_annexcloud_enum

unit_test_annexcloud_jwt_SOURCES = unit/test_annexcloud_jwt.c $(AC_SRC)/ac_jwt.c
unit_test_annexcloud_jwt_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_jwt_LDADD = $(UNIT_LINK_LIBS) $(CRYPTO_LIBS)

unit_test_annexcloud_csv_SOURCES = unit/test_annexcloud_csv.c $(AC_SRC)/ac_csv.c
unit_test_annexcloud_csv_LDADD = $(UNIT_LINK_LIBS) $(CSV_LIBS)

unit_test_annexcloud_convert_SOURCES = unit/test_annexcloud_convert.c $(AC_SRC)/ac_convert.c
unit_test_annexcloud_convert_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_convert_LDADD = $(UNIT_LINK_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)

unit_test_annexcloud_enum_SOURCES = unit/test_annexcloud_enum.c $(AC_SRC)/ac_api.c \
	$(AC_SRC)/ac_convert.c $(AC_SRC)/ac_jwt.c
unit_test_annexcloud_enum_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
unit_test_annexcloud_enum_LDADD = $(UNIT_LINK_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(MATH_LIBS)
endif
endif

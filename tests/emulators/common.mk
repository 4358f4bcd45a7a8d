# tests/emulators/common.mk: the shared emulator framework (libemucommon) that every emulator links.
# An emulator program adds $(EMU_COMMON_CFLAGS) to its CFLAGS and
# $(EMU_COMMON_LIBS) to its LDADD; see emulators/emu_common.h for the API.
check_LTLIBRARIES += emulators/libemucommon.la
emulators_libemucommon_la_SOURCES = emulators/emu_common.c emulators/emu_common.h
emulators_libemucommon_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
emulators_libemucommon_la_LIBADD = $(MHD_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) $(MATH_LIBS)
EMU_COMMON_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) -I$(srcdir)/emulators
EMU_COMMON_LIBS = emulators/libemucommon.la $(MHD_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS) $(MATH_LIBS)
# Check unit test of the framework's helpers.
if HAVE_CHECK
check_PROGRAMS += unit/test_emu_common
TESTS += unit/test_emu_common
unit_test_emu_common_SOURCES = unit/test_emu_common.c
unit_test_emu_common_CFLAGS = $(EMU_COMMON_CFLAGS) $(CHECK_CFLAGS)
unit_test_emu_common_LDADD = $(EMU_COMMON_LIBS) $(CHECK_LIBS)
endif

# tests/emulators/ometria.mk: build and tests of the ometria emulator part.
noinst_PROGRAMS += emulators/ometria-emu
emulators_ometria_emu_SOURCES = emulators/ometria_emu.c emulators/ometria_gdpr.c \
	emulators/ometria_gdpr.h
emulators_ometria_emu_CFLAGS = $(EMU_COMMON_CFLAGS)
emulators_ometria_emu_LDADD = $(JEMALLOC_LIBS) $(EMU_COMMON_LIBS)
# emu-load: the loopback load tool behind tests/bench/bench-emulators.sh.
check_PROGRAMS += emulators/emu-load
emulators_emu_load_SOURCES = emulators/emu_load.c
emulators_emu_load_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
emulators_emu_load_LDADD = $(CURL_LIBS)
TESTS += emulators/test_ometria_emu.sh
EXTRA_DIST += emulators/test_ometria_emu.sh
EXTRA_DIST += bench/bench-emulators.sh

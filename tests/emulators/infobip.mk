# tests/emulators/infobip.mk: build and tests of the infobip emulator part.
noinst_PROGRAMS += emulators/infobip-emu
emulators_infobip_emu_SOURCES = emulators/infobip_emu.c emulators/infobip_emu_names.c \
	emulators/infobip_emu_names.h
emulators_infobip_emu_CFLAGS = $(EMU_COMMON_CFLAGS)
emulators_infobip_emu_LDADD = $(JEMALLOC_LIBS) $(EMU_COMMON_LIBS)
TESTS += emulators/test_infobip_emu.sh
EXTRA_DIST += emulators/test_infobip_emu.sh

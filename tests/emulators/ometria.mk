# tests/emulators/ometria.mk: build and tests of the ometria emulator part.
noinst_PROGRAMS += emulators/ometria-emu
emulators_ometria_emu_SOURCES = emulators/ometria_emu.c
emulators_ometria_emu_CFLAGS = $(EMU_COMMON_CFLAGS)
emulators_ometria_emu_LDADD = $(EMU_COMMON_LIBS)
